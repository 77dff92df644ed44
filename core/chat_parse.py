"""Parsing a Qwen3-Coder assistant completion back into content and tool calls: the other half of
core/chat_format.py (which renders), so prompts, parsing and training data agree.

Parsing never raises: a call that cannot be read (truncated, no name, junk inside the function
body) comes back as a ``ParsedCall`` with ``error`` set, so graders can count it as a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from core.chat_format import (
    _WHITESPACE,
    FUNCTION_CLOSE,
    FUNCTION_OPEN,
    PARAMETER_CLOSE,
    PARAMETER_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    ParsedCall,
    ParsedOutput,
)


def _tool_schemas(tools: Iterable[Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Function name -> its parameters' ``properties`` mapping."""
    schemas: dict[str, dict[str, Any]] = {}
    for tool in tools or ():
        if not isinstance(tool, Mapping):
            continue
        fn = tool.get("function", tool)
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            continue
        params = fn.get("parameters")
        props = params.get("properties") if isinstance(params, Mapping) else None
        merged = schemas.setdefault(fn["name"], {})
        for key, schema in props.items() if isinstance(props, Mapping) else ():
            merged.setdefault(key, schema)  # a name listed twice: the first spec of a key wins
    return schemas


def _schema_types(schema: Any) -> set[str] | None:
    """JSON types a parameter schema admits, or None when it does not say."""
    if not isinstance(schema, Mapping):
        return None
    found: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(t for t in declared if isinstance(t, str))
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or ():
            found.update(_schema_types(option) or ())
    if not found and isinstance(schema.get("enum"), list) and schema["enum"]:
        found.update(_json_type(v) for v in schema["enum"])
    return found or None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _try_json(raw: str) -> tuple[bool, Any]:
    """Strict JSON: Python's extras (NaN, Infinity) stay text."""
    try:
        return True, json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False, None


def decode_value(raw: str, schema: Any = None) -> Any:
    """A raw parameter value -> Python, guided by the parameter's JSON schema when known.

    Without a schema, text that is JSON for a non-string (number, boolean, null, object, array)
    is decoded and anything else stays a string. With a schema that admits only strings the raw
    text is kept, so ``"42"`` stays ``"42"``.
    """
    types = _schema_types(schema)
    if types is None:
        ok, decoded = _try_json(raw)
        return decoded if ok and not isinstance(decoded, str) else raw
    if types <= {"string"}:
        return raw
    stripped = raw.strip()
    if "null" in types and stripped.lower() in ("null", "none"):
        return None
    if "boolean" in types and stripped in ("True", "False"):  # Python-style booleans
        return stripped == "True"
    ok, decoded = _try_json(stripped)
    if ok and not isinstance(decoded, str):
        kind = _json_type(decoded)
        admitted = kind in types or (kind == "integer" and "number" in types)
        if admitted or "string" not in types:
            return decoded
    return raw


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _read_name(text: str, pos: int) -> tuple[str | None, int]:
    """Name after ``<function=`` / ``<parameter=`` up to ``>``; None when it is not a clean name."""
    end = text.find(">", pos)
    if end == -1:
        return None, len(text)
    name = text[pos:end]
    if not name or any(ch in name for ch in _WHITESPACE) or "<" in name:
        return None, end + 1
    return name, end + 1


def _find_parameter_end(text: str, start: int) -> int:
    """Index of the ``</parameter>`` that really closes the value starting at ``start``.

    A ``</parameter>`` inside a value is skipped unless it is followed (after whitespace) by the
    next parameter, ``</function>`` or the end of the text.
    """
    search = start
    while True:
        idx = text.find(PARAMETER_CLOSE, search)
        if idx == -1:
            return -1
        after = _skip_ws(text, idx + len(PARAMETER_CLOSE))
        if after == len(text) or text.startswith((PARAMETER_OPEN, FUNCTION_CLOSE), after):
            return idx
        search = idx + 1


def _parse_function(text: str, pos: int, schemas: dict[str, dict[str, Any]]) -> tuple[ParsedCall, int]:
    """Parse from just after ``<function=``; returns the call and the index after ``</function>``."""
    name, pos = _read_name(text, pos)
    if name is None:
        return ParsedCall(name="", error="tool call without a readable function name"), pos
    props = schemas.get(name, {})
    arguments: dict[str, Any] = {}
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            return ParsedCall(name, arguments, f"tool call '{name}' is truncated: no {FUNCTION_CLOSE}"), pos
        if text.startswith(FUNCTION_CLOSE, pos):
            return ParsedCall(name, arguments), pos + len(FUNCTION_CLOSE)
        if not text.startswith(PARAMETER_OPEN, pos):
            junk = text[pos : pos + 40]
            end = text.find(FUNCTION_CLOSE, pos)
            resume = len(text) if end == -1 else end + len(FUNCTION_CLOSE)
            return ParsedCall(name, arguments, f"tool call '{name}' has unexpected text {junk!r}"), resume
        key, pos = _read_name(text, pos + len(PARAMETER_OPEN))
        if key is None:
            end = text.find(FUNCTION_CLOSE, pos)
            resume = len(text) if end == -1 else end + len(FUNCTION_CLOSE)
            return ParsedCall(name, arguments, f"tool call '{name}' has a parameter without a name"), resume
        if text.startswith("\n", pos):
            pos += 1
        end = _find_parameter_end(text, pos)
        if end == -1:
            return (
                ParsedCall(
                    name, arguments, f"tool call '{name}' is truncated: parameter '{key}' is not closed"
                ),
                len(text),
            )
        raw = text[pos:end]
        if raw.endswith("\n"):
            raw = raw[:-1]
        if key in arguments:
            return ParsedCall(name, arguments, f"tool call '{name}' repeats parameter '{key}'"), end
        arguments[key] = decode_value(raw, props.get(key))
        pos = end + len(PARAMETER_CLOSE)


def parse_assistant_output(text: str, tools: Iterable[Mapping[str, Any]] | None = None) -> ParsedOutput:
    """Split model output into content and tool calls. Never raises.

    ``tools`` (OpenAI tool specs) lets values be decoded by their parameter's declared type.
    Content is the text before the first call (trimmed when there are calls); text after the
    calls is dropped, as vLLM's qwen3_coder parser does.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        schemas = _tool_schemas(tools)
    except Exception:  # a malformed tool list must not break parsing
        schemas = {}

    first = text.find(TOOL_CALL_OPEN)
    if first == -1:
        # A call without its <tool_call> wrapper is still a call (vLLM reads it too).
        bare = text.find(FUNCTION_OPEN)
        if bare == -1 or (bare > 0 and text[bare - 1] != "\n"):
            return ParsedOutput(content=text)
        first = bare

    calls: list[ParsedCall] = []
    pos = first
    while pos < len(text):
        if text.startswith(TOOL_CALL_OPEN, pos):
            inner = _skip_ws(text, pos + len(TOOL_CALL_OPEN))
            if not text.startswith(FUNCTION_OPEN, inner):
                close = text.find(TOOL_CALL_CLOSE, inner)
                calls.append(ParsedCall(name="", error=f"{TOOL_CALL_OPEN} without {FUNCTION_OPEN}NAME>"))
                pos = len(text) if close == -1 else close + len(TOOL_CALL_CLOSE)
            else:
                call, pos = _parse_function(text, inner + len(FUNCTION_OPEN), schemas)
                calls.append(call)
                after = _skip_ws(text, pos)
                if text.startswith(TOOL_CALL_CLOSE, after):
                    pos = after + len(TOOL_CALL_CLOSE)
        elif text.startswith(FUNCTION_OPEN, pos):
            call, pos = _parse_function(text, pos + len(FUNCTION_OPEN), schemas)
            calls.append(call)
        next_call = text.find(TOOL_CALL_OPEN, pos)
        if next_call == -1:
            break
        pos = next_call
    return ParsedOutput(content=text[:first].strip(), tool_calls=calls)
