"""Statistics against statsmodels/scipy where they have the same test, plus properties."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from reports.stats import (
    holm,
    mcnemar_exact,
    mcnemar_exact_p,
    pair_maps,
    paired_bootstrap,
    pass_hat_k,
    wilson_interval,
)


@pytest.mark.parametrize(
    "successes,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (17, 30), (29, 30), (480, 500)]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(successes: int, n: int, confidence: float) -> None:
    low, high = wilson_interval(successes, n, confidence)
    sm_low, sm_high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert low == pytest.approx(sm_low, abs=1e-12)
    assert high == pytest.approx(sm_high, abs=1e-12)


def test_wilson_without_samples_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


@given(n=st.integers(1, 2000), data=st.data(), confidence=st.floats(0.5, 0.999))
def test_wilson_contains_estimate_and_stays_in_unit_interval(
    n: int, data: st.DataObject, confidence: float
) -> None:
    k = data.draw(st.integers(0, n))
    low, high = wilson_interval(k, n, confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(n=st.integers(1, 500), data=st.data())
def test_wilson_narrows_with_confidence(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    l90, h90 = wilson_interval(k, n, 0.90)
    l99, h99 = wilson_interval(k, n, 0.99)
    assert l99 <= l90 + 1e-12 and h90 <= h99 + 1e-12


@pytest.mark.parametrize(
    "a_only,b_only", [(0, 0), (0, 1), (1, 0), (5, 1), (1, 5), (3, 3), (12, 2), (0, 9), (40, 25)]
)
def test_mcnemar_matches_statsmodels_exact(a_only: int, b_only: int) -> None:
    table = [[7, a_only], [b_only, 4]]  # concordant cells don't matter to the exact test
    expected = sm_mcnemar(table, exact=True).pvalue
    assert mcnemar_exact_p(a_only, b_only) == pytest.approx(expected, abs=1e-12)


def test_mcnemar_counts_discordant_pairs() -> None:
    pairs = [(True, True)] * 5 + [(True, False)] * 8 + [(False, True)] * 1 + [(False, False)] * 3
    m = mcnemar_exact(pairs)
    assert (m.pairs, m.a_only, m.b_only) == (17, 8, 1)
    assert m.p_value == pytest.approx(sm_mcnemar([[5, 8], [1, 3]], exact=True).pvalue)
    assert m.p_value < 0.05


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed: int) -> None:
    rng = random.Random(seed)
    p = [rng.random() ** 3 for _ in range(rng.randint(1, 24))]
    _, expected, _, _ = multipletests(p, alpha=0.05, method="holm")
    assert holm(p) == pytest.approx(list(expected), abs=1e-12)


def test_holm_known_values_and_nan() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.01, math.nan, 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_adjusted_at_least_raw_bounded_and_monotone(p: list[float]) -> None:
    adj = holm(p)
    assert all(a >= r - 1e-15 and a <= 1.0 for a, r in zip(adj, p, strict=True))
    order = sorted(range(len(p)), key=lambda i: p[i])
    assert all(adj[order[i]] <= adj[order[i + 1]] + 1e-15 for i in range(len(p) - 1))


def test_pass_hat_k_equals_fraction_of_all_pass_scenarios_when_k_is_epochs() -> None:
    per_scenario = [(3, 3), (3, 2), (3, 3), (3, 0)]
    r = pass_hat_k(per_scenario, 3)
    assert r.value == pytest.approx(0.5) and r.scenarios == 4 and r.skipped == 0


def test_pass_hat_k_is_the_unbiased_subset_estimator() -> None:
    # n=5, c=3, k=2: C(3,2)/C(5,2) = 3/10, i.e. the share of 2-subsets of the 5 tries that all passed.
    tries = [True, True, True, False, False]
    subsets = list(itertools.combinations(tries, 2))
    brute = sum(all(s) for s in subsets) / len(subsets)
    assert pass_hat_k([(5, 3)], 2).value == pytest.approx(brute) == pytest.approx(0.3)
    assert pass_hat_k([(5, 3)], 1).value == pytest.approx(0.6)  # pass^1 is the pass rate


def test_pass_hat_k_skips_scenarios_with_too_few_samples() -> None:
    r = pass_hat_k([(3, 3), (2, 2)], 3)
    assert (r.value, r.scenarios, r.skipped) == (1.0, 1, 1)
    assert math.isnan(pass_hat_k([(1, 1)], 2).value)


@given(
    st.lists(
        st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), min_size=1, max_size=20
    )
)
def test_pass_hat_k_never_exceeds_pass_rate_and_falls_with_k(per_scenario: list[tuple[int, int]]) -> None:
    k_max = min(n for n, _ in per_scenario)
    values = [pass_hat_k(per_scenario, k).value for k in range(1, k_max + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(values[i + 1] <= values[i] + 1e-12 for i in range(len(values) - 1))


def _naive_cluster_bootstrap(pairs, n_boot, seed):
    clusters = sorted({c for c, _, _ in pairs})
    by = {c: [(a, b) for cc, a, b in pairs if cc == c] for c in clusters}
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        chosen = rng.integers(0, len(clusters), size=len(clusters))
        rows = [ab for i in chosen for ab in by[clusters[i]]]
        reps.append(sum(b - a for a, b in rows) / len(rows))
    return np.quantile(reps, [0.025, 0.975])


def test_bootstrap_is_clustered_by_scenario_and_matches_a_naive_loop() -> None:
    rng = random.Random(3)
    pairs = [
        (f"s{s}", rng.random() < 0.5, rng.random() < 0.7) for s in range(12) for _ in range(rng.randint(1, 4))
    ]
    pairs.sort(key=lambda t: t[0])  # first-appearance order of clusters == sorted order
    r = paired_bootstrap(pairs, n_boot=2000, seed=7)
    low, high = _naive_cluster_bootstrap(pairs, 2000, 7)
    assert (r.low, r.high) == pytest.approx((low, high))
    assert r.diff == pytest.approx(sum(b - a for _, a, b in pairs) / len(pairs))
    assert r.clusters == 12 and r.pairs == len(pairs)


def test_bootstrap_is_seeded_and_detects_a_clear_improvement() -> None:
    pairs = [(f"s{i}", False, True) for i in range(15)] + [(f"s{i}", True, True) for i in range(15, 30)]
    a, b = paired_bootstrap(pairs, seed=1), paired_bootstrap(pairs, seed=1)
    assert a == b and a.n_boot == 10_000
    assert a.diff == pytest.approx(0.5) and a.low > 0
    assert paired_bootstrap([(s, b, a) for s, a, b in pairs], seed=1).high < 0


def test_bootstrap_edge_cases() -> None:
    assert math.isnan(paired_bootstrap([]).diff)
    one = paired_bootstrap([("s", False, True), ("s", True, True)], n_boot=200)
    assert one.low == one.high == one.diff == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.booleans(), st.booleans()), min_size=1, max_size=40)
)
def test_bootstrap_interval_is_within_minus_one_and_one(pairs: list[tuple[str, bool, bool]]) -> None:
    r = paired_bootstrap(pairs, n_boot=200, seed=0)
    assert -1.0 <= r.low <= r.high <= 1.0
    assert -1.0 <= r.diff <= 1.0


def test_pair_maps_pairs_only_common_keys() -> None:
    pairs, only_a, only_b = pair_maps({1: True, 2: False, 3: True}, {2: True, 3: True, 4: False})
    assert pairs == [(2, False, True), (3, True, True)]
    assert only_a == {1} and only_b == {4}
