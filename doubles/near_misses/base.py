"""The near-miss registry: one `Teacher` subclass per eval, registered under the eval's ID."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from dataset.teacher import Teacher

NEAR_MISSES: dict[str, type[Teacher]] = {}


def near_miss(eval_id: str) -> Callable[[type[Teacher]], type[Teacher]]:
    """Register a teacher subclass as the characteristic near miss of `eval_id`."""

    def register(cls: type[Teacher]) -> type[Teacher]:
        if eval_id in NEAR_MISSES:
            raise ValueError(f"{eval_id} has a near miss already ({NEAR_MISSES[eval_id].__name__})")
        NEAR_MISSES[eval_id] = cls
        return cls

    return register


def stable_pick(key: str, options: list[Any]) -> Any:
    """A deterministic choice (near misses vary across scenarios)."""
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]
