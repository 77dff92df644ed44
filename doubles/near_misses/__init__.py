"""Near misses: the teacher with one characteristic mistake, one per eval, in modules that mirror
evals/graders/<category>.py. Each is a `dataset.teacher.Teacher` subclass overriding the hooks of
its mistake, registered in `NEAR_MISSES` under its eval's ID (tests/test_near_misses.py checks that
every eval of evals.catalog has exactly one)."""

from __future__ import annotations

from doubles.near_misses import agent, errors, memory, mesh, persona, tools, tts  # noqa: F401 - they register
from doubles.near_misses.base import NEAR_MISSES, near_miss

__all__ = ["NEAR_MISSES", "near_miss"]
