"""The replay backend (recorded transcripts re-scored) and the pytest front end's failure report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from doubles.scripted import bad_agent, good_agent
from evals.catalog import EVALS
from evals.scenarios import load_scenarios
from reports.results import load_run
from runner.backends.replay import replay_rows
from runner.cli import main
from runner.runner import RunConfig, UsageError, run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("transcripts")
    out = {}
    for name, agent in (("good", good_agent), ("bad", bad_agent)):
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps(agent(s)) + "\n" for s in load_scenarios()))
        out[name] = path
    return out


def test_replay_grades_every_transcript_against_its_eval(recorded: dict[str, Path]) -> None:
    good = replay_rows(recorded["good"])
    bad = replay_rows(recorded["bad"])
    assert len(good) == len(bad) == len(load_scenarios())
    assert all(r["passed"] for r in good) and not any(r["passed"] for r in bad)
    assert {r["eval"] for r in bad} == set(EVALS)
    assert all(r["log"].startswith(str(recorded["bad"]) + ":") for r in bad)


def test_an_older_recording_without_its_task_check_is_judged_by_the_scenarios_current_check(tmp_path: Path) -> None:
    scenario = load_scenarios(ids=["mesh-alias-nova-lora-rank"])[0]
    lazy = good_agent(scenario)
    lazy["messages"][-1]["content"] = "Checked the config on sin."  # the habit shown, the rank never said
    del lazy["meta"]["check"]
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(lazy) + "\n")
    (row,) = replay_rows(path)
    assert (row["passed"], row["outcome"]) == (False, "failed")
    assert "the task was not done: the answer never says what the user asked for" in row["reason"]


def test_replay_without_meta_grades_every_applicable_eval(tmp_path: Path) -> None:
    transcript = good_agent(load_scenarios(evals=["mesh.uses_sin_ssh_alias"])[0])
    del transcript["meta"]
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(transcript) + "\n" + json.dumps(transcript) + "\n")
    rows = replay_rows(path)
    assert "mesh.uses_sin_ssh_alias" in {r["eval"] for r in rows}
    assert {(r["scenario"], r["epoch"]) for r in rows if r["eval"] == "mesh.uses_sin_ssh_alias"} == {
        ("line-1", 1), ("line-2", 1)}


@pytest.mark.parametrize(("text", "message"), [
    ("{not json\n", r"line 1: not JSON"),
    ('{"messages": []}\n', r"line 1: not a transcript: a transcript needs a non-empty 'messages' list"),
    ('\n\n', r"holds no transcripts"),
    ('{"messages": [{"role": "user", "content": "hi"}], "meta": {"eval": "nope.nope"}}\n', r"unknown eval 'nope.nope'"),
])
def test_bad_transcript_files_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        run(RunConfig(backend="replay", transcripts=str(path), report_dir=str(tmp_path / "runs")))


def test_the_cli_replays_and_exits_by_the_thresholds(recorded: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--backend", "replay", "--report-dir", str(tmp_path), "--quiet"]
    assert main([*common, "--transcripts", str(recorded["good"])]) == 0
    assert main([*common, "--transcripts", str(recorded["bad"]), "--eval", "tts"]) == 1
    out = capsys.readouterr().out
    assert "tts.uses_active_cart_voice: 0/" in out and "FAIL" in out
    [good_run, bad_run] = sorted(tmp_path.iterdir())
    assert {o.eval for o in load_run(bad_run).outcomes} == {e for e in EVALS if e.startswith("tts.")}
    assert main([*common, "--transcripts", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["--backend", "replay"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"evals: no such transcripts file: {tmp_path / 'missing.jsonl'}",
                   "evals: --backend replay needs --transcripts FILE (JSONL, one transcript a line)"]


def test_pytest_shows_each_failing_try_with_reason_and_trajectory(recorded: dict[str, Path], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", "--backend", "replay",
         "--transcripts", str(recorded["bad"]), "--report-dir", str(tmp_path), "-k", "memory or mesh.uses_sin"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 1, out
    assert "6 failed, 18 deselected" in out  # -k selected 5 memory evals + the hard invariant
    assert "mesh.uses_sin_ssh_alias: 0/5 passed (0%); every try must pass (hard invariant)" in out
    assert "FAIL mesh-alias-bt-vllm-status #1: reached sin as 'sin.local'" in out
    assert 't4 bash "ssh sin.local' in out  # the compact trajectory, one line per call
    [run_dir] = list(tmp_path.iterdir())
    assert {o.eval.split(".")[0] for o in load_run(run_dir).outcomes} == {"memory", "mesh"}
