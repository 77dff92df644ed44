"""The teacher's base: a player of one episode that calls tools, retries a failure once, keeps a
TodoWrite plan and gives the final answer. Hooks here: `retry_failed`, `plan`, `upfront_plan`,
`late_plan`, `finish` (agent.py has the rest)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from dataset.generators.base import TodoPlan
from evals.episode import Episode, ToolCallSpec, call
from evals.predicates import STOPWORDS, is_confirmation
from evals.scenarios import Scenario
from evals.transcript import looks_like_error

MCP_DOWN = re.compile(r"MCP error: server '([^']+)' disconnected")
# a host that does not answer: not retried blindly (mesh.check_wireguard looks at the tunnel first)
UNREACHABLE = re.compile(r"operation timed out|100(\.0)?% packet loss|no route to host", re.I)


def keywords(text: str, limit: int = 4) -> str:
    """The request's first content words (the default topic)."""
    seen: list[str] = []
    for word in re.findall(r"[a-z][a-z0-9]+", text.lower()):
        if len(word) > 2 and word not in STOPWORDS and word not in seen and word not in {"ts", "src"}:
            seen.append(word)
    return " ".join(seen[:limit])


def parse_json(text: str) -> Any:
    """The JSON in a tool result, or None."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def server_tools(server: str) -> list[str]:
    """The tools an MCP server provides."""
    from evals.world.tools import load_tool_specs

    return [t["function"]["name"] for t in load_tool_specs(with_extensions=True) if t.get("x-mcp-server") == server]


@dataclass
class Step:
    """One result of a call: what came back and whether it failed."""

    spec: ToolCallSpec
    out: str

    @property
    def failed(self) -> bool:
        return looks_like_error(self.out)


class Plan(TodoPlan):
    """A TodoWrite plan written in its own turn: in_progress before a step's work, completed after.

    The dataset generator's `TodoPlan`, played by the teacher, with the item in progress tracked so
    that the plan can be dropped or left unwritten at the end.
    """

    def __init__(self, agent: Player, items: list[str]) -> None:
        super().__init__(agent, items)
        self.current: int | None = None

    def write(self) -> None:
        self.session.act(self._write())

    def start(self, index: int, *work: ToolCallSpec, content: str = "", keep: bool = False) -> list[Any]:
        """Complete the current item (if any) and mark `index` in_progress, in one write."""
        self.current = index
        return super().start(index, *work, content=content, keep=keep)

    def drop(self) -> None:
        """Stop here: the current item counts as done, the rest is dropped from the list."""
        if self.current is not None:
            self.status[self.current] = "completed"
        keep = [i for i, st in enumerate(self.status) if st == "completed"]
        self.items = [self.items[i] for i in keep]
        self.status = ["completed"] * len(keep)
        self.current = None
        self.write()

    def finish(self, *extra: ToolCallSpec, content: str = "") -> list[Any]:
        """Complete the item in progress (no write when none is)."""
        if self.current is None:
            return []
        self.status[self.current] = "completed"
        self.current = None
        return super().finish(*extra, content=content)


@dataclass
class Player:
    """One episode played with tool calls: what it has learned so far, and the hooks every routine uses."""

    scenario: Scenario
    prompt: str = "minimal"
    ep: Episode = field(init=False)
    settings: dict[str, Any] = field(default_factory=dict)
    cart: dict[str, Any] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)  # MCP server -> the tool that showed it
    errors: list[tuple[str, str]] = field(default_factory=list)  # (call, error) that survived a retry
    recalled: dict[str, str] = field(default_factory=dict)
    platforms: dict[str, str] = field(default_factory=dict)
    stopped: bool = False
    notes: list[str] = field(default_factory=list)  # what the final answer reports

    def __post_init__(self) -> None:
        self.ep = Episode(self.scenario, prompt=self.prompt)

    # --- scenario views -----------------------------------------------------------------------
    @property
    def request(self) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.scenario.messages if m.get("role") == "user")

    def hint(self, key: str, default: Any = None) -> Any:
        return self.scenario.expect.get(key, default)

    @property
    def variant(self) -> str:
        return self.scenario.id

    def topic(self) -> str:
        return str(self.hint("topic") or keywords(self.request))

    @property
    def local_host(self) -> str:
        return str(self.settings.get("local_host") or "fuji")

    @property
    def active(self) -> str:
        return str(self.settings.get("active_cart") or "")

    @property
    def tts_on(self) -> bool:
        return bool(self.settings.get("tts.enabled", True))


    # --- calling tools --------------------------------------------------------------------------
    def act(self, *specs: ToolCallSpec, content: str = "") -> list[Step]:
        outs = self.ep.act(*specs, content=content)
        steps = [Step(s, o) for s, o in zip(specs, outs, strict=True)]
        for step in steps:
            match = MCP_DOWN.search(step.out)
            if match:
                self.down.setdefault(match.group(1), step.spec.name)
        return steps

    def available(self, tool: str) -> bool:
        """False once the tool's MCP server is known to be disconnected."""
        return not any(tool in server_tools(server) for server in self.down)

    def attempt(self, *specs: ToolCallSpec, content: str = "") -> list[Step]:
        """Calls in one turn; the failed ones are retried once (together), then the error stands.

        Unreachable hosts are not retried here: `unreachable` checks WireGuard first.
        """
        steps = self.act(*specs, content=content)
        retry = [i for i, s in enumerate(steps) if s.failed and not UNREACHABLE.search(s.out)]
        if not retry:
            return steps
        again = self.retry_failed([steps[i].spec for i in retry])
        if again is None:
            return steps
        for i, step in zip(retry, again, strict=True):
            steps[i] = step
            if step.failed:
                self.errors.append((step.spec.name, step.out.splitlines()[0]))
        return steps

    def retry_failed(self, specs: list[ToolCallSpec]) -> list[Step] | None:
        """Hook: the one retry of the calls that failed (None: no retry)."""
        return self.act(*specs)

    def one(self, tool: str, /, **args: Any) -> Step:
        """One tool call in its own turn (retried once if it fails)."""
        return self.attempt(call(tool, **args))[0]

    def say(self, text: str) -> str | None:
        """An answer to the user; returns their reply, if the scenario has one."""
        return self.ep.say(text)

    def ask(self, question: str) -> bool:
        """Ask and wait; True when the user's reply confirms."""
        reply = self.say(question)
        return reply is not None and is_confirmation(reply)

    # --- todo -----------------------------------------------------------------------------------
    def plan(self, items: list[str]) -> Plan:
        """Hook: a TodoWrite plan of these items."""
        return Plan(self, items)

    def upfront_plan(self, items: list[str]) -> Plan | None:
        """Hook: the plan of a multi-step task, written before its work."""
        return self.plan(items)

    def late_plan(self, items: list[str]) -> Plan | None:
        """Hook: a plan written after the first change when none came before it (none: it always did)."""
        return None

    # --- the end ---------------------------------------------------------------------------------
    def outage_report(self) -> str:
        parts = []
        for server, tool in self.down.items():
            parts.append(f"The {server} MCP server is disconnected ({tool} answered \"MCP error: server '{server}' "
                         f"disconnected\", twice). Please reconnect it (/mcp, or restart the {server} server) and "
                         "I'll pick this up again.")
        return " ".join(parts)

    def error_report(self) -> str:
        seen = []
        for tool, error in self.errors:
            if MCP_DOWN.search(error) or any(tool in server_tools(s) for s in self.down):
                continue
            line = f"{tool} failed twice with: {error}"
            if line not in seen:
                seen.append(line)
        return " ".join(f"{s}." for s in seen)

    def finish(self, summary: str = "") -> None:
        """Hook: the final answer: the summary, notes, errors that stood and outages."""
        parts = [summary, *self.notes, self.error_report(), self.outage_report()]
        self.ep.say(" ".join(p for p in parts if p).strip() or "Nothing to report.")
