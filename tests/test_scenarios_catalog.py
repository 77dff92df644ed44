"""The eval catalog's scenarios: enough of them, varied, loadable, fairly judgeable, and for every one a
scripted good trajectory that passes its eval (and the hard invariants) and a bad one that fails it."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from functools import cache

import pytest

from doubles.scripted import bad_agent, good_agent
from evals.catalog import EVALS, grade, hard_violations
from evals.predicates import CONFIRM
from evals.scenarios import Scenario, load_scenarios
from evals.transcript import load_transcript
from evals.world import Simulator

SCENARIOS = load_scenarios()
BY_ID = {s.id: s for s in SCENARIOS}
IDS = sorted(BY_ID)

# Applicable evals a good trajectory still fails, where the applicability over-reaches (reported to the
# lead): a deletion or force-push counts as a "code change" that then wants a stored win; diagnosing an
# unreachable host (ssh, wg show, ping, retry) counts as three work steps that want a TodoWrite plan.
KNOWN_GAPS: dict[str, set[str]] = {}


@cache
def good(scenario_id: str) -> dict:
    return good_agent(BY_ID[scenario_id])


@cache
def bad(scenario_id: str) -> dict:
    return bad_agent(BY_ID[scenario_id])


def of_eval(eval_id: str) -> list[Scenario]:
    return [s for s in SCENARIOS if s.eval == eval_id]


# --- the catalog as a whole ----------------------------------------------------------------------

def test_every_eval_has_at_least_four_scenarios_and_80_in_all() -> None:
    counts = Counter(s.eval for s in SCENARIOS)
    assert {e: counts[e] for e in EVALS if counts[e] < 4} == {}
    assert len(SCENARIOS) >= 80
    assert set(counts) <= set(EVALS), f"scenarios for unknown evals: {set(counts) - set(EVALS)}"


def test_scenarios_vary_carts_and_prompts_within_each_eval() -> None:
    for eval_id in EVALS:
        carts = {s.build_world().active_cart for s in of_eval(eval_id)}
        assert len(carts) >= 2, f"{eval_id}: every scenario runs as {carts}"
    assert {s.system for s in SCENARIOS} >= {"cart", "none"}
    assert len({s.messages[0]["content"] for s in SCENARIOS}) == len(SCENARIOS), "a request is used twice"


@pytest.mark.parametrize("scenario_id", IDS)
def test_scenario_loads_and_builds_its_world(scenario_id: str) -> None:
    s = BY_ID[scenario_id]
    world = s.build_world()
    minimal, full = s.initial_messages("minimal"), s.initial_messages("full")
    assert minimal[-1]["role"] == "user" and full[0]["role"] == "system"
    if s.system == "none":
        assert minimal[0]["role"] == "user", "system: none starts without a system prompt"
    else:
        assert world.carts[world.active_cart]["name"] in minimal[0]["content"]
    assert len(full[0]["content"]) > len(minimal[0]["content"])


# --- every scenario is fairly judgeable --------------------------------------------------------------

def test_legacy_store_scenarios_have_topics_only_the_legacy_store_knows() -> None:
    for s in of_eval("memory.checks_legacy_store"):
        sim = Simulator(s.build_world())
        topic = s.expect["topic"]
        assert sim.call("memory_recall", {"query": topic}).content.startswith("No memories match"), s.id
        assert sim.call("legacy-memory_recall", {"query": topic}).content.startswith("[{"), s.id


@pytest.mark.parametrize("eval_id,needs", [
    ("errors.mcp_down_alerts_user", lambda s: bool(s.faults.get("mcp_down"))),
    ("errors.mesh_unreachable_checks_wireguard",
     lambda s: bool(s.faults.get("host_unreachable") or s.world.get("unreachable"))),
    ("errors.retry_once_then_surface", lambda s: bool(s.faults.get("tool_fails")) and "failing_tool" in s.expect),
    ("errors.stops_repeating", lambda s: bool(s.faults) or "payments" in s.messages[0]["content"]),
    ("tts.switch_voice_with_cart_tag", lambda s: "target_cart" in s.expect),
    ("tts.respects_tts_disabled", lambda s: not s.build_world().tts_enabled),
    ("mesh.platform_command_matches_host", lambda s: s.expect.get("host") in s.build_world().hosts),
    ("persona.no_hardcoded_bt_identity", lambda s: s.build_world().active_cart != "bt7274"),
    ("agent.pilot_interlock", lambda s: bool(s.replies)),
])
def test_scenarios_carry_what_their_grader_needs(eval_id: str, needs) -> None:
    missing = [s.id for s in of_eval(eval_id) if not needs(s)]
    assert missing == []


def test_canonization_requests_do_not_confirm_anything_themselves() -> None:
    # the doctrine must be earned in the episode; a request that reads as a "yes" would earn it up front
    for s in of_eval("memory.earned_canonization"):
        assert not CONFIRM.search(s.messages[0]["content"]), s.id


def test_sin_alias_scenarios_all_reach_sin() -> None:
    for s in of_eval("mesh.uses_sin_ssh_alias"):
        ops = s.expect.get("op")
        assert s.expect.get("host") == "sin" or re.search(r"\bsin:", str(ops)), s.id


# --- scripted trajectories --------------------------------------------------------------------------

@pytest.mark.parametrize("scenario_id", IDS)
def test_good_agent_passes_the_scenarios_eval_and_the_hard_invariants(scenario_id: str) -> None:
    s, t = BY_ID[scenario_id], good(scenario_id)
    verdict = grade(s.eval, t)
    assert verdict.passed, f"{scenario_id}: {verdict.reason}"
    assert hard_violations(t) == []


@pytest.mark.parametrize("scenario_id", IDS)
def test_bad_agent_fails_the_scenarios_eval(scenario_id: str) -> None:
    s, t = BY_ID[scenario_id], bad(scenario_id)
    verdict = grade(s.eval, t)
    assert not verdict.passed, f"{scenario_id}: the bad trajectory passed ({verdict.reason})"
    assert verdict.reason


@pytest.mark.parametrize("scenario_id", IDS)
def test_good_agent_passes_every_applicable_eval_but_the_known_gaps(scenario_id: str) -> None:
    t = load_transcript(good(scenario_id))
    failing = {e for e, spec in EVALS.items() if spec.applies(t) and spec.grader(t).outcome == "failed"}
    assert failing == KNOWN_GAPS.get(scenario_id, set())


def test_trajectories_carry_the_scenario_and_are_valid_transcripts() -> None:
    s = SCENARIOS[0]
    t = good(s.id)
    assert t["meta"]["scenario"] == s.id and t["meta"]["eval"] == s.eval
    parsed = load_transcript(t)
    assert all(c.result is not None for c in parsed.calls), "every call has its tool message"


def test_the_bad_agents_mistakes_are_spread_over_near_misses() -> None:
    reasons: dict[str, set[str]] = defaultdict(set)
    for s in SCENARIOS:
        reasons[s.eval].add(grade(s.eval, bad(s.id)).reason.split("(")[0])
    # e.g. ssh as root@sin, sin.local and ubuntu@10.0.0.2; recalls spread over turns and the wrong cart
    assert len(reasons["mesh.uses_sin_ssh_alias"]) >= 3
    assert len(reasons["memory.boot_parallel_recalls"]) >= 2
    assert len(reasons["errors.mcp_down_alerts_user"]) >= 2
