"""opencode's message/part data (and its 2.x session_message rows) converted into the intermediate
form (`ir.Session`); dataset/sessions/opencode.py finds and reads the stores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    as_dict,
    as_list,
    as_str,
)
from dataset.sessions.problems import Tally

# Error texts opencode records when a running call was stopped rather than answered.
ABORT_ERRORS = ("tool execution aborted", "[tool execution was interrupted]", "the user rejected permission")


@dataclass
class Message:
    """One message in the message/part format: its info and its parts, in order."""

    info: dict
    parts: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.info.get("id") or "")


# ---------------------------------------------------------------------------------------------
# Conversion of message/part data into the intermediate form
# ---------------------------------------------------------------------------------------------


def file_placeholder(part: dict) -> str:
    mime = as_str(part.get("mime")) or as_str(part.get("mediaType")) or ""
    source = as_dict(part.get("source"))
    name = as_str(part.get("filename")) or as_str(part.get("name")) or as_str(source.get("path"))
    if not name:
        url = as_str(part.get("url")) or ""
        name = "" if url.startswith("data:") else url.rstrip("/").rsplit("/", 1)[-1]
    name = Path(name).name if name else ""
    kind = "image" if mime.startswith("image/") else "file"
    return f"[{kind}: {name}]" if name else f"[{kind}]"


def _model_of(info: dict) -> str | None:
    model_id = as_str(info.get("modelID"))
    provider = as_str(info.get("providerID"))
    model = info.get("model")
    if not model_id and isinstance(model, dict):
        model_id = as_str(model.get("modelID")) or as_str(model.get("id"))
        provider = provider or as_str(model.get("providerID"))
    elif not model_id and isinstance(model, str):
        model_id = model
    if not model_id:
        return None
    return f"{provider}/{model_id}" if provider else model_id


def _tool_call(part: dict) -> ToolCall:
    state = as_dict(part.get("state"))
    name = as_str(part.get("tool")) or "unknown"
    status = as_str(state.get("status")) or ""
    call = ToolCall(call_id=str(part.get("callID") or part.get("id") or ""), name=name, args=state.get("input"))
    if name == "invalid":
        call.status = INVALID
    elif status == "completed":
        call.status = COMPLETED
        output = state.get("output")
        call.output = output if isinstance(output, str) else json.dumps(output) if output is not None else ""
        call.attachments = [file_placeholder(a) for a in as_list(state.get("attachments")) if isinstance(a, dict)]
    elif status == "error":
        error = state.get("error")
        text = error if isinstance(error, str) else json.dumps(error) if error is not None else ""
        interrupted = as_dict(state.get("metadata")).get("interrupted") is True
        if interrupted or text.strip().lower().startswith(ABORT_ERRORS):
            call.status = INTERRUPTED
        else:
            call.status, call.output = ERROR, text
    else:  # pending, running, or unknown: never answered
        call.status = INTERRUPTED
    return call


def _user_text(parts: list[dict], dropped: Tally) -> str:
    pieces: list[str] = []
    for part in parts:
        kind = part.get("type")
        if kind == "text" and not part.get("ignored"):
            text = as_str(part.get("text"))
            if text:
                pieces.append(text)
        elif kind == "file":
            pieces.append(file_placeholder(part))
        elif kind == "subtask":
            dropped.add("user-run subtask command")
    return "\n\n".join(pieces)


def _steps(parts: list[dict], model: str | None, dropped: Tally) -> list[Step]:
    """Split an assistant message's parts into model steps (at step-start parts)."""
    steps: list[Step] = []
    current: Step | None = None
    texts: list[str] = []

    def close() -> None:
        nonlocal current, texts
        if current is not None:
            current.text = "\n\n".join(texts)
            steps.append(current)
        current, texts = None, []

    for part in parts:
        kind = part.get("type")
        if kind == "step-start":
            close()
            current = Step(model=model)
            continue
        if current is None:
            current = Step(model=model)
        if kind == "text":
            text = as_str(part.get("text"))
            if text and not part.get("ignored"):
                texts.append(text)
        elif kind == "tool":
            current.calls.append(_tool_call(part))
        elif kind == "file":
            texts.append(file_placeholder(part))
        elif kind == "reasoning":
            dropped.add("reasoning block (kept out)")
        elif kind in ("patch", "snapshot"):
            dropped.add("patch/snapshot part (kept out)")
    close()
    return [s for s in steps if s.text.strip() or s.calls]


def _is_compaction_request(msg: Message) -> bool:
    return msg.info.get("role") == "user" and any(p.get("type") == "compaction" for p in msg.parts)


def events_from_messages(session: Session, messages: list[Message]) -> None:
    """Fill `session.events` from messages in the message/part format."""
    dropped = session.dropped
    pending: Compaction | None = None
    for msg in messages:
        role = msg.info.get("role")
        if role == "user":
            if _is_compaction_request(msg):
                pending = Compaction()
                session.events.append(pending)
                continue
            text = _user_text(msg.parts, dropped)
            if text.strip():
                session.events.append(UserTurn(text))
            pending = None
        elif role == "assistant":
            error = as_dict(msg.info.get("error"))
            if msg.info.get("error") is not None and error.get("name") != "MessageAbortedError":
                dropped.add("assistant message that ended in an API error")
                continue
            if msg.info.get("summary") is True:  # the compaction summary the model saw afterwards
                summary = "\n\n".join(
                    t for p in msg.parts if p.get("type") == "text" and (t := as_str(p.get("text")))
                )
                if pending is not None:
                    pending.summary = summary or None
                else:
                    session.events.append(Compaction(summary or None))
                pending = None
                continue
            model = _model_of(msg.info)
            for step in _steps(msg.parts, model, dropped):
                session.events.append(step)
                if model:
                    session.models.append(model)
        else:
            dropped.add("message with an unknown role")


def apply_revert(messages: list[Message], revert: Any, dropped: Tally) -> list[Message]:
    """Honour a session's `revert`: drop the messages from revert.messageID on; with a partID,
    keep that message's parts before it."""
    revert = as_dict(revert)
    message_id = as_str(revert.get("messageID"))
    if not message_id:
        return messages
    index = next((i for i, m in enumerate(messages) if m.id == message_id), None)
    if index is None:
        return messages
    kept = messages[:index]
    part_id = as_str(revert.get("partID"))
    if part_id:
        target = messages[index]
        cut = next((i for i, p in enumerate(target.parts) if p.get("id") == part_id), None)
        if cut is not None and cut > 0:
            kept.append(Message(target.info, target.parts[:cut]))
    dropped.add("message after a revert point", len(messages) - len(kept))
    return kept


def upgrade_inline_message(data: dict) -> Message:
    """The first opencode message format kept parts inline (`tool-invocation` parts and a
    `metadata` block); turn it into info + parts of the later format."""
    meta = as_dict(data.get("metadata"))
    assistant = as_dict(meta.get("assistant"))
    info = {
        "id": data.get("id"),
        "role": data.get("role"),
        "modelID": assistant.get("modelID"),
        "providerID": assistant.get("providerID"),
        "summary": assistant.get("summary"),
    }
    if meta.get("error") is not None:
        info["error"] = meta.get("error")
    parts: list[dict] = []
    for raw in as_list(data.get("parts")):
        if not isinstance(raw, dict):
            continue
        if raw.get("type") == "tool-invocation":
            inv = as_dict(raw.get("toolInvocation"))
            state = inv.get("state")
            status = "completed" if state == "result" else "pending"
            parts.append({
                "type": "tool", "callID": inv.get("toolCallId"), "tool": inv.get("toolName"),
                "state": {"status": status, "input": inv.get("args"), "output": inv.get("result")},
            })
        elif raw.get("type") == "file":
            parts.append({**raw, "mime": raw.get("mediaType") or raw.get("mime")})
        else:
            parts.append(raw)
    return Message(info, parts)


# ---------------------------------------------------------------------------------------------
# 2.x: session_message rows
# ---------------------------------------------------------------------------------------------


def _content_output(items: Any) -> tuple[str, list[str]]:
    texts, files = [], []
    for item in as_list(items):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif item.get("type") == "file":
            files.append(file_placeholder(item))
    return "\n".join(texts), files


def _v2_tool(item: dict) -> ToolCall:
    state = as_dict(item.get("state"))
    name = as_str(item.get("name")) or "unknown"
    call = ToolCall(call_id=str(item.get("id") or ""), name=name, args=state.get("input"))
    status = state.get("status")
    output, files = _content_output(state.get("content"))
    if name == "invalid":
        call.status = INVALID
    elif status == "completed":
        call.status, call.output = COMPLETED, output
        call.attachments = files + [file_placeholder(a) for a in as_list(state.get("attachments")) if isinstance(a, dict)]
    elif status == "error":
        error = state.get("error")
        text = as_str(as_dict(error).get("message")) or (error if isinstance(error, str) else "") or output
        if text.strip().lower().startswith(ABORT_ERRORS):
            call.status = INTERRUPTED
        else:
            call.status, call.output = ERROR, text
    else:
        call.status = INTERRUPTED
    return call


def events_from_v2_rows(session: Session, rows: list[tuple[str, dict]]) -> None:
    """Fill `session.events` from 2.x session_message rows (type, data)."""
    dropped = session.dropped
    for kind, data in rows:
        if kind == "user":
            pieces = [t for t in [as_str(data.get("text"))] if t]
            pieces += [file_placeholder(f) for f in as_list(data.get("files")) if isinstance(f, dict)]
            text = "\n\n".join(pieces)
            if text.strip():
                session.events.append(UserTurn(text))
        elif kind == "assistant":
            content = as_list(data.get("content"))
            if data.get("error") is not None and not content:
                dropped.add("assistant message that ended in an API error")
                continue
            model = _model_of(data)
            step = Step(model=model)
            texts = []
            for item in content:
                if not isinstance(item, dict):
                    continue
                if item.get("type") == "text" and not item.get("ignored") and isinstance(item.get("text"), str):
                    texts.append(item["text"])
                elif item.get("type") == "tool":
                    step.calls.append(_v2_tool(item))
                elif item.get("type") == "reasoning":
                    dropped.add("reasoning block (kept out)")
            step.text = "\n\n".join(t for t in texts if t)
            if step.text.strip() or step.calls:
                session.events.append(step)
                if model:
                    session.models.append(model)
        elif kind == "compaction":
            session.events.append(Compaction(as_str(data.get("summary")) or None))
        elif kind == "synthetic":
            dropped.add("synthetic (injected) message")
        elif kind == "shell":
            dropped.add("user-run shell command")
