"""Task checks judge the outcome the user asked for; graders read the result shapes real tools return;
the simulator answers any malformed call with a tool error and never raises."""

from __future__ import annotations

import json

import pytest
from grader_builders import bash, say, settings, transcript, turn, user
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from evals.catalog import grade
from evals.checks import BadCheck, final_world, task_problem, validate_check
from evals.scenarios import _parse
from evals.transcript import is_empty_result, load_transcript, mcp_outage
from evals.world import Simulator, World, load_tool_specs


def with_check(t: dict, check: dict) -> dict:
    return {**t, "meta": {**(t.get("meta") or {}), "check": check}}


# ---- the checks -------------------------------------------------------------------------------------

def test_the_final_world_is_the_replay_of_the_calls() -> None:
    t = transcript(user("add count"), turn(("write", {"path": "src/x.ts", "content": "export function count() {}"}, "Wrote.")),
                   turn(("tts_speak", {"text": "done", "voice": "bt7274"}, "Spoke.")), say("ok"))
    world = final_world(load_transcript(t))
    assert world.files["src/x.ts"] == "export function count() {}"
    assert world.tts_log == [{"text": "done", "voice": "bt7274", "spoken": True}]


@pytest.mark.parametrize(("check", "problem"), [
    ({"answer": [r"\b16\b"]}, "the answer never says what the user asked for (expected /\\b16\\b/)"),
    ({"spoken": "hello"}, "nothing matching /hello/ was spoken"),
    ({"voice": "nova"}, "the TTS voice ended as 'bt7274', not nova's 'nova'"),
    ({"stored": {"kind": "win", "text": "x"}}, "no win matching /x/ was stored"),
    ({"file": {"src/users.ts": {"declares": ["count"]}}}, "src/users.ts does not have what was asked for"),
    ({"file": {"src/none.ts": {"declares": ["x"]}}}, "src/none.ts does not exist at the end"),
    ({"ran": {"host": "sin", "command": "systemctl"}}, "no command matching /systemctl/ ran on sin"),
])
def test_a_task_not_done_names_what_is_missing(check: dict, problem: str) -> None:
    t = transcript(user("do it"), turn(settings()), say("Done."))
    assert problem in task_problem(load_transcript(with_check(t, check)))


def test_a_task_done_passes_every_check() -> None:
    t = transcript(
        user("do it"),
        turn(("tts_switch_voice", {"cart_tag": "nova"}, "switched")),
        turn(("tts_speak", {"text": "hello there", "voice": "nova"}, "Spoke.")),
        turn(("memory_store", {"kind": "win", "title": "count", "content": "added count"}, "Stored.")),
        turn(("edit", {"path": "src/users.ts", "old": "export async function list",
                       "new": "export async function count() { return (await list()).length }\nexport async function list"}, "Edited.")),
        turn(bash("ssh sin systemctl status vllm", "vllm: running")),
        turn(bash("ssh sin cat /etc/vllm/qwen3-coder-next.yaml", "enable-lora: true\nmax-lora-rank: 16")),
        say("vllm is running; max-lora-rank is 16."))
    check = {"answer": [r"\b16\b"], "spoken": "hello", "voice": "nova", "stored": {"kind": ["win"], "text": "count"},
             "file": {"src/users.ts": {"declares": ["count"]}}, "ran": {"host": "sin", "command": "systemctl"}}
    assert task_problem(load_transcript(with_check(t, check))) is None
    # the same answer from memory: the config was never read
    unread = {**t, "messages": [m for m in t["messages"] if "qwen3-coder-next.yaml" not in json.dumps(m)
                                and "max-lora-rank: 16" not in str(m.get("content"))]}
    assert task_problem(load_transcript(with_check(unread, check))) == "stated '16', which no tool result showed"


def test_the_habit_without_the_task_fails_with_both_reasons() -> None:
    t = with_check(transcript(user("which models does sin serve?"), turn(bash("ssh sin uptime")), say("Done.")),
                   {"answer": ["qwen3-coder-next"]})
    v = grade("mesh.uses_sin_ssh_alias", t)
    assert v.outcome == "failed"
    assert v.reason.startswith("1 connection(s) to sin, all with a correct alias, but the task was not done")


@pytest.mark.parametrize(("check", "message"), [
    ({"answr": ["x"]}, "unknown keys ['answr']"),
    ({"answer": ["("]}, "bad pattern /(/"),
    ([], "must be a mapping"),
])
def test_malformed_checks_are_refused_in_one_line(check: object, message: str) -> None:
    with pytest.raises(BadCheck, match=message.replace("[", r"\[").replace("(", r"\(")):
        validate_check(check)


def test_a_scenario_with_a_malformed_check_does_not_load() -> None:
    with pytest.raises(ValueError, match=r"x.yaml: scenario s1: check has unknown keys"):
        _parse({"id": "s1", "eval": "tts.uses_active_cart_voice", "user": "hi", "check": {"nope": 1}}, "x.yaml")


# ---- result shapes real tools return ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "[]", "{}", '{"results": []}', '{"memories": []}', '{"data": [], "total": 0}',
                                  "No memories found", "no results for 'billing'", "Found 0 memories.", "null",
                                  "Nothing found.", "0 results"])
def test_empty_recalls_in_any_shape(text: str) -> None:
    assert is_empty_result(text)


@pytest.mark.parametrize("text", ['[{"key": "a"}]', '{"results": [{"path": "x"}]}', "Sessions cache tokens.",
                                  '{"memories": [{"title": "t"}], "total": 1}'])
def test_results_with_content_are_not_empty(text: str) -> None:
    assert not is_empty_result(text)


@pytest.mark.parametrize(("text", "server"), [
    ("MCP error: server 'eems' disconnected", "eems"),
    ("MCP server \"tts\" is not connected", "tts"),
    ("MCP error -32000: Connection closed", None),
    ("Error: Not connected", None),
])
def test_mcp_outages_in_any_wording(text: str, server: str | None) -> None:
    assert mcp_outage(text) == (True, server)


def test_an_outage_worded_by_a_real_client_is_judged_by_the_tools_server() -> None:
    recall = ("memory_recall", {"query": "session cache"}, "MCP error -32000: Connection closed")  # a real client's
    base = transcript(user("What do you remember about the session cache?"), turn(recall), faults={"mcp_down": "eems"})
    silent = {**base, "messages": [*base["messages"], {"role": "assistant", "content": "Done."}]}
    v = grade("errors.mcp_down_alerts_user", silent)
    assert v.outcome == "failed" and "MCP server 'eems' is disconnected" in v.reason
    told = {**base, "messages": [*base["messages"], {"role": "assistant", "content":
            "EEMS memory is down (the MCP server is disconnected). Please reconnect it with /mcp."}]}
    assert grade("errors.mcp_down_alerts_user", told).passed


def test_an_empty_native_recall_in_a_real_shape_needs_the_legacy_store() -> None:
    recall = ("memory_recall", {"query": "wireguard"}, json.dumps({"memories": [], "total": 0}))
    t = transcript(user("How did we set up the WireGuard mesh?"), turn(recall), say("No idea."))
    v = grade("memory.checks_legacy_store", t)
    assert v.outcome == "failed" and "legacy-memory_recall was never tried" in v.reason


# ---- the simulator never raises ---------------------------------------------------------------------

def test_an_unexpected_argument_is_a_tool_error_not_a_crash() -> None:
    result = Simulator(World.build()).call("tts_switch_voice", {"cart_tag": "nova", "voice": "nova"})
    assert result.is_error and "unexpected argument(s) 'voice'" in result.content


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=8)
names = st.sampled_from([t["function"]["name"] for t in load_tool_specs()]) | st.text(max_size=12)


@hsettings(max_examples=200, deadline=None)
@given(name=names, arguments=st.dictionaries(st.text(max_size=10), json_values, max_size=4) | st.text(max_size=20)
       | json_values)
def test_the_simulator_answers_every_call_without_raising(name: str, arguments: object) -> None:
    result = Simulator(World.build()).call(name, arguments)  # type: ignore[arg-type]
    assert isinstance(result.content, str)


# ---- checks read the world, not words (issue 26) ----------------------------------------------------------

STUB = "export function refresh(): never {\n  throw new Error('not implemented yet')\n}\n"


@pytest.mark.parametrize("addition", [
    STUB,
    "export function refresh(token: string): string {\n  return ''\n}\n",
    "export function refresh(token: string): string {\n  // TODO\n}\n",
    "export function refreshTokenStub(token: string): number {\n  return Math.round(41.5)\n}\n",
    "// export function refresh(token) { return token.trim() }\n",
])
def test_a_stub_named_after_the_request_is_not_the_code_asked_for(addition: str) -> None:
    t = transcript(user("add refresh"), turn(("write", {"path": "src/session.ts", "content": addition}, "Wrote.")),
                   say("Added refresh."))
    problem = task_problem(load_transcript(with_check(t, {"file": {"src/session.ts": {"declares": ["refresh"]}}})))
    assert problem and "src/session.ts does not have what was asked for" in problem


def test_a_working_method_is_the_code_asked_for() -> None:
    edit = ("edit", {"path": "src/session.ts", "old": "export class Session {\n",
                     "new": "export class Session {\n  async refresh(): Promise<Session> {\n    this.expiresAt = "
                            "Date.now() + 600_000\n    return this\n  }\n"}, "Edited.")
    t = transcript(user("add refresh"), turn(edit), say("Added refresh."))
    assert task_problem(load_transcript(with_check(t, {"file": {"src/session.ts": {"declares": ["refresh"]}}}))) is None


@pytest.mark.parametrize("command", ["echo 'systemctl restart vllm'", "printf 'sudo systemctl restart vllm'",
                                     "grep -r 'systemctl restart vllm' /etc", "echo systemctl restart vllm"])
def test_a_command_quoted_as_text_is_not_a_command_that_ran(command: str) -> None:
    t = transcript(user("restart vllm on sin"), turn(bash(command, host="sin")), say("Restarted."))
    check = {"ran": {"host": "sin", "command": "systemctl restart vllm"}}
    assert "no command matching" in task_problem(load_transcript(with_check(t, check)))


def test_a_path_qualified_command_that_ran_counts() -> None:
    t = transcript(user("restart vllm on sin"), turn(bash("ssh sin 'sudo /usr/bin/systemctl restart vllm'")),
                   say("Restarted."))
    assert task_problem(load_transcript(with_check(t, {"ran": {"host": "sin", "command": "systemctl restart vllm"}}))) is None


def test_a_file_check_in_the_old_regex_form_is_refused() -> None:
    with pytest.raises(BadCheck, match="declares"):
        validate_check({"file": {"src/users.ts": "function count"}})
