"""`python -m evals list` and `python -m evals score`: output, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from grader_builders import fails, say, settings, transcript, turn, user

from evals.__main__ import main
from evals.catalog import EVALS

GOOD = transcript(user("who are you?"), turn(settings("nova")), say("I'm Nova."), world={"active_cart": "nova"})
BAD = transcript(user("who are you?"), turn(settings("nova")), say("This is BT-7274."), world={"active_cart": "nova"})
EVAL = "persona.no_hardcoded_bt_identity"


def write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- list ------------------------------------------------------------------------------------------

def test_list_shows_every_eval_with_its_category_and_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == len(EVALS) == 24
    for line, (eval_id, spec) in zip(lines, EVALS.items(), strict=True):
        assert line.startswith(eval_id) and spec.category in line and spec.description in line
    assert sum("[hard]" in line for line in lines) == 2


def test_list_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == list(EVALS)
    assert {r["id"] for r in rows if r["hard"]} == {"persona.no_hardcoded_bt_identity", "mesh.uses_sin_ssh_alias"}
    assert all(set(r) == {"id", "category", "description", "hard"} for r in rows)


# --- score -------------------------------------------------------------------------------------------

def test_score_a_passing_transcript_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "score", "--eval", EVAL, write(tmp_path, "good.json", GOOD))
    assert code == 0 and err == ""
    assert json.loads(out) == {"eval": EVAL, "passed": True, "outcome": "passed",
                                "reason": "never claimed to be BT-7274 (active cart nova)"}


def test_score_a_failing_transcript_exits_1_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "score", "--eval", EVAL, write(tmp_path, "bad.json", BAD))
    verdict = json.loads(out)
    assert code == 1 and verdict["passed"] is False
    assert verdict["reason"] == fails(EVAL, BAD).reason and "This is BT-7274" in verdict["reason"]


def test_score_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(BAD)))
    code, out, _ = run(capsys, "score", "--eval", EVAL, "-")
    assert code == 1 and json.loads(out)["passed"] is False


@pytest.mark.parametrize("content,fragment", [
    ("{not json", "is not JSON"),
    ("", "is not JSON"),
    ("[1, 2, 3]", "is not a transcript"),
    ('{"messages": []}', "non-empty 'messages'"),
    ('{"messages": [{"role": "robot", "content": "hi"}]}', "role 'robot'"),
    ('{"messages": [{"role": "user", "content": "hi"}], "world": {"active_cart": "hal9000"}}', "bad world"),
    ('{"messages": [{"role": "user", "content": "hi"}], "faults": {"meteor": 1}}', "unknown fault"),
    ('{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": "user", "content": "b"}]}',
     "several JSON lines"),
])
def test_score_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                               fragment: str) -> None:
    code, out, err = run(capsys, "score", "--eval", EVAL, write(tmp_path, "t.json", content))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("evals: ") and fragment in err
    assert "Traceback" not in err


def test_score_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "score", "--eval", EVAL, str(tmp_path / "nope.json"))
    assert code == 2 and err == f"evals: no such file: {tmp_path / 'nope.json'}\n"


def test_score_a_binary_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "blob.json"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    code, _, err = run(capsys, "score", "--eval", EVAL, str(path))
    assert code == 2 and err.count("\n") == 1


def test_score_an_unknown_eval_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "score", "--eval", "persona.is_nice", write(tmp_path, "good.json", GOOD))
    assert code == 2 and out == "" and "unknown eval 'persona.is_nice'" in err


@pytest.mark.parametrize("argv", [[], ["score"], ["score", "x.json"], ["frobnicate"], ["list", "--yaml"]])
def test_bad_command_lines_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    _, err = capsys.readouterr()
    assert exc.value.code == 2 and err.count("\n") == 1 and err.startswith("evals: ")


def test_the_module_runs_as_a_real_process(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", BAD)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "evals", "score", "--eval", EVAL, bad], capture_output=True,
                          text=True, cwd=root, timeout=60)
    assert proc.returncode == 1 and json.loads(proc.stdout)["passed"] is False and proc.stderr == ""
    garbage = write(tmp_path, "garbage.json", "\x00\x01 not a transcript")
    proc = subprocess.run([sys.executable, "-m", "evals", "score", "--eval", EVAL, garbage], capture_output=True,
                          text=True, cwd=root, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1
