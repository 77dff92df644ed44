"""opencode stores: every layout read, one generation per store, and the conversion rules that
depend on opencode's own shapes (steps, reverts, compaction, subagents, interrupted and invalid calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset.sessions import samples as S
from dataset.sessions.pipeline import Outcome, run_import
from dataset.sessions.problems import Problems


def run(path: Path) -> Outcome:
    return run_import("opencode", path, graders=None, problems=Problems())


def by_session(outcome: Outcome) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in outcome.candidates:
        out.setdefault(c["meta"]["session_id"], []).append(c)
    return out


def calls(candidate: dict) -> list[tuple[str, dict]]:
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for m in candidate["messages"] for c in m.get("tool_calls") or []]


def roles(candidate: dict) -> list[str]:
    return [m["role"] for m in candidate["messages"]]


def simple(sid: str = "ses_a") -> S.OcSession:
    return S.OcSession(sid, [
        S.user("What is the active cart?"),
        S.assistant(S.step_start(), S.tool("t1", "settings_get", {"key": "active_cart"}, "nova"), S.step_finish(),
                    S.step_start(), S.text("The active cart is nova."), S.step_finish("stop")),
    ])


# --- layouts ------------------------------------------------------------------------------------

def _expected_tts(candidate: dict) -> None:
    assert roles(candidate) == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert calls(candidate) == [("settings_get", {}), ("tts_speak", {"text": "Good morning!", "voice": "nova"})]
    assert candidate["messages"][-1]["content"] == "Said good morning in Nova's voice."
    assert candidate["meta"]["model"] == "anthropic/claude-sonnet-4"


@pytest.mark.parametrize("layout", ["json", "legacy", "legacy-inline", "sqlite", "sqlite-2.x"])
def test_every_layout_gives_the_same_transcripts(tmp_path: Path, layout: str) -> None:
    sessions = S.opencode_sessions()
    if layout == "json":
        path = S.write_json_storage(tmp_path, sessions)
    elif layout.startswith("legacy"):
        path = S.write_legacy(tmp_path, sessions, inline=layout == "legacy-inline")
    elif layout == "sqlite":
        S.write_sqlite(tmp_path / "opencode.db", sessions).close()
        path = tmp_path
    else:
        path = S.write_sqlite_2x(tmp_path / "opencode.db", sessions)
    outcome = run(path)
    assert outcome.layout == layout.removesuffix("-inline")
    found = by_session(outcome)
    assert set(found) == {"ses_tts0001", "ses_code0002", "ses_child0003", "ses_env0004"}
    _expected_tts(found["ses_tts0001"][0])
    assert [n for n, _ in calls(found["ses_code0002"][0])] == [
        "settings_get", "index_search", "memory_recall", "legacy-memory_recall", "read", "edit", "bash", "memory_store"]
    assert outcome.problems == []


def test_a_database_with_rows_wins_over_json_left_beside_it(tmp_path: Path) -> None:
    S.write_sqlite(tmp_path / "opencode.db", [simple("ses_db")]).close()
    S.write_json_storage(tmp_path, [simple("ses_json")])
    outcome = run(tmp_path)
    assert outcome.layout == "sqlite"
    assert set(by_session(outcome)) == {"ses_db"}
    assert any("JSON storage" in n and "ignored" in n for n in outcome.layout_notes)


def test_an_empty_database_leaves_the_json_storage_to_be_read(tmp_path: Path) -> None:
    S.write_sqlite(tmp_path / "opencode.db", []).close()
    S.write_json_storage(tmp_path, [simple("ses_json")])
    outcome = run(tmp_path)
    assert outcome.layout == "json"
    assert set(by_session(outcome)) == {"ses_json"}


def test_a_2x_database_is_read_from_session_message_only(tmp_path: Path) -> None:
    S.write_sqlite_2x(tmp_path / "opencode.db", [simple("ses_both")], also_v1=True)
    outcome = run(tmp_path)
    assert outcome.layout == "sqlite-2.x"
    assert len(outcome.candidates) == 1  # not twice: one generation per database
    assert any("message/part rows ignored" in n for n in outcome.layout_notes)


def test_the_storage_dir_itself_and_a_database_file_can_be_given(tmp_path: Path) -> None:
    S.write_json_storage(tmp_path / "data", [simple()])
    assert len(run(tmp_path / "data" / "storage").candidates) == 1
    S.write_sqlite(tmp_path / "db" / "opencode.db", [simple()]).close()
    assert len(run(tmp_path / "db" / "opencode.db").candidates) == 1


def test_recent_transactions_in_a_write_ahead_log_are_read(tmp_path: Path) -> None:
    conn = S.write_sqlite(tmp_path / "opencode.db", [simple()], wal=True)
    try:  # the writer is still open: the rows live in opencode.db-wal, not yet in the database file
        assert (tmp_path / "opencode.db-wal").stat().st_size > 0
        outcome = run(tmp_path)
    finally:
        conn.close()
    assert len(outcome.candidates) == 1
    assert any("write-ahead log" in n for n in outcome.layout_notes)


# --- conversion rules that depend on opencode shapes ----------------------------------------------

def test_one_assistant_turn_per_model_step_followed_by_its_tool_messages(tmp_path: Path) -> None:
    # One assistant message holding two steps (step-start boundaries), the first with two calls.
    session = S.OcSession("ses_steps", [
        S.user("Check settings and the index."),
        S.assistant(S.step_start(), S.text("Looking."), S.tool("a", "settings_get", {}, "{}"),
                    S.tool("b", "index_search", {"query": "x", "kind": "code"}, "nothing"), S.step_finish(),
                    S.step_start(), S.text("Done."), S.step_finish("stop")),
    ])
    (candidate,) = run(S.write_json_storage(tmp_path, [session])).candidates
    assert roles(candidate) == ["user", "assistant", "tool", "tool", "assistant"]
    first = candidate["messages"][1]
    assert first["content"] == "Looking." and len(first["tool_calls"]) == 2
    assert [m["tool_call_id"] for m in candidate["messages"][2:4]] == ["call_1", "call_2"]


def test_interrupted_and_pending_calls_are_dropped(tmp_path: Path) -> None:
    session = S.OcSession("ses_int", [
        S.user("Run the tests"),
        S.assistant(S.step_start(), S.text("Running them."), S.tool("a", "bash", {"command": "npm test"}, status="running"),
                    error={"name": "MessageAbortedError", "data": {"message": "aborted"}}),
        S.user("Never mind, what is the active cart?"),
        S.assistant(S.step_start(), S.tool("b", "settings_get", {}, "{}"),
                    S.tool("c", "bash", {"command": "sleep 100"}, status="pending"), S.step_finish()),
        S.assistant(S.step_start(), S.tool("d", "bash", {"command": "make"}, status="error",
                                           error="Tool execution aborted"), S.text("nova"), S.step_finish("stop")),
    ])
    outcome = run(S.write_json_storage(tmp_path, [session]))
    (candidate,) = outcome.candidates
    assert [n for n, _ in calls(candidate)] == ["settings_get"]
    assert candidate["messages"][1]["content"] == "Running them."  # the aborted step's text stays
    assert candidate["meta"]["dropped"]["interrupted, aborted or unanswered call"] == 3


def test_repaired_invalid_calls_are_dropped(tmp_path: Path) -> None:
    session = S.OcSession("ses_inv", [
        S.user("Read the config"),
        S.assistant(S.step_start(), S.tool("a", "invalid", {"tool": "Read", "error": "unknown tool Read"},
                                           "The arguments provided to the tool are invalid"), S.step_finish()),
        S.assistant(S.step_start(), S.tool("b", "read", {"filePath": "/etc/app.yaml"}, "port: 80"), S.step_finish()),
        S.assistant(S.step_start(), S.text("Port 80."), S.step_finish("stop")),
    ])
    (candidate,) = run(S.write_json_storage(tmp_path, [session])).candidates
    assert calls(candidate) == [("read", {"path": "/etc/app.yaml"})]
    assert candidate["meta"]["dropped"] == {"repaired `invalid` call": 1, "step left empty": 1}


def test_assistant_messages_that_ended_in_an_api_error_are_left_out(tmp_path: Path) -> None:
    session = S.OcSession("ses_err", [
        S.user("hi"),
        S.assistant(S.step_start(), S.text("partial"), error={"name": "APIError", "data": {"message": "overloaded"}}),
        S.assistant(S.step_start(), S.text("Hello."), S.step_finish("stop")),
    ])
    outcome = run(S.write_json_storage(tmp_path, [session]))
    assert [m["content"] for m in outcome.candidates[0]["messages"]] == ["hi", "Hello."]
    assert outcome.dropped["assistant message that ended in an API error"] == 1


def _revert_session(revert: dict | None) -> S.OcSession:
    return S.OcSession("ses_rev", [
        S.user("Add a README"),
        S.assistant(S.step_start(), S.tool("a", "write", {"filePath": "README.md", "content": "# x"}, "ok"),
                    S.step_finish(), S.step_start(), S.text("Added."), S.step_finish("stop")),
        S.user("Now delete the tests folder"),
        S.assistant(S.step_start(), S.tool("b", "bash", {"command": "rm -rf tests"}, ""), S.step_finish()),
    ], revert=revert)


@pytest.mark.parametrize("layout", ["json", "sqlite", "sqlite-2.x"])
def test_a_revert_drops_the_messages_after_the_revert_point(tmp_path: Path, layout: str) -> None:
    session = _revert_session({"messageID": "msg_rev_0003"}).assign_ids()
    if layout == "json":
        path = S.write_json_storage(tmp_path, [session])
    elif layout == "sqlite":
        S.write_sqlite(tmp_path / "opencode.db", [session]).close()
        path = tmp_path
    else:
        path = S.write_sqlite_2x(tmp_path / "opencode.db", [session])
    outcome = run(path)
    (candidate,) = outcome.candidates
    assert [n for n, _ in calls(candidate)] == ["write"]
    assert "delete" not in json.dumps(candidate)
    assert outcome.dropped["message after a revert point"] == 2


def test_a_revert_at_a_part_keeps_the_parts_before_it(tmp_path: Path) -> None:
    # The second assistant message is kept up to (not including) the reverted part.
    session = _revert_session(None)
    session.messages[3].parts.insert(0, S.text("I will remove it."))
    session.assign_ids()
    assert session.messages[3].parts[2]["type"] == "tool"
    session.revert = {"messageID": "msg_rev_0004", "partID": session.messages[3].parts[2]["id"]}
    (candidate,) = run(S.write_json_storage(tmp_path, [session])).candidates
    assert candidate["messages"][-1] == {"role": "assistant", "content": "I will remove it."}
    assert "rm -rf" not in json.dumps(candidate)


def test_compaction_splits_the_session_and_the_summary_opens_the_next_part(tmp_path: Path) -> None:
    session = S.OcSession("ses_cmp", [
        S.user("What is the active cart?"),
        S.assistant(S.step_start(), S.tool("a", "settings_get", {}, "nova"), S.step_finish(),
                    S.step_start(), S.text("nova"), S.step_finish("stop")),
        S.user(S.compaction()),
        S.assistant(S.text("We read the settings: the active cart is nova."), summary=True),
        S.user("And is TTS on?"),
        S.assistant(S.step_start(), S.tool("b", "settings_get", {"key": "tts.enabled"}, "true"), S.step_finish(),
                    S.step_start(), S.text("Yes."), S.step_finish("stop")),
    ])
    for layout, path in (("json", S.write_json_storage(tmp_path / "j", [session])),
                         ("2.x", S.write_sqlite_2x(tmp_path / "x" / "opencode.db", [session]))):
        first, second = run(path).candidates
        assert (first["meta"]["segment"], second["meta"]["segments"]) == (1, 2), layout
        assert "TTS" not in json.dumps(first["messages"])
        opening = second["messages"][0]
        assert opening["role"] == "user"
        assert opening["content"] == ("[Summary of the conversation so far]\n"
                                      "We read the settings: the active cart is nova.\n\nAnd is TTS on?")


def test_subagent_sessions_become_their_own_transcripts(tmp_path: Path) -> None:
    outcome = run(S.write_json_storage(tmp_path, S.opencode_sessions()))
    (child,) = by_session(outcome)["ses_child0003"]
    assert child["meta"]["parent_session_id"] == "ses_code0002"
    assert child["messages"][0]["content"].startswith("Find where list() is called")
    assert outcome.subagent_sessions == 1


def test_reasoning_snapshots_and_patches_stay_out(tmp_path: Path) -> None:
    outcome = run(S.write_json_storage(tmp_path, S.opencode_sessions()))
    text = json.dumps(outcome.candidates)
    assert "Check the active cart first." not in text  # reasoning
    assert "c2lnbmF0dXJl" not in text and "4b825dc642cb6eb9a060e54bf8d69288fbee4904" not in text  # signature, snapshot
    assert "9f2c1a" not in text  # patch hash
    assert outcome.dropped["reasoning block (kept out)"] == 1
    assert outcome.dropped["patch/snapshot part (kept out)"] == 1


def test_images_and_files_become_placeholders(tmp_path: Path) -> None:
    session = S.OcSession("ses_img", [
        S.user("What is wrong in this screenshot?", S.file_part("shot.png"), S.file_part("notes.pdf", "application/pdf")),
        S.assistant(S.step_start(), S.tool("a", "read", {"filePath": "/tmp/x.png"}, "Image read successfully",
                                           attachments=[{"type": "file", "mime": "image/png", "filename": "x.png",
                                                         "url": "data:image/png;base64,AAAA"}]), S.step_finish()),
        S.assistant(S.step_start(), S.text("A red banner."), S.step_finish("stop")),
    ])
    (candidate,) = run(S.write_json_storage(tmp_path, [session])).candidates
    assert candidate["messages"][0]["content"] == "What is wrong in this screenshot?\n\n[image: shot.png]\n\n[file: notes.pdf]"
    assert candidate["messages"][2]["content"] == "Image read successfully\n[image: x.png]"
    assert "base64" not in json.dumps(candidate)
