"""The Qwen3-Coder tool-call format: one definition for rendering (here) and parsing (core/chat_parse.py).

An assistant turn that calls tools looks like this (after ``<|im_start|>assistant``)::

    \\nOPTIONAL CONTENT\\n
    \\n<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nVALUE\\n</parameter>\\n</function>\\n</tool_call>
    ... one block per call ...<|im_end|>

String values are written raw; everything else (numbers, booleans, null, mappings, lists) as
JSON. The chat template (core/chat_template.jinja), the local backend, the dataset and the
training code all go through this module, so prompts, parsing and training data agree.

"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
FUNCTION_OPEN = "<function="
FUNCTION_CLOSE = "</function>"
PARAMETER_OPEN = "<parameter="
PARAMETER_CLOSE = "</parameter>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"

# Special tokens (never part of decoded text with skip_special_tokens) and added tokens
# (single tokens that stay in decoded text: the parser needs them).
SPECIAL_TOKENS = (END_OF_TEXT, IM_START, IM_END)
ADDED_TOKENS = (TOOL_CALL_OPEN, TOOL_CALL_CLOSE, TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE)

_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class ParsedCall:
    """One tool call read from model output; ``error`` is set when it could not be read."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class ParsedOutput:
    content: str
    tool_calls: list[ParsedCall] = field(default_factory=list)


# --------------------------------------------------------------------------- rendering


def format_value(value: Any) -> str:
    """A parameter value as the model writes it: strings raw, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def coerce_arguments(arguments: Any) -> dict[str, Any]:
    """Arguments given as a dict or as a JSON string (OpenAI format) -> dict.

    Raises ValueError with a readable message when the string is not a JSON object.
    """
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"tool call arguments are not valid JSON: {exc.msg} in {arguments[:80]!r}"
            ) from None
        except RecursionError:
            raise ValueError("tool call arguments are nested too deeply to read") from None
        if not isinstance(decoded, dict):
            raise ValueError(f"tool call arguments must be a JSON object, got {type(decoded).__name__}")
        return decoded
    raise ValueError(f"tool call arguments must be a dict or a JSON string, got {type(arguments).__name__}")


def _check_identifier(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string")
    if any(ch in name for ch in "<>") or any(ch in name for ch in _WHITESPACE):
        raise ValueError(f"{kind} name {name!r} may not contain whitespace, '<' or '>'")


def _call_name_and_arguments(call: Any) -> tuple[str, Any]:
    """Accepts OpenAI tool-call dicts, {"name", "arguments"} dicts, ParsedCall, inspect ToolCall."""
    if isinstance(call, Mapping):
        if "function" in call and isinstance(call["function"], Mapping):
            fn = call["function"]
            return fn.get("name", ""), fn.get("arguments")
        return call.get("name", ""), call.get("arguments")
    if isinstance(call, ParsedCall):
        return call.name, call.arguments
    if hasattr(call, "function") and hasattr(call, "arguments"):  # inspect_ai ToolCall
        return call.function, call.arguments
    raise ValueError(f"cannot read a tool call from {type(call).__name__}")


def render_tool_call(name: str, arguments: Any) -> str:
    """One call: ``\\n<tool_call>\\n<function=NAME>\\n<parameter=K>\\nV\\n</parameter>\\n</function>\\n</tool_call>``."""
    _check_identifier("function", name)
    parts = [f"\n{TOOL_CALL_OPEN}\n{FUNCTION_OPEN}{name}>\n"]
    for key, value in coerce_arguments(arguments).items():
        _check_identifier("parameter", key)
        parts.append(f"{PARAMETER_OPEN}{key}>\n{format_value(value)}\n{PARAMETER_CLOSE}\n")
    parts.append(f"{FUNCTION_CLOSE}\n{TOOL_CALL_CLOSE}")
    return "".join(parts)


def render_tool_calls(calls: Iterable[Any]) -> str:
    """The assistant text for a list of calls, exactly as the chat template writes it."""
    return "".join(render_tool_call(*_call_name_and_arguments(call)) for call in calls)


def render_assistant_completion(content: str | None, calls: Iterable[Any] = ()) -> str:
    """What the model generates after the generation prompt ``<|im_start|>assistant\\n``.

    Matches the chat template: with calls, the content is trimmed and followed by a blank line;
    without calls the content is kept as is. Ends with ``<|im_end|>``.
    """
    calls = list(calls)
    content = content or ""
    if not calls:
        return content + IM_END
    body = ""
    if content.strip():
        body = content.strip() + "\n"
    body += render_tool_calls(calls)
    # The template writes "<|im_start|>assistant" + "\n..." ; the prompt already holds the "\n".
    return body[1:] + IM_END if body.startswith("\n") else body + IM_END


def content_text(content: Any, sep: str = "") -> str:
    """Message content as text, the one rule: a string as is, None as "", OpenAI content parts joined
    with `sep` (text parts' text and bare strings; image and other parts carry no text)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping):
                if part.get("type", "text") == "text":
                    texts.append(str(part.get("text", "")))
            else:
                texts.append(str(part))
        return sep.join(texts)
    return str(content)


def normalise_messages(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style messages -> what core/chat_template.jinja expects.

    Tool-call arguments given as JSON strings (the OpenAI wire format) become dicts (the template
    cannot parse JSON: Jinja has no ``fromjson``), content becomes a string. The input is not
    modified. Raises ValueError for arguments that are not a JSON object.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        msg = copy.deepcopy(dict(message))
        msg["content"] = content_text(msg.get("content"), sep="\n")
        if msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                name, arguments = _call_name_and_arguments(call)
                fixed = copy.deepcopy(dict(call)) if isinstance(call, Mapping) else {}
                fixed.setdefault("type", "function")
                fixed["function"] = {"name": name, "arguments": coerce_arguments(arguments)}
                fixed.pop("name", None)
                fixed.pop("arguments", None)
                calls.append(fixed)
            msg["tool_calls"] = calls
        out.append(msg)
    return out
