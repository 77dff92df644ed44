"""Tango's score test and interval for the difference of two paired proportions, and the two one-sided
tests (TOST) of equivalence built on it. Pure functions over the discordant counts of n pairs.

With pairs (A passed, B passed), `won` = B passed and A did not, `lost` = A passed and B did not, the
difference is delta = P(B) - P(A), estimated by (won - lost) / n. Tango (1998, Statistics in Medicine 17:
891-908) tests H0: delta = d0 with the score statistic

    Z(d0) = (won - lost - n d0) / sqrt(n (2 q + d0 (1 - d0)))

where q is the maximum-likelihood probability of a `lost` pair under the constraint delta = d0, the
positive root of 2n q^2 + W q - lost d0 (1 - d0) = 0 with W = -won - lost + (2n - won + lost) d0.
Z falls as d0 rises; the interval at level 1 - a is {d0 : -z <= Z(d0) <= z}, z the 1 - a/2 normal quantile.

Equivalence within +-margin at alpha (TOST): H0 delta <= -margin is rejected when 1 - Phi(Z(-margin)) <
alpha, H0 delta >= margin when Phi(Z(margin)) < alpha; both reject exactly when the 1 - 2 alpha interval
lies inside (-margin, margin). The pairs are taken as independent, as the exact McNemar rule takes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as sps
from scipy.optimize import brentq

_EDGE = 1e-12  # d0 is searched in (-1 + _EDGE, 1 - _EDGE): at +-1 the variance can vanish


def _check_counts(won: int, lost: int, n: int) -> None:
    if min(won, lost) < 0 or won + lost > n:
        raise ValueError(f"need 0 <= won, lost and won + lost <= n, got won {won}, lost {lost}, n {n}")


def restricted_lost_probability(won: int, lost: int, n: int, d0: float) -> float:
    """The likelihood's maximum for P(lost) under delta = d0 (the positive root of Tango's quadratic)."""
    w = -won - lost + (2 * n - won + lost) * d0
    disc = max(0.0, w * w + 8 * n * lost * d0 * (1 - d0))
    return (math.sqrt(disc) - w) / (4 * n)


def tango_z(won: int, lost: int, n: int, d0: float) -> float:
    """Tango's score statistic for H0: delta = d0 (0 when the data sit exactly on d0)."""
    _check_counts(won, lost, n)
    if n == 0:
        raise ValueError("no pairs: nothing to test")
    numerator = won - lost - n * d0
    if numerator == 0:
        return 0.0
    variance = n * (2 * restricted_lost_probability(won, lost, n, d0) + d0 * (1 - d0))
    if variance <= 0:
        return math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def tango_interval(won: int, lost: int, n: int, confidence: float) -> tuple[float, float]:
    """Tango's score interval for delta at `confidence`; (NaN, NaN) without pairs."""
    _check_counts(won, lost, n)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n == 0:
        return (math.nan, math.nan)
    z = float(sps.norm.isf((1 - confidence) / 2))
    estimate = (won - lost) / n

    def limit(target: float, lo: float, hi: float, edge: float) -> float:
        f = lambda d0: tango_z(won, lost, n, d0) - target  # noqa: E731
        if f(edge) * f(estimate) > 0:  # never crosses before the edge: the edge is the limit
            return math.copysign(1.0, edge)
        return float(brentq(f, lo, hi, xtol=1e-12))

    low = -1.0 if estimate <= -1 else limit(z, -1 + _EDGE, estimate, -1 + _EDGE)
    high = 1.0 if estimate >= 1 else limit(-z, estimate, 1 - _EDGE, 1 - _EDGE)
    return (low, high)


@dataclass(frozen=True)
class Tost:
    p_lower: float  # H0: delta <= -margin
    p_upper: float  # H0: delta >= +margin
    alpha: float

    @property
    def p(self) -> float:
        """The TOST p-value: the larger of the two one-sided ones."""
        return max(self.p_lower, self.p_upper)

    @property
    def equivalent(self) -> bool:
        return self.p < self.alpha


def tost(won: int, lost: int, n: int, margin: float, alpha: float) -> Tost:
    """The two one-sided Tango score tests at +-margin; without pairs both p are 1 (nothing shown)."""
    check_margin(margin)
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5) for two one-sided tests, got {alpha!r}")
    if n == 0:
        return Tost(1.0, 1.0, alpha)
    p_lower = float(sps.norm.sf(tango_z(won, lost, n, -margin)))
    p_upper = float(sps.norm.cdf(tango_z(won, lost, n, margin)))
    return Tost(p_lower, p_upper, alpha)


def narrowest_margin(n: int, alpha: float) -> float:
    """The narrowest margin n pairs could ever show equivalence within (every pair concordant: the 1 - 2 alpha
    interval is +-z^2 / (n + z^2)); NaN without pairs."""
    if n == 0:
        return math.nan
    z = float(sps.norm.isf(alpha))
    return z * z / (n + z * z)


def check_margin(margin: float) -> None:
    if not (isinstance(margin, int | float) and 0 < margin < 1):  # NaN fails both comparisons
        raise ValueError(f"margin must be in (0, 1), got {margin!r}")
