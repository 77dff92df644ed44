"""Sample session stores in every layout the importer reads, built from small descriptions.

The tests write their fixtures with these builders; `python -m dataset.sessions.samples DIR`
writes realistic sample stores under DIR, to try the importer without real sessions:

    python -m dataset.sessions.samples /tmp/samples
    python -m dataset.sessions --from opencode --path /tmp/samples/opencode-json --out /tmp/c.jsonl
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
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


# --------------------------------------------------------------------------------------------
# Claude Code: JSONL entries linked by parentUuid
# --------------------------------------------------------------------------------------------


@dataclass
class ClaudeLog:
    """Builds the entries of one Claude Code session file. Each add returns the entry's uuid and
    links it to the previous entry unless `parent` says otherwise (for branches)."""

    session_id: str = "5f0c9a2e-1111-4a4a-9b9b-000000000001"
    cwd: str = "/home/alice/proj"
    sidechain: bool = False
    agent_id: str | None = None
    entries: list[dict] = field(default_factory=list)
    last: str | None = None
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _add(self, entry: dict, parent: str | None | bool = False) -> str:
        n = next(self._n)
        prefix = self.agent_id or self.session_id[:8]
        uuid = f"{prefix}-{n:04d}"
        entry = {"parentUuid": self.last if parent is False else parent, "isSidechain": self.sidechain,
                 "userType": "external", "cwd": self.cwd, "sessionId": self.session_id, "version": "1.0.80",
                 **entry, "uuid": uuid, "timestamp": f"2025-08-01T10:{n // 60:02d}:{n % 60:02d}.000Z"}
        if self.agent_id:
            entry["agentId"] = self.agent_id
        self.entries.append(entry)
        self.last = uuid
        return uuid

    def user(self, content: str | list, parent: str | None | bool = False, **extra: Any) -> str:
        return self._add({"type": "user", "message": {"role": "user", "content": content}, **extra}, parent)

    def assistant(self, *blocks: dict | str, msg_id: str | None = None, model: str = "claude-sonnet-4-20250514",
                  parent: str | None | bool = False, **extra: Any) -> str:
        """One API response: one line per content block, all sharing message.id."""
        msg_id = msg_id or f"msg_{len(self.entries):04d}"
        uuid = ""
        for i, block in enumerate(blocks):
            block = {"type": "text", "text": block} if isinstance(block, str) else block
            message = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [block],
                       "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 5}}
            uuid = self._add({"type": "assistant", "message": message, "requestId": f"req_{msg_id}", **extra},
                             parent if i == 0 else False)
        return uuid

    def results(self, *results: tuple[str, str | list] | tuple[str, str | list, bool]) -> str:
        """Tool results, one user line each: (tool_use_id, content[, is_error])."""
        uuid = ""
        for result in results:
            block = {"type": "tool_result", "tool_use_id": result[0], "content": result[1]}
            if len(result) > 2 and result[2]:
                block["is_error"] = True
            uuid = self.user([block], toolUseResult={"stdout": "the UI's full copy, not what the model saw"})
        return uuid

    def compact(self, summary: str) -> str:
        boundary = self._add({"type": "system", "subtype": "compact_boundary", "content": "Conversation compacted",
                              "logicalParentUuid": self.last, "compactMetadata": {"trigger": "auto", "preTokens": 155000}},
                             None)
        self.user(summary, isCompactSummary=True, isVisibleInTranscriptOnly=True)
        return boundary

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(e) + "\n" for e in self.entries))
        return path


def tool_use(call_id: str, name: str, args: dict) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def thinking(value: str) -> dict:
    return {"type": "thinking", "thinking": value, "signature": "RXF1aXZhbGVudA=="}


# --------------------------------------------------------------------------------------------
# Realistic samples: sessions where the agent behaved well, plus the awkward parts of real logs
# --------------------------------------------------------------------------------------------

SETTINGS = '{"active_cart": "nova", "tts.enabled": true, "tts.voice": "nova", "user": "madcat"}'


def opencode_sessions() -> list[OcSession]:
    """A TTS session, a code-work session (with a subagent) and a session that reads a .env file."""
    tts = OcSession("ses_tts0001", [
        user("Say good morning to me out loud"),
        assistant(step_start(), reasoning("Check the active cart first."),
                  tool("toolu_01", "settings_get", {}, SETTINGS), step_finish()),
        assistant(step_start(), tool("toolu_02", "tts_speak", {"text": "Good morning!", "voice": "nova"},
                                     "spoken (voice nova, 1.2s)"), step_finish()),
        assistant(step_start(), text("Said good morning in Nova's voice."), step_finish("stop")),
    ], title="Good morning")
    code = OcSession("ses_code0002", [
        user("Fix the pagination bug in src/users.ts: list() skips the first item of each page."),
        assistant(step_start(), tool("toolu_11", "settings_get", {}, SETTINGS), step_finish()),
        assistant(step_start(), tool("toolu_12", "index_search", {"query": "users list pagination", "kind": "code"},
                                     "src/users.ts: export async function list(cursor?: string): Promise<User[]>"),
                  step_finish()),
        assistant(step_start(), tool("toolu_13", "memory_recall", {"query": "users pagination"}, "no memories match"),
                  step_finish()),
        assistant(step_start(), tool("toolu_14", "legacy-memory_recall", {"query": "users pagination"},
                                     "legacy.users-module: users.ts exports list, get, create; pagination via cursor."),
                  step_finish()),
        assistant(step_start(), tool("toolu_15", "read", {"filePath": "/home/alice/proj/src/users.ts"},
                                     "00041| const start = cursor ? index + 1 : 1\n00042| return rows.slice(start, start + 20)"),
                  step_finish()),
        assistant(step_start(), text("The first page starts at 1 instead of 0."),
                  tool("toolu_16", "edit", {"filePath": "/home/alice/proj/src/users.ts",
                                            "oldString": "cursor ? index + 1 : 1", "newString": "cursor ? index + 1 : 0"},
                       "Edit applied successfully."),
                  patch("src/users.ts"), step_finish()),
        assistant(step_start(), tool("toolu_17", "bash", {"command": "npm test", "description": "Run the tests"},
                                     "Tests: 42 passed, 42 total"), step_finish()),
        assistant(step_start(), tool("toolu_18", "memory_store", {
            "kind": "win", "title": "users list pagination", "content": "list() started the first page at 1; fixed to 0, tests pass.",
            "tags": ["users", "pagination"]}, "stored win.users-list-pagination"), step_finish()),
        assistant(step_start(), text("Fixed: the first page now starts at index 0, and the tests pass."),
                  step_finish("stop")),
    ], title="Users pagination")
    child = OcSession("ses_child0003", [
        user("Find where list() is called in src/ and report the call sites."),
        assistant(step_start(), tool("toolu_21", "index_search", {"query": "list( call sites users", "kind": "code"},
                                     "src/routes/users.ts:12 list(cursor)"), step_finish()),
        assistant(step_start(), text("One call site: src/routes/users.ts line 12."), step_finish("stop")),
    ], title="Call sites (subagent)", parent_id="ses_code0002")
    env = OcSession("ses_env0004", [
        user("Why does the deploy script fail to authenticate?"),
        assistant(step_start(), tool("toolu_31", "settings_get", {}, SETTINGS), step_finish()),
        assistant(step_start(), tool("toolu_32", "read", {"filePath": "/home/alice/proj/.env"},
                                     "00001| OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123\n"
                                     "00002| DEPLOY_HOST=sin\n00003| DB_PASSWORD=hunter2hunter2"), step_finish()),
        assistant(step_start(), tool("toolu_33", "bash", {"command": "ssh sin 'journalctl -u deploy -n 5'"},
                                     "deploy: 401 Unauthorized (Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcdef)"),
                  step_finish()),
        assistant(step_start(), text("The deploy service on sin gets a 401: its bearer token has expired. "
                                     "Rotate the token in ~/proj/.env and restart the service?"), step_finish("stop")),
    ], title="Deploy auth")
    return [tts, code, child, env]


def claude_log() -> tuple[ClaudeLog, ClaudeLog]:
    """A Claude Code session with an abandoned branch, a compaction and a subagent file."""
    log = ClaudeLog()
    log.user("Say hello out loud, then tell me which voice you used.")
    log.assistant(thinking("Settings first."), "Checking the settings.",
                  tool_use("toolu_a1", "mcp__settings__settings_get", {}))
    log.results(("toolu_a1", SETTINGS))
    log.assistant(tool_use("toolu_a2", "mcp__tts__speak", {"text": "Hello!", "voice": "nova"}))
    log.results(("toolu_a2", [{"type": "text", "text": "spoken (voice nova)"}]))
    fork = log.assistant("Said hello.")
    log.user("Now say it louder")
    log.assistant("Speaking louder is not supported.")
    # The user went back and edited their message: a second branch from the same point, the active one.
    log.user("Which voice did you use?", parent=fork)
    log.assistant("Nova's voice (nova), the active cart's.")
    log.compact("The user asked for a spoken greeting; it was spoken in the nova voice after a settings read.")
    log.user("Now list my memories about the mesh.")
    log.assistant(tool_use("toolu_b1", "mcp__eems__memory_list", {"prefix": "mesh"}))
    log.results(("toolu_b1", "legacy.mesh-setup"))
    log.assistant("One memory: legacy.mesh-setup.")
    agent = ClaudeLog(session_id=log.session_id, sidechain=True, agent_id="a1b2c3d4")
    agent.user("Check that sin answers over the mesh.", parent=None)
    agent.assistant(tool_use("toolu_c1", "Bash", {"command": "ssh sin uptime", "description": "uptime on sin"}))
    agent.results(("toolu_c1", " 10:00:01 up 12 days,  3:02,  1 user,  load average: 0.10, 0.12, 0.09"))
    agent.assistant("sin is up (12 days).")
    return log, agent


def write_all(target: Path) -> dict[str, Path]:
    """Write every layout's realistic sample under `target`; returns the store paths."""
    paths = {
        "opencode-json": write_json_storage(target / "opencode-json", opencode_sessions()),
        "opencode-legacy": write_legacy(target / "opencode-legacy", opencode_sessions()),
        "opencode-sqlite": target / "opencode-sqlite" / "opencode.db",
        "opencode-2x": write_sqlite_2x(target / "opencode-2x" / "opencode.db", opencode_sessions()),
    }
    write_sqlite(paths["opencode-sqlite"], opencode_sessions()).close()
    log, agent = claude_log()
    project = target / "claude" / "-home-alice-proj"
    log.write(project / f"{log.session_id}.jsonl")
    agent.write(project / log.session_id / "subagents" / "agent-a1b2c3d4.jsonl")
    paths["claude"] = target / "claude"
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dataset.sessions.samples DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    if target.exists() and any(target.iterdir()):
        print(f"samples: {target} is not empty; give a new or empty directory", file=sys.stderr)
        return 2
    for name, path in write_all(target).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
