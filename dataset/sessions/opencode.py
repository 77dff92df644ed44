"""Read opencode session stores, read-only, into the intermediate form (`ir.Session`).

Layouts (detected per data dir, one generation per database, never two for the same data):
- SQLite `opencode*.db`: tables session / message(id, session_id, time_created, data) /
  part(id, message_id, session_id, data), or the 2.x table session_message(id, session_id, type,
  seq, data). A database with 2.x rows is read from session_message only.
- JSON storage: storage/session/<project>/ses_*.json, storage/message/<ses>/msg_*.json,
  storage/part/<msg>/prt_*.json. Ignored when a database has rows (left behind by a migration).
- Legacy per-project storage: project/<p>/storage/session/{info,message,part}, whose messages
  may carry their parts inline (the first message format). Read only when nothing newer exists.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset.sessions.ir import (
    Session,
    as_dict,
    as_str,
)
from dataset.sessions.opencode_convert import (
    Message,
    apply_revert,
    events_from_messages,
    events_from_v2_rows,
    upgrade_inline_message,
)
from dataset.sessions.problems import Problems
from dataset.sessions.readonly import (
    StoreError,
    open_sqlite_readonly,
    read_json,
    table_columns,
    table_has_rows,
)

SOURCE = "opencode"


@dataclass
class Layout:
    """What was found in a data dir, and which generation is read."""

    name: str  # sqlite-2.x | sqlite | json | legacy | none
    notes: list[str] = field(default_factory=list)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opencode"


# ---------------------------------------------------------------------------------------------
# Layout readers
# ---------------------------------------------------------------------------------------------


def _loads(raw: Any) -> Any:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return None
    return json.loads(raw)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _subdirs(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_dir())
    except OSError:
        return []


def _sorted_json(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())
    except OSError:
        return []


def _read_obj(path: Path, root: Path, problems: Problems, what: str) -> dict | None:
    try:
        data = read_json(path)
    except StoreError as exc:
        problems.add(_rel(path, root), f"{exc}; {what} skipped")
        return None
    if not isinstance(data, dict):
        problems.add(_rel(path, root), f"expected a JSON object, got {type(data).__name__}; {what} skipped")
        return None
    return data


def _json_session(
    root: Path, info: dict, origin: str, message_files: list[Path], part_dir_of, problems: Problems
) -> Session:
    session_id = str(info.get("id") or "")
    session = Session(SOURCE, session_id, origin, parent_id=as_str(info.get("parentID")), title=as_str(info.get("title")))
    messages: list[Message] = []
    for path in message_files:
        data = _read_obj(path, root, problems, "message")
        if data is None:
            continue
        if isinstance(data.get("parts"), list) and "metadata" in data:
            messages.append(upgrade_inline_message(data))
            continue
        data.setdefault("id", path.stem)
        msg = Message(data)
        for part_path in _sorted_json(part_dir_of(msg.id)):
            part = _read_obj(part_path, root, problems, "part")
            if part is not None:
                part.setdefault("id", part_path.stem)
                msg.parts.append(part)
        messages.append(msg)
    messages.sort(key=lambda m: m.id)
    messages = apply_revert(messages, info.get("revert"), session.dropped)
    events_from_messages(session, messages)
    return session


def read_json_storage(root: Path, storage: Path, problems: Problems) -> Iterator[Session]:
    infos: dict[str, tuple[dict, Path]] = {}
    for project in _subdirs(storage / "session"):
        for path in _sorted_json(project):
            info = _read_obj(path, root, problems, "session")
            if info is not None:
                infos.setdefault(str(info.get("id") or path.stem), (info, path))
    message_root = storage / "message"
    for session_id in sorted(infos):
        info, path = infos[session_id]
        info.setdefault("id", session_id)
        yield _json_session(
            root, info, _rel(path, root), _sorted_json(message_root / session_id),
            lambda mid: storage / "part" / mid, problems,
        )


def read_legacy(root: Path, problems: Problems) -> Iterator[Session]:
    for project in _subdirs(root / "project"):
        base = project / "storage" / "session"
        info_dir = base / "info"
        if not info_dir.is_dir():
            continue
        for path in _sorted_json(info_dir):
            info = _read_obj(path, root, problems, "session")
            if info is None:
                continue
            session_id = str(info.setdefault("id", path.stem))
            yield _json_session(
                root, info, _rel(path, root), _sorted_json(base / "message" / session_id),
                lambda mid, sid=session_id, base=base: base / "part" / sid / mid, problems,
            )


def _session_rows(conn: sqlite3.Connection, source_table: str) -> list[dict]:
    cols = table_columns(conn, "session")
    if cols and "id" in cols:
        wanted = [c for c in ("id", "parent_id", "title", "revert") if c in cols]
        rows = conn.execute(f"SELECT {', '.join(wanted)} FROM session ORDER BY id").fetchall()
        return [dict(zip(wanted, r, strict=True)) for r in rows]
    rows = conn.execute(f"SELECT DISTINCT session_id FROM {source_table} ORDER BY session_id").fetchall()
    return [{"id": r[0]} for r in rows]


def _sqlite_sessions(db: Path, root: Path, conn: sqlite3.Connection, two_x: bool, problems: Problems) -> Iterator[Session]:
    origin = _rel(db, root)
    for row in _session_rows(conn, "session_message" if two_x else "message"):
        try:
            yield _sqlite_session(conn, row, origin, two_x, problems)
        except sqlite3.DatabaseError as exc:  # a damaged page costs this session, not the database
            problems.add(f"{origin} session {row.get('id')}", f"SQLite error ({exc}); session skipped")


def _sqlite_session(conn: sqlite3.Connection, row: dict, origin: str, two_x: bool, problems: Problems) -> Session:
    session_id = str(row["id"])
    session = Session(SOURCE, session_id, origin, parent_id=as_str(row.get("parent_id")), title=as_str(row.get("title")))
    try:
        revert = _loads(row.get("revert")) if row.get("revert") else None
    except (json.JSONDecodeError, RecursionError):
        problems.add(f"{origin} session {session_id}", "revert is not valid JSON; ignored")
        revert = None
    if two_x:
        cols = table_columns(conn, "session_message")
        order = ", ".join(c for c in ("seq", "time_created", "id") if c in cols)
        rows: list[tuple[str, str, dict]] = []
        for mid, kind, raw in conn.execute(
            f"SELECT id, type, data FROM session_message WHERE session_id = ? ORDER BY {order}", (session_id,)
        ):
            data = _row_json(raw, f"{origin} session_message {mid}", problems)
            if data is not None:
                rows.append((str(mid), str(kind), data))
        cut = as_str(as_dict(revert).get("messageID"))
        ids = [r[0] for r in rows]
        if cut in ids:
            session.dropped.add("message after a revert point", len(ids) - ids.index(cut))
            rows = rows[: ids.index(cut)]
        events_from_v2_rows(session, [(kind, data) for _, kind, data in rows])
    else:
        messages: dict[str, Message] = {}
        for mid, raw in conn.execute(
            "SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id", (session_id,)
        ):
            data = _row_json(raw, f"{origin} message {mid}", problems)
            if data is not None:
                messages[str(mid)] = Message({**data, "id": str(mid)})
        for pid, mid, raw in conn.execute(
            "SELECT id, message_id, data FROM part WHERE session_id = ? ORDER BY message_id, id", (session_id,)
        ):
            data = _row_json(raw, f"{origin} part {pid}", problems)
            if data is not None and str(mid) in messages:
                messages[str(mid)].parts.append({**data, "id": str(pid)})
        ordered = apply_revert(list(messages.values()), revert, session.dropped)
        events_from_messages(session, ordered)
    return session


def _row_json(raw: Any, where: str, problems: Problems) -> dict | None:
    try:
        data = _loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        problems.add(where, f"data is not valid JSON ({getattr(exc, 'msg', exc)}); skipped")
        return None
    if not isinstance(data, dict):
        problems.add(where, "data is not a JSON object; skipped")
        return None
    return data


def read_database(db: Path, root: Path, problems: Problems, layout: Layout) -> list[Session] | None:
    """Sessions of one database, or None when it has no rows (or cannot be read)."""
    try:
        with open_sqlite_readonly(db) as (conn, via_copy):
            two_x = table_has_rows(conn, "session_message")
            if not two_x and not table_has_rows(conn, "message"):
                layout.notes.append(f"{_rel(db, root)}: no messages")
                return None
            if via_copy:
                layout.notes.append(f"{_rel(db, root)}: has a write-ahead log; read from a private copy")
            if two_x and table_has_rows(conn, "message"):
                layout.notes.append(f"{_rel(db, root)}: read the 2.x session_message table; message/part rows ignored")
            layout.name = "sqlite-2.x" if two_x else "sqlite"
            return list(_sqlite_sessions(db, root, conn, two_x, problems))
    except StoreError as exc:
        problems.add(_rel(db, root), f"{exc}; database skipped")
    except sqlite3.Error as exc:
        problems.add(_rel(db, root), f"SQLite error ({exc}); database skipped")
    return None


def _has_json_files(directory: Path) -> bool:
    try:
        return any(p.suffix == ".json" for sub in directory.iterdir() if sub.is_dir() for p in sub.iterdir())
    except OSError:
        return False


def read_store(path: Path, problems: Problems) -> tuple[list[Session], Layout]:
    """Detect the layout under `path` (a data dir, a storage dir or a database) and read it."""
    layout = Layout("none")
    if path.is_file():
        sessions = read_database(path, path.parent, problems, layout)
        return sessions or [], layout
    root = path
    storage = path / "storage"
    if not (storage / "session").is_dir() and (path / "session").is_dir() and (path / "message").is_dir():
        root, storage = path.parent, path  # given the storage dir itself
    dbs = sorted(p for p in root.glob("opencode*.db") if p.is_file())
    sessions: list[Session] = []
    db_used = False
    for db in dbs:
        found = read_database(db, root, problems, layout)
        if found is not None:
            sessions.extend(found)
            db_used = True
    json_present = (storage / "session").is_dir() and _has_json_files(storage / "session")
    legacy_present = (root / "project").is_dir() and any((root / "project").glob("*/storage/session/info"))
    if db_used:
        if json_present:
            layout.notes.append("JSON storage left beside the database ignored (one generation per store)")
        return sessions, layout
    if json_present:
        layout.name = "json"
        if legacy_present:
            layout.notes.append("legacy per-project storage ignored (already migrated to JSON storage)")
        return list(read_json_storage(root, storage, problems)), layout
    if legacy_present:
        layout.name = "legacy"
        return list(read_legacy(root, problems)), layout
    return [], layout

