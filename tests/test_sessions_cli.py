"""The import-sessions command: outputs, the review report, selection by the graders, exit codes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataset.sessions import samples as S
from dataset.sessions.cli import add_import_sessions_parser, main, run_import_sessions
from dataset.sessions.pipeline import run_import
from dataset.sessions.problems import Problems
from dataset.sessions.selection import Graders, load_graders
from dataset.sessions.selection import select as judge
from dataset.validate import validate_lines
from evals.catalog import EVALS, HARD_INVARIANTS
from evals.transcript import load_transcript
from evals.world import tool_names

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    return S.write_all(tmp_path / "samples")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_module_runs_on_its_own_and_writes_candidates_and_a_report(stores, tmp_path: Path) -> None:
    out = tmp_path / "out" / "candidates.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "dataset.sessions", "--from", "claude-code", "--path",
                           str(stores["claude"]), "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 candidates" in proc.stdout
    report = out.with_name("candidates.report.md").read_text()
    assert "# Session import: claude-code" in report
    assert "| tts.uses_active_cart_voice | 1 | 1 |" in report
    assert "| entry on an abandoned branch | 2 |" in report


@pytest.mark.parametrize("store", ["opencode-json", "opencode-legacy", "opencode-sqlite", "opencode-2x", "claude"])
def test_candidates_are_valid_transcripts_and_pass_what_they_claim(stores, tmp_path: Path, store: str) -> None:
    source = "claude-code" if store == "claude" else "opencode"
    out = tmp_path / "c.jsonl"
    assert main(["--from", source, "--path", str(stores[store]), "--out", str(out)]) == 0
    candidates = read_jsonl(out)
    assert candidates
    known = set(tool_names())
    for c in candidates:
        t = load_transcript(c)
        assert all(call.name in known for call in t.calls)
        assert all(call.result is not None for call in t.calls)
        meta = c["meta"]
        assert set(meta) >= {"source", "session_id", "model", "behaviours_detected", "redactions", "unmapped_tools"}
        assert meta["behaviours_detected"] and meta["unmapped_tools"] == []
        grades = {e: EVALS[e].grader(t).passed for e in meta["behaviours_detected"]}
        assert all(grades.values()), grades
        broken = {e: EVALS[e].grader(t).outcome for e in HARD_INVARIANTS}
        assert "failed" not in broken.values(), broken  # a hard invariant not exercised breaks nothing
    assert validate_lines(out.read_text().splitlines()) == []  # what `python -m dataset validate` checks


def test_selection_keeps_candidates_that_show_a_behaviour_and_break_no_hard_invariant(tmp_path: Path) -> None:
    shows = S.OcSession("ses_good", [
        S.user("Speak a greeting"),
        S.assistant(S.step_start(), S.tool("a", "settings_get", {}, S.SETTINGS), S.step_finish()),
        S.assistant(S.step_start(), S.tool("b", "tts_speak", {"text": "Hi", "voice": "nova"}, "spoken"), S.step_finish()),
        S.assistant(S.step_start(), S.text("Done."), S.step_finish("stop")),
    ])
    breaks = S.OcSession("ses_root", [
        S.user("Check the GPU on sin"),
        S.assistant(S.step_start(), S.tool("a", "settings_get", {}, S.SETTINGS), S.step_finish()),
        S.assistant(S.step_start(), S.tool("b", "bash", {"command": "ssh root@sin nvidia-smi"}, "GB10"), S.step_finish()),
        S.assistant(S.step_start(), S.text("GB10."), S.step_finish("stop")),
    ])
    nothing = S.OcSession("ses_chat", [S.user("hello"), S.assistant(S.step_start(), S.text("Hi."), S.step_finish("stop"))])
    store = S.write_json_storage(tmp_path, [shows, breaks, nothing])
    outcome = run_import("opencode", store, graders=load_graders(), problems=Problems())
    assert [c["meta"]["session_id"] for c in outcome.candidates] == ["ses_good"]
    assert outcome.rejected == {"fails a hard invariant": 1, "passes no behaviour": 1}
    assert outcome.hard_failed == {"mesh.uses_sin_ssh_alias": 1}
    assert outcome.shown["tts.uses_active_cart_voice"] == 1


def test_selection_works_with_any_grader_api_of_the_same_shape() -> None:
    class V:
        def __init__(self, passed: bool) -> None:
            self.passed, self.reason = passed, ""

    fake = Graders(["x.shown", "x.missed", "x.hard"], frozenset({"x.hard"}),
                   grade=lambda e, t: V(e != "x.missed"), applicable=lambda t: ["x.shown", "x.missed"])
    verdict = judge(fake, {"messages": []})
    assert (verdict.passed, verdict.failed, verdict.hard_failed, verdict.keep) == (["x.shown"], ["x.missed"], [], True)
    broken = Graders(["x"], frozenset(), grade=lambda e, t: 1 / 0, applicable=lambda t: ["x"])
    assert judge(broken, {"messages": []}).error == "ZeroDivisionError: division by zero"


def test_the_settings_the_session_read_become_its_world(stores, tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    assert main(["--from", "opencode", "--path", str(stores["opencode-json"]), "--out", str(out)]) == 0
    tts = next(c for c in read_jsonl(out) if c["meta"]["session_id"] == "ses_tts0001")
    assert tts["world"] == {"active_cart": "nova", "tts_enabled": True}
    # Judged against the default world (bt7274), nova's voice would be the wrong one.
    assert not EVALS["tts.uses_active_cart_voice"].grader(load_transcript({**tts, "world": {}})).passed


def test_the_report_shows_coverage_for_every_behaviour_redactions_and_drops(stores, tmp_path: Path) -> None:
    out, report = tmp_path / "c.jsonl", tmp_path / "r.md"
    assert main(["--from", "opencode", "--path", str(stores["opencode-json"]), "--out", str(out),
                 "--report", str(report)]) == 0
    text = report.read_text()
    for eval_id in EVALS:
        if eval_id not in HARD_INVARIANTS:
            assert f"| {eval_id} |" in text
    assert "| memory.checks_legacy_store | 1 | 1 |" in text
    assert "| tts.switch_voice_with_cart_tag | 0 | 0 |" in text
    assert "| api_key | 1 |" in text and "| personal_path | 3 |" in text
    assert "| passes no behaviour | 1 |" in text
    assert "| reasoning block (kept out) | 1 |" in text


def test_no_grade_keeps_every_transcript_that_passes_the_privacy_check(stores, tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    assert main(["--from", "opencode", "--path", str(stores["opencode-json"]), "--out", str(out), "--no-grade"]) == 0
    assert len(read_jsonl(out)) == 4
    assert "Not graded" in out.with_name("c.report.md").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--path", "{tmp}/nowhere"], "no session store at"),
    (["--path", "{store}", "--out", "{store}/storage/c.jsonl"], "is inside the session store"),
    (["--path", "{store}", "--tool-map", "{tmp}/missing.yaml"], "cannot read tool map"),
])
def test_bad_arguments_give_one_line_and_exit_2(stores, tmp_path: Path, capsys, args, message) -> None:
    values = {"tmp": str(tmp_path), "store": str(stores["opencode-json"])}
    argv = ["--from", "opencode", "--out", str(tmp_path / "c.jsonl")] + [a.format(**values) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def test_an_empty_store_writes_empty_outputs_and_exits_1(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["--from", "claude-code", "--path", str(tmp_path / "empty"), "--out", str(tmp_path / "c.jsonl")]) == 1
    assert (tmp_path / "c.jsonl").read_text() == ""
    assert "no sessions found" in capsys.readouterr().err


def test_problems_go_to_stderr_one_line_each(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    (store / "p").mkdir(parents=True)
    (store / "p" / "bad.jsonl").write_text("garbage\n")
    log = S.ClaudeLog()
    log.user("hello")
    log.assistant("Hi.")
    log.write(store / "p" / "good.jsonl")
    assert main(["--from", "claude-code", "--path", str(store), "--out", str(tmp_path / "o" / "c.jsonl"), "--no-grade"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["import-sessions: p/bad.jsonl: no JSON lines (not a Claude Code session log); file skipped"]


def test_it_hooks_into_the_dataset_cli(tmp_path: Path, stores) -> None:
    parser = argparse.ArgumentParser(prog="python -m dataset")
    add_import_sessions_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import-sessions", "--from", "opencode", "--path", str(stores["opencode-sqlite"]),
                              "--out", str(tmp_path / "c.jsonl"), "--max-output-lines", "50"])
    assert args.handler is run_import_sessions
    assert args.handler(args) == 0
    assert len(read_jsonl(tmp_path / "c.jsonl")) == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["import-sessions", "--from", "vscode", "--out", "x"])
