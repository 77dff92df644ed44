"""The model-owned tool-call formats: Hermes JSON parsing (never raises), the format a chat template renders, and
the local backend parsing each model's own format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.chat_format import render_assistant_completion
from core.qwen_tokenizer import chat_template
from core.tool_call_formats import FORMATS, format_of_template, parse_hermes_output, parser_for

REPO = Path(__file__).resolve().parents[1]
names = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True)
values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                      max_leaves=6)


def hermes(name: str, arguments: dict) -> str:
    """A call as Qwen2.5's own chat template writes it."""
    return '<tool_call>\n{"name": "' + name + '", "arguments": ' + json.dumps(arguments) + "}\n</tool_call>"


@given(st.text(max_size=40).filter(lambda t: "<tool_call>" not in t),
       st.lists(st.tuples(names, st.dictionaries(names, values, max_size=4)), min_size=1, max_size=3))
@settings(max_examples=60, deadline=None)
def test_hermes_calls_written_by_the_template_parse_back(content: str, calls: list) -> None:
    text = (content + "\n" if content.strip() else "") + "\n".join(hermes(n, a) for n, a in calls)
    parsed = parse_hermes_output(text)
    assert parsed.content == content.strip()
    assert [(c.name, c.arguments, c.error) for c in parsed.tool_calls] == [(n, a, None) for n, a in calls]


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_hermes_parsing_never_raises(text: str) -> None:
    parsed = parse_hermes_output(text)
    assert all(c.error or c.name for c in parsed.tool_calls)


@pytest.mark.parametrize(("text", "error"), [
    ("<tool_call>\nnot json\n</tool_call>", "not JSON"),
    ('<tool_call>\n{"arguments": {}}\n</tool_call>', '"name"'),
    ('<tool_call>\n{"name": "a", "arguments": [1]}\n</tool_call>', "not an object"),
    ('<tool_call>\n{"name": "a", "arguments": "{oops"}\n</tool_call>', "not JSON"),
    ('<tool_call>\n{"name": "a", "arguments": {}}', "no </tool_call>"),
])
def test_unreadable_hermes_calls_are_calls_with_an_error(text: str, error: str) -> None:
    [call] = parse_hermes_output(text).tool_calls
    assert error in (call.error or "")


def test_arguments_written_as_a_json_string_are_read() -> None:
    [call] = parse_hermes_output('<tool_call>{"name": "a", "arguments": "{\\"k\\": 1}"}</tool_call>').tool_calls
    assert (call.name, call.arguments, call.error) == ("a", {"k": 1}, None)


def test_each_template_names_its_format() -> None:
    assert format_of_template(chat_template()) == "qwen3_coder"
    qwen25 = (REPO / "tests" / "data" / "qwen2.5-coder-chat-template.jinja").read_text()
    assert format_of_template(qwen25) == "hermes"
    for bad in (None, "", "{{ messages }}", '<function= "arguments": '):
        with pytest.raises(ValueError, match="tool-call format"):
            format_of_template(bad)


def test_the_xml_format_is_the_qwen3_coder_parser() -> None:
    text = render_assistant_completion("ok", [{"name": "settings_get", "arguments": {"key": "tts"}}])
    [call] = parser_for("qwen3_coder")(text, None).tool_calls
    assert (call.name, call.arguments) == ("settings_get", {"key": "tts"})
    assert set(FORMATS) == {"qwen3_coder", "hermes"}
    with pytest.raises(ValueError, match="known: qwen3_coder, hermes"):
        parser_for("xml")


def test_qwen25s_own_template_renders_what_the_hermes_parser_reads() -> None:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v, **_: json.dumps(v, ensure_ascii=False)
    template = env.from_string((REPO / "tests" / "data" / "qwen2.5-coder-chat-template.jinja").read_text())
    call = {"type": "function", "function": {"name": "ssh_run", "arguments": {"host": "sin", "command": "uptime"}}}
    messages = [{"role": "user", "content": "uptime on sin?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [call]}]
    rendered = template.render(messages=messages, tools=[{"type": "function", "function": {"name": "ssh_run"}}])
    turn = rendered.rsplit("<|im_start|>assistant\n", 1)[1].removesuffix("<|im_end|>\n")
    parsed = parse_hermes_output(turn)
    assert parsed.content == "Checking."
    assert [(c.name, c.arguments) for c in parsed.tool_calls] == [("ssh_run", {"host": "sin", "command": "uptime"})]


def test_the_local_backend_reads_each_models_own_format() -> None:
    from runner.backends.local_provider import assistant_message_from_text

    text = 'Reading it.\n' + hermes("settings_get", {"key": "active_cart"})
    message = assistant_message_from_text(text, None, "m", tool_call_format="hermes")
    assert message.text == "Reading it."
    assert [(c.function, c.arguments, c.parse_error) for c in message.tool_calls] == [
        ("settings_get", {"key": "active_cart"}, None)]
    as_xml = assistant_message_from_text(text, None, "m")  # read in the twin's format, it is an unreadable call
    assert [c.parse_error for c in as_xml.tool_calls] == ["<tool_call> without <function=NAME>"]


def test_a_dense_model_may_batch_and_a_qwen3_next_may_not() -> None:
    from training.config import ConfigError, TrainConfig

    TrainConfig(experts="none", per_device_train_batch_size=4).validate()
    with pytest.raises(ConfigError, match="must be 1 for a Qwen3-Next model"):
        TrainConfig(experts="nf4-grouped", per_device_train_batch_size=4).validate()
