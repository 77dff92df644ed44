"""Side-by-side comparison of two or more runs (arms) on the same scenarios, epochs and seeds.

``python -m reports compare RUN_A RUN_B [RUN_C ...] [--out DIR] [--names a,b,...] [--regrade]``
The first run is the reference arm: every other arm is paired against it. Better / worse is the one rule
(reports/significance.py) at the gate's alpha. Runs graded by different specs (results.json `spec_sha256`)
are refused (exit 1) unless --regrade: then the comparison as recorded and the one re-graded with this
checkout's spec from the runs' inspect logs are both written, labelled (the second under DIR/regraded/).
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from core.errors import BadInput, Refused
from reports.analysis import (
    OVERALL,
    RateRow,
    behaviour_rows,
    category_rows,
    fmt_diff,
    fmt_interval,
    fmt_p,
    fmt_rate,
    pair_runs,
)
from reports.comparison import Arm, Comparison, to_json
from reports.document import (
    Bullets,
    Document,
    Heading,
    Image,
    Link,
    Para,
    Table,
    relative_href,
    write_document,
)
from reports.gate_rules import load_rules
from reports.jsonio import write_json
from reports.plots import Series, rate_bars
from reports.results import Run, load_run, runs_root
from reports.seed_agreement import SeedAgreement, agreement, same_arm_other_seed, threshold_verdicts
from reports.significance import rule_text


def default_names(runs: list[Run]) -> list[str]:
    names: list[str] = []
    for r in runs:
        name, i = r.run_id, 2
        while name in names:
            name, i = f"{r.run_id}#{i}", i + 1
        names.append(name)
    return names


def compare_runs(
    runs: list[Run],
    names: list[str] | None = None,
    k: int | None = None,
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float | None = None,
    regrade: bool = False,
    label: str = "",
) -> Comparison:
    """`alpha`: None = the gate's (reports/gate_rules.yaml). `regrade`: runs graded by different specs are
    compared (labelled) instead of refused."""
    if len(runs) < 2:
        raise BadInput("reports: compare needs at least two runs")
    names = names or default_names(runs)
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise BadInput(f"reports: --names needs {len(runs)} distinct names, got {','.join(names)}")
    rules = load_rules()
    alpha = rules["alpha"] if alpha is None else alpha
    spec_notes = spec_check(runs, names, regrade)
    k = k or min(r.epochs for r in runs)
    arms = [
        Arm(n, r, behaviour_rows(r, k, confidence), category_rows(r, confidence))
        for n, r in zip(names, runs, strict=True)
    ]
    pairings = [
        pair_runs(
            arms[0].run, arm.run, arms[0].name, arm.name, n_boot=n_boot, seed=seed, confidence=confidence,
            alpha=alpha,
        )
        for arm in arms[1:]
    ]
    agreements = seed_agreements(arms, pairings, rules)
    return Comparison(arms, pairings, k, confidence, n_boot, seed, alpha, agreements, spec_notes, label)


def _short(h: str | None) -> str:
    return "no spec hash" if not h else h[:12]


def spec_check(runs: list[Run], names: list[str], regrade: bool) -> list[str]:
    """Runs graded by different specs cannot be compared as recorded: Refused unless `regrade`. A run
    without the hash (older results.json) is a warning: nothing says which spec graded it."""
    hashes = {n: r.meta.get("spec_sha256") for n, r in zip(names, runs, strict=True)}
    notes = [f"{n}: its results.json records no spec hash (an older run): which spec graded it is unknown"
             for n, h in hashes.items() if not h]
    known = {h for h in hashes.values() if h}
    if len(known) > 1:
        which = ", ".join(f"{n} by {_short(h)}" for n, h in hashes.items() if h)
        if not regrade:
            raise Refused(f"reports: compare refused: the runs were graded by different specs ({which}); "
                          "their verdicts are not comparable. --regrade re-grades them with this checkout's spec "
                          "from their inspect logs and shows both")
        notes.append(f"graded by different specs ({which}): not comparable as recorded")
    return notes


def seed_agreements(arms: list[Arm], pairings: list, rules: dict) -> list[SeedAgreement]:
    """Every two arms that are the same arm run with different seeds (reports/seed_agreement.py)."""
    paired = {arm.name: p for arm, p in zip(arms[1:], pairings, strict=True)}
    out = []
    for i, a in enumerate(arms):
        for b in arms[i + 1:]:
            if not same_arm_other_seed(a.run, b.run):
                continue
            found = [agreement("threshold", threshold_verdicts(a.run, rules), threshold_verdicts(b.run, rules))]
            if a.name in paired and b.name in paired:
                va = {r.group: r.verdict.verdict for r in paired[a.name].behaviours}
                vb = {r.group: r.verdict.verdict for r in paired[b.name].behaviours}
                found.append(agreement(f"vs {arms[0].name}", va, vb))
            out.append(SeedAgreement((a.name, b.name), (a.run.meta.get("seed"), b.run.meta.get("seed")), found))
    return out


# --- JSON ----------------------------------------------------------------------------------------


def _pass_k(r: RateRow) -> str:
    return "—" if r.pass_k is None else fmt_rate(r.pass_k.value)


def log_links(run: Run, out_dir: Path) -> list[tuple[Link]]:
    return [(Link(log, relative_href(run.resolve_log(log), out_dir)),) for log in run.logs()]


def to_document(c: Comparison, out_dir: Path) -> Document:
    ref = c.arms[0]
    names = " vs ".join(a.name for a in c.arms)
    doc = Document(f"Comparison: {names}" + (f" ({c.label})" if c.label else ""))
    pct = f"{c.confidence:.0%}"
    for w in c.warnings:
        doc.add(Para.of(w, style="warning"))

    doc.add(Heading("Arms"))
    doc.add(
        Table(
            (
                "arm",
                "run",
                "adapter",
                "system prompt",
                "gate",
                "samples",
                "not exercised",
                "incomplete",
                "pass rate",
                f"Wilson {pct}",
                "prompt tokens / request",
            ),
            tuple(
                (
                    a.name,
                    Link(a.run.run_id, relative_href(a.run.path, out_dir)),
                    a.run.adapter_label or "— (base)",
                    str(a.run.meta.get("system_prompt") or "—"),
                    a.gate_verdict() or "—",
                    str(a.overall.n),
                    str(a.overall.not_exercised),
                    str(a.overall.incomplete),
                    fmt_rate(a.overall.rate),
                    fmt_interval(a.overall.low, a.overall.high),
                    "—" if a.prompt_tokens_per_request is None else f"{a.prompt_tokens_per_request:.0f}",
                )
                for a in c.arms
            ),
            numeric_from=5,
        )
    )
    doc.add(
        Para.of(
            f"Not exercised and incomplete samples count as not passed. Differences are arm − {ref.name} over paired (scenario, epoch) "
            f"samples. The rule ({rule_text(c.alpha)}) gives each verdict; the {pct} percentile bootstrap over scenarios "
            f"({c.n_boot} resamples, seed {c.seed}) is the size of the difference. 'detectable': the smallest |Δ| "
            f"these pairs could ever show under the rule (— : none). pass^{c.k}: chance that {c.k} tries of a scenario all pass."
        )
    )
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        doc.add(Para.of(verdict_line(arm.name, ref.name, p, c.alpha)))
    for a in c.seed_agreement:
        doc.add(Para.of(a.line()))

    doc.add(Heading("Overall"))
    doc.add(_table(c, lambda a: [a.overall], lambda p: [p.overall], pct))
    doc.add(Heading("Categories"))
    doc.add(Image(_category_plot(c), "pass rate per category and arm", "categories"))
    doc.add(
        Table(
            ("category", "arm", "n", "passed", "not exercised", "incomplete", "pass rate", f"Wilson {pct}"),
            tuple(
                (
                    r.group,
                    a.name,
                    str(r.n),
                    str(r.passed),
                    str(r.not_exercised),
                    str(r.incomplete),
                    fmt_rate(r.rate),
                    fmt_interval(r.low, r.high),
                )
                for cat in _categories(c)
                for a in c.arms
                for r in a.categories
                if r.group == cat
            ),
            numeric_from=2,
        )
    )
    doc.add(Heading("Behaviours"))
    doc.add(_table(c, lambda a: a.behaviours, lambda p: p.behaviours, pct))
    doc.add(Image(_behaviour_plot(c), "pass rate per behaviour and arm", "behaviours"))
    doc.add(Heading("Inspect logs"))
    for a in c.arms:
        links = log_links(a.run, out_dir)
        doc.add(Para.of(f"{a.name}: " + ("" if links else "no logs recorded")))
        if links:
            doc.add(Bullets(tuple(links)))
    return doc


def _categories(c: Comparison) -> list[str]:
    return sorted({r.group for a in c.arms for r in a.categories if r.group != OVERALL})


def _behaviours(c: Comparison) -> list[str]:
    return sorted({r.group for a in c.arms for r in a.behaviours})


def _table(c: Comparison, rate_rows, paired_rows, pct: str) -> Table:
    """Rows: (group, arm). Paired columns are empty for the reference arm."""
    rates = {(r.group, a.name): r for a in c.arms for r in rate_rows(a)}
    paired = {
        (r.group, arm.name): r for arm, p in zip(c.arms[1:], c.pairings, strict=True) for r in paired_rows(p)
    }
    groups = sorted({g for g, _ in rates})
    rows, styles = [], []
    for g in groups:
        for a in c.arms:
            r, pr = rates.get((g, a.name)), paired.get((g, a.name))
            cells = [g, a.name]
            cells += (
                [
                    str(r.n),
                    str(r.passed),
                    str(r.not_exercised),
                    str(r.incomplete),
                    fmt_rate(r.rate),
                    fmt_interval(r.low, r.high),
                    _pass_k(r),
                ]
                if r
                else ["0", "—", "—", "—", "—", "—", "—"]
            )
            if pr:
                d = pr.difference
                cells += [
                    str(d.pairs),
                    fmt_diff(d.diff),
                    fmt_interval(d.low, d.high),
                    f"{pr.mcnemar.a_only}/{pr.mcnemar.b_only}",
                    fmt_p(pr.mcnemar.p_value),
                    fmt_p(pr.p_holm) if g != OVERALL else "—",
                    fmt_rate(pr.verdict.min_detectable),
                    pr.verdict.verdict,
                ]
            else:
                cells += ["—"] * 8
            rows.append(tuple(cells))
            styles.append("total" if g == OVERALL else "")
    headers = (
        "behaviour",
        "arm",
        "n",
        "passed",
        "not exercised",
        "incomplete",
        "pass rate",
        f"Wilson {pct}",
        f"pass^{c.k}",
        "pairs",
        f"Δ vs {c.arms[0].name}",
        f"bootstrap {pct}",
        "lost/won",
        "McNemar p",
        "Holm p",
        "detectable",
        f"verdict (p < {c.alpha:g})",
    )
    return Table(headers, tuple(rows), tuple(styles), numeric_from=2)


def _series(c: Comparison, groups: list[str], rows_of) -> list[Series]:
    out = []
    for a in c.arms:
        by = {r.group: r for r in rows_of(a)}
        rates = [by[g].rate if g in by else math.nan for g in groups]
        intervals = [(by[g].low, by[g].high) if g in by else (0.0, 0.0) for g in groups]
        out.append(Series(a.name, rates, intervals))
    return out


def _category_plot(c: Comparison) -> bytes:
    groups = _categories(c) + [OVERALL]
    return rate_bars(groups, _series(c, groups, lambda a: a.categories), "pass rate per category")


def _behaviour_plot(c: Comparison) -> bytes:
    groups = _behaviours(c)
    return rate_bars(groups, _series(c, groups, lambda a: a.behaviours), "pass rate per behaviour")


# --- CLI -----------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def default_out_dir(names: list[str]) -> Path:
    return runs_root().parent / "html" / ("compare-" + "-vs-".join(_slug(n) for n in names))


def write_comparison(c: Comparison, out_dir: Path) -> dict[str, Path]:
    try:
        md, html = write_document(to_document(c, out_dir), out_dir, "comparison")
        js = write_json(out_dir / "comparison.json", to_json(c))
    except OSError as e:
        raise BadInput(f"reports: cannot write the comparison to {out_dir}: {e}") from None
    return {"markdown": md, "html": html, "json": js}


def verdict_line(arm: str, ref: str, p, alpha: float) -> str:
    """One line per pairing: what the rule grants, overall and per behaviour."""
    o, d = p.overall.verdict, p.overall.difference
    better = [r.group for r in p.behaviours if r.verdict.better]
    worse = [r.group for r in p.behaviours if r.verdict.worse]
    return (
        f"{arm} vs {ref}: overall {o.verdict} (won {o.won} / lost {o.lost} of {o.pairs} pairs, exact McNemar "
        f"p {fmt_p(o.p)}; Δ {fmt_diff(d.diff)} {fmt_interval(d.low, d.high)}); "
        f"{len(better)} behaviours better, {len(worse)} worse at Holm-adjusted exact p < {alpha:g}"
        + (f" (better: {', '.join(better)})" if better else "") + (f" (worse: {', '.join(worse)})" if worse else "")
    )


def _print_comparison(c: Comparison, paths: dict[str, Path]) -> None:
    ref = c.arms[0]
    if c.label:
        print(f"[{c.label}]")
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        print(f"{verdict_line(arm.name, ref.name, p, c.alpha)}; overall pass rate {fmt_rate(arm.overall.rate)} "
              f"vs {fmt_rate(ref.overall.rate)}")
    for a in c.seed_agreement:
        print(a.line())
    for a in c.arms:
        ptpr = a.prompt_tokens_per_request
        print(
            f"  {a.name}: prompt tokens/request {'—' if ptpr is None else f'{ptpr:.0f}'}, "
            f"not exercised {a.overall.not_exercised}, incomplete {a.overall.incomplete}"
        )
    print(f"report: {paths['html']}")


def run_compare(
    run_args: list[str], out: str | None, names_arg: str | None, k: int | None, n_boot: int, seed: int,
    regrade: bool = False,
) -> int:
    runs = [load_run(r) for r in run_args]
    names = [n.strip() for n in names_arg.split(",")] if names_arg else None
    c = compare_runs(runs, names, k=k, n_boot=n_boot, seed=seed, regrade=regrade,
                     label="as recorded" if regrade else "")
    for w in c.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    out_dir = Path(out) if out else default_out_dir([a.name for a in c.arms])
    _print_comparison(c, write_comparison(c, out_dir))
    if regrade:
        from evals.spec_hash import spec_sha256
        from reports.regrade import regrade_run

        again = compare_runs([regrade_run(r) for r in runs], [a.name for a in c.arms], k=k, n_boot=n_boot,
                             seed=seed, label=f"re-graded with spec {spec_sha256()[:12]}")
        _print_comparison(again, write_comparison(again, out_dir / "regraded"))
    return 0
