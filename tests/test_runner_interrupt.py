"""Ctrl-C in the middle of a run leaves a valid partial results.json: `interrupted: true`, the finished
samples judged, the rest `incomplete` (never counted as passed)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.results import NOT_FINISHED
from doubles.openai_stub import OpenAIStub
from reports.results import load_run

REPO = Path(__file__).resolve().parent.parent
# Timing-sensitive: never beside the heavy real-model preparation (tests/test_qwen_coder.py) under `-n 2`.
pytestmark = pytest.mark.xdist_group("timing_or_heavy")


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
        [sys.executable, "-m", "runner", "--backend", "vllm", "--base-url", slow_stub.base_url + "/v1",
         "--epochs", "2", "--max-connections", "2", "--report-dir", str(tmp_path), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _interrupt_when_some_finished(proc, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT; partial results in" in err and "Traceback" not in err + out
    assert _check_partial(tmp_path)["run"]["stopped_by"] == "SIGINT"


def test_ctrl_c_under_pytest_leaves_a_valid_partial_results_file(slow_stub: OpenAIStub, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", "--base-url",
         slow_stub.base_url + "/v1", "--epochs", "2", "--max-connections", "2", "--report-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _interrupt_when_some_finished(proc, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out  # as README documents, not pytest's own 2
    lines = [ln for ln in out.splitlines() if "interrupted by SIGINT; partial results in" in ln]
    assert len(lines) == 1 and "results: " in out, out
    assert "Traceback" not in out + err and "RunInterrupted" not in out + err and "KeyboardInterrupt" not in out
    assert _check_partial(tmp_path)["run"]["stopped_by"] == "SIGINT"


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A server that accepts connections and never answers: the server check hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(90)
        yield sock


def test_ctrl_c_during_the_server_check_under_pytest_writes_results(silent_server: socket.socket,
                                                                     tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{silent_server.getsockname()[1]}/v1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", "--base-url", url,
         "--epochs", "1", "--report-dir", str(tmp_path), "--run-id", "stopped", "-k", "mesh"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, _ = silent_server.accept()  # the server check has started and waits for an answer
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert [ln for ln in out.splitlines() if "interrupted by SIGINT during the backend check" in ln], out
    assert "Traceback" not in out + err
    doc = json.loads((tmp_path / "stopped" / "results.json").read_text())
    assert doc["run"]["interrupted"] is True and doc["run"]["stopped_by"] == "SIGINT"
    assert doc["results"] and all(r["verdict"] == "INCOMPLETE" for r in doc["results"])
    load_run(tmp_path / "stopped")
    conn.close()


_PROGRESS = re.compile(r"^\[\s*\d+/\d+\] (?P<verdict>PASS|FAIL|NOT EXERCISED|INCOMPLETE)\s+(?P<eval>\S+)  (?P<scenario>\S+) #(?P<epoch>\d+) ")


def test_sigterm_stops_the_run_like_ctrl_c_and_keeps_every_finished_sample(slow_stub: OpenAIStub,
                                                                            tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals", "run", "--backend", "vllm", "--base-url", slow_stub.base_url + "/v1",
         "--epochs", "2", "--max-connections", "2", "--report-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # a kill, a `timeout`, a CI cancel: SIGTERM while samples finish
        doc = _results(tmp_path)
        if doc and sum(r["status"] == "complete" for r in doc["results"]) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err  # 128 + SIGTERM, as a shell reports it
    assert "interrupted by SIGTERM; partial results in" in err and "Traceback" not in out + err
    doc = _check_partial(tmp_path)
    assert doc["run"]["stopped_by"] == "SIGTERM" and doc["run"]["state"] == "interrupted"
    rows = {(r["eval"], r["scenario"], r["epoch"]): r for r in doc["results"]}
    printed = [m for line in err.splitlines() if (m := _PROGRESS.match(line)) and m["verdict"] != "INCOMPLETE"]
    assert printed
    for m in printed:  # every sample reported finished on the terminal is in the file, none lost
        row = rows[(m["eval"], m["scenario"], int(m["epoch"]))]
        assert row["reason"] != NOT_FINISHED, row


def test_a_sample_inside_the_throttle_interval_is_flushed_without_a_later_sample(tmp_path: Path) -> None:
    from core.results import planned_row
    from evals.thresholds import load_thresholds
    from runner.results import RunRecorder

    path = tmp_path / "results.json"
    planned = [("mesh.uses_sin_ssh_alias", "s1", 1), ("mesh.uses_sin_ssh_alias", "s2", 1)]
    recorder = RunRecorder(path, {"run_id": "r"}, planned, load_thresholds(), min_interval_s=0.3)
    first = dict(planned_row(*planned[0]), status="complete", passed=True, reason="ok")
    second = dict(planned_row(*planned[1]), status="complete", passed=False, reason="no")
    recorder.record(first)  # written at once
    recorder.record(second)  # inside the interval: written by the trailing flush, with no third sample
    time.sleep(1.0)
    done = {r["scenario"]: r["status"] for r in json.loads(path.read_text())["results"]}
    assert done == {"s1": "complete", "s2": "complete"}
    assert recorder.finish(interrupted=False)["run"]["state"] == "finished"
    time.sleep(0.4)
    assert json.loads(path.read_text())["run"]["state"] == "finished"  # no late flush overwrote the end
