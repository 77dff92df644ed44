"""What every recipe is built from: a session played against the simulated world, cart styles, todo plans.

A recipe is a function `(rng) -> Draft`. It picks a world (cart, TTS on/off, faults, extra files),
a user request from its own phrase bank, then plays the assistant's side with `Play`, which
wraps evals.episode.Episode: every tool result in a line is what the simulated world answered, and
the assistant's text is written from those results.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evals.episode import Episode, ToolCallSpec, call
from evals.scenarios import Scenario
from evals.world.state import default_world

__all__ = ["CARTS", "Draft", "Recipe", "Play", "Style", "TodoPlan", "call", "cart_get", "cart_info", "join", "pick", "style_of"]

CARTS = ("bt7274", "nova", "sage")


@dataclass
class Draft:
    """One generated conversation before the build grades it."""

    category: str
    recipe: str
    targets: tuple[str, ...]  # behaviours this recipe exists to show; the build checks they pass
    transcript: dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    name: str
    category: str
    targets: tuple[str, ...]
    play: Callable[[random.Random], Draft]


def cart_get(key: str) -> ToolCallSpec:
    """cart_get's argument is called `name`, which `call()` takes for the tool's own name."""
    return ToolCallSpec("cart_get", {"name": key})


def cart_info(key: str) -> dict[str, Any]:
    """A cart of the default world (name, tag, voice, cadence)."""
    return default_world()["carts"][key]


def pick(rng: random.Random, options: Sequence[Any]) -> Any:
    return options[rng.randrange(len(options))]


# --- cart styles: the same facts said in each cart's cadence -------------------------------------

@dataclass(frozen=True)
class Style:
    """Openers and closers for one cart's cadence (bt7274 terse, nova warm, sage formal)."""

    ack: tuple[str, ...]  # before starting work
    report: tuple[str, ...]  # before a result
    close: tuple[str, ...]  # after a result
    ask: tuple[str, ...]  # asking for a go-ahead
    sorry: tuple[str, ...]  # bad news

    def line(self, rng: random.Random, kind: str) -> str:
        return pick(rng, getattr(self, kind))


STYLES: dict[str, Style] = {
    "bt7274": Style(
        ack=("Acknowledged.", "Copy.", "Understood. Proceeding.", "Affirmative.", "On it."),
        report=("Status:", "Report:", "Result:", "Confirmed:", "Findings:"),
        close=("Standing by.", "Awaiting orders.", "Ready for the next task.", "", "Protocol complete."),
        ask=("Confirm to proceed.", "Awaiting your go.", "Say the word and I execute.", "Confirm: proceed?"),
        sorry=("Negative.", "Problem.", "Blocked.", "Unable to comply yet."),
    ),
    "nova": Style(
        ack=("Sure thing!", "On it!", "Ooh, fun one. Let me look.", "Happy to!", "Okay, let's do this."),
        report=("Okay, so:", "Here's what I found:", "Good news:", "Alright:", "So here's the deal:"),
        close=("Anything else you want me to poke at?", "Holler if you need more!", "Happy to help!", "",
               "Let me know what's next!"),
        ask=("Want me to go ahead?", "Shall I do it?", "Just say yes and I'll do it!", "Okay to go ahead?"),
        sorry=("Hmm, small snag.", "Ugh, bad news.", "Oof, that didn't go to plan.", "Hmm, hit a wall here."),
    ),
    "sage": Style(
        ack=("Certainly.", "Very well.", "Of course. I shall begin.", "Understood; I will attend to it."),
        report=("The findings are as follows:", "In summary:", "Here is the result:", "I can report the following:"),
        close=("Please let me know should you require anything further.", "I remain at your disposal.", "",
               "Do let me know how you wish to proceed."),
        ask=("May I proceed?", "Kindly confirm before I continue.", "Shall I proceed?",
             "Please confirm that I may proceed."),
        sorry=("Regrettably, there is a difficulty.", "I must report a problem.", "Unfortunately, this is blocked."),
    ),
}


def style_of(cart: str) -> Style:
    return STYLES[cart]


def join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


# --- the play (one conversation) --------------------------------------------------------------------------------

class Play:
    """A conversation in a simulated world: the user's request, then the assistant's turns."""

    def __init__(self, rng: random.Random, user: str, *, world: dict | None = None,
                 faults: dict | None = None, system: str = "cart") -> None:
        self.rng = rng
        scenario = Scenario(id="dataset", eval="", messages=[{"role": "user", "content": user}],
                            world=world or {}, faults=faults or {}, system=system)
        self.ep = Episode(scenario)
        self.world = self.ep.world
        self.cart = self.world.active_cart
        self.style = style_of(self.cart)
        self.settings: dict[str, Any] = {}

    # the assistant's side
    def act(self, *calls: ToolCallSpec, content: str = "") -> list[str]:
        return self.ep.act(*calls, content=content)

    def one(self, spec: ToolCallSpec, content: str = "") -> str:
        return self.act(spec, content=content)[0]

    def say(self, text: str) -> None:
        self.ep.messages.append({"role": "assistant", "content": text})

    def user(self, text: str) -> None:
        self.ep.messages.append({"role": "user", "content": text})

    def line(self, kind: str) -> str:
        return self.style.line(self.rng, kind)

    @property
    def cart_config(self) -> dict[str, Any]:
        return self.world.carts[self.cart]

    def read_settings(self, *, content: str = "", split: bool | None = None, extra: Sequence[ToolCallSpec] = ()) -> dict:
        """The boot read: all settings in one call, or active_cart and tts in two parallel calls."""
        split = self.rng.random() < 0.3 if split is None else split
        calls = [call("settings_get", key="active_cart"), call("settings_get", key="tts")] if split else [
            call("settings_get")]
        results = self.act(*calls, *extra, content=content)
        settings: dict[str, Any] = {}
        for result in results[: len(calls)]:
            settings.update(json.loads(result))
        self.settings = settings
        return settings

    def transcript(self, category: str, recipe: str, targets: Sequence[str]) -> Draft:
        data = self.ep.transcript()
        line: dict[str, Any] = {"messages": data["messages"], "tools": data["tools"], "world": data["world"]}
        if data.get("faults"):
            line["faults"] = data["faults"]
        line["meta"] = {"category": category, "recipe": recipe}
        return Draft(category, recipe, tuple(targets), line)


# --- todo plans ---------------------------------------------------------------------------------

class Actor(Protocol):
    """Who plays a plan's writes: a `Play`, or the teacher (dataset/teacher/)."""

    def act(self, *calls: ToolCallSpec, content: str = "") -> list[Any]: ...


@dataclass
class TodoPlan:
    """A TodoWrite plan whose items move pending -> in_progress -> completed with the work."""

    session: Actor
    items: list[str]
    status: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = ["pending"] * len(self.items)

    def _write(self) -> ToolCallSpec:
        return call("TodoWrite", todos=[{"content": c, "status": s} for c, s in zip(self.items, self.status, strict=True)])

    def start(self, index: int, *work: ToolCallSpec, content: str = "", keep: bool = False) -> list[Any]:
        """Finish whatever is in progress (unless `keep`: it is not done yet), mark item `index` in progress,
        and run its work in the same turn."""
        if not keep:
            self.status = ["completed" if s == "in_progress" else s for s in self.status]
        self.status[index] = "in_progress"
        return self.session.act(self._write(), *work, content=content)[1:]

    def finish(self, *extra: ToolCallSpec, content: str = "") -> list[Any]:
        """Mark the item in progress completed (optionally with more calls that need no open todo)."""
        self.status = ["completed" if s == "in_progress" else s for s in self.status]
        return self.session.act(self._write(), *extra, content=content)[1:]

    def pause(self, done: tuple[int, ...] = (), content: str = "") -> None:
        """Complete the in-progress items in `done`; put the others that cannot go on back to pending (blocked)."""
        self.status = [("completed" if i in done else "pending") if s == "in_progress" else s
                       for i, s in enumerate(self.status)]
        self.session.act(self._write(), content=content)
