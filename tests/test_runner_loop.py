"""The inspect loop end to end with scripted models (mockllm): good agents pass, bad agents fail for the
right reasons, odd model output never crashes a run, and results.json is complete and valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import get_model
from inspect_ai.tool import ToolCall

from doubles.scripted import bad_agent, good_agent
from doubles.scripted_model import DIVERGED, mock_policy, output
from evals.catalog import EVALS, grade
from evals.scenarios import Scenario, load_scenarios
from evals.thresholds import load_thresholds
from reports.results import load_run
from runner.results import judge
from runner.runner import RunConfig, RunOutcome, run

ROOM = 40  # generations allowed: the scripted agents take more turns than some scenarios' max_turns


def one_per_eval() -> list[Scenario]:
    seen: dict[str, Scenario] = {}
    for s in load_scenarios():
        seen.setdefault(s.eval, s)
    return list(seen.values())


def play(tmp_path: Path, policy: Any, epochs: int = 1, evals: list[str] | None = None,
         max_turns: int | None = ROOM, scenarios: list[str] | None = None) -> RunOutcome:
    config = RunConfig(backend="mockllm", report_dir=str(tmp_path), epochs=epochs, max_connections=16,
                       evals=evals, scenarios=scenarios, max_turns=max_turns)
    return run(config, model=get_model("mockllm/model", custom_outputs=policy, memoize=False))


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return one_per_eval()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory, scenarios: list[Scenario]) -> tuple[RunOutcome, dict]:
    transcripts = {s.id: good_agent(s) for s in scenarios}
    return play(tmp_path_factory.mktemp("good"), mock_policy(list(transcripts.values())), epochs=2,
                scenarios=list(transcripts)), transcripts


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory, scenarios: list[Scenario]) -> tuple[RunOutcome, dict]:
    transcripts = {s.id: bad_agent(s) for s in scenarios}
    return play(tmp_path_factory.mktemp("bad"), mock_policy(list(transcripts.values())),
                scenarios=list(transcripts)), transcripts


def test_the_good_agent_passes_every_behaviour_through_the_loop(good_run: tuple[RunOutcome, dict]) -> None:
    outcome, _ = good_run
    assert len(outcome.rows) == 2 * len(EVALS)
    failing = [(r["scenario"], r["reason"]) for r in outcome.rows if r["passed"] is not True]
    assert failing == []
    assert all(not any(DIVERGED in step for step in r["trajectory"]) for r in outcome.rows)
    thresholds = load_thresholds()
    assert all(judge(e, outcome.rows, thresholds).ok for e in EVALS)


def test_the_loop_reproduces_the_scripted_trajectory_and_verdict(good_run: tuple[RunOutcome, dict]) -> None:
    outcome, transcripts = good_run
    for row in outcome.rows:
        scenario = next(s for s in load_scenarios(ids=[row["scenario"]]))
        assert row["reason"] == grade(scenario.eval, transcripts[row["scenario"]]).reason
        assert row["requests"] == sum(m["role"] == "assistant" for m in transcripts[row["scenario"]]["messages"])


def test_the_bad_agent_fails_each_behaviour_with_the_graders_reason(bad_run: tuple[RunOutcome, dict]) -> None:
    outcome, transcripts = bad_run
    assert {r["eval"] for r in outcome.rows} == set(EVALS)
    for row in outcome.rows:
        expected = grade(row["eval"], transcripts[row["scenario"]])
        assert row["status"] == "complete" and row["passed"] is False, row
        assert row["reason"] == expected.reason
    thresholds = load_thresholds()
    assert not any(judge(e, outcome.rows, thresholds).ok for e in EVALS)


def test_a_hard_invariant_broken_in_another_behaviours_scenario_fails_the_invariant(
        bad_run: tuple[RunOutcome, dict]) -> None:
    outcome, _ = bad_run
    verdict = judge("mesh.uses_sin_ssh_alias", outcome.rows, load_thresholds())
    assert not verdict.ok and verdict.violations
    text = verdict.explain()
    assert "every try must pass" in text and "reached sin as" in text
    assert "ssh" in text  # the compact trajectory shows the offending call


def test_results_json_is_complete_valid_and_read_by_reports(good_run: tuple[RunOutcome, dict]) -> None:
    outcome, _ = good_run
    doc = json.loads(outcome.results_path.read_text())
    assert doc["run"]["interrupted"] is False and doc["run"]["finished"]
    assert doc["run"]["epochs"] == 2 and doc["run"]["system_prompt"] == "minimal"
    loaded = load_run(outcome.results_path)
    assert len(loaded.outcomes) == len(doc["results"])
    for row in doc["results"]:
        assert row["status"] == "complete" and row["requests"] >= 1 and row["prompt_tokens"] > 0
        assert row["prompt_tokens_per_request"] == pytest.approx(row["prompt_tokens"] / row["requests"], abs=0.1)
        assert (outcome.run_dir / row["log"]).is_file() and row["log"].endswith(".eval")
    assert {r["epoch"] for r in doc["results"]} == {1, 2}
    assert doc["summary"]["evals_ok"] == len(EVALS)


def test_the_turn_limit_makes_a_sample_incomplete_never_a_verdict(tmp_path: Path) -> None:
    scenario = next(s for s in load_scenarios(evals=["tts.checks_settings_before_speaking"]))
    # a model that keeps reading settings forever
    outcome = play(tmp_path, lambda *_: output(calls=[("settings_get", {})]), evals=[scenario.eval],
                   max_turns=3)
    for row in outcome.rows:
        assert row["status"] == "incomplete" and row["passed"] is None and row["outcome"] is None
        assert row["reason"] == "incomplete: the turn limit (3 generations) came before the agent finished"
    summary = outcome.document["summary"]
    assert summary["passed"] == 0 and summary["incomplete"] == len(outcome.rows)


def test_an_unparseable_tool_call_is_answered_with_an_error_and_counts_as_failed(tmp_path: Path) -> None:
    seen: list[str] = []

    def policy(input: list, *_: Any) -> Any:
        if input[-1].role == "tool":
            seen.append(input[-1].text)
            return output("Could not read the settings.")
        out = output(calls=[("settings_get", {})])
        call = out.choices[0].message.tool_calls[0]
        out.choices[0].message.tool_calls = [ToolCall(id=call.id, function="settings_get", arguments={},
                                                      parse_error="Error parsing the arguments: {oops")]
        return out

    outcome = play(tmp_path, policy, evals=["tools.settings_check_on_boot"])
    assert seen and all(text.startswith("Error: the arguments of settings_get could not be parsed") for text in seen)
    row = outcome.rows[0]
    assert row["status"] == "complete" and row["passed"] is False
    assert any("[error]" in step for step in row["trajectory"])


def test_a_sample_whose_model_keeps_failing_is_incomplete_never_passed(tmp_path: Path) -> None:
    scenarios = load_scenarios(evals=["tts.respects_tts_disabled"])
    broken = scenarios[0].messages[0]["content"]

    def policy(input: list, *_: Any) -> Any:
        if any(m.role == "user" and m.text == broken for m in input):
            raise RuntimeError("backend exploded")
        return output("Done.")

    outcome = play(tmp_path, policy, evals=["tts.respects_tts_disabled"])
    rows = {r["scenario"]: r for r in outcome.rows}
    bad = rows[scenarios[0].id]
    assert bad["status"] == "incomplete" and bad["passed"] is None and "backend exploded" in bad["reason"]
    assert all(r["status"] == "complete" for sid, r in rows.items() if sid != scenarios[0].id)
    summary = outcome.document["summary"]["evals"]["tts.respects_tts_disabled"]
    assert summary["incomplete"] == 1 and summary["passed"] <= len(scenarios) - 1
    load_run(outcome.results_path)  # still valid


def test_scripted_replies_are_fed_when_the_model_stops(tmp_path: Path) -> None:
    scenario = next(s for s in load_scenarios() if s.replies)
    said: list[list[str]] = []

    def policy(input: list, *_: Any) -> Any:
        said.append([m.text for m in input if m.role == "user"])
        return output("Shall I go ahead?")

    outcome = play(tmp_path, policy, evals=[scenario.eval])
    assert [scenario.replies[0]] in [users[1:] for users in said]
    row = next(r for r in outcome.rows if r["scenario"] == scenario.id)
    assert row["requests"] == len(scenario.replies) + 1


def test_a_run_warns_first_when_its_pairs_can_never_reach_alpha(tmp_path: Path) -> None:
    evals = ["tts.respects_tts_disabled"]
    scenarios = len(load_scenarios(evals=evals))
    lines: list[str] = []
    config = RunConfig(backend="mockllm", report_dir=str(tmp_path), epochs=1, temperature=0.7, evals=evals)
    run(config, model=get_model("mockllm/model", custom_outputs=lambda *_: output("Done."), memoize=False),
        progress=lines.append)
    warnings = [ln for ln in lines if ln.startswith("madcat: warning: power:")]
    assert scenarios < 6 and len(warnings) == 2 and lines.index(warnings[0]) < 3  # before any sample
    assert "tts.respects_tts_disabled" in warnings[0] and f"--epochs {-(-6 // scenarios)}" in warnings[1]
