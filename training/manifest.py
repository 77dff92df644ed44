"""The training manifest: what was trained, from what, with what, and how it went.

It sits beside the adapter directory, as ``<adapter_dir>.manifest.json``, not inside it: eval runs
hash the adapter directory (core.hashing.adapter_sha256 covers every file in it), and the
manifest records that very hash, so it cannot be one of the hashed files. Copy both to the server.
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.adapter.manifest import manifest_path
from core.hashing import adapter_sha256, file_sha256
from core.safe_io import write_text_atomic

_LIBRARIES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "safetensors",
              "tokenizers", "triton", "flash-linear-attention", "fla-core", "tilelang", "causal-conv1d")


def library_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_state(repo: Path) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--", "training", "serving", "dataset")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def loss_curve(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("step", "epoch", "loss", "learning_rate", "grad_norm", "mean_token_accuracy", "num_tokens")
    return [{k: e[k] for k in keep if k in e} for e in log_history if "loss" in e]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_manifest(adapter_dir: Path, *, config: dict[str, Any], dataset_path: Path, data_stats: dict[str, Any],
                   log_history: list[dict[str, Any]], train_metrics: dict[str, Any], lora_modules: dict[str, list[int]],
                   lint: dict[str, Any], preflight: dict[str, Any] | None, load: dict[str, Any],
                   started: str, device: str) -> dict[str, Any]:
    """Write <adapter_dir>.manifest.json; returns the manifest."""
    repo = Path(__file__).resolve().parents[1]
    manifest = {
        "adapter": str(adapter_dir),
        "adapter_sha256": adapter_sha256(adapter_dir),
        "base_model": config["model"],
        "dataset": str(dataset_path),
        "dataset_sha256": file_sha256(dataset_path),
        "data": {k: v for k, v in data_stats.items() if k != "lengths"},
        "token_lengths": data_stats.get("lengths"),
        "config": config,
        "versions": library_versions(),
        **git_state(repo),
        "device": device,
        "started": started,
        "finished": now(),
        "train": train_metrics,
        "loss_curve": loss_curve(log_history),
        "lora_modules": lora_modules,
        "lint": lint,
        "preflight": preflight,
        "load": load,
    }
    write_text_atomic(manifest_path(adapter_dir), json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest
