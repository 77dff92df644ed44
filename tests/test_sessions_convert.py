"""Conversion rules on the intermediate form: call results, id re-keying, output caps, the tool map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataset.sessions.convert import ConvertOptions, cap_output, convert
from dataset.sessions.ir import (
    COMPLETED,
    ERROR,
    INTERRUPTED,
    INVALID,
    Compaction,
    Session,
    Step,
    ToolCall,
    UserTurn,
)
from dataset.sessions.toolmap import ToolMapError, load_tool_map, surface_from_specs
from evals.transcript import load_transcript
from evals.world import load_tool_specs

SURFACE = surface_from_specs(load_tool_specs())


def tools(source: str = "opencode"):
    return load_tool_map(source, SURFACE)


def session(*events, source: str = "opencode") -> Session:
    return Session(source, "ses_x", "test", events=list(events))


def one(s: Session, source: str = "opencode", **opts) -> dict:
    built, _ = convert(s, tools(source), ConvertOptions(**opts) if opts else None)
    assert len(built) == 1
    return built[0].transcript


def mapped_calls(transcript: dict) -> list[tuple[str, dict]]:
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for m in transcript["messages"] for c in m.get("tool_calls") or []]


# --- every call gets exactly one result -------------------------------------------------------

statuses = st.sampled_from([COMPLETED, ERROR, INTERRUPTED, INVALID])
calls_st = st.lists(st.builds(ToolCall, call_id=st.text(max_size=4), name=st.sampled_from(["bash", "read", "Foo"]),
                              args=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
                              status=statuses, output=st.text(max_size=20)), max_size=4)
events_st = st.lists(st.one_of(
    st.builds(UserTurn, text=st.text(max_size=10)),
    st.builds(Step, text=st.text(max_size=10), calls=calls_st),
    st.builds(Compaction, summary=st.one_of(st.none(), st.text(min_size=1, max_size=10))),
), max_size=12)


@settings(max_examples=150, deadline=None)
@given(events_st)
def test_every_emitted_call_has_exactly_one_result_and_ids_are_rekeyed(events) -> None:
    built, _ = convert(session(*events), tools())
    for b in built:
        t = b.transcript
        load_transcript(t)  # a transcript the graders accept
        ids = [c["id"] for m in t["messages"] for c in m.get("tool_calls") or []]
        assert ids == [f"call_{i}" for i in range(1, len(ids) + 1)]
        answers = [m["tool_call_id"] for m in t["messages"] if m["role"] == "tool"]
        assert sorted(answers) == sorted(ids)
        for i, m in enumerate(t["messages"]):  # each assistant turn is followed by its own results
            if m.get("tool_calls"):
                follow = t["messages"][i + 1: i + 1 + len(m["tool_calls"])]
                assert [f["tool_call_id"] for f in follow] == [c["id"] for c in m["tool_calls"]]
        assert t["messages"][0]["role"] == "user"
        assert t["messages"][-1]["role"] == "assistant" and not t["messages"][-1].get("tool_calls")
        assert all(json.loads(c["function"]["arguments"]) is not None
                   for m in t["messages"] for c in m.get("tool_calls") or [])


def test_error_results_are_flagged_and_kept() -> None:
    t = one(session(UserTurn("go"), Step(calls=[ToolCall("x", "bash", {"command": "ls"}, ERROR, "exit 1")]),
                    Step(text="It failed.")))
    assert t["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "exit 1", "is_error": True}


def test_consecutive_steps_with_nothing_between_are_one_turn() -> None:
    t = one(session(UserTurn("go"), Step(text="First."), Step(text="Second.")))
    assert t["messages"] == [{"role": "user", "content": "go"}, {"role": "assistant", "content": "First.\n\nSecond."}]


def test_a_transcript_ends_with_an_answer_not_with_calls_or_a_question() -> None:
    s = session(UserTurn("go"), Step(text="Looking."), UserTurn("and the tests?"),
                Step(text="Running them.", calls=[ToolCall("x", "bash", {"command": "npm test"}, COMPLETED, "ok")]))
    (built,), _ = convert(s, tools())
    assert built.transcript["messages"] == [{"role": "user", "content": "go"}, {"role": "assistant", "content": "Looking."}]
    assert built.dropped == {"last step with calls but no answer after them": 1, "trailing user message without an answer": 1}


def test_a_segment_without_an_answer_is_not_a_transcript() -> None:
    built, skipped = convert(session(UserTurn("hello?"), Compaction("s"), UserTurn("still there?")), tools())
    assert built == [] and skipped["segment without a user/assistant exchange"] == 2


# --- tool outputs as the model saw them -------------------------------------------------------

def test_outputs_are_capped_by_lines_and_bytes_with_a_marker() -> None:
    lines = "\n".join(f"line {i}" for i in range(10))
    assert cap_output(lines, ConvertOptions(max_output_lines=3)) == "line 0\nline 1\nline 2\n[output truncated: 7 more lines]"
    capped = cap_output("é" * 100, ConvertOptions(max_output_bytes=11))
    assert capped == "é" * 5 + "\n[output truncated: 190 more bytes]"
    t = one(session(UserTurn("go"), Step(calls=[ToolCall("x", "bash", {"command": "seq 5000"}, COMPLETED, "1\n" * 5000)]),
                    Step(text="Done.")), max_output_lines=100)
    assert t["messages"][2]["content"].endswith("[output truncated: 4901 more lines]")


# --- the tool map ----------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "name", "args", "expected"), [
    ("opencode", "read", {"filePath": "a.ts", "offset": 10}, ("read", {"path": "a.ts"})),
    ("opencode", "write", {"filePath": "a.ts", "content": "x"}, ("write", {"path": "a.ts", "content": "x"})),
    ("opencode", "edit", {"filePath": "a.ts", "oldString": "a", "newString": "b"}, ("edit", {"path": "a.ts", "old": "a", "new": "b"})),
    ("opencode", "bash", {"command": "ls", "description": "list"}, ("bash", {"command": "ls"})),
    ("opencode", "todowrite", {"todos": [{"content": "a", "status": "pending", "priority": "high", "id": "1"}]},
     ("TodoWrite", {"todos": [{"content": "a", "status": "pending"}]})),
    ("opencode", "memory_recall", {"query": "q"}, ("memory_recall", {"query": "q"})),
    ("opencode", "legacy-memory_recall", {"query": "q"}, ("legacy-memory_recall", {"query": "q"})),
    ("opencode", "tts_speak", {"text": "hi", "voice": "nova"}, ("tts_speak", {"text": "hi", "voice": "nova"})),
    ("claude-code", "Read", {"file_path": "a.ts"}, ("read", {"path": "a.ts"})),
    ("claude-code", "Write", {"file_path": "a.ts", "content": "x"}, ("write", {"path": "a.ts", "content": "x"})),
    ("claude-code", "Edit", {"file_path": "a", "old_string": "x", "new_string": "y", "replace_all": False},
     ("edit", {"path": "a", "old": "x", "new": "y"})),
    ("claude-code", "Bash", {"command": "ls", "timeout": 5}, ("bash", {"command": "ls"})),
    ("claude-code", "TodoWrite", {"todos": [{"content": "a", "status": "in_progress", "activeForm": "Doing a"}]},
     ("TodoWrite", {"todos": [{"content": "a", "status": "in_progress"}]})),
    ("claude-code", "mcp__eems__memory_recall", {"query": "q"}, ("memory_recall", {"query": "q"})),
    ("claude-code", "mcp__legacy-memory__recall", {"query": "q"}, ("legacy-memory_recall", {"query": "q"})),
    ("claude-code", "mcp__tts__speak", {"text": "t", "voice": "v"}, ("tts_speak", {"text": "t", "voice": "v"})),
])
def test_tool_names_and_argument_keys_map_onto_our_surface(source, name, args, expected) -> None:
    t = one(session(UserTurn("go"), Step(calls=[ToolCall("x", name, args, COMPLETED, "ok")]), Step(text="Done."),
                    source=source), source)
    assert mapped_calls(t) == [expected]


def test_unmapped_tools_and_arguments_are_kept_and_flagged() -> None:
    s = session(UserTurn("go"), Step(calls=[
        ToolCall("a", "webfetch", {"url": "https://example.com"}, COMPLETED, "<html>"),
        ToolCall("b", "bash", {"command": "ls", "workdir": "/srv"}, COMPLETED, "x"),
    ]), Step(text="Done."))
    (built,), _ = convert(s, tools())
    assert mapped_calls(built.transcript) == [("webfetch", {"url": "https://example.com"}),
                                              ("bash", {"command": "ls", "workdir": "/srv"})]
    assert built.unmapped_tools == {"webfetch": 1}
    assert built.unmapped_args == {"bash.workdir"}


def test_a_custom_tool_map_is_used_and_a_broken_one_is_one_clear_error(tmp_path: Path) -> None:
    custom = tmp_path / "map.yaml"
    custom.write_text("opencode:\n  tools:\n    webfetch: {name: bash, args: {url: command}}\n")
    assert load_tool_map("opencode", SURFACE, custom).map("webfetch", {"url": "u"}).name == "bash"
    custom.write_text("opencode:\n  tools:\n    webfetch: {args: {}}\n")
    with pytest.raises(ToolMapError, match="needs a 'name'"):
        load_tool_map("opencode", SURFACE, custom)
    custom.write_text("opencode: [unclosed\n")
    with pytest.raises(ToolMapError, match="not valid YAML"):
        load_tool_map("opencode", SURFACE, custom)
