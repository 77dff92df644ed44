"""Does arm B behave like reference arm A? Per behaviour and overall, a verdict over their paired samples.

``python -m reports equivalence RUN_A RUN_B [--names a,b] [--margin 0.10] [--alpha A] [--out DIR]``

Over the common (eval, scenario, epoch) samples, the difference is B - A in pass rate. Each behaviour (and
the overall row) gets one verdict:
- "different": the project's one rule (reports/significance.py: exact McNemar, Holm-adjusted across
  behaviours; overall alone) at alpha. It comes first: a difference shown is a difference, however small.
- "equivalent": two one-sided tests at alpha with the margin (TOST, reports/paired_equivalence.py):
  Tango's score tests reject both delta <= -margin and delta >= +margin, i.e. the 1 - 2 alpha Tango score
  interval lies inside (-margin, +margin). Tango takes the pairs as independent, as the McNemar rule does;
  the epochs of one scenario are not, so the scenario-clustered bootstrap interval at the same level must
  lie inside the margin too. Each behaviour's equivalence is its own test at alpha: "every behaviour is
  equivalent" is an intersection-union claim and needs no adjustment, but a list of equivalent behaviours
  is not family-wise controlled.
- "undecided": neither shown (too few pairs for the margin, or an interval reaching past it).
Incomplete and not-exercised samples count as not passed, as everywhere in reports.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput
from reports.analysis import OVERALL, comparability_warnings, fmt_diff, fmt_interval, fmt_p, fmt_rate
from reports.compare import _slug, spec_check
from reports.document import Document, Heading, Link, Para, Table, relative_href, write_document
from reports.gate_rules import load_rules
from reports.jsonio import write_json
from reports.paired_equivalence import Tost, check_margin, narrowest_margin, tango_interval, tost
from reports.results import Run, load_run, outcome_map, runs_root
from reports.significance import Significance, overall_significance, rule_text, significance
from reports.stats import PairedDifference, pair_maps, paired_bootstrap

EQUIVALENT, DIFFERENT, UNDECIDED = "equivalent", "different", "undecided"
DEFAULT_MARGIN = 0.10


def equivalence_rule_text(margin: float, alpha: float) -> str:
    return (f"different = {rule_text(alpha)}; equivalent = not different, and both one-sided Tango score tests "
            f"reject |B - A| >= {margin:g} at {alpha:g} (the {1 - 2 * alpha:.0%} Tango interval inside "
            f"±{margin:g}) and the {1 - 2 * alpha:.0%} scenario-clustered bootstrap interval lies inside "
            f"±{margin:g} too; otherwise undecided")


@dataclass(frozen=True)
class EquivalenceRow:
    group: str  # an eval id or "overall"
    pairs: int
    a_passed: int  # over the pairs
    b_passed: int
    significance: Significance  # the one rule: lost / won and the Holm-adjusted exact p
    tango: tuple[float, float]  # B - A at 1 - 2 alpha
    bootstrap: PairedDifference  # B - A at 1 - 2 alpha, clustered by scenario
    tost: Tost
    margin: float

    @property
    def diff(self) -> float:
        return (self.b_passed - self.a_passed) / self.pairs if self.pairs else math.nan

    @property
    def bootstrap_inside(self) -> bool:
        b = self.bootstrap
        return self.pairs > 0 and -self.margin < b.low and b.high < self.margin

    @property
    def narrowest_margin(self) -> float:
        return narrowest_margin(self.pairs, self.tost.alpha)

    @property
    def verdict(self) -> str:
        if self.significance.significant:
            return DIFFERENT
        if self.pairs and self.tost.equivalent and self.bootstrap_inside:
            return EQUIVALENT
        return UNDECIDED

    @property
    def why(self) -> str:
        """What decided the verdict, in a few words."""
        s = self.significance
        if not self.pairs:
            return "no pairs"
        if self.verdict == DIFFERENT:
            inside = ", though inside the margin" if self.tost.equivalent and self.bootstrap_inside else ""
            return f"won {s.won} / lost {s.lost}: Holm p {fmt_p(s.p_holm)}{inside}"
        if self.verdict == EQUIVALENT:
            return f"TOST p {fmt_p(self.tost.p)}"
        if not self.narrowest_margin < self.margin:
            return f"{self.pairs} pairs can show equivalence only within ±{self.narrowest_margin:.3f}"
        if not self.tost.equivalent:
            return f"TOST p {fmt_p(self.tost.p)}"
        return "the clustered bootstrap interval reaches past the margin"

    def to_json(self) -> dict[str, Any]:
        s, b = self.significance, self.bootstrap
        return {
            "verdict": self.verdict, "why": self.why, "pairs": self.pairs,
            "a_passed": self.a_passed, "b_passed": self.b_passed,
            "a_rate": self.a_passed / self.pairs if self.pairs else None,
            "b_rate": self.b_passed / self.pairs if self.pairs else None,
            "diff": self.diff, "lost": s.lost, "won": s.won,
            "tango_low": self.tango[0], "tango_high": self.tango[1],
            "bootstrap_low": b.low, "bootstrap_high": b.high, "bootstrap_clusters": b.clusters,
            "tost_p_lower": self.tost.p_lower, "tost_p_upper": self.tost.p_upper, "tost_p": self.tost.p,
            "tost_equivalent": self.tost.equivalent, "bootstrap_inside_margin": self.bootstrap_inside,
            "narrowest_margin": self.narrowest_margin,
            "p_exact": s.p, "p_holm": s.p_holm, "family": s.family, "significant": s.significant,
        }


@dataclass(frozen=True)
class Equivalence:
    names: tuple[str, str]  # (reference A, arm B)
    runs: tuple[Run, Run]
    margin: float
    alpha: float
    rows: list[EquivalenceRow]  # behaviours (sorted), then overall
    warnings: list[str]
    n_boot: int
    seed: int

    @property
    def behaviours(self) -> list[EquivalenceRow]:
        return [r for r in self.rows if r.group != OVERALL]

    @property
    def overall(self) -> EquivalenceRow:
        return self.rows[-1]

    def counts(self) -> dict[str, int]:
        c = Counter(r.verdict for r in self.behaviours)
        return {v: c.get(v, 0) for v in (EQUIVALENT, DIFFERENT, UNDECIDED)}

    def line(self) -> str:
        a, b = self.names
        o, c = self.overall, self.counts()
        return (f"{b} vs {a} at margin ±{self.margin:g}, alpha {self.alpha:g}: overall {o.verdict} "
                f"(Δ {fmt_diff(o.diff)}, Tango {1 - 2 * self.alpha:.0%} {fmt_interval(*o.tango)}, {o.why}); "
                f"behaviours: {c[EQUIVALENT]} equivalent, {c[DIFFERENT]} different, {c[UNDECIDED]} undecided")

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.names[0], "arm": self.names[1],
            "runs": {n: {"run_id": r.run_id, "results": str(r.path), **{
                f: r.meta.get(f) for f in ("model", "adapter", "adapter_sha256", "backend", "epochs", "seed",
                                           "temperature", "system_prompt", "spec_sha256")}}
                     for n, r in zip(self.names, self.runs, strict=True)},
            "margin": self.margin, "alpha": self.alpha,
            "rule": {"text": equivalence_rule_text(self.margin, self.alpha),
                     "modules": ["reports/significance.py", "reports/paired_equivalence.py"]},
            "bootstrap": {"n": self.n_boot, "seed": self.seed, "cluster": "scenario",
                          "confidence": 1 - 2 * self.alpha},
            "counts": self.counts(),
            "behaviours": {r.group: r.to_json() for r in self.behaviours},
            "overall": self.overall.to_json(),
            "warnings": self.warnings,
        }


def _row(group: str, pairs: list[tuple[str, bool, bool]], verdict: Significance, margin: float, alpha: float,
         n_boot: int, seed: int) -> EquivalenceRow:
    n = len(pairs)
    confidence = 1 - 2 * alpha
    return EquivalenceRow(
        group, n, sum(a for _, a, _ in pairs), sum(b for _, _, b in pairs), verdict,
        tango_interval(verdict.won, verdict.lost, n, confidence),
        paired_bootstrap(pairs, n_boot=n_boot, seed=seed, confidence=confidence),
        tost(verdict.won, verdict.lost, n, margin, alpha), margin,
    )


def check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, int | float) and 0 < alpha < 0.5):
        raise ValueError(f"alpha must be in (0, 0.5) for two one-sided tests, got {alpha!r}")


def equivalence_rows(a: Run, b: Run, margin: float, alpha: float, n_boot: int = 10_000,
                     seed: int = 0) -> list[EquivalenceRow]:
    """Per behaviour (sorted), then overall: B against A on their common samples."""
    check_margin(margin)
    check_alpha(alpha)
    pairs, _, _ = pair_maps(outcome_map(a.outcomes), outcome_map(b.outcomes))
    per_eval: dict[str, list[tuple[str, bool, bool]]] = {}
    for (ev, scenario, _epoch), pa, pb in pairs:
        per_eval.setdefault(ev, []).append((scenario, pa, pb))
    verdicts = significance({ev: [(pa, pb) for _, pa, pb in ps] for ev, ps in per_eval.items()}, alpha)
    rows = [_row(ev, per_eval[ev], verdicts[ev], margin, alpha, n_boot, seed) for ev in sorted(per_eval)]
    every = [(scenario, pa, pb) for (_ev, scenario, _epoch), pa, pb in pairs]
    overall = overall_significance([(pa, pb) for _, pa, pb in every], alpha)
    rows.append(_row(OVERALL, every, overall, margin, alpha, n_boot, seed))
    return rows


def equivalence(runs: tuple[Run, Run], names: tuple[str, str] | None = None, margin: float = DEFAULT_MARGIN,
                alpha: float | None = None, n_boot: int = 10_000, seed: int = 0) -> Equivalence:
    """`alpha`: None = the gate's (reports/gate_rules.yaml). Runs graded by different specs are refused."""
    a, b = runs
    names = names or (a.run_id, b.run_id if b.run_id != a.run_id else f"{b.run_id}#2")
    if len(names) != 2 or len(set(names)) != 2 or not all(names):
        raise BadInput(f"reports: --names needs 2 distinct names, got {','.join(names)}")
    alpha = load_rules()["alpha"] if alpha is None else alpha
    try:
        rows = equivalence_rows(a, b, margin, alpha, n_boot, seed)
    except ValueError as e:
        raise BadInput(f"reports: {e}") from None
    warnings = spec_check(list(runs), list(names), regrade=False)
    warnings += comparability_warnings(a, b, *names)
    return Equivalence(names, runs, margin, alpha, rows, warnings, n_boot, seed)


# --- document ------------------------------------------------------------------------------------

HEADERS = ("behaviour", "verdict", "pairs", "rate A", "rate B", "lost/won", "Δ B − A", "Tango", "bootstrap",
           "TOST p", "Holm p", "narrowest margin", "why")


def table_row(r: EquivalenceRow) -> tuple[str, ...]:
    """One row of the per-behaviour table (the driver's record uses it too)."""
    rate = (lambda x: fmt_rate(x / r.pairs)) if r.pairs else (lambda x: "—")
    b = r.bootstrap
    return (r.group, r.verdict, str(r.pairs), rate(r.a_passed), rate(r.b_passed),
            f"{r.significance.lost}/{r.significance.won}", fmt_diff(r.diff), fmt_interval(*r.tango),
            fmt_interval(b.low, b.high), fmt_p(r.tost.p), fmt_p(r.significance.p_holm),
            fmt_rate(r.narrowest_margin), r.why)


def table(e: Equivalence) -> Table:
    level = f"{1 - 2 * e.alpha:.0%}"
    headers = tuple(f"{h} {level}" if h in ("Tango", "bootstrap") else h for h in HEADERS)
    rows = tuple(table_row(r) for r in e.rows)
    styles = tuple("total" if r.group == OVERALL else "fail" if r.verdict == DIFFERENT else "" for r in e.rows)
    return Table(headers, rows, styles, numeric_from=2)


def to_document(e: Equivalence, out_dir: Path) -> Document:
    a, b = e.names
    doc = Document(f"Equivalence: {b} vs {a} (margin ±{e.margin:g})")
    for w in e.warnings:
        doc.add(Para.of(w, style="warning"))
    doc.add(Para.of("Runs: ", *[p for n, r in zip(e.names, e.runs, strict=True)
                                for p in (f"{n} = ", Link(r.run_id, relative_href(r.path, out_dir)), "; ")]))
    doc.add(Para.of(f"Rule: {equivalence_rule_text(e.margin, e.alpha)}. Each behaviour's equivalence is its own "
                    f"test at {e.alpha:g}. Δ is {b} − {a} over paired (scenario, epoch) samples; not exercised and "
                    f"incomplete samples count as not passed. 'narrowest margin': the narrowest margin these "
                    f"pairs could ever show equivalence within (every pair concordant). Bootstrap: {e.n_boot} "
                    f"resamples of scenarios, seed {e.seed}."))
    doc.add(Para.of(e.line()))
    doc.add(Heading("Behaviours"))
    doc.add(table(e))
    return doc


def default_out_dir(names: tuple[str, str]) -> Path:
    return runs_root().parent / "html" / f"equivalence-{_slug(names[1])}-vs-{_slug(names[0])}"


def write_equivalence(e: Equivalence, out_dir: Path) -> dict[str, Path]:
    try:
        md, html = write_document(to_document(e, out_dir), out_dir, "equivalence")
    except OSError as err:
        raise BadInput(f"reports: cannot write the equivalence report to {out_dir}: {err}") from None
    return {"markdown": md, "html": html, "json": write_json(out_dir / "equivalence.json", e.to_json())}


def parse_names(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if len(names) != 2 or len(set(names)) != 2 or not all(names):
        raise BadInput(f"reports: --names needs 2 distinct names, got {text}")
    return names[0], names[1]


def run_equivalence(run_args: Iterable[str], out: str | None, names: str | None, margin: float,
                    alpha: float | None, n_boot: int = 10_000, seed: int = 0) -> int:
    a, b = (load_run(r) for r in run_args)
    e = equivalence((a, b), parse_names(names), margin, alpha, n_boot, seed)
    for w in e.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    paths = write_equivalence(e, Path(out) if out else default_out_dir(e.names))
    print(e.line())
    print(f"report: {paths['html']}\njson: {paths['json']}")
    return 0
