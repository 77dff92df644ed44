"""Builders of opencode session stores (JSON storage, legacy, SQLite, 2.x) for the samples and the tests."""

from __future__ import annotations

import itertools
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL = ("anthropic", "claude-sonnet-4")

# --------------------------------------------------------------------------------------------
# opencode: messages and parts in the message/part format
# --------------------------------------------------------------------------------------------


def text(value: str, **extra: Any) -> dict:
    return {"type": "text", "text": value, **extra}


def reasoning(value: str) -> dict:
    return {"type": "reasoning", "text": value, "metadata": {"anthropic": {"signature": "c2lnbmF0dXJl"}},
            "time": {"start": 1, "end": 2}}


def step_start() -> dict:
    return {"type": "step-start", "snapshot": "4b825dc642cb6eb9a060e54bf8d69288fbee4904"}


def step_finish(reason: str = "tool-calls") -> dict:
    return {"type": "step-finish", "reason": reason, "snapshot": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "cost": 0.01, "tokens": {"input": 1200, "output": 80, "reasoning": 0, "cache": {"read": 0, "write": 0}}}


def patch(*files: str) -> dict:
    return {"type": "patch", "hash": "9f2c1a", "files": list(files)}


def file_part(filename: str, mime: str = "image/png") -> dict:
    return {"type": "file", "mime": mime, "filename": filename, "url": "data:image/png;base64,iVBORw0KGgo="}


def compaction() -> dict:
    return {"type": "compaction", "auto": True}


def tool(call_id: str, name: str, args: dict, output: str | None = "", *, status: str = "completed",
         error: str | None = None, **state: Any) -> dict:
    """A tool part. status: completed (with output), error (with error), pending or running."""
    body: dict[str, Any] = {"status": status, "input": args}
    if status == "completed":
        body |= {"output": output, "title": name, "metadata": {}, "time": {"start": 1, "end": 2}}
    elif status == "error":
        body |= {"error": error or "failed", "time": {"start": 1, "end": 2}}
    elif status == "running":
        body |= {"time": {"start": 1}}
    else:
        body |= {"raw": json.dumps(args)}
    body |= state
    return {"type": "tool", "callID": call_id, "tool": name, "state": body}


@dataclass
class OcMessage:
    info: dict
    parts: list[dict] = field(default_factory=list)


def user(*parts: dict | str) -> OcMessage:
    return OcMessage({"role": "user", "time": {"created": 0}, "agent": "build",
                      "model": {"providerID": MODEL[0], "modelID": MODEL[1]}},
                     [text(p) if isinstance(p, str) else p for p in parts])


def assistant(*parts: dict | str, model: tuple[str, str] = MODEL, error: dict | None = None,
              summary: bool | None = None) -> OcMessage:
    info: dict[str, Any] = {"role": "assistant", "time": {"created": 0, "completed": 1}, "modelID": model[1],
                            "providerID": model[0], "mode": "build", "agent": "build",
                            "path": {"cwd": "/home/alice/proj", "root": "/home/alice/proj"}, "cost": 0.01,
                            "tokens": {"input": 1200, "output": 80, "reasoning": 0, "cache": {"read": 0, "write": 0}}}
    if error is not None:
        info["error"] = error
    if summary is not None:
        info["summary"] = summary
    return OcMessage(info, [text(p) if isinstance(p, str) else p for p in parts])


@dataclass
class OcSession:
    id: str
    messages: list[OcMessage]
    title: str = "sample session"
    parent_id: str | None = None
    revert: dict | None = None  # {"messageID": ..., "partID"?: ...}; use ids from assign_ids
    project: str = "prj_sample"

    def assign_ids(self) -> OcSession:
        """Give messages and parts ascending ids (msg_<ses>_0001, prt_<ses>_0001_01) if they lack one."""
        stem = self.id.removeprefix("ses_")
        for i, msg in enumerate(self.messages, 1):
            msg.info.setdefault("id", f"msg_{stem}_{i:04d}")
            msg.info["sessionID"] = self.id
            if msg.info["role"] == "assistant":
                previous = [m for m in self.messages[:i - 1] if m.info["role"] == "user"]
                msg.info.setdefault("parentID", previous[-1].info["id"] if previous else msg.info["id"])
            for j, part in enumerate(msg.parts, 1):
                part.setdefault("id", f"prt_{stem}_{i:04d}_{j:02d}")
                part["messageID"], part["sessionID"] = msg.info["id"], self.id
        return self

    def info(self) -> dict:
        info: dict[str, Any] = {"id": self.id, "projectID": self.project, "directory": "/home/alice/proj",
                                "title": self.title, "version": "0.15.0", "time": {"created": 0, "updated": 1}}
        if self.parent_id:
            info["parentID"] = self.parent_id
        if self.revert:
            info["revert"] = self.revert
        return info


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def write_json_storage(data_dir: Path, sessions: list[OcSession]) -> Path:
    """storage/session/<project>/ses_*.json, storage/message/<ses>/msg_*.json, storage/part/<msg>/prt_*.json"""
    storage = data_dir / "storage"
    for session in sessions:
        session.assign_ids()
        _dump(storage / "session" / session.project / f"{session.id}.json", session.info())
        for msg in session.messages:
            _dump(storage / "message" / session.id / f"{msg.info['id']}.json", msg.info)
            for part in msg.parts:
                _dump(storage / "part" / msg.info["id"] / f"{part['id']}.json", part)
    (storage / "migration").write_text("2")
    return data_dir


def write_legacy(data_dir: Path, sessions: list[OcSession], *, inline: bool = False) -> Path:
    """project/<p>/storage/session/{info,message,part}; inline=True writes the first message format
    (parts inside the message, `tool-invocation` parts, a metadata block)."""
    for session in sessions:
        session.assign_ids()
        base = data_dir / "project" / session.project / "storage" / "session"
        _dump(base / "info" / f"{session.id}.json", session.info())
        for msg in session.messages:
            if inline:
                _dump(base / "message" / session.id / f"{msg.info['id']}.json", _inline(session, msg))
                continue
            _dump(base / "message" / session.id / f"{msg.info['id']}.json", msg.info)
            for part in msg.parts:
                _dump(base / "part" / session.id / msg.info["id"] / f"{part['id']}.json", part)
    return data_dir


def _inline(session: OcSession, msg: OcMessage) -> dict:
    parts = []
    for part in msg.parts:
        if part["type"] == "tool":
            state = part["state"]
            parts.append({"type": "tool-invocation", "toolInvocation": {
                "state": "result" if state["status"] == "completed" else "call", "toolCallId": part["callID"],
                "toolName": part["tool"], "args": state["input"], "result": state.get("output")}})
        elif part["type"] == "file":
            parts.append({"type": "file", "mediaType": part["mime"], "filename": part.get("filename"), "url": part["url"]})
        elif part["type"] in ("text", "reasoning", "step-start"):
            parts.append({k: v for k, v in part.items() if k in ("type", "text")})
    meta: dict[str, Any] = {"time": {"created": 0}, "sessionID": session.id, "tool": {}}
    if msg.info["role"] == "assistant":
        meta["assistant"] = {"system": [], "modelID": msg.info["modelID"], "providerID": msg.info["providerID"],
                             "path": msg.info["path"], "cost": 0, "tokens": msg.info["tokens"]}
    if msg.info.get("error"):
        meta["error"] = msg.info["error"]
    return {"id": msg.info["id"], "role": msg.info["role"], "parts": parts, "metadata": meta}


SCHEMA = """
CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT NOT NULL);
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, parent_id TEXT, slug TEXT NOT NULL,
    directory TEXT NOT NULL, title TEXT NOT NULL, version TEXT NOT NULL, revert TEXT,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER NOT NULL,
    time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL,
    time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE session_message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, type TEXT NOT NULL,
    seq INTEGER NOT NULL, time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
CREATE INDEX part_message_id_id_idx ON part (message_id, id);
CREATE INDEX part_session_idx ON part (session_id);
CREATE INDEX session_message_session_idx ON session_message (session_id);
"""


def _sqlite(db: Path, wal: bool) -> sqlite3.Connection:
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def _session_row(conn: sqlite3.Connection, session: OcSession) -> None:
    conn.execute("INSERT OR IGNORE INTO project VALUES (?, ?)", (session.project, "/home/alice/proj"))
    conn.execute("INSERT INTO session VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
        session.id, session.project, session.parent_id, session.id, "/home/alice/proj", session.title, "1.0.0",
        json.dumps(session.revert) if session.revert else None, 0, 0))


def write_sqlite(db: Path, sessions: list[OcSession], *, wal: bool = False) -> sqlite3.Connection:
    """opencode.db with session / message / part rows (data without the id columns).
    Returns the open connection (close it, or keep it open to leave a write-ahead log behind)."""
    conn = _sqlite(db, wal)
    clock = itertools.count(1_700_000_000_000)
    for session in sessions:
        session.assign_ids()
        _session_row(conn, session)
        for msg in session.messages:
            data = {k: v for k, v in msg.info.items() if k not in ("id", "sessionID")}
            conn.execute("INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                         (msg.info["id"], session.id, next(clock), 0, json.dumps(data)))
            for part in msg.parts:
                data = {k: v for k, v in part.items() if k not in ("id", "sessionID", "messageID")}
                conn.execute("INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
                             (part["id"], msg.info["id"], session.id, 0, 0, json.dumps(data)))
    conn.commit()
    return conn


def to_2x_rows(session: OcSession) -> list[tuple[str, str, dict]]:
    """The same conversation as 2.x session_message rows (id, type, data): one assistant row per step."""
    session.assign_ids()
    rows: list[tuple[str, str, dict]] = []
    pending_compaction = False
    for msg in session.messages:
        mid = msg.info["id"]
        if msg.info["role"] == "user":
            if any(p["type"] == "compaction" for p in msg.parts):
                pending_compaction = True
                continue
            texts = [p["text"] for p in msg.parts if p["type"] == "text"]
            files = [{"mime": p["mime"], "filename": p["filename"]} for p in msg.parts if p["type"] == "file"]
            rows.append((mid, "user", {"text": "\n".join(texts), "files": files, "time": {"created": 0}}))
            continue
        if pending_compaction and msg.info.get("summary"):
            summary = "\n".join(p["text"] for p in msg.parts if p["type"] == "text")
            rows.append((mid, "compaction", {"reason": "auto", "summary": summary, "time": {"created": 0}}))
            pending_compaction = False
            continue
        steps: list[list[dict]] = [[]]
        for part in msg.parts:
            if part["type"] == "step-start" and steps[-1]:
                steps.append([])
            steps[-1].append(part)
        for n, parts in enumerate(steps):
            content: list[dict] = []
            for part in parts:
                if part["type"] == "text":
                    content.append({"type": "text", "text": part["text"]})
                elif part["type"] == "reasoning":
                    content.append({"type": "reasoning", "id": part["id"], "text": part["text"]})
                elif part["type"] == "tool":
                    state = part["state"]
                    out: dict[str, Any] = {"status": state["status"], "input": state["input"], "structured": {},
                                           "content": []}
                    if state["status"] == "completed":
                        out["content"] = [{"type": "text", "text": state["output"]}]
                    elif state["status"] == "error":
                        out["error"] = {"type": "unknown", "message": state["error"]}
                    elif state["status"] == "pending":
                        out = {"status": "pending", "input": json.dumps(state["input"])}
                    content.append({"type": "tool", "id": part["callID"], "name": part["tool"], "state": out,
                                    "time": {"created": 0}})
            data: dict[str, Any] = {"agent": "build", "content": content, "time": {"created": 0},
                                    "model": {"id": msg.info["modelID"], "providerID": msg.info["providerID"]}}
            if msg.info.get("error"):
                data["error"] = msg.info["error"]
            rows.append((mid if n == 0 else f"{mid}_{n}", "assistant", data))
    return rows


def write_sqlite_2x(db: Path, sessions: list[OcSession], *, also_v1: bool = False) -> Path:
    """opencode.db with 2.x session_message rows (and, with also_v1, the older rows as well)."""
    conn = write_sqlite(db, sessions) if also_v1 else _sqlite(db, False)
    for session in sessions:
        if not also_v1:
            session.assign_ids()
            _session_row(conn, session)
        for seq, (mid, kind, data) in enumerate(to_2x_rows(session)):
            conn.execute("INSERT INTO session_message VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (mid, session.id, kind, seq, 0, 0, json.dumps(data)))
    conn.commit()
    conn.close()
    return db
