"""evals/thresholds.yaml, the pass rate each behaviour needs: one reader for `pytest evals/` (the runner)
and the promotion gate (reports/gate.py).

The file is ``{default: RATE, evals: {ID: RATE}}``; a behaviour the file does not name needs its
``default``, and a file without one means DEFAULT_PASS_RATE. The hard invariants need every try to pass,
whatever the file says.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.safe_io import InputError, read_yaml
from core.suggest import unknown_names
from evals.catalog import EVALS, HARD_INVARIANTS

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.yaml")
DEFAULT_PASS_RATE = 0.6  # when thresholds.yaml has no `default`

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "default": {"type": "number", "minimum": 0, "maximum": 1},
        "evals": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
}


def file_rates(doc: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """(the default, {eval id: rate}) of a parsed thresholds file."""
    return float(doc.get("default", DEFAULT_PASS_RATE)), {k: float(v) for k, v in (doc.get("evals") or {}).items()}


def unknown_ids(ids: Iterable[str]) -> str | None:
    """The ids that name no behaviour, each with its "did you mean" (None when all are known)."""
    return unknown_names(ids, EVALS)


def pass_rates(default: float, per_eval: dict[str, float], behaviours: Iterable[str]) -> dict[str, float]:
    return {b: float(per_eval.get(b, default)) for b in behaviours}


def load_thresholds(path: Path | None = None) -> dict[str, float]:
    """{eval id: the pass rate it needs} for every behaviour; hard invariants always need 1.0."""
    path = path or THRESHOLDS_FILE
    try:
        data = read_yaml(path, "thresholds file") or {}
    except InputError as exc:
        raise ValueError(f"cannot read thresholds: {exc}") from None
    default, overrides = file_rates(data)
    unknown = unknown_ids(sorted(overrides))
    if unknown:
        raise ValueError(f"{path}: unknown behaviour id {unknown} (see `python -m evals list`)")
    out = pass_rates(default, overrides, EVALS)
    for i in HARD_INVARIANTS:
        out[i] = 1.0
    if any(not 0.0 <= v <= 1.0 for v in out.values()):
        raise ValueError(f"{path}: thresholds are pass rates between 0 and 1")
    return out
