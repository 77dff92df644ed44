"""Task checks: did the agent do what the user asked? Judged on the world its calls left behind.

A scenario's grader judges a habit (recall before the edit, the sin alias); its `check`
judges the outcome the user asked for, τ²-bench style, so that a trajectory that dodges the task
cannot pass by showing a habit in passing. Each key is one requirement, all must hold:

  answer   [regex, ...]        the agent's text (all its turns) matches each, case-insensitive: a fact
                               only the right tool calls could have produced ("max-lora-rank: 16" -> 16)
  spoken   regex               something matching was actually spoken (tts_speak with TTS on)
  voice    cart                the TTS voice at the end is that cart's
  stored   {kind, text}        a memory of that kind (or list of kinds) whose title + content matches
  file     {path: regex, ...}  the file's final content matches (a declaration the task asked for)
  ran      {host, command} | [..]  a command matching ran on that host (through ssh or the host argument)

The final world is rebuilt by replaying the trajectory's calls against a fresh simulator: the
simulator is deterministic, so the replay is the world the agent saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from evals.transcript import Transcript
from evals.world import Simulator, World

CHECK_KEYS = ("answer", "spoken", "voice", "stored", "file", "ran")


class BadCheck(ValueError):
    """A scenario's `check` is malformed (the message names the key)."""


def final_world(t: Transcript) -> World:
    """The world after every call of the trajectory (calls whose arguments did not parse are skipped)."""
    world = World.build(t.world_overrides, t.faults_spec)
    simulator = Simulator(world)
    for call in t.calls:
        if call.args is not None:
            simulator.call(call.name, call.args)
    return world


def _search(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.I | re.S) is not None


def _answer(t: Transcript, world: World, patterns: Any) -> str | None:
    text = "\n".join(turn.content for turn in t.turns)
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        if not _search(pattern, text):
            return f"the answer never says what the user asked for (expected /{pattern}/)"
    return None


def _spoken(t: Transcript, world: World, pattern: str) -> str | None:
    if any(entry["spoken"] and _search(pattern, entry["text"]) for entry in world.tts_log):
        return None
    return f"nothing matching /{pattern}/ was spoken"


def _voice(t: Transcript, world: World, cart: str) -> str | None:
    key = world.find_cart(cart)
    if key is None:
        raise BadCheck(f"check.voice names no cart: {cart!r}")
    if world.data["tts_voice"] != world.carts[key]["voice"]:
        return f"the TTS voice ended as {world.data['tts_voice']!r}, not {key}'s {world.carts[key]['voice']!r}"
    return None


def _stored(t: Transcript, world: World, spec: Any) -> str | None:
    kinds = spec.get("kind")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or [])
    pattern = str(spec.get("text", ""))
    initial = World.build(t.world_overrides, t.faults_spec).data["memories"]
    for key, memory in world.data["memories"].items():
        if key in initial and initial[key] == memory:
            continue
        if (not kinds or memory.get("kind") in kinds) and _search(pattern, f"{memory.get('title')}\n{memory.get('content')}"):
            return None
    return f"no {'/'.join(sorted(kinds)) or 'memory'} matching /{pattern}/ was stored"


def _file(t: Transcript, world: World, spec: Any) -> str | None:
    for path, pattern in spec.items():
        content = world.files.get(path)
        if content is None:
            return f"{path} does not exist at the end"
        if not _search(str(pattern), content):
            return f"{path} does not have what was asked for (expected /{pattern}/)"
    return None


def _ran(t: Transcript, world: World, spec: Any) -> str | None:
    for item in [spec] if isinstance(spec, dict) else spec:
        host, pattern = item.get("host"), str(item.get("command", ""))
        if not any((host is None or entry["host"] == host) and _search(pattern, entry["command"])
                   for entry in world.shell_log):
            return f"no command matching /{pattern}/ ran on {host or 'any host'}"
    return None


CHECKS: dict[str, Callable[[Transcript, World, Any], str | None]] = {
    "answer": _answer, "spoken": _spoken, "voice": _voice, "stored": _stored, "file": _file, "ran": _ran,
}


def validate_check(check: Any) -> None:
    """Raise BadCheck when `check` is not a mapping of known keys with usable values."""
    if not isinstance(check, dict):
        raise BadCheck("check must be a mapping")
    unknown = sorted(set(check) - set(CHECKS))
    if unknown:
        raise BadCheck(f"check has unknown keys {unknown} (known: {', '.join(CHECKS)})")
    patterns: list[str] = []
    for key, value in check.items():
        if key == "answer":
            patterns += [value] if isinstance(value, str) else list(value)
        elif key == "spoken":
            patterns.append(value)
        elif key == "stored":
            patterns.append(value.get("text", ""))
        elif key == "file":
            patterns += list(value.values())
        elif key == "ran":
            patterns += [i.get("command", "") for i in ([value] if isinstance(value, dict) else value)]
    for pattern in patterns:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise BadCheck(f"check has a bad pattern /{pattern}/: {exc}") from None


def task_problem(t: Transcript, check: dict[str, Any] | None = None) -> str | None:
    """Why the task the user asked for was not done, or None when every check holds."""
    check = check if check is not None else t.meta.get("check")
    if not check:
        return None
    world = final_world(t)
    for key in CHECK_KEYS:
        if key in check:
            problem = CHECKS[key](t, world, check[key])
            if problem:
                return problem
    return None
