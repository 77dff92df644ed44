"""Robustness: garbage, truncated and locked files give one clear line each and the import goes
on; arbitrary JSON never crashes the importer; the store is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset.sessions import samples as S
from dataset.sessions.cli import main
from dataset.sessions.pipeline import Outcome, run_import
from dataset.sessions.problems import Problems
from dataset.sessions.selection import load_graders


def run(source: str, path: Path, graders=None) -> Outcome:
    return run_import(source, path, graders=graders, problems=Problems())


def good(sid: str) -> S.OcSession:
    return S.OcSession(sid, [S.user("hello"), S.assistant(S.step_start(), S.text("Hi."), S.step_finish("stop"))])


# --- one clear line per problem, and the import goes on ----------------------------------------

def test_garbage_and_truncated_json_files_are_one_line_each(tmp_path: Path) -> None:
    S.write_json_storage(tmp_path, [good("ses_a"), good("ses_b"), good("ses_c")])
    storage = tmp_path / "storage"
    part = storage / "part" / "msg_a_0002" / "prt_a_0002_03.json"  # the step-finish part
    part.write_text('{"type": "step-fin')  # truncated
    (storage / "message" / "ses_b" / "msg_b_0001.json").write_bytes(b"\x00\xff\xfegarbage")
    (storage / "session" / "prj_sample" / "ses_c.json").write_text("[1, 2, 3]")
    outcome = run("opencode", tmp_path)
    assert len(outcome.problems) == 3
    assert any(p.startswith("storage/part/msg_a_0002/prt_a_0002_03.json: not valid JSON") and "part skipped" in p
               for p in outcome.problems)
    assert any("msg_b_0001.json: not UTF-8 text" in p for p in outcome.problems)
    assert any("ses_c.json: expected a JSON object, got list; session skipped" in p for p in outcome.problems)
    assert all("\n" not in p for p in outcome.problems)
    # ses_a lost only a part, ses_b its user message (so nothing is left to answer); the import went on.
    assert outcome.sessions == 2
    assert [c["meta"]["session_id"] for c in outcome.candidates] == ["ses_a"]


def test_truncated_and_garbage_jsonl_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("hello")
    log.assistant("Hi.")
    path = log.write(tmp_path / "p" / "a.jsonl")
    path.write_text(path.read_text() + '{"type": "user", "mess')  # a write cut short
    (tmp_path / "p" / "b.jsonl").write_text("not json at all\n\x00\x01\n")
    lines = path.read_text().splitlines()
    (tmp_path / "p" / "c.jsonl").write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    outcome = run("claude-code", tmp_path)
    assert sorted(outcome.problems) == [
        "p/a.jsonl: last line (3) is truncated; skipped it",
        "p/b.jsonl: no JSON lines (not a Claude Code session log); file skipped",
        "p/c.jsonl: 1 line(s) are not JSON objects (first at line 2); skipped them",
    ]
    assert len(outcome.candidates) == 1  # a.jsonl and c.jsonl hold the same conversation


def test_a_garbage_database_is_one_line_and_the_other_database_is_read(tmp_path: Path) -> None:
    (tmp_path / "opencode.db").write_bytes(b"this is not a database" * 100)
    S.write_sqlite(tmp_path / "opencode-dev.db", [good("ses_ok")]).close()
    outcome = run("opencode", tmp_path)
    assert len(outcome.problems) == 1
    assert outcome.problems[0].startswith("opencode.db: not a readable SQLite database")
    assert [c["meta"]["session_id"] for c in outcome.candidates] == ["ses_ok"]


def test_a_truncated_database_is_one_line(tmp_path: Path) -> None:
    S.write_sqlite(tmp_path / "full.db", [good(f"ses_{i}") for i in range(30)]).close()
    raw = (tmp_path / "full.db").read_bytes()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "opencode.db").write_bytes(raw[: len(raw) // 2])
    outcome = run("opencode", tmp_path / "store")
    assert outcome.problems == [
        "opencode.db: not a readable SQLite database (database disk image is malformed); database skipped"]


def test_a_database_locked_by_another_connection_is_still_read(tmp_path: Path) -> None:
    S.write_sqlite(tmp_path / "opencode.db", [good("ses_committed")]).close()
    writer = sqlite3.connect(tmp_path / "opencode.db", isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO session VALUES ('ses_uncommitted', 'p', NULL, 's', 'd', 't', 'v', NULL, 0, 0)")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # an ordinary reader is shut out...
            sqlite3.connect(tmp_path / "opencode.db", timeout=0.1).execute("SELECT * FROM session").fetchall()
        outcome = run("opencode", tmp_path)  # ...an immutable one reads the committed data
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [c["meta"]["session_id"] for c in outcome.candidates] == ["ses_committed"]
    assert outcome.problems == []


def test_bad_rows_in_a_database_are_one_line_each(tmp_path: Path) -> None:
    conn = S.write_sqlite(tmp_path / "opencode.db", [good("ses_a")])
    conn.execute("UPDATE part SET data = '{broken' WHERE id = (SELECT min(id) FROM part)")
    conn.execute("UPDATE session SET revert = 'nope'")
    conn.commit()
    conn.close()
    outcome = run("opencode", tmp_path)
    assert sorted(p.split(":")[0] for p in outcome.problems) == ["opencode.db part prt_a_0001_01", "opencode.db session ses_a"]


# --- arbitrary JSON never crashes ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
part_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool", "reasoning", "file", "step-start", "step-finish", "patch",
                              "compaction", "subtask", "agent", "nonsense"])},
    optional={"text": json_values, "tool": json_values, "callID": json_values, "state": json_values | st.fixed_dictionaries(
        {"status": st.sampled_from(["completed", "error", "pending", "running", "x"])},
        optional={"input": json_values, "output": json_values, "error": json_values, "attachments": json_values,
                  "metadata": json_values}), "mime": json_values, "filename": json_values, "ignored": json_values},
)
GRADERS = load_graders()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_parts=st.lists(json_values | part_like, max_size=3),
       assistant_parts=st.lists(json_values | part_like, max_size=5),
       info=st.dictionaries(st.sampled_from(["role", "error", "summary", "modelID", "providerID", "model"]), json_values))
def test_arbitrary_json_in_part_and_message_files_never_crashes(user_parts, assistant_parts, info) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = S.write_json_storage(Path(tmp), [good("ses_h")])
        storage = store / "storage"
        for msg_id, parts in (("msg_h_0001", user_parts), ("msg_h_0002", assistant_parts)):
            shutil.rmtree(storage / "part" / msg_id)
            (storage / "part" / msg_id).mkdir()
            for i, part in enumerate(parts):
                (storage / "part" / msg_id / f"prt_{i:03d}.json").write_text(json.dumps(part))
        msg = storage / "message" / "ses_h" / "msg_h_0002.json"
        msg.write_text(json.dumps({**json.loads(msg.read_text()), **info}))
        outcome = run("opencode", store, graders=GRADERS)
        assert all(isinstance(p, str) and "\n" not in p for p in outcome.problems)
        for candidate in outcome.candidates:
            json.dumps(candidate)


@settings(max_examples=60, deadline=None)
@given(st.lists(json_values | st.fixed_dictionaries(
    {"type": st.sampled_from(["user", "assistant", "system", "summary"])},
    optional={"uuid": st.sampled_from(["a", "b", "c", "d"]), "parentUuid": st.sampled_from(["a", "b", "c", None]),
              "message": json_values | st.fixed_dictionaries({"content": json_values}), "isSidechain": st.booleans(),
              "subtype": st.just("compact_boundary"), "logicalParentUuid": st.sampled_from(["a", "b"]),
              "isCompactSummary": st.booleans()}), max_size=8))
def test_arbitrary_json_lines_never_crash_the_claude_reader(lines) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        outcome = run("claude-code", Path(tmp))
        assert all("\n" not in p for p in outcome.problems)


# --- the store is byte-identical after an import ---------------------------------------------

def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _wal_store(root: Path) -> Path:
    """A store whose database has a write-ahead log left behind (as after a crash)."""
    conn = S.write_sqlite(root / "live" / "opencode.db", S.opencode_sessions(), wal=True)
    (root / "store").mkdir(parents=True)
    for name in ("opencode.db", "opencode.db-wal"):
        shutil.copyfile(root / "live" / name, root / "store" / name)
    conn.close()
    return root / "store"


@pytest.mark.parametrize("layout", ["json", "legacy", "sqlite", "sqlite-wal", "sqlite-2.x", "claude-code"])
def test_the_store_is_byte_identical_after_an_import(tmp_path: Path, layout: str) -> None:
    store = tmp_path / "store"
    if layout == "json":
        S.write_json_storage(store, S.opencode_sessions())
    elif layout == "legacy":
        S.write_legacy(store, S.opencode_sessions())
    elif layout == "sqlite":
        S.write_sqlite(store / "opencode.db", S.opencode_sessions()).close()
    elif layout == "sqlite-wal":
        store = _wal_store(tmp_path / "w")
    elif layout == "sqlite-2.x":
        S.write_sqlite_2x(store / "opencode.db", S.opencode_sessions())
    else:
        log, agent = S.claude_log()
        log.write(store / "-home-alice-proj" / f"{log.session_id}.jsonl")
        agent.write(store / "-home-alice-proj" / "agent-a1b2c3d4.jsonl")
    before = snapshot(store)
    source = "claude-code" if layout == "claude-code" else "opencode"
    code = main(["--from", source, "--path", str(store), "--out", str(tmp_path / "out" / "c.jsonl")])
    assert code == 0
    assert snapshot(store) == before  # same files (no -wal, -shm or -journal), same bytes
    assert (tmp_path / "out" / "c.jsonl").read_text().strip()
