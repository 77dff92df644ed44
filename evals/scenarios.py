"""Eval scenarios: data files under evals/scenarios/, one list of scenarios per category.

A scenario: `id`, `eval`, the user's request (`user`, or full `messages`), optional `system`
("cart": the minimal prompt naming the active cart, the default; "none": no system message; or
literal text), `replies` (what the user answers, in order, each time the agent stops and waits;
e.g. a confirmation), `world` overrides, `faults`, `expect` (what the grader needs to know, e.g. the cart a
voice switch should target), `check` (the outcome the user asked for, see evals/checks.py: the behaviour
passes only when the task was done too), `max_turns`, `allows` (the kinds of change the request asks for, evals/world/changes.py: any other change
fails the task; a question allows nothing, the default) and `after_reply` (kinds the request says to check
with the user first: such a change before the user's first reply fails the task).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from evals.checks import BadCheck, validate_check
from evals.world import World
from evals.world.changes import KINDS as CHANGE_KINDS

SCENARIO_DIR = Path(__file__).with_name("scenarios")
PROMPT_DIR = Path(__file__).with_name("prompts")
MINIMAL_PROMPT = "You are {name}, the active madcat cart (tag {tag})."


@lru_cache(maxsize=1)
def full_system_prompt() -> str:
    """The house rules written out: what a base model without the adapter needs (a comparison arm)."""
    return (PROMPT_DIR / "full_system.md").read_text().strip()


def minimal_system_prompt(world: World) -> str:
    """Cart identity only, as at run time: the adapter carries the rest."""
    cart = world.carts[world.active_cart]
    return MINIMAL_PROMPT.format(name=cart["name"], tag=cart["tag"])


@dataclass
class Scenario:
    id: str
    eval: str
    messages: list[dict[str, Any]]
    system: str = "cart"
    world: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)  # the task's outcome (evals/checks.py)
    max_turns: int = 24  # generations; a careful agent needs up to ~21 on the longest scenarios
    replies: list[str] = field(default_factory=list)  # what the user says each time the agent stops
    notes: str = ""
    allows: list[str] = field(default_factory=list)  # kinds of change the request asks for (changes.KINDS)
    after_reply: list[str] = field(default_factory=list)  # kinds that must wait for the user's reply

    @property
    def category(self) -> str:
        return self.eval.split(".", 1)[0]

    def build_world(self) -> World:
        return World.build(self.world, self.faults)

    def initial_messages(self, prompt: str = "minimal") -> list[dict[str, Any]]:
        """The messages the model starts from. prompt: "minimal" (cart identity) or "full" (house rules)."""
        world = self.build_world()
        messages = copy.deepcopy(self.messages)
        if self.system == "none" and prompt == "minimal":
            return messages
        if self.system in {"cart", "none"}:
            system = minimal_system_prompt(world)
        else:
            system = self.system
        if prompt == "full":
            system = f"{system}\n\n{full_system_prompt()}"
        return [{"role": "system", "content": system}, *messages]

    def transcript_stub(self) -> dict[str, Any]:
        """The transcript fields a trajectory of this scenario carries besides its messages."""
        return {"world": self.world, "faults": self.faults,
                "meta": {"scenario": self.id, "eval": self.eval, "expect": self.expect, "check": self.check,
                         "allows": list(self.allows), "after_reply": list(self.after_reply)}}


def _parse(entry: dict[str, Any], source: str) -> Scenario:
    if not isinstance(entry, dict) or "id" not in entry or "eval" not in entry:
        raise ValueError(f"{source}: every scenario needs an id and an eval")
    if "messages" in entry:
        messages = entry["messages"]
    elif "user" in entry:
        messages = [{"role": "user", "content": entry["user"]}]
    else:
        raise ValueError(f"{source}: scenario {entry['id']} needs `user` or `messages`")
    known = {"id", "eval", "user", "messages", "system", "world", "faults", "expect", "check", "max_turns", "replies",
             "notes", "allows", "after_reply"}
    if set(entry) - known:
        raise ValueError(f"{source}: scenario {entry['id']} has unknown keys {sorted(set(entry) - known)}")
    check = entry.get("check") or {}
    try:
        validate_check(check)
    except BadCheck as exc:
        raise ValueError(f"{source}: scenario {entry['id']}: {exc}") from None
    kinds = {key: _change_kinds(entry, key, source) for key in ("allows", "after_reply")}
    return Scenario(id=str(entry["id"]), eval=str(entry["eval"]), messages=messages,
                    system=str(entry.get("system", "cart")), world=entry.get("world") or {},
                    faults=entry.get("faults") or {}, expect=entry.get("expect") or {}, check=check,
                    max_turns=int(entry.get("max_turns", Scenario.max_turns)), replies=[str(r) for r in entry.get("replies") or []],
                    notes=str(entry.get("notes", "")), **kinds)


def _change_kinds(entry: dict[str, Any], key: str, source: str) -> list[str]:
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{source}: scenario {entry['id']}: {key} must be a list of change kinds")
    unknown = sorted(set(value) - set(CHANGE_KINDS))
    if unknown:
        raise ValueError(f"{source}: scenario {entry['id']}: {key} has unknown kinds {unknown} "
                         f"(known: {', '.join(CHANGE_KINDS)})")
    return list(value)


@lru_cache(maxsize=1)
def _load_all() -> tuple[Scenario, ...]:
    scenarios: list[Scenario] = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text()) or []:
            scenarios.append(_parse(entry, path.name))
    ids = [s.id for s in scenarios]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate scenario ids: {sorted(dupes)}")
    return tuple(scenarios)


def load_scenarios(evals: list[str] | None = None, ids: list[str] | None = None) -> list[Scenario]:
    """All scenarios (a copy), optionally only those of some evals or ids."""
    out = [copy.deepcopy(s) for s in _load_all()]
    if evals:
        out = [s for s in out if s.eval in evals]
    if ids:
        out = [s for s in out if s.id in ids]
    return out
