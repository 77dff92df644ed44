"""Conversions between the transcript format (OpenAI chat dicts) and inspect-ai's ChatMessages.

Scenarios are written as OpenAI dicts and become a Sample's input; after a run, the state's
ChatMessages become a transcript again for the graders. A tool call whose arguments did not parse
keeps its `parse_error`, which the transcript parser counts as a failed call.
"""

from __future__ import annotations

import json
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
)
from inspect_ai.tool import ToolCall, ToolInfo, ToolParams

from core.chat_format import content_text
from core.safe_io import JSON_ERRORS, json_reason


def _arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        return {}, f"arguments are not valid JSON: {exc}"
    except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
        return {}, f"arguments are {json_reason(exc)}"
    if not isinstance(value, dict):
        return {}, "arguments are not a JSON object"
    return value, None


def to_chat_messages(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    """OpenAI-format dicts -> inspect ChatMessages (a scenario's messages become a Sample's input)."""
    out: list[ChatMessage] = []
    names: dict[str, str] = {}
    for msg in messages:
        role = msg.get("role")
        content = content_text(msg.get("content"))
        if role in ("system", "developer"):
            out.append(ChatMessageSystem(content=content))
        elif role == "user":
            out.append(ChatMessageUser(content=content))
        elif role == "assistant":
            calls = []
            for i, raw in enumerate(msg.get("tool_calls") or []):
                fn = raw.get("function") or {}
                args, error = _arguments(fn.get("arguments"))
                call_id = str(raw.get("id") or f"call_{len(names)}_{i}")
                names[call_id] = str(fn.get("name") or "")
                calls.append(ToolCall(id=call_id, function=names[call_id], arguments=args,
                                      parse_error=raw.get("parse_error") or error))
            out.append(ChatMessageAssistant(content=content, tool_calls=calls or None))
        elif role == "tool":
            call_id = str(msg.get("tool_call_id") or "")
            out.append(ChatMessageTool(content=content, tool_call_id=call_id, function=names.get(call_id)))
        else:
            raise ValueError(f"unknown message role {role!r}")
    return out


def to_openai_messages(messages: list[ChatMessage], errors_in_content: bool = False) -> list[dict[str, Any]]:
    """inspect ChatMessages -> OpenAI-format dicts, the way a transcript records them. With
    `errors_in_content` a tool result that carries an error reads "Error: <message>", as a model sees it
    in its prompt (the local backend)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if isinstance(msg, ChatMessageAssistant):
            entry: dict[str, Any] = {"role": "assistant", "content": msg.text}
            calls = []
            for call in msg.tool_calls or []:
                item: dict[str, Any] = {"id": call.id, "type": "function",
                                        "function": {"name": call.function, "arguments": json.dumps(call.arguments)}}
                if call.parse_error:
                    item["parse_error"] = call.parse_error
                calls.append(item)
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
        elif isinstance(msg, ChatMessageTool):
            content = f"Error: {msg.error.message}" if errors_in_content and msg.error else msg.text
            out.append({"role": "tool", "tool_call_id": msg.tool_call_id, "content": content})
        else:
            out.append({"role": msg.role, "content": msg.text})
    return out


def tool_infos(specs: list[dict[str, Any]]) -> list[ToolInfo]:
    """OpenAI tool specs -> inspect ToolInfo (JSON Schema parameters kept as they are)."""
    infos = []
    for spec in specs:
        fn = spec["function"]
        params = dict(fn.get("parameters") or {"type": "object", "properties": {}})
        params.setdefault("properties", {})
        infos.append(ToolInfo(name=fn["name"], description=fn.get("description") or fn["name"],
                              parameters=ToolParams.model_validate(params)))
    return infos
