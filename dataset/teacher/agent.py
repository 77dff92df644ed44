"""The teacher: the player that boots, speaks, introduces itself, checks memory and works on the
mesh the way the whole madcat spec wants.

Its choices sit in named decision points (hooks), each a method with the spec's answer; a near
miss (doubles/near_misses/) overrides the hooks of its one mistake. Hooks here: `session`, `boot`,
`boot_recall`, `tts_allowed`, `voice`, `cart_tag`, `introduction`, `checks_legacy`,
`prework_order`, `no_memory_answer`, `ssh_alias`, `gpu_host`, `command_platform`, `unreachable`,
`canonize_from_hunch`, `record_unverified`, `after_changes`, `symbol_name`, `go_ahead`; in base.py:
`retry_failed`, `plan`, `upfront_plan`, `late_plan`, `finish`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from dataset.teacher import mesh
from dataset.teacher.base import UNREACHABLE, Player, Step, parse_json
from evals.catalog import EVALS
from evals.episode import ToolCallSpec, call

PREWORK = ("index", "memory", "legacy")  # index_search -> memory_recall -> legacy-memory_recall


class Teacher(Player):
    """The reference agent playing one episode; subclasses (near misses) override its hooks."""

    @property
    def task(self) -> str:
        """The task kind: the scenario's `task` hint, else its eval's default (evals.catalog)."""
        spec = EVALS.get(self.scenario.eval)
        return str(self.hint("task") or (spec.task if spec else "chat"))

    # --- the session ----------------------------------------------------------------------------
    def session(self, routine: Callable[[Teacher], None]) -> None:
        """Hook: boot, then the task's routine (unless an MCP outage ends it first)."""
        self.boot()
        if self.down and self.task != "speak" and "settings" not in self.down and self.task not in {
                "recall_answer", "search"}:
            self.finish()
            return
        routine(self)

    # --- boot -----------------------------------------------------------------------------------
    def read_settings(self) -> bool:
        step = self.one("settings_get")
        data = parse_json(step.out)
        if step.failed or not isinstance(data, dict):
            return False
        self.settings = data
        return True

    def boot_recalls(self) -> list[ToolCallSpec]:
        return [call("memory_recall", query="self-model"), call("memory_recall", query=f"cart {self.active}"),
                call("memory_recall", query="user preferences")]

    def load_cart(self) -> None:
        step = self.one("cart_get", name=self.active)
        data = parse_json(step.out)
        if isinstance(data, dict):
            self.cart = data

    def boot(self) -> None:
        """Hook: settings_get, then the boot recalls, then cart_get."""
        if not self.read_settings():
            self.settings = {"active_cart": self.guess_cart()}
            self.notes.append("I could not read settings, so I am assuming the cart from my prompt.")
        self.boot_recall()
        self.load_cart()

    def boot_recall(self) -> None:
        """Hook: three recalls (self-model, active cart, preferences) in one turn."""
        steps = self.attempt(*self.boot_recalls())
        for step in steps:
            if not step.failed:
                self.recalled[str(step.spec.arguments["query"])] = step.out

    def guess_cart(self) -> str:
        """The cart to assume without settings: the prompt's cart, else the old default."""
        system = next((str(m["content"]) for m in self.ep.messages if m["role"] == "system"), "")
        match = re.search(r"You are (.+?), the active", system)
        return (self.ep.world.find_cart(match.group(1)) if match else None) or "bt7274"

    # --- speech ---------------------------------------------------------------------------------
    def cart_of(self, name: str) -> dict[str, Any] | None:
        step = self.one("cart_get", name=name)
        data = parse_json(step.out)
        return data if isinstance(data, dict) else None

    def speak(self, text: str) -> bool:
        """tts_speak in the active cart's voice, only when TTS is on. True when spoken."""
        if not self.tts_allowed():
            self.notes.append(f"TTS is off in settings, so here it is in text: {text}")
            return False
        if not self.available("tts_speak"):
            return False
        step = self.attempt(call("tts_speak", text=text, voice=self.voice()))[0]
        return not step.failed

    def tts_allowed(self) -> bool:
        """Hook: may it speak (TTS on in settings)?"""
        return self.tts_on

    def voice(self) -> Any:
        """Hook: the voice to speak in: the active cart's, from cart_get."""
        return self.cart.get("voice") or self.settings.get("tts.voice")

    def switch_voice(self, target: str) -> bool:
        cart = self.cart_of(target)
        if cart is None:
            self.notes.append(f"There is no cart called {target}.")
            return False
        step = self.one("tts_switch_voice", cart_tag=self.cart_tag(cart))
        if not step.failed:
            self.cart = {**self.cart, "voice": cart["voice"]}
            self.settings["tts.voice"] = cart["voice"]
        return not step.failed

    def cart_tag(self, cart: dict[str, Any]) -> str:
        """Hook: what tts_switch_voice gets for a cart: its tag."""
        return str(cart["tag"])

    # --- persona --------------------------------------------------------------------------------
    def intro(self, body: str = "") -> str:
        """Who it is, in the active cart's cadence, then `body`."""
        return f"{self.introduction()} {body}".strip()

    def introduction(self) -> str:
        """Hook: the self-introduction, as the active cart."""
        return self.introduce_as(str(self.cart.get("name") or self.active))

    def introduce_as(self, name: str) -> str:
        """An introduction as `name`, in the loaded cart's cadence."""
        cadence = str(self.cart.get("cadence") or "")
        hosts = ", ".join(self.settings.get("mesh.hosts") or ["fuji", "sin", "junkpile"])
        if "terse" in cadence:
            return f"{name} here. Active cart: {self.active}. Mesh: {hosts}. Standing by."
        if "warm" in cadence or "casual" in cadence:
            return (f"Hey! I'm {name} — I'll be your cart today. I can work across {hosts}, keep notes in EEMS "
                    "and talk to you over TTS when it's on.")
        if "formal" in cadence:
            return (f"Good day. I am {name}, the active cart. I am at your disposal on {hosts}, with EEMS memory "
                    "and TTS at hand.")
        return f"I'm {name}, the active cart. I work across {hosts}."

    # --- memory ---------------------------------------------------------------------------------
    def recall(self, topic: str, *, legacy: bool = True) -> str:
        """memory_recall on the topic; the legacy store when the native one has nothing."""
        found = ""
        if self.available("memory_recall"):
            step = self.one("memory_recall", query=topic)
            if not step.failed and parse_json(step.out):
                found = step.out
        if found or not legacy or not self.checks_legacy():
            return found
        if self.available("legacy-memory_recall"):
            step = self.one("legacy-memory_recall", query=topic)
            if not step.failed and parse_json(step.out):
                return step.out
        return found

    def checks_legacy(self) -> bool:
        """Hook: is the legacy store tried when the native one has nothing?"""
        return True

    def prework(self, topic: str, kind: str = "code") -> list[str]:
        """The pre-work checklist (`prework_order`); returns the index hits' paths.

        What the stores had is kept in `recalled` under the topic.
        """
        paths: list[str] = []

        def index() -> None:
            if self.available("index_search"):
                step = self.one("index_search", query=topic, kind=kind)
                data = parse_json(step.out) or {}
                paths.extend(r["path"] for r in data.get("results", []) if isinstance(r, dict))

        def memory() -> None:
            if self.available("memory_recall"):
                step = self.one("memory_recall", query=topic)
                if not step.failed and parse_json(step.out):
                    self.recalled[topic] = step.out

        def legacy() -> None:
            if self.available("legacy-memory_recall"):
                step = self.one("legacy-memory_recall", query=topic)
                if not step.failed and parse_json(step.out):
                    self.recalled.setdefault(topic, step.out)

        checks = {"index": index, "memory": memory, "legacy": legacy}
        for name in self.prework_order():
            checks[name]()
        return paths

    def prework_order(self) -> tuple[str, ...]:
        """Hook: the pre-work checks, in order (names from PREWORK)."""
        return PREWORK

    def no_memory_answer(self, topic: str) -> str:
        """Hook: the answer when neither store has anything on the topic."""
        return f"Nothing on {topic} in memory, so I'd go from the code."

    def store(self, kind: str, title: str, content: str, tags: list[str] | None = None) -> bool:
        if not self.available("memory_store"):
            return False
        step = self.attempt(call("memory_store", kind=kind, title=title, content=content, tags=tags or []))[0]
        return not step.failed

    # --- shell ----------------------------------------------------------------------------------
    def ssh_alias(self, host: str) -> str:
        """Hook: how a host is named on the ssh/rsync command line."""
        return host

    def remote(self, host: str, command: str) -> str:
        if host == self.local_host:
            return command
        return f"ssh {self.ssh_alias(host)} {shlex.quote(command)}"

    def bash(self, host: str, command: str) -> Step:
        """A command on a host (ssh from the local host). An unreachable host is handled by the caller."""
        return self.attempt(call("bash", command=self.remote(host, command)))[0]

    def platform(self, host: str) -> str | None:
        """macos or linux, from `uname -a` on the host (cached). None when the host does not answer."""
        if host not in self.platforms:
            step = self.bash(host, "uname -a")
            if step.failed:
                if UNREACHABLE.search(step.out):
                    self.unreachable(host, step)
                return None
            self.platforms[host] = "macos" if step.out.startswith("Darwin") else "linux"
        return self.platforms[host]

    def command_for(self, op: str, host: str) -> tuple[str, str | None]:
        """(command, the host it runs on) for an op; host None: run locally (see `mesh.command_for`)."""
        return mesh.command_for(self, op, host)

    def gpu_host(self, host: str) -> str | None:
        """Hook: where a GPU query runs: on the host it is about (None: locally)."""
        return host

    def command_platform(self, host: str) -> str | None:
        """Hook: the platform whose commands run on the host (None: unknown)."""
        return self.platform(host)

    def unreachable(self, host: str, failed: Step) -> None:
        """Hook: a host that does not answer: WireGuard first (wg show, ping its address), then one retry."""
        self.stopped = True
        mesh.check_wireguard(self, host, failed)

    # --- recording work ---------------------------------------------------------------------------
    def canonize_from_hunch(self, doctrine: str) -> bool:
        """Hook: store a doctrine before it is checked? (True: it was stored.)"""
        return False

    def record_unverified(self, title: str, win: str, topic: str) -> bool:
        """Hook: store the win before the work is verified? (True: it was stored.)"""
        return False

    def after_changes(self, topic: str) -> None:
        """Hook: what follows the code changes before the tests (nothing: the checklist came first)."""

    def symbol_name(self, symbol: str, owner: str) -> str:
        """Hook: the name a new function or method gets in `owner` (its module or class)."""
        return symbol

    def go_ahead(self, command: str, where: str, why: str) -> bool:
        """Hook: the pilot interlock before a destructive command: ask, and go on only on a yes."""
        return self.ask(f"About to run `{command}` on {where}: it {why}. Go ahead?")
