"""Swap a freshly written directory into place, so a reader (a test, a vLLM server) never sees half of one."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def publish_dir(tmp: Path, out: Path) -> None:
    """Replace `out` with `tmp` (a directory written next to it): the old one moves aside, then goes."""
    tmp.chmod(0o755)  # mkdtemp makes private dirs; models and adapters are read by other users (vLLM)
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        out.rename(old / out.name)
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(out)
