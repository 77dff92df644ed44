"""core/chat_template.jinja renders the Qwen3-Coder prompt structure exactly (issue 3, item 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from core.chat_format import normalise_messages, render_assistant_completion
from core.chat_parse import parse_assistant_output

TEMPLATE = (Path(__file__).resolve().parents[1] / "core" / "chat_template.jinja").read_text(
    encoding="utf-8"
)

INSTRUCTIONS = (
    "To call a function, answer with a block in exactly this form and write nothing after it:\n\n"
    "<tool_call>\n<function=name_of_the_function>\n<parameter=first_parameter>\nits value\n</parameter>\n"
    "<parameter=second_parameter>\na value can also\nrun over several lines\n</parameter>\n</function>\n"
    "</tool_call>\n\nKeep in mind:\n"
    "- each <function=...></function> block goes inside its own <tool_call></tool_call> tags;\n"
    "- give a value for every required parameter;\n"
    "- any explanation comes before the call, never after it;\n"
    "- when no function fits, reply in plain text instead."
)
DEFAULT_SYSTEM = "You are a helpful assistant. You can call the functions listed below when they help with the user's request."
TOOLS = [
    {
        "type": "function",
        "x-mcp-server": "eems",
        "function": {
            "name": "memory_store",
            "description": "Store a memory.\n",
            "parameters": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["win", "fact"], "description": "The kind"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "limit": {"type": "integer", "minimum": 1, "exclusive": False},
                },
                "required": ["kind"],
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "memory_list", "parameters": {"type": "object", "properties": {}}},
    },
]
TOOLS_BLOCK = (
    "\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>"
    "\n<function>\n<name>memory_store</name>\n<description>Store a memory.</description>\n<parameters>"
    "\n<parameter>\n<name>kind</name>\n<type>string</type>\n<description>The kind</description>"
    '\n<enum>["win", "fact"]</enum>\n</parameter>'
    '\n<parameter>\n<name>tags</name>\n<type>array</type>\n<items>{"type": "string"}</items>\n</parameter>'
    "\n<parameter>\n<name>limit</name>\n<type>integer</type>\n<minimum>1</minimum>\n<exclusive>false</exclusive>"
    "\n</parameter>"
    '\n<required>["kind"]</required>'
    "\n</parameters>\n</function>"
    "\n<function>\n<name>memory_list</name>\n<parameters>\n</parameters>\n</function>"
    "\n</tools>\n\n" + INSTRUCTIONS
)


def render(
    messages: list[dict[str, Any]], tools: list[dict] | None = None, add_generation_prompt: bool = False
) -> str:
    rendered, _ = render_jinja_template(
        conversations=[messages],
        tools=tools,
        chat_template=TEMPLATE,
        add_generation_prompt=add_generation_prompt,
    )
    return rendered[0]


def test_default_system_line_when_tools_but_no_system_message() -> None:
    out = render([{"role": "user", "content": "hi"}], TOOLS)
    assert out == (
        "<|im_start|>system\n" + DEFAULT_SYSTEM + TOOLS_BLOCK + "<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
    )


def test_system_message_with_tools_and_generation_prompt() -> None:
    out = render(
        [{"role": "system", "content": "You are madcat."}, {"role": "user", "content": "hi"}],
        TOOLS,
        add_generation_prompt=True,
    )
    assert out == (
        "<|im_start|>system\nYou are madcat." + TOOLS_BLOCK + "<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_no_tools_no_system_turn() -> None:
    out = render([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
    with_system = render([{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}], tools=[])
    assert with_system == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"


CONVERSATION = [
    {"role": "user", "content": "Check settings."},
    {
        "role": "assistant",
        "content": "  On it.\n",
        "tool_calls": [
            {
                "id": "a",
                "type": "function",
                "function": {"name": "settings_get", "arguments": {"key": "active_cart"}},
            },
            {
                "id": "b",
                "type": "function",
                "function": {
                    "name": "memory_store",
                    "arguments": {
                        "kind": "fact",
                        "tags": ["x", "y"],
                        "meta": {"n": 1},
                        "limit": 2,
                        "ok": True,
                    },
                },
            },
        ],
    },
    {"role": "tool", "tool_call_id": "a", "content": '{"active_cart": "nova"}'},
    {"role": "tool", "tool_call_id": "b", "content": "stored"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "memory_list", "arguments": {}}}],
    },
    {"role": "tool", "tool_call_id": "c", "content": "[]"},
    {"role": "assistant", "content": "Done."},
]
CONVERSATION_TEXT = (
    "<|im_start|>user\nCheck settings.<|im_end|>\n"
    "<|im_start|>assistant\nOn it.\n\n"
    "<tool_call>\n<function=settings_get>\n<parameter=key>\nactive_cart\n</parameter>\n</function>\n</tool_call>\n"
    "<tool_call>\n<function=memory_store>\n<parameter=kind>\nfact\n</parameter>\n"
    '<parameter=tags>\n["x", "y"]\n</parameter>\n<parameter=meta>\n{"n": 1}\n</parameter>\n'
    "<parameter=limit>\n2\n</parameter>\n<parameter=ok>\ntrue\n</parameter>\n</function>\n</tool_call><|im_end|>\n"
    '<|im_start|>user\n<tool_response>\n{"active_cart": "nova"}\n</tool_response>\n'
    "<tool_response>\nstored\n</tool_response>\n<|im_end|>\n"
    "<|im_start|>assistant\n<tool_call>\n<function=memory_list>\n</function>\n</tool_call><|im_end|>\n"
    "<|im_start|>user\n<tool_response>\n[]\n</tool_response>\n<|im_end|>\n"
    "<|im_start|>assistant\nDone.<|im_end|>\n"
)


def test_tool_calls_and_merged_tool_responses_exact() -> None:
    assert render(CONVERSATION) == CONVERSATION_TEXT


def test_json_string_arguments_render_the_same_after_normalise() -> None:
    import json

    as_strings = [
        {
            **m,
            "tool_calls": [
                {**c, "function": {**c["function"], "arguments": json.dumps(c["function"]["arguments"])}}
                for c in m["tool_calls"]
            ],
        }
        if m.get("tool_calls")
        else m
        for m in CONVERSATION
    ]
    assert render(normalise_messages(as_strings)) == CONVERSATION_TEXT


def test_json_string_arguments_without_normalise_give_a_clear_error() -> None:
    messages = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
        }
    ]
    with pytest.raises(jinja2.exceptions.TemplateError, match="normalise_messages"):
        render(messages)


def test_assistant_turn_parses_back_to_its_calls() -> None:
    prompt = render(CONVERSATION[:1], add_generation_prompt=True)
    full = render(CONVERSATION[:2])
    assert full.startswith(prompt)
    completion = full[len(prompt) :].removesuffix("\n")
    assert completion == render_assistant_completion(
        CONVERSATION[1]["content"], CONVERSATION[1]["tool_calls"]
    )
    parsed = parse_assistant_output(completion.removesuffix("<|im_end|>"), TOOLS)
    assert parsed.content == "On it."
    assert [(c.name, c.arguments, c.error) for c in parsed.tool_calls] == [
        (c["function"]["name"], c["function"]["arguments"], None) for c in CONVERSATION[1]["tool_calls"]
    ]


def test_generation_blocks_cover_exactly_the_assistant_output() -> None:
    rendered, indices = render_jinja_template(
        conversations=[CONVERSATION], chat_template=TEMPLATE, return_assistant_tokens_mask=True
    )
    spans = [rendered[0][start:end] for start, end in indices[0]]
    assert spans == [
        render_assistant_completion(CONVERSATION[1]["content"], CONVERSATION[1]["tool_calls"]),
        render_assistant_completion("", CONVERSATION[4]["tool_calls"]),
        "Done.<|im_end|>",
    ]
