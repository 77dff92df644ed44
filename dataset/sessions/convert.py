"""Turn an intermediate-form session into transcripts (the world sheet's format).

Rules, each applied here:
- one assistant message per model step, followed by one tool message per call, in call order;
- interrupted, aborted and unanswered calls, and calls opencode repaired into `invalid`, are
  dropped (a step left empty goes too), so every call keeps exactly one result;
- the session is split at compaction boundaries; a later part opens with the summary the model
  saw in place of the history;
- a transcript starts with a user message and ends with an assistant answer;
- call ids are re-keyed call_1, call_2, ... per transcript;
- tool names and argument keys are mapped onto our surface (unmapped ones kept and flagged);
- tool outputs are capped the way opencode caps them (lines and bytes), with a marker;
- attachments become placeholders such as `[image: shot.png]`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dataset.sessions.ir import INTERRUPTED, INVALID, Compaction, Session, Step, UserTurn
from dataset.sessions.toolmap import ToolMap

SUMMARY_PREFIX = "[Summary of the conversation so far]\n"


@dataclass(frozen=True)
class ConvertOptions:
    max_output_lines: int = 2000  # opencode's default cap on what a tool result shows the model
    max_output_bytes: int = 50 * 1024


@dataclass
class Built:
    """One transcript cut from a session, before privacy checks and grading."""

    transcript: dict
    dropped: Counter = field(default_factory=Counter)
    unmapped_tools: Counter = field(default_factory=Counter)
    unmapped_args: set[str] = field(default_factory=set)


def cap_output(text: str, opts: ConvertOptions) -> str:
    """Cut a tool output to the configured lines and bytes, ending with a marker saying how much went."""
    lines = text.split("\n")
    if len(lines) > opts.max_output_lines:
        extra = len(lines) - opts.max_output_lines
        text = "\n".join(lines[: opts.max_output_lines]) + f"\n[output truncated: {extra} more lines]"
    raw = text.encode("utf-8")
    if len(raw) > opts.max_output_bytes:
        kept = raw[: opts.max_output_bytes].decode("utf-8", errors="ignore")
        text = kept + f"\n[output truncated: {len(raw) - len(kept.encode('utf-8'))} more bytes]"
    return text


def _arguments(args: Any) -> str:
    if args is None:
        return "{}"
    if isinstance(args, str):  # already a JSON string (or a raw, unparsed one)
        try:
            json.loads(args)
            return args
        except ValueError:
            return json.dumps({"input": args}, ensure_ascii=False)
    return json.dumps(args, ensure_ascii=False)


def _segments(session: Session) -> list[list]:
    segments: list[list] = [[]]
    for event in session.events:
        if isinstance(event, Compaction):
            segments.append([UserTurn(SUMMARY_PREFIX + event.summary)] if event.summary else [])
        else:
            segments[-1].append(event)
    return segments


def _build(events: list, tools: ToolMap, opts: ConvertOptions) -> Built:
    built = Built({"messages": []})
    messages: list[dict] = built.transcript["messages"]
    counter = 0
    for event in events:
        if isinstance(event, UserTurn):
            if messages and messages[-1]["role"] == "user":
                messages[-1]["content"] += "\n\n" + event.text
            else:
                messages.append({"role": "user", "content": event.text})
            continue
        if not isinstance(event, Step):
            continue
        calls = []
        for call in event.calls:
            if call.status == INVALID:
                built.dropped["repaired `invalid` call"] += 1
            elif call.status == INTERRUPTED or not call.answered:
                built.dropped["interrupted, aborted or unanswered call"] += 1
            else:
                calls.append(call)
        if not event.text.strip() and not calls:
            built.dropped["step left empty"] += 1
            continue
        tool_calls, results = [], []
        for call in calls:
            counter += 1
            call_id = f"pending_{counter}"  # numbered for good by _rekey
            mapped = tools.map(call.name, call.args)
            if not mapped.mapped:
                built.unmapped_tools[call.name] += 1
            built.unmapped_args.update(mapped.unmapped_args)
            tool_calls.append({"id": call_id, "type": "function",
                               "function": {"name": mapped.name, "arguments": _arguments(mapped.args)}})
            content = cap_output(call.output, opts)
            if call.attachments:
                content = (content + "\n" if content else "") + " ".join(call.attachments)
            results.append({"role": "tool", "tool_call_id": call_id, "content": content,
                            "is_error": call.status != "completed"})
        previous = messages[-1] if messages else None
        if previous and previous["role"] == "assistant" and not previous.get("tool_calls"):
            # Two model steps with nothing between them (a dropped message): one turn.
            previous["content"] = "\n\n".join(t for t in (previous["content"], event.text) if t)
            assistant = previous
        else:
            assistant = {"role": "assistant", "content": event.text}
            messages.append(assistant)
        if tool_calls:
            assistant["tool_calls"] = tool_calls
        messages.extend(results)
    while messages and messages[0]["role"] != "user":
        messages.pop(0)
        built.dropped["turn before the first user message"] += 1
    # A transcript ends with an answer: drop a trailing question, and a last step whose calls
    # were never followed by another model step (the session ended or broke off there).
    while messages and (messages[-1]["role"] != "assistant" or messages[-1].get("tool_calls")):
        gone = messages.pop()
        if gone["role"] == "user":
            built.dropped["trailing user message without an answer"] += 1
        elif gone["role"] == "assistant":
            built.dropped["last step with calls but no answer after them"] += 1
    _rekey(messages)
    return built


def _rekey(messages: list[dict]) -> None:
    """Number the calls call_1, call_2, ... in order (after any trimming)."""
    new: dict[str, str] = {}
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            new[call["id"]] = call["id"] = f"call_{len(new) + 1}"
        if msg["role"] == "tool":
            msg["tool_call_id"] = new[msg["tool_call_id"]]


def convert(session: Session, tools: ToolMap, opts: ConvertOptions | None = None) -> tuple[list[Built], Counter]:
    """Transcripts of one session (one per compaction segment), and what was dropped whole."""
    opts = opts or ConvertOptions()
    segments = _segments(session)
    built_all: list[Built] = []
    skipped: Counter = Counter()
    for index, events in enumerate(segments):
        built = _build(events, tools, opts)
        roles = {m["role"] for m in built.transcript["messages"]}
        if not {"user", "assistant"} <= roles:
            skipped["segment without a user/assistant exchange"] += 1
            continue
        meta: dict[str, Any] = {"source": session.source, "session_id": session.session_id}
        if len(segments) > 1:
            meta["segment"] = index + 1
            meta["segments"] = len(segments)
        meta["model"] = session.model
        if session.parent_id:
            meta["parent_session_id"] = session.parent_id
        if session.title:
            meta["title"] = session.title
        meta["origin"] = session.origin
        built.transcript["meta"] = meta
        built_all.append(built)
    return built_all, skipped
