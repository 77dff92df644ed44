"""`dataset.validate`: every rule rejects its kind of broken line, by line number and with the reason."""

from __future__ import annotations

import json

from dataset_builders import CharCounter, call_named, first_call, sin_line, small_dataset, speak_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset.validate import Problem, validate_lines
from evals.scenarios import load_scenarios


def problems_of(broken: dict | str, **kwargs) -> list[Problem]:
    """Validate [a good line, the broken one]: problems must all be on line 2."""
    lines = [json.dumps(speak_line()), broken if isinstance(broken, str) else json.dumps(broken)]
    found = validate_lines(lines, **kwargs)
    assert found, "the broken line was accepted"
    assert {p.line for p in found} == {2}, [str(p) for p in found]
    return found


def rules(found: list[Problem]) -> set[str]:
    return {p.rule for p in found}


def test_valid_lines_have_no_problems():
    assert validate_lines([json.dumps(speak_line()), sin_line(), "", json.dumps(speak_line())]) == []


def test_bad_json_is_reported_with_its_line():
    found = problems_of('{"messages": [')
    assert rules(found) == {"json"}
    assert str(found[0]).startswith("line 2: not valid JSON")


def test_a_line_that_is_not_an_object():
    assert rules(problems_of("[1, 2]")) == {"json"}


def test_missing_messages_is_a_shape_problem():
    found = problems_of({"tools": []})
    assert rules(found) == {"shape"} and "messages" in found[0].message


def test_assistant_before_user_is_bad_order():
    line = speak_line()
    line["messages"].insert(1, {"role": "assistant", "content": "Hello first."})
    found = problems_of(line)
    assert "order" in rules(found)
    assert any("before any user message" in p.message for p in found)


def test_two_assistant_turns_in_a_row_are_bad_order():
    line = speak_line()
    line["messages"].append({"role": "assistant", "content": "And another thing."})
    found = problems_of(line)
    assert any(p.rule == "order" and "two assistant turns in a row" in p.message for p in found)


def test_a_line_must_end_with_an_assistant_turn():
    line = speak_line()
    line["messages"].append({"role": "user", "content": "thanks"})
    found = problems_of(line)
    assert any(p.rule == "order" and "must end with an assistant turn" in p.message for p in found)


def test_system_message_only_first():
    line = speak_line()
    line["messages"].insert(2, {"role": "system", "content": "extra"})
    assert any("only the first message" in p.message for p in problems_of(line))


def test_unanswered_tool_call():
    line = speak_line()
    call_id = first_call(line)["id"]
    line["messages"] = [m for m in line["messages"] if m.get("tool_call_id") != call_id]
    found = problems_of(line)
    assert [str(p) for p in found if p.rule == "unanswered"] == [
        f"line 2: tool call {call_id} has no tool message answering it (message 3 is from the assistant)"]


def test_wrong_tool_call_id():
    line = speak_line()
    answer = next(m for m in line["messages"] if m["role"] == "tool")
    answer["tool_call_id"] = "call_99"
    found = problems_of(line)
    assert any(p.rule == "tool_call_id" and "'call_99'" in p.message for p in found)
    assert "unanswered" in rules(found)  # the real call is then left without an answer


def test_a_call_answered_twice():
    line = speak_line()
    i = next(i for i, m in enumerate(line["messages"]) if m["role"] == "tool")
    line["messages"].insert(i + 1, dict(line["messages"][i]))
    assert any(p.rule == "tool_call_id" and "second time" in p.message for p in problems_of(line))


def test_arguments_not_json():
    line = speak_line()
    call_named(line, "tts_speak")["function"]["arguments"] = '{"text": "hi", voice: nova'
    found = problems_of(line)
    assert any(p.rule == "arguments" and "not valid JSON" in p.message and "tts_speak" in p.message for p in found)


def test_arguments_as_a_dict_are_rejected():
    line = speak_line()
    call_named(line, "tts_speak")["function"]["arguments"] = {"text": "hi", "voice": "nova"}
    assert any(p.rule == "arguments" and "JSON string" in p.message for p in problems_of(line))


def test_schema_violation():
    line = speak_line()
    call = call_named(line, "tts_speak")
    call["function"]["arguments"] = json.dumps({"text": "hi"})
    found = problems_of(line)
    schema = [p for p in found if p.rule == "schema"]
    assert schema and "'voice' is a required property" in schema[0].message and call["id"] in schema[0].message


def test_schema_violation_in_a_nested_item():
    line = speak_line()
    line["messages"][2]["tool_calls"].append({"id": "call_x", "type": "function", "function": {
        "name": "TodoWrite", "arguments": json.dumps({"todos": [{"content": "a", "status": "started"}]})}})
    line["messages"].insert(4, {"role": "tool", "tool_call_id": "call_x", "content": "ok"})
    found = problems_of(line)
    assert any(p.rule == "schema" and "todos/0/status" in p.message for p in found)


def test_unknown_tool():
    line = speak_line()
    call_named(line, "settings_get")["function"]["name"] = "settings_read"
    found = problems_of(line)
    assert any(p.rule == "unknown_tool" and "'settings_read'" in p.message for p in found)


def test_a_line_may_bring_its_own_tool_surface():
    line = speak_line()
    line["tools"] = [t for t in line["tools"] if t["function"]["name"] != "tts_speak"]
    assert any(p.rule == "unknown_tool" and "'tts_speak'" in p.message for p in problems_of(line))


def test_too_long():
    line = speak_line()
    line["messages"][-1]["content"] = "word " * 2000
    found = problems_of(line, tokens=CharCounter())
    assert [p.rule for p in found] == ["length"]
    assert "tokens long with the char tokenizer (limit 4096)" in found[0].message


def test_claimed_behaviour_that_fails_its_grader():
    line = speak_line()
    line["meta"]["behaviours"].append("tts.switch_voice_with_cart_tag")
    found = problems_of(line)
    assert [str(p) for p in found] == [
        "line 2: claims tts.switch_voice_with_cart_tag but its grader finds it not exercised: no tts_switch_voice call: the voice "
        "was never switched"]


def test_claimed_behaviour_that_is_not_an_eval():
    line = speak_line()
    line["meta"]["behaviours"] = ["tts.sings_in_the_shower"]
    assert any(p.rule == "behaviour" and "not an eval" in p.message for p in problems_of(line))


def test_hard_invariant_ssh_alias():
    line = sin_line()
    call = call_named(line, "bash")
    call["function"]["arguments"] = json.dumps({"command": "ssh root@sin nvidia-smi"})
    line["meta"]["behaviours"] = []
    found = problems_of(line)
    assert [p.rule for p in found] == ["hard_invariant"]
    assert "mesh.uses_sin_ssh_alias" in found[0].message and "root@sin" in found[0].message


def test_hard_invariant_bt_identity():
    line = speak_line()
    line["world"]["active_cart"] = "nova"
    line["meta"]["behaviours"] = []
    line["messages"][-1]["content"] = "I am BT-7274. Announced."
    found = problems_of(line)
    assert any(p.rule == "hard_invariant" and "persona.no_hardcoded_bt_identity" in p.message for p in found)


def test_eval_request_in_a_line_is_contamination():
    scenario = load_scenarios()[0]
    request = next(m["content"] for m in scenario.messages if m["role"] == "user")
    line = speak_line()
    line["messages"][1]["content"] = request
    line["meta"]["behaviours"] = []
    found = problems_of(line)
    assert any(p.rule == "contamination" and scenario.id in p.message for p in found)


def test_every_problem_of_every_line_is_reported():
    bad_json = "{oops"
    unknown = speak_line()
    call_named(unknown, "settings_get")["function"]["name"] = "nope"
    unanswered = speak_line()
    unanswered["messages"] = [m for m in unanswered["messages"] if m["role"] != "tool"]
    found = validate_lines([bad_json, json.dumps(speak_line()), json.dumps(unknown), json.dumps(unanswered)])
    assert {p.line for p in found} == {1, 3, 4}
    assert {p.rule for p in found if p.line == 4} >= {"unanswered"}


# --- property: a break anywhere is found on its own line and nowhere else -------------------------

def _drop_tool_message(line: dict) -> str:
    i = next(i for i, m in enumerate(line["messages"]) if m["role"] == "tool")
    del line["messages"][i]
    return "unanswered"


def _corrupt_arguments(line: dict) -> str:
    first_call(line)["function"]["arguments"] = "{not json"
    return "arguments"


def _unknown_tool(line: dict) -> str:
    first_call(line)["function"]["name"] = "teleport"
    return "unknown_tool"


def _retarget_answer(line: dict) -> str:
    next(m for m in line["messages"] if m["role"] == "tool")["tool_call_id"] = "nobody"
    return "tool_call_id"


def _end_with_user(line: dict) -> str:
    line["messages"].append({"role": "user", "content": "one more thing"})
    return "order"


def _false_claim(line: dict) -> str:
    line["meta"]["behaviours"].append("tts.sings_in_the_shower")
    return "behaviour"


MUTATIONS = [_drop_tool_message, _corrupt_arguments, _unknown_tool, _retarget_answer, _end_with_user, _false_claim]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0, max_value=7), mutation=st.sampled_from(MUTATIONS))
def test_a_break_is_reported_on_its_line(index: int, mutation):
    lines = small_dataset()
    rule = mutation(lines[index])
    found = validate_lines([json.dumps(line) for line in lines])
    assert {p.line for p in found} == {index + 1}, [str(p) for p in found]
    assert rule in {p.rule for p in found}
    assert all(str(p).startswith(f"line {index + 1}: ") for p in found)
