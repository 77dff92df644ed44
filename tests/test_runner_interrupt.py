"""Ctrl-C in the middle of a run leaves a valid partial results.json: `interrupted: true`, the finished
samples judged, the rest `incomplete` (never counted as passed)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.results import NOT_FINISHED
from reports.results import load_run
from serving.openai_stub import OpenAIStub

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def slow_stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"}, latency_ms=150) as server:
        yield server


def _results(run_dir_root: Path) -> dict | None:
    for path in run_dir_root.glob("*/results.json"):
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:  # never happens with atomic writes; keep polling if it did
            return None
    return None


def _interrupt_when_some_finished(proc: subprocess.Popen[str], root: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = _results(root)
        if doc and sum(r["status"] == "complete" for r in doc["results"]) >= 3:
            proc.send_signal(signal.SIGINT)
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail("no sample finished in time")


def _check_partial(root: Path) -> dict:
    [path] = list(root.glob("*/results.json"))
    run = load_run(path)  # valid against the schema
    doc = json.loads(path.read_text())
    assert doc["run"]["interrupted"] is True and doc["run"]["finished"]
    done = [r for r in doc["results"] if r["status"] == "complete"]
    left = [r for r in doc["results"] if r["status"] != "complete"]
    assert len(done) >= 3 and left, "expected both finished and unfinished samples"
    assert all(r["passed"] is None and r["reason"] == NOT_FINISHED for r in left)
    assert len(run.outcomes) == len(doc["results"]) == doc["summary"]["samples"]
    return doc


def test_ctrl_c_on_the_cli_leaves_a_valid_partial_results_file(slow_stub: OpenAIStub, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals.runner", "run", "--backend", "vllm", "--base-url", slow_stub.base_url + "/v1",
         "--epochs", "2", "--max-connections", "2", "--report-dir", str(tmp_path), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _interrupt_when_some_finished(proc, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; partial results in" in err and "Traceback" not in err + out
    _check_partial(tmp_path)


def test_ctrl_c_under_pytest_leaves_a_valid_partial_results_file(slow_stub: OpenAIStub, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", "--base-url",
         slow_stub.base_url + "/v1", "--epochs", "2", "--max-connections", "2", "--report-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _interrupt_when_some_finished(proc, tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest: interrupted
    assert "interrupted; partial results in" in out and "results: " in out, out
    assert "Traceback" not in out
    _check_partial(tmp_path)
