"""Where an adapter's training manifest lives and how it is read: the one rule the trainer (which
writes it, training/manifest.py) and the eval runs (which record its dataset hash) share.

The manifest sits beside the adapter directory, as ``<adapter_dir>.manifest.json``, not inside it:
eval runs hash the adapter directory (core.hashing.adapter_sha256 covers every file in it), and the
manifest records that very hash, so it cannot be one of the hashed files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(adapter_dir: str | Path) -> Path:
    p = Path(adapter_dir)
    return p.parent / (p.name + MANIFEST_SUFFIX)


def read_manifest(adapter_dir: str | Path) -> dict[str, Any] | None:
    """The manifest of an adapter directory, or None when there is none (or it is unreadable)."""
    try:
        return json.loads(manifest_path(adapter_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, not UTF-8, not JSON, nested too deeply
        return None
