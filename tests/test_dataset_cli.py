"""`python -m dataset ...`: exit codes, one-line errors, the reports a user reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_builders import speak_line

from dataset.__main__ import main

REPO = Path(__file__).resolve().parents[1]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, *lines: dict | str) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_missing_file_is_one_line_and_exit_2(capsys, tmp_path: Path):
    for verb in ("validate", "decontam", "stats"):
        code, out, err = run(capsys, verb, str(tmp_path / "nope.jsonl"))
        assert code == 2, verb
        assert err == f"dataset: no such file: {tmp_path / 'nope.jsonl'}\n"
        assert out == ""


def test_unreadable_inputs_exit_2(capsys, tmp_path: Path):
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 2 and "is a directory" in err
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run(capsys, "validate", str(binary))
    assert code == 2 and err.strip() == f"dataset: {binary} is not UTF-8 text"


def test_bad_arguments_exit_2(capsys, tmp_path: Path):
    with pytest.raises(SystemExit) as exc:
        main(["build"])
    assert exc.value.code == 2
    assert "required: --out" in capsys.readouterr().err
    code, _, err = run(capsys, "build", "--out", str(tmp_path / "x.jsonl"), "--categories", "tts=two")
    assert code == 2 and err.count("\n") == 1 and "bad count" in err
    code, _, err = run(capsys, "build", "--out", str(tmp_path / "x.jsonl"), "--count", "3", "--categories", "tts=1")
    assert code == 2 and "not both" in err
    code, _, err = run(capsys, "validate", str(write(tmp_path / "ok.jsonl", speak_line())), "--tokenizer",
                       str(tmp_path / "no-such-tokenizer"))
    assert code == 2 and "does not exist" in err


def test_validate_good_file_exits_0(capsys, tmp_path: Path):
    path = write(tmp_path / "good.jsonl", speak_line(), speak_line())
    code, out, _ = run(capsys, "validate", str(path), "--no-tokens")
    assert code == 0
    assert "2 lines, 0 with problems, 0 problem(s)" in out
    assert "decontamination: threshold 0.50, nearest" in out


def test_validate_bad_file_lists_every_problem_and_exits_1(capsys, tmp_path: Path):
    broken = speak_line()
    broken["messages"] = [m for m in broken["messages"] if m["role"] != "tool"]
    path = write(tmp_path / "bad.jsonl", speak_line(), "{not json", broken)
    code, out, _ = run(capsys, "validate", str(path), "--no-tokens")
    assert code == 1
    assert "line 2: not valid JSON" in out
    assert "line 3: tool call call_1 has no tool message answering it" in out
    assert "3 lines, 2 with problems" in out


def test_build_writes_a_valid_deterministic_file(capsys, tmp_path: Path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    code, out, _ = run(capsys, "build", "--out", str(a), "--count", "9", "--seed", "4", "--no-handwritten", "--no-tokens")
    assert code == 0 and f"wrote 9 lines to {a}" in out and "decontamination: threshold 0.50" in out
    run(capsys, "build", "--out", str(b), "--count", "9", "--seed", "4", "--no-handwritten", "--no-tokens")
    assert a.read_bytes() == b.read_bytes()
    code, out, _ = run(capsys, "validate", str(a), "--no-tokens")
    assert code == 0, out


def test_build_plays_only_the_recipes_named(capsys, tmp_path: Path):
    out = tmp_path / "demo.jsonl"
    code, _, _ = run(capsys, "build", "--out", str(out), "--categories", "persona=6,tts=2", "--recipes",
                     "introduce, bt-probe,speak", "--no-handwritten", "--no-tokens")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0 and len(lines) == 8
    assert {line["meta"]["recipe"] for line in lines} == {"introduce", "bt-probe", "speak"}
    code, _, err = run(capsys, "build", "--out", str(tmp_path / "x.jsonl"), "--recipes", "introduce,nope", "--no-tokens")
    assert code == 2 and "--recipes: unknown recipe(s) nope (known: " in err and len(err.splitlines()) == 1
    code, _, err = run(capsys, "build", "--out", str(tmp_path / "x.jsonl"), "--categories", "mesh=2",
                       "--recipes", "introduce", "--no-tokens")
    assert code == 2 and "--recipes names no mesh recipe (its recipes: " in err
    assert not (tmp_path / "x.jsonl").exists()


def test_build_refuses_bad_handwritten_file(capsys, tmp_path: Path):
    hand = write(tmp_path / "hand.jsonl", "{broken")
    code, _, err = run(capsys, "build", "--out", str(tmp_path / "x.jsonl"), "--handwritten", str(hand), "--no-tokens")
    assert code == 2 and "line 1: not valid JSON" in err
    assert not (tmp_path / "x.jsonl").exists()


def test_decontam_prints_threshold_and_nearest_pairs(capsys, tmp_path: Path):
    path = write(tmp_path / "d.jsonl", speak_line())
    code, out, _ = run(capsys, "decontam", str(path))
    assert code == 0
    assert "threshold 0.50" in out and "nearest pairs (top 1):" in out and "contaminated lines: none" in out


def test_stats_writes_markdown_and_png(capsys, tmp_path: Path):
    path = write(tmp_path / "s.jsonl", speak_line(), speak_line())
    code, out, _ = run(capsys, "stats", str(path), "--out", str(tmp_path / "rep"), "--no-tokens")
    assert code == 0
    md = (tmp_path / "rep" / "s.md").read_text()
    assert "| tts | 2 |" in md and "| tts.uses_active_cart_voice | 2 |" in md and "| tts_speak | 2 |" in md
    assert (tmp_path / "rep" / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in out


def test_stats_on_a_broken_file_is_one_line(capsys, tmp_path: Path):
    code, _, err = run(capsys, "stats", str(write(tmp_path / "b.jsonl", "[1]")), "--no-tokens")
    assert code == 2 and err.count("\n") == 1 and "line 1" in err


def test_module_entry_point_without_traceback(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "dataset", "decontam", str(tmp_path / "missing.jsonl")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("dataset: no such file") and "Traceback" not in proc.stderr


def test_committed_dataset_validates_with_the_qwen3_tokenizer(capsys):
    code, out, err = run(capsys, "validate", str(REPO / "dataset" / "madcat-system.jsonl"))
    assert "warning" not in err, err
    assert code == 0, out
    assert "100 lines, 0 with problems" in out


def test_an_explicit_tokenizer_directory_is_used_and_the_twin_counts_as_qwen3(capsys, tmp_path: Path):
    import re

    from serving.tiny_twin import default_twin_dir

    path = write(tmp_path / "one.jsonl", speak_line())
    code, out, _ = run(capsys, "validate", str(path), "--tokenizer", str(default_twin_dir()), "--max-tokens", "200")
    assert code == 1
    assert "line 1: is " in out and f"tokens long with the {default_twin_dir()} tokenizer (limit 200)" in out
    twin_count = re.search(r"is (\d+) tokens long", out).group(1)
    code, out, _ = run(capsys, "validate", str(path), "--max-tokens", "200")
    assert code == 1 and f"is {twin_count} tokens long with the Qwen3 tokenizer (limit 200)" in out
