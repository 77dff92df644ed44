"""Swap a freshly written directory into place, so a reader (a test, a vLLM server) never sees half of one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def publish_dir(tmp: Path, out: Path) -> None:
    """Replace `out` with `tmp` (a directory written next to it): the old one moves aside, then goes."""
    tmp.chmod(0o755)  # mkdtemp makes private dirs; models and adapters are read by other users (vLLM)
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        out.rename(old / out.name)
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(out)


def build_model_dir(out: Path, stamp_file: str, what: str, write: Callable[[Path], None]) -> Path:
    """Write a model directory with `write(tmp)` next to `out`, then swap it in; its files readable by all (a vLLM
    server). Refuses (ValueError) to replace a directory that has content but no `stamp_file`, i.e. is not a `what`."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / stamp_file).exists())):
        raise ValueError(f"{out} exists and is not {what}; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(tmp)
        for file in tmp.iterdir():
            file.chmod(0o644)
        publish_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
