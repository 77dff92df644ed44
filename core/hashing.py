"""Content hashes that tie an eval run to the exact adapter and dataset bytes it used.

``adapter_sha256(dir)``: sha256 over every regular file under the adapter dir (recursively, symlinks
followed), in sorted order of their POSIX paths relative to the dir; for each file the hash takes
the relative path, a NUL byte, the size in decimal, a NUL byte, then the bytes. Renaming, adding,
removing or changing any file changes the hash; the dir's own location does not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from core.errors import BadInput

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


def _files(root: Path) -> list[Path]:
    """Every regular file under root, symlinked files and directories followed (Path.rglob skips symlinked
    directories before Python 3.13); a symlink back into a directory being walked is a loop: refused."""
    def unreadable(exc: OSError) -> None:
        raise BadInput(f"reports: cannot read {exc.filename} in adapter dir {root}: {exc.strerror or exc}")

    out: list[Path] = []
    for current, dirs, names in os.walk(root, followlinks=True, onerror=unreadable):
        here = Path(current)
        ancestors = {os.path.realpath(p) for p in (here, *here.parents) if p == root or root in p.parents}
        for d in dirs:
            if os.path.realpath(here / d) in ancestors:
                raise BadInput(f"reports: adapter dir {root} has a symlink loop at {here / d}")
        out.extend(p for p in (here / n for n in names) if p.is_file())
    return out


def adapter_sha256(adapter_dir: str | Path) -> str:
    root = Path(adapter_dir)
    if not root.is_dir():
        raise BadInput(f"reports: adapter dir {root} does not exist")
    files = sorted(_files(root), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise BadInput(f"reports: adapter dir {root} has no files")
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode("utf-8") + b"\0")
        h.update(str(p.stat().st_size).encode("ascii") + b"\0")
        for block in _blocks(p):
            h.update(block)
    return h.hexdigest()
