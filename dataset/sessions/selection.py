"""Selection by the graders: a candidate is kept when it passes at least one behaviour that
applies to it and fails no hard invariant."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


class GradersUnavailable(RuntimeError):
    """evals.catalog cannot be imported (one-line message)."""


@dataclass
class Graders:
    """The grader API this module needs (evals.catalog, or a stand-in in tests)."""

    eval_ids: list[str]
    hard: frozenset[str]
    grade: Callable[[str, Any], Any]  # -> object with .passed, .reason (and .exercised, default True)
    applicable: Callable[[Any], Iterable[str]]
    prepare: Callable[[dict], Any] | None = None  # parse once (load_transcript), not once per grader


@dataclass
class Selection:
    passed: list[str] = field(default_factory=list)  # behaviours shown (not hard invariants)
    failed: list[str] = field(default_factory=list)
    hard_failed: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def keep(self) -> bool:
        return self.error is None and bool(self.passed) and not self.hard_failed


def load_graders() -> Graders:
    try:
        from evals.catalog import EVALS, HARD_INVARIANTS, applicable_evals, grade
        from evals.transcript import load_transcript
    except Exception as exc:  # any import-time failure means: no graders
        raise GradersUnavailable(f"the graders (evals.catalog) cannot be imported: {exc}") from exc
    return Graders(list(EVALS), frozenset(HARD_INVARIANTS), grade, applicable_evals, load_transcript)


def _id(item: Any) -> str:
    return item if isinstance(item, str) else str(getattr(item, "id", item))


def select(graders: Graders, transcript: Any) -> Selection:
    """Keep or drop one candidate by evals.catalog.verdicts: the behaviours it shows, misses, or breaks."""
    from evals.catalog import verdicts

    result = Selection()
    try:
        if graders.prepare is not None:
            transcript = graders.prepare(transcript)
        applicable = lambda t: [_id(e) for e in graders.applicable(t)]  # noqa: E731
        for eval_id, (verdict, _applies) in verdicts(transcript, graders.grade, applicable, graders.hard).items():
            exercised = getattr(verdict, "exercised", True)  # not exercised: neither shown nor broken
            if eval_id in graders.hard:
                if not verdict.passed and exercised:
                    result.hard_failed.append(eval_id)
            elif verdict.passed:
                result.passed.append(eval_id)
            elif exercised:
                result.failed.append(eval_id)
    except Exception as exc:  # a grader's complaint about one candidate drops that candidate only
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return result


def infer_world(transcript: dict, carts: Iterable[str] | None = None) -> dict:
    """World overrides read from the session's own settings reads (active cart, TTS on/off), so
    graders judge it against the settings it saw rather than the default world."""
    ids = {}
    for msg in transcript.get("messages", []):
        for call in msg.get("tool_calls") or []:
            if call.get("function", {}).get("name") == "settings_get":
                ids[call.get("id")] = True
    world: dict[str, Any] = {}
    for msg in transcript.get("messages", []):
        if msg.get("role") != "tool" or msg.get("tool_call_id") not in ids or msg.get("is_error"):
            continue
        try:
            data = json.loads(msg.get("content") or "")
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        cart = data.get("active_cart")
        if isinstance(cart, str) and (carts is None or cart in carts) and "active_cart" not in world:
            world["active_cart"] = cart
        enabled = data.get("tts.enabled", data.get("tts_enabled"))
        if isinstance(enabled, bool) and "tts_enabled" not in world:
            world["tts_enabled"] = enabled
    return world
