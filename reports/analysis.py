"""Per-behaviour numbers for one run and paired numbers for two runs, shared by show/compare/gate."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.exact_power import DEFAULT_ALPHA
from core.verdicts import LABELS
from reports.results import Outcome, Run, by_category, by_eval, outcome_map, passes_per_scenario, tally
from reports.significance import Significance, overall_significance, significance
from reports.stats import (
    McNemar,
    PairedDifference,
    PassHatK,
    mcnemar_exact,
    pair_maps,
    paired_bootstrap,
    pass_hat_k,
    wilson_interval,
)

OVERALL = "overall"
COUNT_HEADERS = LABELS  # the columns of sample counts in every table: the verdicts' own words


@dataclass(frozen=True)
class RateRow:
    group: str  # an eval id, a category, or "overall"
    n: int  # samples, incomplete included
    passed: int
    incomplete: int
    rate: float  # passed / n; NaN when n == 0
    low: float
    high: float
    pass_k: PassHatK | None  # None for pooled rows (categories, overall)
    not_exercised: int = 0  # complete, but the situation the scenario sets up was never reached

    @property
    def failed(self) -> int:
        return self.n - self.passed - self.incomplete - self.not_exercised

    def count_cells(self) -> tuple[str, str, str, str]:
        """The counts under COUNT_HEADERS: PASS, FAIL, NOT EXERCISED, INCOMPLETE."""
        return (str(self.passed), str(self.failed), str(self.not_exercised), str(self.incomplete))


def rate_row(group: str, outcomes: Sequence[Outcome], k: int | None, confidence: float = 0.95) -> RateRow:
    t = tally(outcomes)
    low, high = wilson_interval(t.passed, t.n, confidence)
    pk = pass_hat_k(passes_per_scenario(outcomes), k) if k else None
    return RateRow(group, t.n, t.passed, t.incomplete, t.rate, low, high, pk, t.not_exercised)


def behaviour_rows(run: Run, k: int | None = None, confidence: float = 0.95) -> list[RateRow]:
    k = k or run.epochs
    return [rate_row(ev, outs, k, confidence) for ev, outs in by_eval(run.outcomes).items()]


def category_rows(run: Run, confidence: float = 0.95) -> list[RateRow]:
    rows = [rate_row(cat, outs, None, confidence) for cat, outs in by_category(run.outcomes).items()]
    return rows + [rate_row(OVERALL, run.outcomes, None, confidence)]


@dataclass(frozen=True)
class PairedRow:
    group: str  # an eval id or "overall"
    mcnemar: McNemar
    difference: PairedDifference  # B - A: the effect size, never the test
    verdict: Significance  # reports.significance: the one rule for better / worse

    @property
    def p_holm(self) -> float:
        """Holm-adjusted across behaviours; the overall row is a family of one (its own exact p)."""
        return self.verdict.p_holm


@dataclass(frozen=True)
class Pairing:
    rows: list[PairedRow]  # behaviours (sorted), then the overall row
    only_a: int  # samples only A has
    only_b: int
    warnings: list[str]

    @property
    def behaviours(self) -> list[PairedRow]:
        return [r for r in self.rows if r.group != OVERALL]

    @property
    def overall(self) -> PairedRow:
        return self.rows[-1]


def _examples(keys: Iterable[tuple[str, str, int]], limit: int = 3) -> str:
    shown = sorted(keys)[:limit]
    return ", ".join(f"{e}/{s}/epoch {ep}" for e, s, ep in shown)


def comparability_warnings(a: Run, b: Run, name_a: str, name_b: str) -> list[str]:
    """What differs between two runs that should have run the same scenarios, epochs and seeds."""
    warnings = []
    for field in ("epochs", "seed", "temperature"):
        va, vb = a.meta.get(field), b.meta.get(field)
        if va != vb:
            warnings.append(f"{field} differs: {name_a} has {va!r}, {name_b} has {vb!r}")
    ka, kb = set(outcome_map(a.outcomes)), set(outcome_map(b.outcomes))
    if ka - kb:
        warnings.append(
            f"{len(ka - kb)} samples only in {name_a} (e.g. {_examples(ka - kb)}); they are left out of the pairing"
        )
    if kb - ka:
        warnings.append(
            f"{len(kb - ka)} samples only in {name_b} (e.g. {_examples(kb - ka)}); they are left out of the pairing"
        )
    if not ka & kb:
        warnings.append(
            f"{name_a} and {name_b} share no (eval, scenario, epoch) sample: nothing can be paired"
        )
    return warnings


def pair_runs(
    a: Run,
    b: Run,
    name_a: str = "A",
    name_b: str = "B",
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = DEFAULT_ALPHA,
) -> Pairing:
    """Pair B against A on their common (eval, scenario, epoch) samples.

    The verdicts are reports.significance's rule: per behaviour exact McNemar on its (scenario, epoch)
    pairs, Holm across behaviours; overall the same test on every common pair, alone. The bootstrap
    (over scenarios; overall clustered by scenario) gives the size of each difference.
    """
    map_a, map_b = outcome_map(a.outcomes), outcome_map(b.outcomes)
    pairs, only_a, only_b = pair_maps(map_a, map_b)
    per_eval: dict[str, list[tuple[str, bool, bool]]] = {}
    for (ev, scenario, _epoch), pa, pb in pairs:
        per_eval.setdefault(ev, []).append((scenario, pa, pb))
    verdicts = significance({ev: [(pa, pb) for _, pa, pb in ps] for ev, ps in per_eval.items()}, alpha)
    rows = [
        PairedRow(
            ev,
            mcnemar_exact((pa, pb) for _, pa, pb in per_eval[ev]),
            paired_bootstrap(per_eval[ev], n_boot=n_boot, seed=seed, confidence=confidence),
            verdicts[ev],
        )
        for ev in sorted(per_eval)
    ]
    overall_pairs = [(scenario, pa, pb) for (_ev, scenario, _epoch), pa, pb in pairs]
    rows.append(
        PairedRow(
            OVERALL,
            mcnemar_exact((pa, pb) for _, pa, pb in overall_pairs),
            paired_bootstrap(overall_pairs, n_boot=n_boot, seed=seed, confidence=confidence),
            overall_significance([(pa, pb) for _, pa, pb in overall_pairs], alpha),
        )
    )
    return Pairing(rows, len(only_a), len(only_b), comparability_warnings(a, b, name_a, name_b))


def fmt_rate(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.3f}"


def fmt_interval(low: float, high: float) -> str:
    return "—" if math.isnan(low) or math.isnan(high) else f"[{low:.3f}, {high:.3f}]"


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def fmt_diff(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:+.3f}"
