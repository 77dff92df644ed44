"""Read-only access to a session store: files are only opened for reading, SQLite is opened
with `mode=ro&immutable=1` (no locks, no -wal/-shm files, no migrations).

An immutable connection ignores a write-ahead log, so a database whose `-wal` file holds recent
transactions is copied (with its log) into a private temporary directory and read from there:
the store itself is still only read.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class StoreError(Exception):
    """A file of the store cannot be read; the message is one line."""


def read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise StoreError(f"cannot read ({exc.strerror or exc})") from exc


def read_json(path: Path) -> Any:
    """Parse one JSON file; StoreError with a one-line reason when it is not JSON."""
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(f"not UTF-8 text (byte {exc.start})") from exc
    if not text.strip():
        raise StoreError("empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise StoreError("JSON nested too deeply") from exc


def _wal_has_data(db: Path) -> bool:
    wal = db.with_name(db.name + "-wal")
    try:
        return wal.is_file() and wal.stat().st_size > 0
    except OSError:
        return False


@contextmanager
def open_sqlite_readonly(db: Path) -> Iterator[tuple[sqlite3.Connection, bool]]:
    """Yield (connection, via_copy). Never writes, locks or migrates `db`.

    via_copy is True when the database had a non-empty write-ahead log and was read from a
    private copy (so transactions still in the log are seen).
    """
    tmp: tempfile.TemporaryDirectory | None = None
    target = db
    try:
        if _wal_has_data(db):
            tmp = tempfile.TemporaryDirectory(prefix="madcat-sessions-")
            target = Path(tmp.name) / db.name
            try:
                shutil.copyfile(db, target)
                shutil.copyfile(db.with_name(db.name + "-wal"), target.with_name(target.name + "-wal"))
            except OSError as exc:
                raise StoreError(f"cannot copy the database and its write-ahead log ({exc.strerror or exc})") from exc
            uri = target.resolve().as_uri() + "?mode=ro"
        else:
            uri = target.resolve().as_uri() + "?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=0.5)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open as SQLite ({exc})") from exc
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield conn, tmp is not None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"not a readable SQLite database ({exc})") from exc
        finally:
            conn.close()
    finally:
        if tmp is not None:
            tmp.cleanup()


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()  # table names are our constants
    return [str(r[1]) for r in rows]


def table_has_rows(conn: sqlite3.Connection, table: str) -> bool:
    if not table_columns(conn, table):
        return False
    return conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
