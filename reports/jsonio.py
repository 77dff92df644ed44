"""JSON output that stays valid JSON: NaN and infinities (undefined statistics) become null."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.safe_io import write_json_atomic


def jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> Path:
    """Atomically (core/safe_io.py): a reader never sees half a gate.json or comparison.json."""
    try:
        write_json_atomic(path, jsonable(obj), indent=2, allow_nan=False)
    except OSError as e:
        raise BadInput(f"reports: cannot write {path}: {e}") from None
    return path
