"""The tool-call formats a model may write, by the name vLLM's `--tool-call-parser` gives them.

- `qwen3_coder`: Qwen3-Coder's XML calls (core/chat_format.py renders, core/chat_parse.py parses);
- `hermes`: Hermes-style JSON calls, as Qwen2.5 writes them through its own chat template::

      <tool_call>
      {"name": "settings_get", "arguments": {"key": "active_cart"}}
      </tool_call>

Parsing never raises: a call that cannot be read comes back with `error` set, as for the XML format. Like vLLM's
hermes parser, the content is the text before the first `<tool_call>`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.chat_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ParsedCall, ParsedOutput
from core.chat_parse import parse_assistant_output

Parser = Callable[[str, Iterable[Mapping[str, Any]] | None], ParsedOutput]


def _hermes_call(body: str) -> ParsedCall:
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return ParsedCall(name="", error=f"the call is not JSON: {body.strip()[:80]!r}")
    if not isinstance(decoded, dict) or not isinstance(decoded.get("name"), str) or not decoded["name"]:
        return ParsedCall(name="", error='a hermes call is {"name": NAME, "arguments": {...}}')
    arguments = decoded.get("arguments", decoded.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            return ParsedCall(name=decoded["name"], error="its arguments are a string that is not JSON")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return ParsedCall(name=decoded["name"], error=f"its arguments are a {type(arguments).__name__}, not an object")
    return ParsedCall(name=decoded["name"], arguments=arguments)


def parse_hermes_output(text: str, tools: Iterable[Mapping[str, Any]] | None = None) -> ParsedOutput:
    """Split Hermes-format output into content and calls. Never raises; `tools` is unused (JSON carries types)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    first = text.find(TOOL_CALL_OPEN)
    if first == -1:
        return ParsedOutput(content=text)
    calls: list[ParsedCall] = []
    pos = first
    while pos != -1:
        start = pos + len(TOOL_CALL_OPEN)
        end = text.find(TOOL_CALL_CLOSE, start)
        body = text[start:] if end == -1 else text[start:end]
        call = _hermes_call(body)
        if end == -1 and call.error is None:  # cut before its close tag: read, but not a complete call
            call = ParsedCall(name=call.name, arguments=call.arguments, error=f"no {TOOL_CALL_CLOSE}")
        calls.append(call)
        pos = -1 if end == -1 else text.find(TOOL_CALL_OPEN, end + len(TOOL_CALL_CLOSE))
    return ParsedOutput(content=text[:first].strip(), tool_calls=calls)


FORMATS: dict[str, Parser] = {"qwen3_coder": parse_assistant_output, "hermes": parse_hermes_output}
# What a chat template writes for a tool call in each format: how a checkpoint's own template names its format.
_TEMPLATE_MARKS = {"qwen3_coder": "<function=", "hermes": '"arguments": '}


def format_of_template(template: str | None) -> str:
    """The tool-call format a chat template renders; ValueError when it renders none or both."""
    found = [name for name, mark in _TEMPLATE_MARKS.items() if template and mark in template]
    if len(found) != 1:
        raise ValueError("the chat template renders " + ("no known tool-call format" if not found else
                         f"several tool-call formats ({', '.join(found)})") + f"; known: {', '.join(FORMATS)}")
    return found[0]


def parser_for(format_name: str) -> Parser:
    try:
        return FORMATS[format_name]
    except KeyError:
        raise ValueError(f"unknown tool-call format {format_name!r}; known: {', '.join(FORMATS)}") from None
