"""Hand-written transcripts for the grader tests: small, readable, OpenAI-format.

    transcript(
        user("say hi"),
        turn(("settings_get", {}, '{"active_cart": "nova", "tts.enabled": true}')),
        turn(("tts_speak", {"text": "hi", "voice": "nova"}, "Spoke 1 words.")),
        say("Done."),
        world={"active_cart": "nova"},
    )

A `turn` is one assistant message with its (parallel) tool calls, each (name, args, result);
the tool messages follow it. Arguments go out as JSON strings, like OpenAI sends them.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from evals.catalog import grade
from evals.predicates import Verdict

_ids = itertools.count(1)

SETTINGS = {"active_cart": "bt7274", "tts.enabled": True, "tts.voice": "bt7274", "user": "madcat",
            "mesh.hosts": ["fuji", "junkpile", "sin"], "local_host": "fuji"}
ERROR = "Error: connection reset by peer"
TIMEOUT = "ssh: connect to host 10.0.0.2 port 22: Operation timed out\n(exit code 255)"
WG_SHOW = ("interface: wg0\npeer: sin\n  allowed ips: 10.0.0.2/32\n  latest handshake: 3 hours, 12 minutes ago\n"
           "peer: junkpile\n  allowed ips: 10.0.0.3/32\n  latest handshake: 41 seconds ago")
TESTS_PASS = "Test Files  4 passed (4)\n     Tests  23 passed (23)"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def say(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def turn(*calls: tuple[str, dict | str, str], content: str = "") -> list[dict[str, Any]]:
    """One assistant message with these calls, then one tool message per call."""
    tool_calls, results = [], []
    for name, args, result in calls:
        call_id = f"call_{next(_ids)}"
        arguments = args if isinstance(args, str) else json.dumps(args)
        tool_calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
        results.append({"role": "tool", "tool_call_id": call_id, "content": result})
    return [{"role": "assistant", "content": content, "tool_calls": tool_calls}, *results]


def settings(cart: str = "bt7274", tts: bool = True, key: str | None = None) -> tuple[str, dict, str]:
    """A settings_get call (all settings, or one key) answering like the world would."""
    data = {**SETTINGS, "active_cart": cart, "tts.enabled": tts, "tts.voice": cart}
    if key:
        return ("settings_get", {"key": key}, json.dumps({key: data[key]}))
    return ("settings_get", {}, json.dumps(data))


def bash(command: str, result: str = "", **extra: Any) -> tuple[str, dict, str]:
    return ("bash", {"command": command, **extra}, result)


def transcript(*parts: dict | list, world: dict | None = None, faults: dict | None = None,
               expect: dict | None = None, system: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for part in parts:
        messages.extend(part if isinstance(part, list) else [part])
    out: dict[str, Any] = {"messages": messages}
    if world:
        out["world"] = world
    if faults:
        out["faults"] = faults
    if expect:
        out["meta"] = {"expect": expect}
    return out


def verdict(eval_id: str, t: dict[str, Any]) -> Verdict:
    return grade(eval_id, t)


def passes(eval_id: str, t: dict[str, Any]) -> Verdict:
    v = grade(eval_id, t)
    assert v.passed, f"{eval_id} should pass: {v.reason}"
    return v


def not_exercised(eval_id: str, t: dict[str, Any], *fragments: str) -> Verdict:
    """Assert the trajectory never reached the behaviour's situation: neither a pass nor a failure."""
    v = grade(eval_id, t)
    assert v.outcome == "not_exercised", f"{eval_id} should be not exercised, got {v.outcome}: {v.reason}"
    for fragment in fragments:
        assert fragment in v.reason, f"{fragment!r} not in reason {v.reason!r}"
    return v


def fails(eval_id: str, t: dict[str, Any], *fragments: str) -> Verdict:
    """Assert the verdict fails and its reason names every fragment (the offending call, the turn)."""
    v = grade(eval_id, t)
    assert not v.passed, f"{eval_id} should fail"
    for fragment in fragments:
        assert fragment in v.reason, f"{fragment!r} not in reason {v.reason!r}"
    return v
