"""The spec's self-test: no agent that ignores the task passes any scenario, whatever it calls."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.__main__ import main
from evals.catalog import grade
from evals.episode import ToolCallSpec
from evals.scenarios import Scenario, load_scenarios
from evals.selftest import DEGENERATE, RandomPlan, play, play_plan, run_selftest, vocabulary
from evals.world import load_tool_specs

SCENARIOS = load_scenarios()
SPECS = load_tool_specs()


def test_selftest_exits_0_and_prints_the_agent_by_behaviour_table(capsys) -> None:
    assert main(["selftest", "--random-tries", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "cells: passed/failed/not exercised"
    header = out.splitlines()[1]
    assert all(name[:10] in header for name in [*DEGENERATE, "random"])
    assert "tts.respects_tts_disabled" in out and "scenarios passed" in out
    assert out.rstrip().endswith("ok: no degenerate or adversarial agent passes any scenario")


def test_every_degenerate_agent_passes_nothing_and_is_mostly_not_exercised() -> None:
    result = run_selftest(random_tries=2, seed=3)
    assert result.passes == []
    refused = result.table["refuses"]
    assert sum(c.passed for c in refused.values()) == 0
    # doing nothing never reaches the situations: most cells are "not exercised", the rest fail
    assert sum(c.not_exercised for c in refused.values()) > sum(c.failed for c in refused.values())


def test_a_scenario_that_can_be_passed_by_doing_nothing_is_reported_and_fails_the_selftest(capsys) -> None:
    # errors.stops_repeating without a task check: empty-argument calls fail once each and never repeat
    weak = Scenario(id="weak-stops-repeating", eval="errors.stops_repeating",
                    messages=[{"role": "user", "content": "tell everyone out loud that lunch is here"}],
                    faults={"mcp_down": "tts"})
    result = run_selftest([weak], random_tries=0)
    assert not result.ok
    assert ("every_tool_empty_args", "weak-stops-repeating") in {(a, s) for a, s, _ in result.passes}


def test_selftest_refuses_a_negative_number_of_random_tries(capsys) -> None:
    assert main(["selftest", "--random-tries", "-1"]) == 2
    assert "--random-tries must be 0 or more" in capsys.readouterr().err


def test_degenerate_trajectories_are_what_their_names_say() -> None:
    s = next(x for x in SCENARIOS if x.id == "mesh-alias-nova-lora-rank")
    assert [m["role"] for m in play("refuses", s)["messages"]][-1] == "assistant"
    assert not any(m.get("tool_calls") for m in play("claims_success", s)["messages"])
    every = play("every_tool_empty_args", s)["messages"]
    assert len(next(m for m in every if m.get("tool_calls"))["tool_calls"]) == len(SPECS)
    echo = play("echoes_request", s)["messages"]
    assert echo[-1]["content"] == s.messages[0]["content"]


# ---- the random agent, driven by hypothesis --------------------------------------------------------

def _value(schema: dict[str, Any], words: list[str]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(min_value=-2, max_value=20)
    if kind == "array":
        item = st.fixed_dictionaries({"content": st.text(max_size=20) | st.sampled_from(words),
                                      "status": st.sampled_from(["pending", "in_progress", "completed"])})
        return st.lists(item, max_size=4)
    phrase = st.lists(st.sampled_from(words), min_size=1, max_size=5).map(" ".join)
    return phrase | st.text(max_size=30)


@st.composite
def random_episodes(draw: st.DrawFn) -> tuple[Scenario, RandomPlan]:
    scenario = draw(st.sampled_from(SCENARIOS))
    words = vocabulary(scenario)

    def one_call() -> ToolCallSpec:
        spec = draw(st.sampled_from(SPECS))
        props = (spec["function"].get("parameters") or {}).get("properties") or {}
        args = draw(st.fixed_dictionaries({}, optional={k: _value(v, words) for k, v in props.items()}))
        return ToolCallSpec(spec["function"]["name"], args)

    turns = tuple(tuple(one_call() for _ in range(draw(st.integers(1, 3)))) for _ in range(draw(st.integers(0, 6))))
    text = draw(st.lists(st.sampled_from(words), max_size=25).map(" ".join) | st.text(max_size=80))
    return scenario, RandomPlan(turns, text)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_episodes())
def test_a_random_agent_never_passes_a_scenario(episode: tuple[Scenario, RandomPlan]) -> None:
    scenario, plan = episode
    verdict = grade(scenario.eval, play_plan(scenario, plan))
    assert not verdict.passed, f"{scenario.id} passed by random calls: {verdict.reason}"
