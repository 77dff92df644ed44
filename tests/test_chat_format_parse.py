"""core.chat_format: rendering and parsing the Qwen3-Coder tool-call XML."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.chat_format import (
    ParsedCall,
    coerce_arguments,
    normalise_messages,
    render_assistant_completion,
    render_tool_calls,
)
from core.chat_parse import _json_type, decode_value, parse_assistant_output

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "memory_recall",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "write",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            },
        },
    },
]


def test_render_one_call_exact() -> None:
    text = render_tool_calls([{"name": "memory_recall", "arguments": {"query": "vllm", "limit": 3}}])
    assert text == (
        "\n<tool_call>\n<function=memory_recall>\n"
        "<parameter=query>\nvllm\n</parameter>\n"
        "<parameter=limit>\n3\n</parameter>\n"
        "</function>\n</tool_call>"
    )


def test_render_accepts_openai_calls_with_json_string_arguments() -> None:
    as_dict = render_tool_calls([{"function": {"name": "f", "arguments": {"a": [1, "x"], "b": True}}}])
    as_json = render_tool_calls(
        [{"type": "function", "function": {"name": "f", "arguments": '{"a": [1, "x"], "b": true}'}}]
    )
    assert as_dict == as_json
    assert '<parameter=a>\n[1, "x"]\n</parameter>' in as_dict
    assert "<parameter=b>\ntrue\n</parameter>" in as_dict


def test_render_non_ascii_values_unescaped() -> None:
    assert '{"k": "ünï"}' in render_tool_calls([{"name": "f", "arguments": {"v": {"k": "ünï"}}}])


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", 42])
def test_coerce_arguments_rejects_non_objects(bad: object) -> None:
    with pytest.raises(ValueError, match="arguments"):
        coerce_arguments(bad)


@pytest.mark.parametrize("name", ["", "has space", "a>b", "x<y"])
def test_render_rejects_names_that_cannot_be_parsed_back(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        render_tool_calls([{"name": name, "arguments": {}}])


def test_completion_with_content_and_calls_matches_template_layout() -> None:
    calls = [{"name": "settings_get", "arguments": {}}, {"name": "cart_get", "arguments": {"name": "nova"}}]
    assert render_assistant_completion("  Checking.  ", calls) == (
        "Checking.\n\n<tool_call>\n<function=settings_get>\n</function>\n</tool_call>"
        "\n<tool_call>\n<function=cart_get>\n<parameter=name>\nnova\n</parameter>\n</function>\n</tool_call>"
        "<|im_end|>"
    )
    assert render_assistant_completion("", calls[:1]).startswith("<tool_call>\n")
    assert render_assistant_completion(" plain ", []) == " plain <|im_end|>"


def test_parse_content_and_two_calls_with_schema_types() -> None:
    text = (
        "Let me look.\n\n<tool_call>\n<function=memory_recall>\n<parameter=query>\n42\n</parameter>\n"
        "<parameter=limit>\n5\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=write>\n"
        "<parameter=path>\n/tmp/a.py\n</parameter>\n<parameter=content>\nx = 1\n\nprint('<b>')\n</parameter>\n"
        "</function>\n</tool_call>"
    )
    out = parse_assistant_output(text, TOOLS)
    assert out.content == "Let me look."
    assert out.tool_calls == [
        ParsedCall("memory_recall", {"query": "42", "limit": 5}),
        ParsedCall("write", {"path": "/tmp/a.py", "content": "x = 1\n\nprint('<b>')"}),
    ]


def test_parse_without_schema_decodes_json_looking_values() -> None:
    text = (
        "<tool_call>\n<function=f>\n<parameter=n>\n7\n</parameter>\n<parameter=flag>\nfalse\n</parameter>\n"
        '<parameter=obj>\n{"a": [1, 2]}\n</parameter>\n<parameter=s>\n"quoted"\n</parameter>\n'
        "<parameter=word>\nhello\n</parameter>\n</function>\n</tool_call>"
    )
    (call,) = parse_assistant_output(text).tool_calls
    assert call.error is None
    assert call.arguments == {"n": 7, "flag": False, "obj": {"a": [1, 2]}, "s": '"quoted"', "word": "hello"}


def test_plain_text_has_no_calls() -> None:
    out = parse_assistant_output("  Good morning!  ")
    assert out.content == "  Good morning!  " and out.tool_calls == []


def test_value_containing_closing_tag_text_is_kept() -> None:
    value = "see </parameter> in the docs"
    text = render_tool_calls([{"name": "write", "arguments": {"content": value, "path": "a"}}])
    (call,) = parse_assistant_output(text, TOOLS).tool_calls
    assert call.arguments == {"content": value, "path": "a"}


def test_call_without_tool_call_wrapper_is_read() -> None:
    text = "Sure.\n<function=memory_recall>\n<parameter=query>\nx\n</parameter>\n</function>"
    out = parse_assistant_output(text, TOOLS)
    assert out.content == "Sure."
    assert out.tool_calls == [ParsedCall("memory_recall", {"query": "x"})]


@pytest.mark.parametrize(
    ("text", "error_part"),
    [
        ("<tool_call>\n<function=write>\n<parameter=path>\n/a\n</parameter>\n", "no </function>"),
        ("<tool_call>\n<function=write>\n<parameter=path>\n/a", "'path' is not closed"),
        ("<tool_call>\n<function=write", "function name"),
        ("<tool_call>\n<function=>\n</function>\n</tool_call>", "function name"),
        ('<tool_call>\n{"name": "write", "arguments": {}}\n</tool_call>', "without <function="),
        ("<tool_call>\n<function=write>\nrm -rf /\n</function>\n</tool_call>", "unexpected text"),
        (
            "<tool_call>\n<function=write>\n<parameter=>\nx\n</parameter>\n</function>\n</tool_call>",
            "without a name",
        ),
        (
            "<tool_call>\n<function=w>\n<parameter=a>\n1\n</parameter>\n<parameter=a>\n2\n</parameter>\n</function>",
            "repeats",
        ),
    ],
)
def test_malformed_calls_become_calls_with_errors(text: str, error_part: str) -> None:
    out = parse_assistant_output("Doing it. " + text, TOOLS)
    assert out.content == "Doing it."
    assert len(out.tool_calls) == 1
    assert out.tool_calls[0].error is not None and error_part in out.tool_calls[0].error


def test_bad_call_does_not_hide_the_good_one_after_it() -> None:
    text = (
        "<tool_call>\n<function=write>\njunk\n</function>\n</tool_call>\n"
        "<tool_call>\n<function=memory_recall>\n<parameter=limit>\n2\n</parameter>\n</function>\n</tool_call>"
    )
    bad, good = parse_assistant_output(text, TOOLS).tool_calls
    assert bad.error and bad.name == "write"
    assert good == ParsedCall("memory_recall", {"limit": 2})


def test_decode_value_with_schema() -> None:
    assert decode_value("42", {"type": "string"}) == "42"
    assert decode_value("42", {"type": "integer"}) == 42
    assert decode_value("2.5", {"type": "number"}) == 2.5
    assert decode_value("True", {"type": "boolean"}) is True
    assert decode_value("null", {"type": ["string", "null"]}) is None
    assert decode_value("abc", {"type": "integer"}) == "abc"
    assert decode_value("[1]", {"type": "array"}) == [1]
    assert decode_value("[1]", {"anyOf": [{"type": "string"}, {"type": "array"}]}) == [1]
    assert decode_value("win", {"enum": ["win", "fact"]}) == "win"
    assert decode_value("NaN") == "NaN" and decode_value("-Infinity", {"type": "number"}) == "-Infinity"


def test_normalise_messages_parses_json_arguments_without_touching_input() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
            ],
        },
    ]
    original = json.dumps(messages)
    out = normalise_messages(messages)
    assert json.dumps(messages) == original
    assert out[0]["content"] == "a\nb"
    assert out[1]["content"] == ""
    assert out[1]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    ]


def test_normalise_messages_reports_bad_arguments() -> None:
    bad = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}],
        }
    ]
    with pytest.raises(ValueError, match="not valid JSON"):
        normalise_messages(bad)


# --------------------------------------------------------------------------- properties

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
# A literal "</parameter>" inside a string value is ambiguous in this format (the real parser
# has the same limit), so generated strings avoid that one sequence.
texts = st.text(max_size=60).filter(lambda s: "</parameter>" not in s)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
values = texts | json_values
calls = st.lists(st.tuples(names, st.dictionaries(names, values, max_size=4)), min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@example(calls=[("A", {"A": "Infinity"}), ("A", {})], content="")
@example(
    calls=[("write", {"content": "line 1\n<b>two</b>\n\n  ünï 🙂\n", "path": "<x>"})], content="Écrit.\n"
)
@example(calls=[("f", {"a": "", "b": "\n", "c": "42", "d": 42, "e": [1, {"k": None}]})], content="")
@given(
    calls=calls,
    content=st.text(max_size=40).filter(lambda s: "<tool_call>" not in s and "<function=" not in s),
)
def test_round_trip_with_schema(calls: list[tuple[str, dict]], content: str) -> None:
    # Several calls may share a name: the tool's schema is the union of their argument types,
    # and values are compared only when those types agree.
    by_name: dict[str, dict] = {}
    for name, args in calls:
        by_name.setdefault(name, {}).update({k: _json_type(v) for k, v in args.items()})
    consistent = all(_json_type(v) == by_name[name][k] for name, args in calls for k, v in args.items())
    tools = [
        {
            "type": "function",
            "function": {
                "name": name,
                "parameters": {"type": "object", "properties": {k: {"type": t} for k, t in props.items()}},
            },
        }
        for name, props in by_name.items()
    ]
    text = render_assistant_completion(content, [{"name": n, "arguments": a} for n, a in calls])
    out = parse_assistant_output(text.removesuffix("<|im_end|>"), tools if consistent else None)
    assert out.content == content.strip()
    assert [c.name for c in out.tool_calls] == [n for n, _ in calls]
    assert all(c.error is None for c in out.tool_calls)
    if consistent:
        assert [c.arguments for c in out.tool_calls] == [a for _, a in calls]


@settings(max_examples=200, deadline=None)
@given(args=st.dictionaries(
    names, (texts | json_values).filter(lambda v: not (isinstance(v, str) and _looks_like_json(v))), max_size=4))
def test_round_trip_without_schema(args: dict) -> None:
    # without a schema a top-level string that reads as JSON ("null", "3") is ambiguous, so none is generated
    (call,) = parse_assistant_output(render_tool_calls([{"name": "f", "arguments": args}])).tool_calls
    assert call == ParsedCall("f", args)


def _looks_like_json(s: str) -> bool:
    try:
        return not isinstance(json.loads(s), str)
    except ValueError:
        return False


fragments = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        "<function=",
        "</function>",
        "<parameter=",
        "</parameter>",
        ">",
        "\n",
        "f",
        "x=1",
    ]
)


@settings(max_examples=400, deadline=None)
@given(text=st.lists(fragments | st.text(max_size=8), max_size=30).map("".join))
def test_parse_never_raises(text: str) -> None:
    out = parse_assistant_output(text, TOOLS)
    assert isinstance(out.content, str)
    for call in out.tool_calls:
        assert isinstance(call.name, str) and isinstance(call.arguments, dict)
        assert call.error is None or isinstance(call.error, str)
