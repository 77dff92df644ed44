"""Read Claude Code session logs (`~/.claude/projects/<cwd-slug>/<session>.jsonl`), read-only,
into the intermediate form (`ir.Session`).

Each line is one entry; `parentUuid` links entries into a tree. The active branch is the path
from the most recent leaf back to the root; a `compact_boundary` system entry starts a new root
whose `logicalParentUuid` points at the last entry before it, and the following `isCompactSummary`
user entry holds the summary. An assistant API response is written as one line per content
block: lines sharing `message.id` are one model step. Subagent entries (`isSidechain`, in the
session file or in their own `agent-*.jsonl` file) become sessions of their own.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from dataset.sessions.ir import (
    COMPLETED,
    ERROR,
    INTERRUPTED,
    Compaction,
    Session,
    Step,
    ToolCall,
    UserTurn,
    as_dict,
    as_list,
    as_str,
)
from dataset.sessions.problems import Problems
from dataset.sessions.readonly import StoreError, read_bytes

SOURCE = "claude-code"
INTERRUPT_MARKERS = ("[Request interrupted by user]", "[Request interrupted by user for tool use]")
REJECTED_PREFIXES = ("The user doesn't want to proceed with this tool use", "The user doesn't want to take this action")
LOCAL_COMMAND_TAGS = ("<command-name>", "<command-message>", "<local-command-stdout>", "<local-command-stderr>")


def default_projects_dir() -> Path:
    base = os.environ.get("CLAUDE_CONFIG_DIR") or str(Path.home() / ".claude")
    return Path(base) / "projects"


def _parent(entry: dict) -> str | None:
    parent = as_str(entry.get("parentUuid"))
    if parent is None and entry.get("type") == "system" and entry.get("subtype") == "compact_boundary":
        parent = as_str(entry.get("logicalParentUuid"))
    return parent


def _read_lines(path: Path, root: Path, problems: Problems) -> list[dict]:
    rel = _rel(path, root)
    try:
        raw = read_bytes(path)
    except StoreError as exc:
        problems.add(rel, f"{exc}; file skipped")
        return []
    lines = raw.decode("utf-8", errors="replace").splitlines()
    entries: list[dict] = []
    bad: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            bad.append(number)
            continue
        if isinstance(obj, dict):
            entries.append(obj)
        else:
            bad.append(number)
    if bad:
        if bad == [len(lines)] and entries:
            problems.add(rel, f"last line ({bad[0]}) is truncated; skipped it")
        elif not entries:
            problems.add(rel, "no JSON lines (not a Claude Code session log); file skipped")
        else:
            problems.add(rel, f"{len(bad)} line(s) are not JSON objects (first at line {bad[0]}); skipped them")
    return entries


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) if path != root else path.name
    except ValueError:
        return str(path)


def _groups(entries: list[dict]) -> list[tuple[str | None, list[dict]]]:
    """Split a file's entries into the main conversation and one group per subagent."""
    main = [e for e in entries if not e.get("isSidechain")]
    side = [e for e in entries if e.get("isSidechain")]
    groups: list[tuple[str | None, list[dict]]] = []
    if main:
        groups.append((None, main))
    by_agent: dict[str, list[dict]] = {}
    loose: list[dict] = []
    for e in side:
        agent = as_str(e.get("agentId"))
        (by_agent.setdefault(agent, []) if agent else loose).append(e)
    for agent, group in by_agent.items():
        groups.append((agent, group))
    # Sidechains without an agentId: one per root of their parent links.
    uuids = {as_str(e.get("uuid")): e for e in loose if as_str(e.get("uuid"))}
    root_of: dict[str, list[dict]] = {}
    for e in loose:
        cur, seen = e, set()
        while (p := _parent(cur)) in uuids and p not in seen:
            seen.add(p)
            cur = uuids[p]
        root_of.setdefault(as_str(cur.get("uuid")) or str(id(cur)), []).append(e)
    for n, group in enumerate(root_of.values(), 1):
        groups.append((f"sidechain-{n}", group))
    return groups


def _active_path(entries: list[dict], session: Session) -> list[dict]:
    by_uuid: dict[str, dict] = {}
    order: dict[str, int] = {}
    for i, e in enumerate(entries):
        uuid = as_str(e.get("uuid"))
        if uuid and uuid not in by_uuid:
            by_uuid[uuid], order[uuid] = e, i
    has_child = {p for e in by_uuid.values() if (p := _parent(e))}
    leaves = [u for u, e in by_uuid.items() if u not in has_child and e.get("type") in ("user", "assistant", "system")]
    if not leaves:
        return []
    leaf = max(leaves, key=lambda u: (str(by_uuid[u].get("timestamp") or ""), order[u]))
    path: list[dict] = []
    seen: set[str] = set()
    cur: str | None = leaf
    while cur is not None and cur in by_uuid and cur not in seen:
        seen.add(cur)
        path.append(by_uuid[cur])
        cur = _parent(by_uuid[cur])
    if cur is not None and cur not in seen:
        session.dropped.add("history before a missing parent entry")
    off_path = sum(1 for u, e in by_uuid.items() if u not in seen and e.get("type") in ("user", "assistant"))
    session.dropped.add("entry on an abandoned branch", off_path)
    path.reverse()
    return path


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in as_list(content) if isinstance(b, dict)]


def _placeholder(block: dict) -> str:
    kind = "image" if block.get("type") == "image" else "file"
    name = as_str(block.get("title")) or as_str(block.get("name")) or as_str(block.get("filename"))
    return f"[{kind}: {Path(name).name}]" if name else f"[{kind}]"


def _result(call: ToolCall, block: dict) -> None:
    texts, files = [], []
    for item in _blocks(block.get("content")):
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif item.get("type") in ("image", "document"):
            files.append(_placeholder(item))
    output = "\n".join(texts)
    if any(m in output for m in INTERRUPT_MARKERS) or output.startswith(REJECTED_PREFIXES):
        call.status = INTERRUPTED
    else:
        call.status = ERROR if block.get("is_error") is True else COMPLETED
        call.output, call.attachments = output, files


def _events(session: Session, path: list[dict]) -> None:
    dropped = session.dropped
    step: Step | None = None
    step_id: str | None = None
    calls: dict[str, ToolCall] = {}
    answered: set[str] = set()
    pending: Compaction | None = None
    for entry in path:
        kind = entry.get("type")
        message = as_dict(entry.get("message"))
        if kind == "system":
            if entry.get("subtype") == "compact_boundary":
                pending = Compaction()
                session.events.append(pending)
                step = None
            continue
        if kind == "user":
            if entry.get("isCompactSummary"):
                summary = "\n".join(b.get("text", "") for b in _blocks(message.get("content")) if b.get("type") == "text")
                if pending is not None:
                    pending.summary = summary or None
                else:
                    session.events.append(Compaction(summary or None))
                pending = None
                continue
            if entry.get("isMeta"):
                dropped.add("injected meta line (isMeta)")
                continue
            texts: list[str] = []
            for block in _blocks(message.get("content")):
                btype = block.get("type")
                if btype == "tool_result":
                    call = calls.get(str(block.get("tool_use_id")))
                    if call is None:
                        dropped.add("tool result without its call")
                    elif call.call_id in answered:
                        dropped.add("second result for one call")
                    else:
                        answered.add(call.call_id)
                        _result(call, block)
                elif btype == "text" and isinstance(block.get("text"), str):
                    text = block["text"]
                    if text.strip() in INTERRUPT_MARKERS:
                        dropped.add("interruption marker")
                    elif text.lstrip().startswith(LOCAL_COMMAND_TAGS):
                        dropped.add("local command line")
                    elif text.strip():
                        texts.append(text)
                elif btype in ("image", "document"):
                    texts.append(_placeholder(block))
            if texts:
                session.events.append(UserTurn("\n\n".join(texts)))
                step, pending = None, None
            continue
        if kind == "assistant":
            model = as_str(message.get("model"))
            if entry.get("isApiErrorMessage") or model == "<synthetic>":
                dropped.add("synthetic assistant message (API error or no response)")
                continue
            msg_id = as_str(message.get("id")) or as_str(entry.get("uuid"))
            if step is None or msg_id != step_id:
                step, step_id = Step(model=model), msg_id
                session.events.append(step)
                if model:
                    session.models.append(model)
            for block in _blocks(message.get("content")):
                btype = block.get("type")
                if btype == "text" and isinstance(block.get("text"), str) and block["text"].strip():
                    step.text = f"{step.text}\n\n{block['text']}" if step.text else block["text"]
                elif btype == "tool_use":
                    call = ToolCall(str(block.get("id") or ""), as_str(block.get("name")) or "unknown", block.get("input"))
                    step.calls.append(call)
                    calls.setdefault(call.call_id, call)
                elif btype in ("thinking", "redacted_thinking"):
                    dropped.add("reasoning block (kept out)")
                elif btype:
                    dropped.add(f"{btype} block")


def read_file(path: Path, root: Path, problems: Problems) -> list[Session]:
    entries = _read_lines(path, root, problems)
    if not entries:
        return []
    ids = Counter(s for e in entries if (s := as_str(e.get("sessionId"))))
    file_session = ids.most_common(1)[0][0] if ids else path.stem
    origin = _rel(path, root)
    sessions: list[Session] = []
    for agent, group in _groups(entries):
        if agent is None:
            session = Session(SOURCE, file_session, origin)
        else:
            session = Session(SOURCE, f"{file_session}:{agent}", origin, parent_id=file_session)
        titles = [as_str(e.get("summary")) for e in entries if e.get("type") == "summary"]
        session.title = next((t for t in titles if t), None) if agent is None else None
        _events(session, _active_path(group, session))
        if session.events:
            sessions.append(session)
    return sessions


def read_store(path: Path, problems: Problems) -> list[Session]:
    if path.is_file():
        return read_file(path, path.parent, problems)
    files = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
    sessions: list[Session] = []
    for file in files:
        sessions.extend(read_file(file, path, problems))
    return sessions
