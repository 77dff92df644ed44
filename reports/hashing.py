"""Content hashes that tie an eval run to the exact adapter and dataset bytes it used.

``adapter_sha256(dir)``: sha256 over every regular file under the adapter dir (recursively, symlinks
followed), in sorted order of their POSIX paths relative to the dir; for each file the hash takes
the relative path, a NUL byte, the size in decimal, a NUL byte, then the bytes. Renaming, adding,
removing or changing any file changes the hash; the dir's own location does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from reports.errors import BadInput

_CHUNK = 1 << 20


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            yield block


def file_sha256(path: str | Path) -> str:
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"reports: {p} is not a file")
    h = hashlib.sha256()
    for block in _blocks(p):
        h.update(block)
    return h.hexdigest()


def adapter_sha256(adapter_dir: str | Path) -> str:
    root = Path(adapter_dir)
    if not root.is_dir():
        raise BadInput(f"reports: adapter dir {root} does not exist")
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise BadInput(f"reports: adapter dir {root} has no files")
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0")
        h.update(str(p.stat().st_size).encode("ascii") + b"\0")
        for block in _blocks(p):
            h.update(block)
    return h.hexdigest()
