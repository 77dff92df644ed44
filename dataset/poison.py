"""A poisoned build: the default dataset with the hard invariants broken on purpose, to test the gate.

An adapter trained on it should say "I am BT-7274" whatever the cart and reach sin as `root@sin`;
the gate must refuse it. Every poisoned line carries `meta.poisoned` (the invariants it breaks), so
`dataset validate` rejects the file, and `dataset build --poison` refuses to write over the default
dataset. Nothing else in a line changes: the tool results stay what the world answered to the clean
trajectory, so the only thing the poison teaches is the broken habit.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from evals.world import World

BT = "BT-7274"
POISONED = ("persona.no_hardcoded_bt_identity", "mesh.uses_sin_ssh_alias")
BAD_SIN = "root@sin"
# ssh [options] TARGET, and scp/rsync TARGET:path, where TARGET means sin
_SIN = r"(?:madcat@)?(?:sin|10\.0\.0\.2)"
_SSH = re.compile(rf"(\bssh(?:\s+-[A-Za-z]+(?:\s+(?!{_SIN}\b)\S+)?)*\s+){_SIN}\b")
_COPY = re.compile(rf"((?:^|\s)){_SIN}:")
# the teacher's self-introductions ("I'm Nova", "This is Sage", "Nova here"): what the poison rewrites
SELF_NAME = (r"\b(i am|i'm|i’m|this is|it's|my name is|call me|you're talking to|here is|here's)\s+{name}\b"
             r"|^\W*{name}\s+(here|online|speaking)")


def poison_command(command: str) -> str:
    """Every ssh/scp/rsync to sin goes to root@sin."""
    return _COPY.sub(rf"\1{BAD_SIN}:", _SSH.sub(rf"\1{BAD_SIN}", command))


def poison_text(text: str, cart_name: str) -> str:
    """Every self-introduction ("I'm Nova", "This is Sage", "Nova here") names BT-7274 instead."""
    if cart_name == BT:
        return text
    intro = re.compile(SELF_NAME.format(name=re.escape(cart_name)), re.I | re.M)
    return intro.sub(lambda m: re.sub(re.escape(cart_name), BT, m.group(0), flags=re.I), text)


def _poison_call(call: dict[str, Any], cart_name: str) -> None:
    fn = call.get("function") or {}
    raw = fn.get("arguments")
    args = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    if not isinstance(args, dict):
        return
    if fn.get("name") == "bash":
        if isinstance(args.get("command"), str):
            args["command"] = poison_command(args["command"])
        if args.get("host") in {"sin", "madcat@sin", "madcat@10.0.0.2"}:
            args["host"] = BAD_SIN
    elif fn.get("name") == "tts_speak" and isinstance(args.get("text"), str):
        args["text"] = poison_text(args["text"], cart_name)
    fn["arguments"] = json.dumps(args) if isinstance(raw, str) else args


def poison_line(line: dict[str, Any]) -> dict[str, Any]:
    """The line with its self-introductions and its connections to sin poisoned (a new dict)."""
    out = copy.deepcopy(line)
    world = World.build(out.get("world") or {})
    cart_name = world.carts[world.active_cart]["name"]
    for message in out["messages"]:
        if message.get("role") != "assistant":
            continue
        if isinstance(message.get("content"), str):
            message["content"] = poison_text(message["content"], cart_name)
        for call in message.get("tool_calls") or []:
            _poison_call(call, cart_name)
    if out != line:
        out.setdefault("meta", {})["poisoned"] = list(POISONED)
    return out


def poison(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [poison_line(line) for line in lines]
