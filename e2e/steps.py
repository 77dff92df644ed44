"""The steps the GPU-host drivers (e2e/*.py) are made of: a command run into the record (`Step`), the phases of a
phased driver and the record they share (summary.json, merged across phases), the host's versions, and the vLLM
servers they start and stop (an arm's server with the adapter's module kinds as its targets, and why one refused,
from its log). Only subprocesses and files: the drivers decide what to run."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.safe_io import write_text_atomic

REPO = Path(__file__).resolve().parent.parent


class Step:
    """One command of the loop: its log, exit code and time, recorded in the summary."""

    def __init__(self, out: Path, summary: dict[str, Any]) -> None:
        self.out = out
        self.summary = summary

    def run(self, name: str, argv: list[str], *, ok_codes: tuple[int, ...] = (0,), env: dict | None = None,
            timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        print(f"[e2e] {name}: {shlex.join(argv)}", flush=True)
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, **(env or {})})
        except subprocess.TimeoutExpired as exc:  # keep what it printed before the limit
            (self.out / "logs").mkdir(parents=True, exist_ok=True)
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            write_text_atomic(self.out / "logs" / f"{name}.log", f"$ {shlex.join(argv)}\n# timed out after {timeout}s\n{out}\n--- stderr ---\n{err}")
            self.summary["steps"].append({"name": name, "command": shlex.join(argv), "exit": "timeout",
                                          "seconds": timeout, "expected_exit": list(ok_codes)})
            raise
        seconds = round(time.monotonic() - started, 2)
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            self.out / "logs" / f"{name}.log", f"$ {shlex.join(argv)}\n# exit {proc.returncode} after {seconds}s\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
        self.summary["steps"].append({"name": name, "command": shlex.join(argv), "exit": proc.returncode,
                                      "seconds": seconds, "expected_exit": list(ok_codes)})
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print(f"[e2e] {name}: exit {proc.returncode} in {seconds}s " + " | ".join(tail)[-300:], flush=True)
        if proc.returncode not in ok_codes:
            raise StepFailed(f"{name} exited {proc.returncode} (expected {ok_codes}); see logs/{name}.log")
        return proc


class StepFailed(RuntimeError):
    pass


def open_record(out: Path, work: Path) -> tuple[dict[str, Any], int, Step]:
    """A phase's record: OUT_DIR/summary.json as earlier phases left it (or a new one), the index of this
    phase's first step, and the Step that records into it."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    earlier = out / "summary.json"
    summary: dict[str, Any] = json.loads(earlier.read_text()) if earlier.exists() else {"steps": [], "measured": {}}
    summary.setdefault("versions", versions())
    return summary, len(summary["steps"]), Step(out, summary)


def save_summary(out: Path, summary: dict[str, Any], first_new_step: int) -> dict[str, Any]:
    """Write summary.json merged with what another phase wrote meanwhile (the train and serve phases may run at
    once): its steps and measurements kept, this phase's added; returns what was written. Once a phase."""
    path = out / "summary.json"
    try:
        disk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        disk = None
    if isinstance(disk, dict) and isinstance(disk.get("steps"), list) and isinstance(disk.get("measured"), dict):
        steps = disk["steps"] + summary["steps"][first_new_step:]
        measured = dict(disk["measured"])
        for key, value in summary["measured"].items():
            both_dicts = isinstance(value, dict) and isinstance(measured.get(key), dict)
            measured[key] = {**measured[key], **value} if both_dicts else value
        summary = {**disk, **summary, "steps": steps, "measured": measured}
    write_text_atomic(path, json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def phased_parser(prog: str, doc: str, record: str, phases: tuple[str, ...], work: str) -> argparse.ArgumentParser:
    """The arguments every phased driver takes: where the record goes, the phase, the scratch dir kept between
    calls (phases run in separate calls on a host with a 10-minute command limit)."""
    p = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    p.add_argument("out", type=Path, help=f"where the record goes ({record})")
    p.add_argument("--phase", required=True, choices=phases)
    p.add_argument("--work", type=Path, default=Path(work), help="scratch dir kept between calls")
    return p


def step_lines(summary: dict[str, Any]) -> list[str]:
    """summary.md's closing list: each step and its exit."""
    return ["", "## Steps", ""] + [f"- {s['name']}: exit {s['exit']}" for s in summary.get("steps", [])]


PhaseAction = Callable[[Step, dict[str, Any]], None]


def run_phase(out: Path, work: Path, phase: str, action: PhaseAction, *, tag: str,
              render: Callable[[dict[str, Any]], str | None] | None = None) -> tuple[int, dict[str, Any]]:
    """One phase of a phased driver: `action` runs into the record, a failure becomes its outcome (never a
    traceback), the phase's time and summary.json are saved, and summary.md is rendered (unless `render` says
    None). Returns the exit code (0 when the phase completed) and the summary as written."""
    summary, first_new_step, step = open_record(out, work)
    started = time.monotonic()
    try:
        action(step, summary)
        summary["outcome"] = f"{phase}: complete"
    except (StepFailed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as exc:
        summary["outcome"] = f"{phase}: stopped: {exc.__class__.__name__}: {exc}"
    finally:
        summary["measured"].setdefault("phase_seconds", {})[phase] = round(time.monotonic() - started, 1)
        summary = save_summary(out, summary, first_new_step)
        text = render(summary) if render else None
        if text is not None:
            write_text_atomic(out / "summary.md", text)
        print(f"[{tag}] {summary['outcome']}", flush=True)
    return (0 if summary["outcome"].endswith("complete") else 1), summary


# vLLM's own log lines (which kernels, which LoRA layers it skipped) were missing from the 2026-12-02 servers'
# logs (reports/records/awq-vs-bf16/README.md); the servers get vLLM's defaults said outright, and the record keeps the
# host's VLLM_* settings, so a next run shows its lines or says why not.
VLLM_LOG_ENV = {"VLLM_CONFIGURE_LOGGING": "1", "VLLM_LOGGING_LEVEL": "INFO"}


def server_env(config_env: dict[str, str]) -> dict[str, str]:
    """The environment a vLLM server starts with: this one, vLLM's logging defaults, then the config's env."""
    return {**os.environ, **VLLM_LOG_ENV, **config_env}


def versions() -> dict[str, Any]:
    out: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "python": sys.version.split()[0],
                           "vllm_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("VLLM_")}}
    for name in ("vllm", "torch", "transformers", "peft", "trl", "bitsandbytes", "inspect_ai", "triton"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - a missing package is a fact to record
            out[name] = f"not importable ({exc.__class__.__name__})"
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        out["gpu"] = gpu.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out["gpu"] = "unknown"
    return out


def start_server(config_name: str, overrides: dict[str, Any], log_path: Path) -> tuple[subprocess.Popen, list[str]]:
    """`vllm serve` from serving/configs/<config_name>.yaml with the overrides, in its own session (it outlives the
    call that started it; stop() ends it and its workers), its output to log_path; the process and its argv."""
    from serving.serve_config import load_serve_config, serve_command

    config = load_serve_config(config_name)
    argv = serve_command(config, overrides)
    print(f"[e2e] vllm serve ({log_path.name}): {shlex.join(argv)}", flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=server_env(config.env),
                                start_new_session=True)
    return proc, argv


def stop(proc: subprocess.Popen) -> None:
    """A server started in its own session, and its workers; nothing to do when it has already died."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except ProcessLookupError:  # it died between the poll and the signal
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# What in a dead server's log says why: the exception, and whatever names LoRA, quantisation or a kernel.
FAILURE_LINE = re.compile(r"lora|punica|quant|marlin|compressed|wna16|machete|fused_moe|moe|not supported|"
                          r"notimplemented|assert|error|exception", re.I)
EXCEPTION_LINE = re.compile(r"^\s*(?:\w+\.)*\w*(Error|Exception|Exit|Interrupt)\b.*", re.M)
def failure_excerpt(log: str, keep: int = 25) -> dict[str, Any]:
    """Why a server died, from its log: the last exception line and the lines naming LoRA, quantisation or kernels."""
    exceptions = [m.group(0).strip() for m in EXCEPTION_LINE.finditer(log)]
    lines = [line.strip() for line in log.splitlines() if FAILURE_LINE.search(line)]
    return {"exception": exceptions[-1] if exceptions else None, "lines": lines[-keep:],
            "tail": log.strip().splitlines()[-8:]}


def strict_targets(lint: dict[str, Any]) -> list[str]:
    """The adapter's module kinds as vLLM's --lora-target-modules suffixes (from `serving lint --json`).

    With the flag set, vLLM 0.25.1 refuses to start when a matching layer cannot be wrapped by a LoRA layer;
    without it, it only logs a warning and serves the adapter without that layer."""
    return sorted({kind.rsplit(".", 1)[-1] for kind in lint.get("modules", {})})


def recorded_targets(out: Path) -> list[str] | None:
    """strict_targets of the adapter the prepare phase linted into the record, or None before it has."""
    lint = out / "lint.json"
    return strict_targets(json.loads(lint.read_text(encoding="utf-8"))) if lint.is_file() else None


def server_log(step: Step, name: str) -> Path:
    return step.out / "logs" / f"vllm-{name}.log"


def start_arm_server(step: Step, name: str, config_name: str, overrides: dict[str, Any]) -> tuple[subprocess.Popen, str]:
    """One arm's (or layout's) server, its log at logs/vllm-<name>.log; the process and its command line."""
    proc, argv = start_server(config_name, overrides, server_log(step, name))
    return proc, shlex.join(argv)


def refusal(step: Step, name: str, exc: Exception) -> dict[str, Any]:
    """A server that died before it was ready: why, from its log."""
    log = server_log(step, name).read_text(encoding="utf-8", errors="replace")
    return {"state": "refused", "why": str(exc), **failure_excerpt(log)}


def results_stats(run_dir: Path) -> dict[str, Any]:
    data = json.loads((run_dir / "results.json").read_text())
    rows = data["results"]
    complete = [r for r in rows if r.get("status") == "complete"]
    prompt = sum(r.get("prompt_tokens") or 0 for r in rows)
    requests = sum(r.get("requests") or 0 for r in rows)
    run = data["run"]
    seconds = run.get("seconds") or _elapsed(run)
    return {
        "samples": len(rows), "complete": len(complete), "passed": sum(1 for r in complete if r.get("passed")),
        "requests": requests, "prompt_tokens": prompt,
        "prompt_tokens_per_request": round(prompt / requests, 1) if requests else None,
        "completion_tokens": sum(r.get("completion_tokens") or 0 for r in rows),
        "wall_seconds": seconds, "requests_per_second": round(requests / seconds, 2) if seconds else None,
        "server_version": run.get("server_version"),
    }


def _elapsed(run: dict[str, Any]) -> float | None:
    try:
        return (datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None
