"""Equivalence verdicts (reports/equivalence.py) and Tango's paired score interval and TOST under them
(reports/paired_equivalence.py), checked against an independent computation: the constrained maximum
likelihood found numerically and the interval found by scanning the score statistic on a grid."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reports_builders import EVALS, SCENARIOS, grid, write_run
from scipy import stats as sps
from scipy.optimize import minimize_scalar

from reports.__main__ import main
from reports.equivalence import DIFFERENT, EQUIVALENT, UNDECIDED, equivalence_rows
from reports.paired_equivalence import narrowest_margin, tango_interval, tango_z, tost
from reports.results import load_run
from reports.significance import overall_significance, significance

tables = st.integers(1, 60).flatmap(
    lambda n: st.tuples(st.integers(0, n), st.integers(0, n), st.just(n)).filter(lambda t: t[0] + t[1] <= n))


def reference_z(won: int, lost: int, n: int, d0: float) -> float:
    """Tango's Z with the restricted MLE found by maximising the multinomial likelihood numerically."""
    lo, hi = max(0.0, -d0), (1 - d0) / 2  # P(lost) = q, P(won) = q + d0, P(concordant) = 1 - 2q - d0 >= 0

    def nll(q: float) -> float:
        cells = ((won, q + d0), (lost, q), (n - won - lost, 1 - 2 * q - d0))
        return -sum(k * math.log(max(p, 1e-300)) for k, p in cells if k)

    q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    num = won - lost - n * d0
    return num / math.sqrt(n * (2 * q + d0 * (1 - d0)))


def reference_interval(won: int, lost: int, n: int, confidence: float) -> tuple[float, float]:
    z = float(sps.norm.isf((1 - confidence) / 2))
    grid_d = np.linspace(-0.9995, 0.9995, 2000)
    inside = [d for d in grid_d if abs(reference_z(won, lost, n, d)) <= z]
    return min(inside), max(inside)


@pytest.mark.parametrize("won,lost,n", [(16, 6, 161), (1, 7, 21), (0, 0, 25), (3, 3, 40), (10, 0, 30)])
def test_tango_z_matches_the_numerical_restricted_mle(won: int, lost: int, n: int) -> None:
    for d0 in (-0.6, -0.2, -0.05, 0.03, 0.1, 0.45):
        assert tango_z(won, lost, n, d0) == pytest.approx(reference_z(won, lost, n, d0), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("won,lost,n,confidence", [(16, 6, 161, 0.95), (1, 7, 21, 0.95), (0, 0, 25, 0.9),
                                                   (3, 1, 25, 0.9), (12, 2, 20, 0.9)])
def test_tango_interval_matches_a_grid_scan_of_the_reference_statistic(won, lost, n, confidence) -> None:
    low, high = tango_interval(won, lost, n, confidence)
    ref_low, ref_high = reference_interval(won, lost, n, confidence)
    step = 2 * 0.9995 / 1999
    assert ref_low - step <= low <= ref_low + 1e-9 and ref_high - 1e-9 <= high <= ref_high + step


@settings(max_examples=80, deadline=None)
@given(tables, st.sampled_from([0.8, 0.9, 0.95]))
def test_tango_interval_holds_the_estimate_and_mirrors(t: tuple[int, int, int], confidence: float) -> None:
    won, lost, n = t
    low, high = tango_interval(won, lost, n, confidence)
    estimate = (won - lost) / n
    assert -1 <= low <= estimate <= high <= 1
    z = float(sps.norm.isf((1 - confidence) / 2))
    if low > -1:
        assert tango_z(won, lost, n, low) == pytest.approx(z, abs=1e-6)
    if high < 1:
        assert tango_z(won, lost, n, high) == pytest.approx(-z, abs=1e-6)
    mlow, mhigh = tango_interval(lost, won, n, confidence)
    assert (mlow, mhigh) == pytest.approx((-high, -low), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(tables, st.floats(0.01, 0.5), st.sampled_from([0.01, 0.05, 0.1]))
def test_tost_rejects_both_exactly_when_the_1_minus_2_alpha_interval_is_inside(t, margin: float,
                                                                                 alpha: float) -> None:
    won, lost, n = t
    low, high = tango_interval(won, lost, n, 1 - 2 * alpha)
    assume(min(abs(low + margin), abs(high - margin)) > 1e-7)  # not on the boundary itself
    assert tost(won, lost, n, margin, alpha).equivalent == (-margin < low and high < margin)


@settings(max_examples=60, deadline=None)
@given(tables, st.sampled_from([0.025, 0.05, 0.1]))
def test_no_table_shows_a_margin_narrower_than_the_all_concordant_one(t, alpha: float) -> None:
    won, lost, n = t
    low, high = tango_interval(won, lost, n, 1 - 2 * alpha)
    assert max(-low, high) >= narrowest_margin(n, alpha) - 1e-9
    assert tango_interval(0, 0, n, 1 - 2 * alpha) == pytest.approx(
        (-narrowest_margin(n, alpha), narrowest_margin(n, alpha)), abs=1e-9)


def test_twenty_five_concordant_pairs_can_just_show_a_margin_of_ten_points() -> None:
    """A behaviour of 5 scenarios x 5 epochs: only with every pair concordant, and only above 0.098."""
    assert narrowest_margin(25, 0.05) == pytest.approx(0.0977, abs=1e-4)
    assert tost(0, 0, 25, 0.10, 0.05).equivalent and not tost(1, 0, 25, 0.10, 0.05).equivalent


@pytest.mark.parametrize("n,p_won,p_lost", [(25, 0.08, 0.04), (100, 0.15, 0.10), (505, 0.05, 0.05)])
def test_the_90_percent_interval_covers_the_true_difference_about_90_percent_of_the_time(n, p_won, p_lost) -> None:
    """Simulated paired tables (seeded): a score interval's coverage sits near its nominal level."""
    rng = np.random.default_rng(7)
    truth, hits, reps = p_won - p_lost, 0, 1500
    for won, lost, _ in rng.multinomial(n, [p_won, p_lost, 1 - p_won - p_lost], size=reps):
        low, high = tango_interval(int(won), int(lost), n, 0.90)
        hits += low <= truth <= high
    assert 0.86 <= hits / reps <= 0.95


@pytest.mark.parametrize("margin", [0.0, 1.0, -0.1, 1.5, math.nan, math.inf])
def test_a_margin_outside_the_open_unit_interval_is_refused(margin: float) -> None:
    with pytest.raises(ValueError, match="margin must be in"):
        tost(1, 1, 10, margin, 0.05)


# --- verdicts over runs --------------------------------------------------------------------------


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(root))
    flip = EVALS[0]
    write_run(root, "bf16", grid(lambda e, s, k: (int(s[1:]) + k) % 3 != 0))
    write_run(root, "same", grid(lambda e, s, k: (int(s[1:]) + k) % 3 != 0))
    # the first behaviour passes nowhere; the rest are the reference's samples
    write_run(root, "awq", grid(lambda e, s, k: e != flip and (int(s[1:]) + k) % 3 != 0))
    write_run(root, "respec", grid(), spec_sha256="6" * 64)
    return root


def test_identical_runs_are_equivalent_everywhere(tmp_path: Path, runs: Path, capsys) -> None:
    out = tmp_path / "eq"
    assert main(["equivalence", "bf16", "same", "--names", "bf16,awq", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"behaviours: {len(EVALS)} equivalent, 0 different, 0 undecided" in stdout
    data = json.loads((out / "equivalence.json").read_text())
    assert data["overall"]["verdict"] == EQUIVALENT and data["margin"] == 0.10 and data["alpha"] == 0.05
    pairs = len(SCENARIOS) * 3
    for row in data["behaviours"].values():
        assert row["pairs"] == pairs and row["diff"] == 0 and row["bootstrap_low"] == row["bootstrap_high"] == 0
        assert (-row["tango_low"], row["tango_high"]) == pytest.approx((narrowest_margin(pairs, 0.05),) * 2)
    md = (out / "equivalence.md").read_text()
    assert "| behaviour | verdict |" in md and md.count("| equivalent |") == len(EVALS) + 1


def test_a_lost_behaviour_is_different_by_the_one_rule_and_the_rest_equivalent(tmp_path, runs, capsys) -> None:
    out = tmp_path / "eq"
    assert main(["equivalence", "bf16", "awq", "--out", str(out)]) == 0
    data = json.loads((out / "equivalence.json").read_text())
    lost = data["behaviours"][EVALS[0]]
    assert lost["verdict"] == DIFFERENT and lost["won"] == 0 and lost["lost"] == 20 and lost["diff"] < -0.6
    assert all(data["behaviours"][e]["verdict"] == EQUIVALENT for e in EVALS[1:])
    assert data["overall"]["verdict"] == DIFFERENT
    assert data["counts"] == {EQUIVALENT: len(EVALS) - 1, DIFFERENT: 1, UNDECIDED: 0}


def test_a_margin_too_narrow_for_the_pairs_is_undecided_and_says_why(tmp_path, runs, capsys) -> None:
    out = tmp_path / "eq"
    assert main(["equivalence", "bf16", "same", "--margin", "0.05", "--out", str(out)]) == 0
    data = json.loads((out / "equivalence.json").read_text())
    row = data["behaviours"][EVALS[1]]
    assert row["verdict"] == UNDECIDED and "can show equivalence only within ±0.083" in row["why"]
    assert data["overall"]["verdict"] == EQUIVALENT  # 150 pairs reach ±0.05


pair_lists = st.lists(st.tuples(st.sampled_from(SCENARIOS), st.booleans(), st.booleans()), max_size=60)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(EVALS), pair_lists, min_size=1), st.floats(0.02, 0.6),
       st.sampled_from([0.01, 0.05, 0.1]))
def test_verdicts_follow_the_one_rule_then_tost(tmp_path_factory, pairs: dict, margin: float, alpha: float) -> None:
    rows_a, rows_b = [], []
    for ev, ps in pairs.items():
        seen: dict[str, int] = {}
        for scenario, pa, pb in ps:
            epoch = seen[scenario] = seen.get(scenario, -1) + 1
            rows_a += grid(lambda e, s, k, v=pa: v, evals=[ev], scenarios=[scenario], epochs=1)
            rows_b += grid(lambda e, s, k, v=pb: v, evals=[ev], scenarios=[scenario], epochs=1)
            rows_a[-1]["epoch"] = rows_b[-1]["epoch"] = epoch
    root = tmp_path_factory.mktemp("runs")
    a, b = load_run(write_run(root, "a", rows_a)), load_run(write_run(root, "b", rows_b))
    rows = equivalence_rows(a, b, margin, alpha, n_boot=200)
    rule = significance({ev: [(pa, pb) for _, pa, pb in ps] for ev, ps in pairs.items() if ps}, alpha)
    rule["overall"] = overall_significance([(pa, pb) for ps in pairs.values() for _, pa, pb in ps], alpha)
    for r in rows:
        assert r.significance == rule[r.group]
        if rule[r.group].significant:
            assert r.verdict == DIFFERENT
        elif r.verdict == EQUIVALENT:
            low, high = tango_interval(r.significance.won, r.significance.lost, r.pairs, 1 - 2 * alpha)
            assert -margin < low and high < margin and r.tost.p < alpha
            assert -margin < r.bootstrap.low and r.bootstrap.high < margin
        else:
            assert r.verdict == UNDECIDED and (not r.tost.equivalent or not r.bootstrap_inside or not r.pairs)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["equivalence", "bf16"], "the following arguments are required"),
        (["equivalence", "bf16", "awq", "--margin", "0"], "--margin"),
        (["equivalence", "bf16", "awq", "--margin", "1"], "--margin must be between 0 and 1"),
        (["equivalence", "bf16", "awq", "--margin", "nan"], "expected a finite number"),
        (["equivalence", "bf16", "awq", "--margin", "1.5"], "--margin"),
        (["equivalence", "bf16", "awq", "--alpha", "0.5"], "--alpha must be between 0 and 0.5"),
        (["equivalence", "bf16", "awq", "--names", "x"], "--names needs 2 distinct names"),
        (["equivalence", "bf16", "awq", "--names", "x,x"], "--names needs 2 distinct names"),
        (["equivalence", "bf16", "ghost"], "ghost has no results.json"),
    ],
)
def test_bad_input_is_one_line_exit_2(runs: Path, capsys, argv: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_runs_graded_by_different_specs_are_refused(runs: Path, capsys) -> None:
    assert main(["equivalence", "bf16", "respec"]) == 1
    assert "graded by different specs" in capsys.readouterr().err
