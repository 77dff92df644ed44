"""Backends: which model answers the scenarios, checked before anything runs.

- `vllm`: an existing vLLM server (inspect-ai's `vllm` provider pointed at it); the adapter by its
  served LoRA name, the baseline by the base model's name. runner/backends/vllm.py.
- `openai`: any OpenAI-compatible endpoint (inspect-ai's `openai-api` provider). runner/backends/vllm.py.
- `local`: an in-process transformers model + optional peft adapter (the `madcat-local` provider in
  runner/backends/local_provider.py; the tiny twin by default).
- `replay`: recorded transcripts (JSONL) re-scored, no model. runner/backends/replay.py.

Every failure here is a BackendError whose text is the one line the user sees.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKENDS = ("vllm", "openai", "local", "replay")
NO_ADAPTER = ("none", "base", "baseline", "")


class BackendError(Exception):
    """The backend cannot be used as asked; str() is one line for the user."""


@dataclass
class ModelPlan:
    """What inspect runs (a model name + args, or a ready Model) and what results.json says about it."""

    model: Any = None  # inspect model name or Model; None for replay
    model_args: dict[str, Any] = field(default_factory=dict)
    model_base_url: str | None = None
    max_connections: int | None = None  # a backend's own default when the user gave none
    info: dict[str, Any] = field(
        default_factory=dict
    )  # backend, model, adapter, adapter_sha256, base_model, ...
    notes: list[str] = field(default_factory=list)  # what the user should know before the run starts


def is_baseline(adapter: str | None) -> bool:
    return adapter is None or adapter.strip().lower() in NO_ADAPTER


def adapter_sha256(adapter_dir: str | Path) -> str:
    """sha256 of an adapter directory's files (core.hashing's definition)."""
    from core.errors import BadInput
    from core.hashing import adapter_sha256 as _hash

    try:
        return _hash(adapter_dir)
    except BadInput as exc:
        raise BackendError(str(exc).removeprefix("reports: ")) from None


def adapter_files_info(adapter_dir: str | Path) -> dict[str, Any]:
    """What results.json records about adapter files at hand: their sha256, and from the training manifest
    beside them (`<dir>.manifest.json`, core/adapter/manifest.py) the dataset's sha256."""
    path = Path(adapter_dir).expanduser()
    info: dict[str, Any] = {"adapter_dir": str(path.resolve()), "adapter_sha256": adapter_sha256(path)}
    from core.adapter.manifest import manifest_path, read_manifest

    manifest = read_manifest(path)
    if manifest:
        info["dataset_sha256"] = manifest.get("dataset_sha256")
        info["adapter_manifest"] = str(manifest_path(path))
        if manifest.get("adapter_sha256") not in (None, info["adapter_sha256"]):
            info["adapter_manifest_mismatch"] = True  # the files changed since training wrote the manifest
    return info


def plan_local(adapter: str | None, model: str | None) -> ModelPlan:
    """The in-process `madcat-local` provider: the model dir (default: the tiny twin) and a peft dir."""
    from inspect_ai.model import get_model

    try:
        from runner.backends import local_provider
    except ImportError as exc:  # pragma: no cover - the provider ships with the repo
        raise BackendError(f"the local backend is unavailable: {exc}") from None
    if is_baseline(adapter):
        adapter_dir = None
    else:
        path = Path(str(adapter)).expanduser()
        if not path.is_dir():
            raise BackendError(
                f"--backend local takes --adapter as a peft adapter directory (or none); "
                f"{adapter!r} is not a directory"
            )
        adapter_dir = path
    model_name = model or "twin"
    try:
        built = get_model(
            f"{local_provider.PROVIDER_NAME}/{model_name}",
            **({"adapter": str(adapter_dir)} if adapter_dir else {}),
        )
    except local_provider.LocalModelError as exc:
        raise BackendError(str(exc)) from None
    api = built.api
    model_dir = Path(getattr(api, "model_dir", model_name))
    info = {
        "backend": "local",
        "model": str(model_dir),
        "base_model": model_dir.name,
        "adapter": str(adapter_dir) if adapter_dir else None,
        "server_version": f"transformers {importlib.metadata.version('transformers')}",
        **(adapter_files_info(adapter_dir) if adapter_dir else {}),
    }
    return ModelPlan(model=built, max_connections=api.max_connections(), info=info)
