"""The promotion gate on constructed runs: each rule can fail the gate on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reports_builders import EVALS, SCENARIOS, grid, pin_hard_invariants, rules_file, write_run

from core.errors import BadInput
from reports.__main__ import main
from reports.gate import gate_run, hard_invariant_ids, load_rules, thresholds_for

HARD = "persona.no_hardcoded_bt_identity"
REPO = Path(__file__).resolve().parents[1]
SOFT = "tts.uses_active_cart_voice"


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(root))
    pin_hard_invariants(monkeypatch)
    # The candidate's peers: the promoted adapter's run (all pass) and a weak baseline (half pass).
    write_run(root, "promoted", grid())
    write_run(root, "baseline", grid(lambda e, s, k: (int(s[1:]) + k) % 2 == 0), adapter=None)
    return root


def _gate(tmp_path: Path, run: str, rules: dict | None = None, thresholds: dict | None = None, **kw):
    return gate_run(
        run,
        against=kw.pop("against", "promoted_run"),
        baseline=kw.pop("baseline", "baseline"),
        rules_path=str(rules_file(tmp_path, rules, thresholds)),
        **kw,
    )


def _failed(g) -> dict[str, list[str]]:
    return {r.rule: [f.behaviour for f in r.failures] for r in g.results if r.status == "fail"}


@pytest.fixture
def promoted_run(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "promoted_run" as a run id: the --against RUN form
    write_run(runs, "promoted_run", grid())


def test_a_good_run_passes_every_rule(tmp_path: Path, runs: Path, promoted_run) -> None:
    write_run(runs, "good", grid())
    g = _gate(tmp_path, "good")
    assert g.passed, _failed(g)
    assert {r.rule: r.status for r in g.results} == {
        "hard_invariants": "pass",
        "thresholds": "pass",
        "no_regression": "pass",
        "better_than_baseline": "pass",
        "complete": "pass",
    }


def test_hard_invariants_come_from_the_catalog() -> None:
    catalog = pytest.importorskip("evals.catalog")
    assert hard_invariant_ids(load_rules()) == sorted(catalog.HARD_INVARIANTS)


def test_hard_invariants_fail_alone_on_the_invariants_own_check(
    tmp_path: Path, runs: Path, promoted_run
) -> None:
    assert HARD in hard_invariant_ids(load_rules())
    write_run(runs, "cand", grid(lambda e, s, k: not (e == HARD and s == "s03" and k == 1)))
    g = _gate(tmp_path, "cand")
    assert _failed(g) == {"hard_invariants": [HARD]}
    assert "1 violations (allowed 0): s03 epoch 1" in g.results[0].failures[0].message


def test_a_task_left_undone_in_an_invariants_scenario_is_no_violation(
    tmp_path: Path, runs: Path, promoted_run
) -> None:
    """Round 1 of the real-Qwen loop: the adapter reached sin only as `sin`, then never said which models it serves.
    The sample fails (the task), the invariant holds: the as-run gate counted it as a violation."""
    from evals.catalog import grade, hard_violations

    transcript = json.loads((REPO / "tests" / "data" / "real-qwen-alias-kept-task-undone.json").read_text())
    verdict = grade("mesh.uses_sin_ssh_alias", transcript)
    assert verdict.outcome == "failed" and "all with a correct alias, but the task was not done" in verdict.reason
    assert hard_violations(transcript) == []
    alias = "mesh.uses_sin_ssh_alias"
    write_run(runs, "cand", grid(lambda e, s, k: not (e == alias and s == "s03" and k == 1), hard_failures_break=False))
    g = _gate(tmp_path, "cand")
    hard = next(r for r in g.results if r.rule == "hard_invariants")
    assert hard.status == "pass", hard.failures


def test_hard_invariants_fail_alone_on_a_hard_violations_entry(
    tmp_path: Path, runs: Path, promoted_run
) -> None:
    rows = grid()
    rows[0]["hard_violations"] = ["mesh.uses_sin_ssh_alias"]  # another eval's trajectory broke the invariant
    write_run(runs, "cand", rows)
    g = _gate(tmp_path, "cand")
    assert _failed(g) == {"hard_invariants": ["mesh.uses_sin_ssh_alias"]}


def test_a_hard_invariant_not_exercised_is_no_violation(tmp_path: Path, runs: Path, promoted_run) -> None:
    # An agent that never said who it is did not claim to be BT: no violation on those tries.
    write_run(runs, "cand", grid(lambda e, s, k: "not_exercised" if (e == HARD and s == "s03") else True))
    g = _gate(tmp_path, "cand")
    hard = next(r for r in g.results if r.rule == "hard_invariants")
    assert hard.status == "pass", hard.failures


def test_a_hard_invariant_never_exercised_is_never_evaluated(tmp_path: Path, runs: Path) -> None:
    write_run(runs, "cand", grid(lambda e, s, k: "not_exercised" if e == HARD else True))
    g = _gate(tmp_path, "cand", against=None, baseline=None)
    assert _failed(g) == {"hard_invariants": [HARD]}
    assert "never evaluated" in g.results[0].failures[0].message


def test_a_hard_invariant_never_evaluated_fails(tmp_path: Path, runs: Path) -> None:
    write_run(runs, "cand", grid(evals=[e for e in EVALS if e != HARD]))
    g = _gate(tmp_path, "cand", against=None, baseline=None)
    assert _failed(g) == {"hard_invariants": [HARD]}


def test_thresholds_fail_alone_from_the_thresholds_file(tmp_path: Path, runs: Path, promoted_run) -> None:
    write_run(runs, "good", grid())
    # 30/30 passes: Wilson 95% lower bound 0.886
    g = _gate(tmp_path, "good", thresholds={"default": 0.5, "evals": {SOFT: 0.9}})
    assert _failed(g) == {"thresholds": [SOFT]}
    msg = next(r for r in g.results if r.rule == "thresholds").failures[0].message
    assert "lower bound 0.886 < threshold 0.900 (30/30 passed" in msg


def test_rules_override_wins_over_the_thresholds_file(tmp_path: Path, runs: Path) -> None:
    rules = load_rules(
        rules_file(
            tmp_path,
            {"thresholds": {"override": {"default": 0.7, SOFT: 0.2}}},
            {"default": 0.5, "evals": {SOFT: 0.9, HARD: 0.6}},
        )
    )
    limits, source = thresholds_for(rules, [SOFT, HARD, "agent.todo_for_multistep"])
    assert limits == {SOFT: 0.2, HARD: 0.6, "agent.todo_for_multistep": 0.7}
    assert "overrides" in source


def test_a_missing_thresholds_file_is_one_line_not_a_fallback(tmp_path: Path, runs: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(f"thresholds:\n  file: {tmp_path / 'absent.yaml'}\n")
    with pytest.raises(BadInput, match=r"thresholds file .*absent.yaml does not exist"):
        thresholds_for(load_rules(p), [SOFT])


def test_the_old_rules_default_is_refused_with_its_replacement(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("thresholds:\n  default: 0.95\n")
    with pytest.raises(BadInput, match=r"thresholds.default is gone: replaced by thresholds.override.default"):
        load_rules(p)


def test_an_unknown_behaviour_in_the_rules_override_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    p = rules_file(tmp_path, {"thresholds": {"override": {"tts.uses_active_cart_voise": 0.8}}})
    with pytest.raises(BadInput, match=r"unknown behaviour id 'tts.uses_active_cart_voise' "
                                       r"\(did you mean 'tts.uses_active_cart_voice'\?\)"):
        load_rules(p)


def test_an_unknown_behaviour_in_the_thresholds_file_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    rules = load_rules(rules_file(tmp_path, {}, {"default": 0.5, "evals": {"mesh.uses_sin_ssh_alias": 1.0,
                                                                             "memory.recals_before_code_work": 0.9}}))
    with pytest.raises(BadInput, match=r"evals: unknown behaviour id 'memory.recals_before_code_work' "
                                       r"\(did you mean 'memory.recalls_before_code_work'\?\)"):
        thresholds_for(rules, [SOFT])


def test_the_cli_refuses_a_misspelt_override_in_one_line_exit_2(tmp_path: Path, runs: Path, capsys) -> None:
    write_run(runs, "good", grid())
    p = rules_file(tmp_path, {"thresholds": {"override": {"agent.todo_for_multi_step": 0.8}}})
    assert main(["gate", "good", "--rules", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'agent.todo_for_multistep'" in err


def test_gate_out_writes_there_and_leaves_the_runs_gate_json_alone(tmp_path: Path, runs: Path, capsys) -> None:
    write_run(runs, "good", grid())
    out = tmp_path / "elsewhere" / "gate-a.json"
    code = main(["gate", "good", "--rules", str(rules_file(tmp_path)), "--out", str(out)])
    assert code in (0, 1)
    assert json.loads(out.read_text())["run_id"] == "good"
    assert not (runs / "good" / "gate.json").exists()
    assert f"gate.json: {out}" in capsys.readouterr().out


def test_no_regression_fails_alone(tmp_path: Path, runs: Path, promoted_run) -> None:
    # 8 of 30 SOFT samples lost against the promoted run: 22/30 still clears 0.5 (lower bound 0.556),
    # but McNemar p = 2 * 0.5**8 = 0.0078 and Holm over 5 behaviours gives 0.039 < 0.05.
    lost = {(s, 0) for s in SCENARIOS[:8]}
    write_run(runs, "cand", grid(lambda e, s, k: not (e == SOFT and (s, k) in lost)))
    g = _gate(tmp_path, "cand")
    assert _failed(g) == {"no_regression": [SOFT]}
    f = next(r for r in g.results if r.rule == "no_regression").failures[0]
    assert f.numbers["lost"] == 8 and f.numbers["won"] == 0
    assert f.numbers["p_holm"] == pytest.approx(5 * 2 * 0.5**8)


def test_against_promoted_reads_the_registry(tmp_path: Path, runs: Path) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(
        json.dumps({"entries": [{"status": "promoted", "run_id": "promoted", "adapter_sha256": "0" * 64}]})
    )
    lost = {(s, 0) for s in SCENARIOS[:8]}
    write_run(runs, "cand", grid(lambda e, s, k: not (e == SOFT and (s, k) in lost)))
    g = _gate(tmp_path, "cand", against="promoted", registry=registry)
    assert g.against is not None and g.against.run_id == "promoted"
    assert "no_regression" in _failed(g)
    empty = tmp_path / "empty.json"
    g = _gate(tmp_path, "cand", against="promoted", registry=empty)
    assert next(r for r in g.results if r.rule == "no_regression").status == "skipped"


def test_better_than_baseline_fails_alone(tmp_path: Path, runs: Path, promoted_run) -> None:
    write_run(runs, "good", grid())
    g = _gate(tmp_path, "good", baseline="promoted_run")  # no better than an equal run
    assert _failed(g) == {"better_than_baseline": ["overall"]}
    assert "Δ +0.000" in g.results[3].failures[0].message


def test_better_than_baseline_can_be_required(tmp_path: Path, runs: Path) -> None:
    write_run(runs, "good", grid())
    g = _gate(tmp_path, "good", {"better_than_baseline": {"required": True}}, against=None, baseline=None)
    assert _failed(g) == {"better_than_baseline": ["overall"]}


def test_complete_fails_alone_on_too_many_incomplete_samples(
    tmp_path: Path, runs: Path, promoted_run
) -> None:
    # 2 incomplete per behaviour: 10/150 = 6.7% > 5%; each behaviour still 28/30 and not significantly worse.
    write_run(runs, "cand", grid(lambda e, s, k: "incomplete" if s in ("s00", "s01") and k == 0 else True))
    g = _gate(tmp_path, "cand")
    assert _failed(g) == {"complete": ["overall"]}
    assert "10/150 samples incomplete" in g.results[-1].failures[0].message
    thresholds = next(r for r in g.results if r.rule == "thresholds")
    assert thresholds.status == "pass"


def test_complete_fails_on_an_interrupted_run(tmp_path: Path, runs: Path, promoted_run) -> None:
    write_run(runs, "cand", grid(), interrupted=True)
    assert _failed(_gate(tmp_path, "cand")) == {"complete": ["overall"]}


def test_incomplete_samples_never_pass_the_thresholds(tmp_path: Path, runs: Path) -> None:
    write_run(runs, "cand", grid(lambda e, s, k: "incomplete" if e == SOFT and k else True))
    g = _gate(tmp_path, "cand", {"complete": {"enabled": False}}, against=None, baseline=None)
    assert _failed(g) == {"thresholds": [SOFT]}  # 10/30 passed, 20 incomplete


def test_cli_prints_a_short_verdict_writes_gate_json_and_exits_by_outcome(
    tmp_path: Path, runs: Path, promoted_run, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rules_file(tmp_path)
    write_run(runs, "good", grid())
    bad = write_run(runs, "bad", grid(lambda e, s, k: not (e == HARD and s == "s00" and k == 0)))
    assert (
        main(["gate", "good", "--against", "promoted_run", "--baseline", "baseline", "--rules", str(rules)])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("PASS  gate for run good")
    assert main(["gate", "bad", "--rules", str(rules)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "FAIL  gate for run bad"
    assert out[1].split()[:2] == ["hard_invariants", f"{HARD}:"]
    assert any(line.startswith("skipped: no_regression (no --against)") for line in out)
    saved = json.loads((bad / "gate.json").read_text())
    assert saved["verdict"] == "FAIL" and saved["run_id"] == "bad"
    assert [r["status"] for r in saved["rules"]][:2] == ["fail", "pass"]


def test_cli_bad_rules_and_missing_runs_exit_2(
    tmp_path: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(runs, "good", grid())
    typo = tmp_path / "typo.yaml"
    typo.write_text("tresholds: {default: 0.9}\n")
    assert main(["gate", "good", "--rules", str(typo)]) == 2
    assert "tresholds" in capsys.readouterr().err
    garbled = tmp_path / "garbled.yaml"
    garbled.write_text("thresholds: [unclosed\n")
    assert main(["gate", "good", "--rules", str(garbled)]) == 2
    assert main(["gate", "good", "--baseline", "nowhere"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "nowhere has no results.json" in err[1]


def test_hard_invariants_at_1_0_in_the_thresholds_file_are_left_to_the_hard_rule(
    tmp_path: Path, runs: Path
) -> None:
    # evals/thresholds.yaml gives the hard invariants 1.0, which no Wilson lower bound reaches.
    write_run(runs, "good", grid())
    th = {"default": 0.6, "evals": {HARD: 1.0, "mesh.uses_sin_ssh_alias": 1.0}}
    g = _gate(tmp_path, "good", thresholds=th, against=None, baseline=None)
    assert g.passed, _failed(g)


def test_threshold_measure_can_be_the_plain_pass_rate(tmp_path: Path, runs: Path) -> None:
    # 22/30 = 0.733: above a 0.7 bar as a rate, below it as a Wilson lower bound (0.556).
    write_run(
        runs, "cand", grid(lambda e, s, k: not (e == SOFT and (s, k) in {(x, 0) for x in SCENARIOS[:8]}))
    )
    th = {"default": 0.5, "evals": {SOFT: 0.7}}
    assert _failed(_gate(tmp_path, "cand", thresholds=th, against=None, baseline=None)) == {
        "thresholds": [SOFT]
    }
    g = _gate(
        tmp_path, "cand", {"thresholds": {"measure": "rate"}}, thresholds=th, against=None, baseline=None
    )
    assert g.passed, _failed(g)


def test_against_promoted_with_a_lost_run_is_one_line_exit_2(tmp_path: Path, runs: Path, capsys) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(
        json.dumps(
            {"entries": [{"status": "promoted", "run_id": "deleted", "results": "/gone/results.json"}]}
        )
    )
    write_run(runs, "good", grid())
    assert main(["gate", "good", "--against", "promoted", "--registry", str(registry)]) == 2
    err = capsys.readouterr().err
    assert "promoted adapter's run deleted has no results.json" in err and err.count("\n") == 1
