"""The one rule (reports/significance.py), what a run can show at all (core/exact_power.py), and the
places that must use the rule: compare's verdicts, the gate, the spec-hash refusal, seed agreement."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from reports_builders import EVALS, SCENARIOS, grid, write_run
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from core.exact_power import (
    DEFAULT_ALPHA,
    best_exact_p,
    epochs_needed,
    min_detectable_difference,
    min_discordant,
    power_warnings,
)
from reports.__main__ import main
from reports.gate_rules import DEFAULT_RULES, load_rules
from reports.significance import BETTER, NO_DIFFERENCE, WORSE, overall_significance, significance

pair_lists = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(EVALS), pair_lists, min_size=1), st.sampled_from([0.01, 0.05, 0.1]))
def test_the_rule_is_exact_mcnemar_holm_adjusted_at_alpha(pairs: dict, alpha: float) -> None:
    verdicts = significance(pairs, alpha)
    tested = [b for b in sorted(pairs) if pairs[b]]
    raw = {b: sm_mcnemar([[0, sum(a and not c for a, c in pairs[b])], [sum(c and not a for a, c in pairs[b]), 0]],
                         exact=True).pvalue for b in tested}
    holm = dict(zip(tested, multipletests([raw[b] for b in tested], method="holm")[1], strict=True)) if tested else {}
    for b, v in verdicts.items():
        if not pairs[b]:
            assert math.isnan(v.p_holm) and v.verdict == NO_DIFFERENCE
            continue
        assert v.p == pytest.approx(raw[b]) and v.p_holm == pytest.approx(holm[b])
        assert v.family == len(tested)
        expected = NO_DIFFERENCE if not holm[b] < alpha else BETTER if v.won > v.lost else WORSE
        assert v.verdict == expected
        # no verdict without enough discordant pairs for the exact test: power and the rule agree
        if v.significant:
            assert abs(v.won - v.lost) >= 1 and max(v.won, v.lost) >= min_discordant(alpha, v.family)


def test_four_perfect_pairs_are_never_learned() -> None:
    """The demo's old claim: 4 of 4 scenarios flipped, bootstrap [+1, +1], exact p 0.125."""
    v = significance({"a.x": [(False, True)] * 4, "b.y": [(False, False)] * 4})["a.x"]
    assert v.p == pytest.approx(0.125) and v.verdict == NO_DIFFERENCE and math.isnan(v.min_detectable)


def test_overall_is_one_test_at_alpha() -> None:
    v = overall_significance([(False, True)] * 6)
    assert v.family == 1 and v.p == v.p_holm == pytest.approx(2 / 64) and v.better
    assert not overall_significance([(False, True)] * 5).significant


@pytest.mark.parametrize("alpha", [0, -0.1, 1.5, float("nan")])
def test_alpha_out_of_range_is_refused(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        significance({"a": [(True, False)]}, alpha)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([0.01, 0.05, 0.1, 0.2]), st.integers(1, 40))
def test_min_discordant_is_the_boundary(alpha: float, family: int) -> None:
    d = min_discordant(alpha, family)
    assert best_exact_p(d, family) < alpha and (d == 1 or best_exact_p(d - 1, family) >= alpha)


def test_power_numbers_at_the_gates_alpha() -> None:
    assert load_rules()["alpha"] == DEFAULT_ALPHA == yaml.safe_load(DEFAULT_RULES.read_text())["alpha"]
    assert min_discordant(0.05) == 6 and min_discordant(0.05, 24) == 10
    assert epochs_needed(4) == 2 and epochs_needed(4, 0.05, 24) == 3
    assert min_detectable_difference(12, 0.05, 24) == pytest.approx(10 / 12)
    assert math.isnan(min_detectable_difference(5))


def test_power_warnings_name_the_behaviours_and_the_epochs() -> None:
    lines = power_warnings({"a.x": 4, "b.y": 10}, epochs=1, temperature=0.7)
    assert "a.x" in lines[0] and "b.y" not in lines[0] and "--epochs 2" in lines[1] and "Holm across 2" in lines[1]
    assert power_warnings({"a.x": 4}, epochs=2, temperature=0.7) == []
    greedy = power_warnings({"a.x": 4}, epochs=5, temperature=0)  # copies of one trajectory add nothing
    assert "temperature 0" in greedy[0] and "a temperature above 0" in greedy[1]


# --- compare and gate use the rule ----------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    r = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(r))
    return r


def test_compare_writes_the_rules_verdict_and_power(tmp_path: Path, root: Path, capsys) -> None:
    learned = EVALS[0]
    write_run(root, "base", grid(lambda e, s, k: False), adapter=None)
    write_run(root, "lora", grid(lambda e, s, k: e == learned or (e == EVALS[1] and s == "s00")))
    assert main(["compare", "base", "lora", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert f"1 behaviours better, 0 worse at Holm-adjusted exact p < 0.05 (better: {learned})" in out
    data = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert data["rule"]["alpha"] == 0.05 and data["paired"][0]["better"] == [learned]
    row = data["paired"][0]["behaviours"][learned]
    assert row["verdict"] == "better" and row["pairs"] == 30
    assert row["min_detectable_diff"] == pytest.approx(min_discordant(0.05, len(EVALS)) / 30)
    assert data["paired"][0]["behaviours"][EVALS[1]]["verdict"] == "no difference shown"
    md = (tmp_path / "c" / "comparison.md").read_text()
    assert "verdict (p < 0.05)" in md and "| better |" in md


def test_compare_refuses_runs_graded_by_different_specs(tmp_path: Path, root: Path, capsys) -> None:
    write_run(root, "a", grid(), spec_sha256="a" * 64)
    write_run(root, "b", grid(), spec_sha256="b" * 64)
    assert main(["compare", "a", "b", "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("reports: compare refused: the runs were graded by different specs")
    assert "aaaaaaaaaaaa" in err and "--regrade" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()
    # --regrade needs the runs' inspect logs to re-grade from: these constructed runs have none
    assert main(["compare", "a", "b", "--out", str(tmp_path / "c"), "--regrade"]) == 2
    assert "cannot re-grade a: none of its inspect logs is here" in capsys.readouterr().err
    data = json.loads((tmp_path / "c" / "comparison.json").read_text())  # as recorded, labelled
    assert data["label"] == "as recorded" and any("different specs" in w for w in data["warnings"])


def test_compare_warns_about_a_run_without_a_spec_hash(tmp_path: Path, root: Path, capsys) -> None:
    write_run(root, "old", grid(), spec_sha256=None)
    write_run(root, "new", grid())
    assert main(["compare", "old", "new", "--out", str(tmp_path / "c")]) == 0
    assert "old: its results.json records no spec hash" in capsys.readouterr().err


def test_seed_agreement_is_a_first_class_number(tmp_path: Path, root: Path, capsys) -> None:
    write_run(root, "base", grid(lambda e, s, k: False), adapter=None)
    write_run(root, "seed1", grid(lambda e, s, k: e != EVALS[2]), seed=1)
    # seed 2 of the same arm: EVALS[2] now passes too, EVALS[3] fails half its tries
    write_run(root, "seed2", grid(lambda e, s, k: e != EVALS[3] or k == 0), seed=2)
    assert main(["compare", "base", "seed1", "seed2", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "c" / "comparison.json").read_text())
    [agreement] = data["seed_agreement"]
    assert agreement["arms"] == ["seed1", "seed2"] and agreement["seeds"] == [1, 2]
    by = {a["verdict"]: a for a in agreement["agreements"]}
    assert by["vs base"]["behaviours"] == len(EVALS) and by["vs base"]["disagree"] == [EVALS[2]]
    assert by["vs base"]["share"] == pytest.approx((len(EVALS) - 1) / len(EVALS))
    assert EVALS[2] in by["threshold"]["disagree"]
    assert "seed agreement seed1 (seed 1) vs seed2 (seed 2)" in out
    assert [a["arms"] for a in data["seed_agreement"]] == [["seed1", "seed2"]]  # base is another arm


@pytest.mark.parametrize(("section", "key"), [("no_regression", "alpha"), ("better_than_baseline", "min_ci_low")])
def test_a_replaced_gate_setting_is_one_line_exit_2(tmp_path: Path, root: Path, capsys, section: str,
                                                    key: str) -> None:
    write_run(root, "good", grid())
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({section: {key: 0.0}}))
    assert main(["gate", "good", "--rules", str(rules)]) == 2
    assert f"{section}.{key} is gone" in capsys.readouterr().err


def test_better_than_baseline_needs_the_exact_test_not_an_interval(tmp_path: Path, root: Path) -> None:
    from reports.gate import gate_run

    # 5 scenarios x 1 epoch of one behaviour, every pair flipped: bootstrap [+1, +1], exact p 0.0625
    write_run(root, "base", grid(lambda e, s, k: False, evals=EVALS[:1], scenarios=SCENARIOS[:5], epochs=1),
              adapter=None, epochs=1)
    write_run(root, "lora", grid(evals=EVALS[:1], scenarios=SCENARIOS[:5], epochs=1), epochs=1)
    g = gate_run("lora", baseline="base")
    [rule] = [r for r in g.results if r.rule == "better_than_baseline"]
    assert rule.status == "fail" and rule.failures[0].numbers["ci_low"] == 1.0
    assert rule.failures[0].numbers["p_mcnemar"] == pytest.approx(0.0625)
