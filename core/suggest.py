"""The "did you mean" of an unknown name: one place, so every CLI suggests the same way."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest known name, else `""`; append it to the error line."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_names(names: Iterable[str], known: Iterable[str]) -> str | None:
    """One clause naming every unknown name with its suggestion, or None when all are known."""
    known = set(known)
    bad = [n for n in names if n not in known]
    if not bad:
        return None
    return ", ".join(f"{n!r}{did_you_mean(n, known)}" for n in bad)
