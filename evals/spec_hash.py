"""The digest of the spec that grades a run: results.json records it, `reports compare` checks it.

`spec_sha256()` hashes the source of everything that decides a verdict: the graders and predicates, the
scenarios and their task checks, the transcript and episode model, the catalog, and the simulated world
(its tools, default world and shell), i.e. every .py/.yaml/.json file under evals/ except what does not
grade (the runner lives outside, in runner/): the CLI and pytest front end, the self-test agents, the thresholds (a bar,
not a verdict) and the prompts (what the model reads). Files are taken in sorted order of their POSIX
paths relative to evals/; each contributes its path, a NUL, its size, a NUL and its bytes. Source, not a
catalog digest: a grader's body changes verdicts without changing any name or sentence the catalog lists.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

SPEC_ROOT = Path(__file__).resolve().parent
_SUFFIXES = {".py", ".yaml", ".json"}
_NOT_GRADING_DIRS = {"prompts", "__pycache__"}
_NOT_GRADING_FILES = {"__main__.py", "test_behaviours.py", "selftest.py", "thresholds.py", "thresholds.yaml",
                      "spec_hash.py"}


def spec_files(root: Path = SPEC_ROOT) -> list[Path]:
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if (p.is_file() and p.suffix in _SUFFIXES and not _NOT_GRADING_DIRS & set(rel.parts[:-1])
                and not (len(rel.parts) == 1 and rel.name in _NOT_GRADING_FILES)):
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in spec_files(root):
        data = p.read_bytes()
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


@cache
def spec_sha256() -> str:
    """This checkout's spec digest (read once per process)."""
    return digest(SPEC_ROOT)
