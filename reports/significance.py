"""The project's one rule for "better", "worse", "learned" and "significant".

Arm B differs from reference A on a behaviour when the two-sided exact McNemar test on that behaviour's
paired (scenario, epoch) samples, Holm-adjusted across every behaviour paired, is below alpha (the gate's,
reports/gate_rules.yaml). It is *better* (has learned the behaviour) when it also won more discordant pairs
than it lost, *worse* when it lost more. Overall: the same exact test on every common pair, alone (one
hypothesis, not part of the family). The paired bootstrap interval is the size of the effect, never the
test. Compare, the gate, the offline demo and the reports all call `significance` / `overall_significance`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.exact_power import DEFAULT_ALPHA, min_detectable_difference
from reports.stats import holm, mcnemar_exact

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no difference shown"


def rule_text(alpha: float) -> str:
    return (f"better/worse = two-sided exact McNemar on the paired samples, Holm-adjusted across behaviours, "
            f"p < {alpha:g} (overall: the same test on every pair, alone); the bootstrap interval is the effect "
            "size, never the test")


@dataclass(frozen=True)
class Significance:
    group: str
    pairs: int
    lost: int  # the reference passed, the arm did not
    won: int  # the arm passed, the reference did not
    p: float  # two-sided exact McNemar
    p_holm: float  # Holm-adjusted across the family; the overall row is its own family of one
    alpha: float
    family: int  # how many tests the adjustment counted
    min_detectable: float  # the smallest |difference| these pairs could ever show at alpha; NaN: none

    @property
    def significant(self) -> bool:
        return self.p_holm < self.alpha

    @property
    def better(self) -> bool:
        return self.significant and self.won > self.lost

    @property
    def worse(self) -> bool:
        return self.significant and self.lost > self.won

    @property
    def verdict(self) -> str:
        return BETTER if self.better else WORSE if self.worse else NO_DIFFERENCE

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict, "significant": self.significant, "alpha": self.alpha,
                "family": self.family, "p_exact": self.p, "p_holm": self.p_holm,
                "min_detectable_diff": None if math.isnan(self.min_detectable) else self.min_detectable}


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, int | float) and 0 < alpha <= 1):
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")


def significance(pairs_by_behaviour: Mapping[str, Iterable[tuple[bool, bool]]],
                 alpha: float = DEFAULT_ALPHA) -> dict[str, Significance]:
    """Per behaviour, (reference passed, arm passed) pairs -> its verdict under the rule, in sorted order."""
    _check_alpha(alpha)
    tests = {b: mcnemar_exact(pairs) for b, pairs in sorted(pairs_by_behaviour.items())}
    tested = [b for b, m in tests.items() if m.pairs]  # a behaviour without pairs is no test
    adjusted = dict(zip(tested, holm([tests[b].p_value for b in tested]), strict=True))
    family = max(1, len(tested))
    return {
        b: Significance(b, m.pairs, m.a_only, m.b_only, m.p_value if m.pairs else math.nan,
                        adjusted.get(b, math.nan), alpha, family,
                        min_detectable_difference(m.pairs, alpha, family))
        for b, m in tests.items()
    }


def overall_significance(pairs: Iterable[tuple[bool, bool]], alpha: float = DEFAULT_ALPHA,
                         group: str = "overall") -> Significance:
    """Every common pair, one test at alpha."""
    _check_alpha(alpha)
    m = mcnemar_exact(pairs)
    p = m.p_value if m.pairs else math.nan
    return Significance(group, m.pairs, m.a_only, m.b_only, p, p, alpha, 1,
                        min_detectable_difference(m.pairs, alpha, 1))


def better_behaviours(verdicts: Iterable[Significance]) -> list[str]:
    """The behaviours the arm learned under the rule."""
    return [v.group for v in verdicts if v.better]
