"""Statistics for pass/fail behaviour evals. Pure functions over counts and paired outcomes.

- Wilson score interval for a pass rate (same formula as statsmodels ``proportion_confint(method="wilson")``).
- pass^k: the chance that k independent tries of a scenario all pass, averaged over scenarios.
  Per scenario with n samples of which c passed the estimate is C(c, k) / C(n, k), the unbiased
  estimator of p^k from n Bernoulli draws (as in tau-bench's pass^k). With k = n it is simply
  "every epoch passed", so with k = epochs pass^k is the fraction of scenarios that never failed.
- Paired difference between two arms (B - A) with a percentile bootstrap interval that resamples
  *scenarios* with replacement (the epochs and behaviours of one scenario move together), seeded.
- Exact McNemar test: two-sided binomial test on the discordant pairs (statsmodels ``mcnemar(exact=True)``).
- Holm step-down correction across behaviours (statsmodels ``multipletests(method="holm")``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy import stats as sps

K = TypeVar("K", bound=Hashable)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval. With no samples there is no evidence: (0, 1)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return (0.0, 1.0)
    z = float(sps.norm.isf((1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes == n else min(1.0, max(p, centre + half))
    return (low, high)


@dataclass(frozen=True)
class PassHatK:
    value: float  # NaN when no scenario has k samples
    k: int
    scenarios: int  # scenarios that entered the estimate
    skipped: int  # scenarios with fewer than k samples


def pass_hat_k(per_scenario: Iterable[tuple[int, int]], k: int) -> PassHatK:
    """pass^k over scenarios given (samples, passes) per scenario; see the module docstring."""
    if k < 1:
        raise ValueError("k must be >= 1")
    values: list[float] = []
    skipped = 0
    for n, c in per_scenario:
        if not 0 <= c <= n:
            raise ValueError(f"need 0 <= passes <= samples, got {c}/{n}")
        if n < k:
            skipped += 1
            continue
        values.append(math.comb(c, k) / math.comb(n, k))
    value = sum(values) / len(values) if values else float("nan")
    return PassHatK(value=value, k=k, scenarios=len(values), skipped=skipped)


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (A passed B failed, and the reverse)."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * sps.binom.cdf(min(a_only, b_only), n, 0.5)))


@dataclass(frozen=True)
class McNemar:
    pairs: int
    a_only: int  # A passed, B did not
    b_only: int  # B passed, A did not
    p_value: float


def mcnemar_exact(pairs: Iterable[tuple[bool, bool]]) -> McNemar:
    n = a_only = b_only = 0
    for a, b in pairs:
        n += 1
        a_only += a and not b
        b_only += b and not a
    return McNemar(pairs=n, a_only=a_only, b_only=b_only, p_value=mcnemar_exact_p(a_only, b_only))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values in the input order. NaNs stay NaN and do not count as tests."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    adjusted = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: pvalues[j])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def pair_maps(a: Mapping[K, bool], b: Mapping[K, bool]) -> tuple[list[tuple[K, bool, bool]], set[K], set[K]]:
    """Pairs on the common keys (sorted), plus the keys only A has and only B has."""
    common = sorted(set(a) & set(b), key=repr)
    return [(k, a[k], b[k]) for k in common], set(a) - set(b), set(b) - set(a)


@dataclass(frozen=True)
class PairedDifference:
    diff: float  # pass rate of B minus pass rate of A over the pairs
    low: float
    high: float
    pairs: int
    clusters: int
    confidence: float
    n_boot: int
    seed: int


def paired_bootstrap(
    pairs: Iterable[tuple[Hashable, bool, bool]],
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedDifference:
    """Percentile bootstrap of mean(B) - mean(A), resampling clusters (scenarios) with replacement.

    ``pairs`` holds (cluster, a_passed, b_passed). Each bootstrap replicate draws as many clusters as
    there are, with replacement, and takes the pooled difference over their pairs. With one cluster
    the interval collapses to the point estimate: there is nothing to resample.
    """
    per_cluster: dict[Hashable, list[int]] = defaultdict(lambda: [0, 0])
    for cluster, a, b in pairs:
        entry = per_cluster[cluster]
        entry[0] += int(b) - int(a)
        entry[1] += 1
    n_pairs = sum(m for _, m in per_cluster.values())
    if not per_cluster:
        nan = float("nan")
        return PairedDifference(nan, nan, nan, 0, 0, confidence, n_boot, seed)
    d = np.array([v[0] for v in per_cluster.values()], dtype=np.int64)
    m = np.array([v[1] for v in per_cluster.values()], dtype=np.int64)
    diff = float(d.sum() / m.sum())
    rng = np.random.default_rng(seed)
    s = len(d)
    reps = np.empty(n_boot)
    chunk = max(1, 2_000_000 // s)  # bounds memory at ~16 MB of indices per chunk
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, s, size=(stop - start, s))
        reps[start:stop] = d[idx].sum(axis=1) / m[idx].sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(reps, [tail, 1 - tail])
    return PairedDifference(
        diff=diff,
        low=float(low),
        high=float(high),
        pairs=n_pairs,
        clusters=s,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
    )
