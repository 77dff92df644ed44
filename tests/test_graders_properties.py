"""Properties of the graders and `score`: verdicts ignore call ids, argument key order and argument
encoding; unparseable arguments are failed calls, never crashes; garbage input exits 2 in one line."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from functools import cache
from pathlib import Path

from grader_builders import ERROR, TESTS_PASS, TIMEOUT, WG_SHOW, bash, say, settings, transcript, turn, user
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from doubles.scripted import bad_agent, good_agent
from evals.__main__ import main
from evals.catalog import EVALS, BadTranscript, grade
from evals.scenarios import load_scenarios
from evals.transcript import load_transcript
from evals.world import Simulator, World, tool_names

SCENARIOS = {s.id: s for s in load_scenarios()}
SAMPLED = sorted(SCENARIOS)[::4]  # a spread over every category, cheap enough to replay
SETTINGS = hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HAND_WRITTEN = [
    transcript(user("add count to src/users.ts"), turn(settings("nova")),
               turn(("index_search", {"query": "users count", "kind": "code"}, '{"results": []}')),
               turn(("memory_recall", {"query": "users count", "limit": 3}, "No memories match 'users count'.")),
               turn(("legacy-memory_recall", {"query": "users count"}, '[{"key": "legacy.users-module"}]')),
               turn(("edit", {"path": "src/users.ts", "old": "a", "new": "export function countUsers() {}"}, "Edited.")),
               turn(bash("npm test", TESTS_PASS)),
               turn(("memory_store", {"kind": "doctrine", "title": "t", "content": "c", "tags": ["users"]}, "Stored.")),
               say("Done, I'm Nova."), world={"active_cart": "nova"}),
    transcript(user("check vllm on sin"), turn(bash("ssh root@sin 'systemctl status vllm'", TIMEOUT)),
               turn(bash("wg show", WG_SHOW), bash("ping -c 3 10.0.0.2", "100.0% packet loss")),
               turn(bash("ssh sin 'systemctl status vllm'", TIMEOUT)), say("This is BT-7274: sin is down."),
               faults={"host_unreachable": "sin"}, world={"active_cart": "sage"}),
    transcript(user("say hi in nova's voice"), turn(("tts_switch_voice", {"cart_tag": "nova"}, "switched")),
               turn(("tts_speak", {"text": "hi", "voice": "nova"}, ERROR)),
               turn(("tts_speak", {"text": "hi", "voice": "nova"}, ERROR)), say("tts_speak failed twice."),
               expect={"target_cart": "nova", "failing_tool": "tts_speak"}),
]


@cache
def scripted(scenario_id: str, kind: str) -> dict:
    scenario = SCENARIOS[scenario_id]
    return good_agent(scenario) if kind == "good" else bad_agent(scenario)


def verdicts(t: dict) -> dict[str, tuple[bool, str]]:
    return {e: (v.passed, v.reason) for e in EVALS for v in [grade(e, t)]}


examples = st.one_of(
    st.sampled_from(range(len(HAND_WRITTEN))).map(lambda i: HAND_WRITTEN[i]),
    st.tuples(st.sampled_from(SAMPLED), st.sampled_from(["good", "bad"])).map(lambda p: scripted(*p)),
)


def tool_calls(t: dict) -> list[dict]:
    return [c for m in t["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]


# --- verdicts are invariant under presentation ----------------------------------------------------

@SETTINGS
@given(example=examples, data=st.data())
def test_renaming_call_ids_does_not_change_verdicts(example: dict, data: st.DataObject) -> None:
    t = copy.deepcopy(example)
    old_ids = [c["id"] for c in tool_calls(t)]
    new_ids = data.draw(st.lists(st.text(min_size=1, max_size=12), min_size=len(old_ids), max_size=len(old_ids),
                                 unique=True))
    mapping = dict(zip(old_ids, new_ids, strict=True))
    for m in t["messages"]:
        for c in m.get("tool_calls") or []:
            c["id"] = mapping[c["id"]]
        if m["role"] == "tool":
            m["tool_call_id"] = mapping[m["tool_call_id"]]
    assert verdicts(t) == verdicts(example)


@SETTINGS
@given(example=examples, data=st.data())
def test_argument_key_order_and_dict_encoding_do_not_change_verdicts(example: dict, data: st.DataObject) -> None:
    t = copy.deepcopy(example)
    for c in tool_calls(t):
        args = json.loads(c["function"]["arguments"])
        keys = data.draw(st.permutations(sorted(args)))
        reordered = {k: args[k] for k in keys}
        as_dict = data.draw(st.booleans())
        c["function"]["arguments"] = reordered if as_dict else json.dumps(reordered, indent=data.draw(
            st.sampled_from([None, 2])))
    assert verdicts(t) == verdicts(example)


# --- unparseable arguments are failed calls --------------------------------------------------------

not_an_object = st.one_of(
    st.text().filter(lambda s: not _is_json_object(s)), st.integers(), st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3), st.booleans(),
)


def _is_json_object(text: str) -> bool:
    """Blank arguments mean no arguments ({}), which is a valid call."""
    if not text.strip():
        return True
    try:
        return isinstance(json.loads(text), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


@SETTINGS
@given(example=examples, data=st.data(), garbage=not_an_object)
def test_unparseable_arguments_make_a_failed_call_never_a_crash(example: dict, data: st.DataObject,
                                                                garbage: object) -> None:
    t = copy.deepcopy(example)
    calls = tool_calls(t)
    assume(calls)
    index = data.draw(st.integers(0, len(calls) - 1))
    calls[index]["function"]["arguments"] = garbage
    parsed = load_transcript(t)
    broken = parsed.calls[index]
    assert broken.failed and broken.args is None and broken.parse_error
    for eval_id in EVALS:
        assert isinstance(grade(eval_id, parsed).passed, bool)


@SETTINGS
@given(tool=st.sampled_from(tool_names() + ["no_such_tool"]), arguments=st.one_of(st.text(), not_an_object))
def test_the_simulator_answers_any_arguments_without_raising(tool: str, arguments: object) -> None:
    result = Simulator(World.build()).call(tool, arguments)  # type: ignore[arg-type]
    assert isinstance(result.content, str) and result.content


# --- garbage in, exit 2 out ---------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=10)
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool", "system", "robot", 3])},
                                optional={"content": json_values, "tool_calls": json_values,
                                          "tool_call_id": json_values})
near_transcripts = st.fixed_dictionaries({"messages": st.lists(message, max_size=4)},
                                         optional={"world": json_values, "faults": json_values, "meta": json_values,
                                                   "tools": json_values})
garbage = st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode),
                    json_values.map(lambda v: json.dumps(v).encode()),
                    near_transcripts.map(lambda v: json.dumps(v).encode()))


def _score(content: bytes, eval_id: str) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.json"
        path.write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["score", "--eval", eval_id, str(path)])
    return code, out.getvalue(), err.getvalue()


def _is_transcript(content: bytes) -> bool:
    try:
        load_transcript(json.loads(content.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, BadTranscript, RecursionError):
        return False
    return True


@hyp_settings(max_examples=80, deadline=None)
@given(content=garbage, eval_id=st.sampled_from(list(EVALS)))
def test_garbage_to_score_exits_2_with_a_one_line_message(content: bytes, eval_id: str) -> None:
    code, out, err = _score(content, eval_id)
    assert "Traceback" not in err and "internal error" not in err, err
    if _is_transcript(content):  # hypothesis found a real (if odd) transcript: it gets a verdict
        assert code in (0, 1) and json.loads(out)["eval"] == eval_id
        return
    assert code == 2 and out == ""
    assert err.startswith("evals: ") and err.endswith("\n") and err.count("\n") == 1
