"""What a two-sided exact McNemar test on n paired samples can show at all, before any run.

The smallest p that test can give is 2 * 0.5**d, with d discordant pairs all going one way; Holm's
correction across m behaviours multiplies the smallest p by m, so a behaviour can only be called
different when d reaches `min_discordant(alpha, m)`. With n pairs the smallest difference in pass
rate that can ever reach alpha is therefore min_discordant / n. Pure arithmetic: the runner (before a
run) and reports (after it) share it.
"""

from __future__ import annotations

import math

DEFAULT_ALPHA = 0.05  # the gate's alpha (reports/gate_rules.yaml `alpha`; a test keeps the two equal)


def best_exact_p(discordant: int, family: int = 1) -> float:
    """The smallest Holm-adjusted two-sided exact McNemar p that `discordant` pairs can give."""
    if discordant < 0 or family < 1:
        raise ValueError(f"need discordant >= 0 and family >= 1, got {discordant}, {family}")
    return min(1.0, family * 2 * 0.5**discordant) if discordant else 1.0


def min_discordant(alpha: float = DEFAULT_ALPHA, family: int = 1) -> int:
    """The fewest one-way discordant pairs whose exact p (x family, Holm's first step) is below alpha."""
    if not 0 < alpha <= 1 or family < 1:
        raise ValueError(f"need 0 < alpha <= 1 and family >= 1, got {alpha}, {family}")
    d = max(1, math.ceil(math.log2(2 * family / alpha)))
    while best_exact_p(d, family) >= alpha:  # the boundary (p == alpha) is not below alpha
        d += 1
    while d > 1 and best_exact_p(d - 1, family) < alpha:
        d -= 1
    return d


def min_detectable_difference(pairs: int, alpha: float = DEFAULT_ALPHA, family: int = 1) -> float:
    """The smallest |pass-rate difference| `pairs` paired samples could ever show at alpha; NaN when none could."""
    need = min_discordant(alpha, family)
    return need / pairs if pairs >= need else math.nan


def epochs_needed(scenarios: int, alpha: float = DEFAULT_ALPHA, family: int = 1) -> int:
    """The fewest epochs (at temperature > 0) that give a behaviour of `scenarios` scenarios enough pairs."""
    if scenarios < 1:
        raise ValueError(f"need at least one scenario, got {scenarios}")
    return math.ceil(min_discordant(alpha, family) / scenarios)


def power_warnings(scenarios_per_behaviour: dict[str, int], epochs: int, temperature: float | None,
                   alpha: float = DEFAULT_ALPHA) -> list[str]:
    """Lines for a run about to start: the behaviours whose paired samples can never reach alpha.

    At temperature 0 every epoch of a scenario repeats the same trajectory, so only scenarios count."""
    if not scenarios_per_behaviour:
        return []
    greedy = temperature == 0
    pairs = {b: s * (1 if greedy else epochs) for b, s in scenarios_per_behaviour.items()}
    alone, family = min_discordant(alpha), len(pairs)
    holm = min_discordant(alpha, family)
    short = sorted(b for b, n in pairs.items() if n < alone)
    if not short:
        return []
    fewest = min(scenarios_per_behaviour[b] for b in short)
    unit = "scenarios (temperature 0: more epochs repeat the same trajectories)" if greedy else "paired samples"
    lines = [f"power: {len(short)} of {family} behaviours have fewer than {alone} {unit}, so an exact paired test "
             f"can never reach p < {alpha:g} on them, whatever the model does: {', '.join(short)}"]
    how = "" if not greedy else "a temperature above 0 and "
    lines.append(f"power: {how}--epochs {epochs_needed(fewest, alpha)} would give each of them at least {alone} pairs; "
                 f"Holm across {family} behaviours needs {holm} one-way discordant pairs "
                 f"(--epochs {epochs_needed(fewest, alpha, family)})")
    return lines
