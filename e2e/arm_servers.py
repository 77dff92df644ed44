"""The servers of a comparison's arms (e2e/awq_vs_bf16.py, e2e/awq_qwen.py, e2e/tensor_parallel.py): each started
from a serving config with its log in the record, the adapter's own module kinds as `--lora-target-modules`, and
why one died, read from its log."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

from e2e.steps import Step, start_server

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


def stop_servers(work: Path, names: tuple[str, ...], summary: dict[str, Any]) -> None:
    """End each named server this driver started (its session's pid in work/vllm-<name>.pid), noting which."""
    for name in names:
        pid_file = work / f"vllm-{name}.pid"
        if pid_file.is_file():
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError, PermissionError):
                pass
            pid_file.unlink()
            summary.setdefault("stopped", []).append(name)
