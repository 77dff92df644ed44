"""The spec's self-test: agents that ignore the task, played through every scenario, must pass nothing.

Each degenerate agent stands for a way a model can look busy without doing what was asked: refusing,
asking back, one settings read or recall or index search and then "Done.", every tool once with
empty arguments, echoing the request, claiming success without a single tool call, one fixed script
whatever the world says, and random tool calls with random arguments drawn from the tool surface. A
scenario one of them passes is a scenario (or grader) to redesign. The adversarial family (evals/adversarial.py)
plays too: agents that do a little more (the habit's form, the request's words handed back, a destructive command
path-qualified or wrapped, another cart's name in a new phrasing). `python -m evals selftest` prints the agent x
behaviour table of the degenerate agents, one line per adversarial agent, then every pass.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evals.adversarial import FAMILY
from evals.adversarial import converse as _converse
from evals.adversarial import request as _request
from evals.catalog import EVALS, grade
from evals.episode import Episode, ToolCallSpec, call
from evals.predicates import NOT_EXERCISED, PASSED
from evals.scenarios import Scenario, load_scenarios
from evals.world import load_tool_specs

DONE = "Done."

Turn = Sequence[ToolCallSpec]  # the calls of one assistant turn




def _then_done(*turns: Callable[[Episode], Turn]) -> Callable[[Episode], None]:
    def agent(ep: Episode) -> None:
        for make in turns:
            ep.act(*make(ep))
        _converse(ep, DONE)

    return agent


def refuses(ep: Episode) -> None:
    _converse(ep, "I'm sorry, but I can't help with that request.")


def asks_back(ep: Episode) -> None:
    _converse(ep, "Before I start: could you tell me a bit more about what exactly you need?")


def echoes_request(ep: Episode) -> None:
    _converse(ep, _request(ep))


def claims_success(ep: Episode) -> None:
    _converse(ep, "Done! I took care of all of it and everything worked. Let me know if you need anything else.")


def every_tool_empty(ep: Episode) -> None:
    ep.act(*[call(spec["function"]["name"]) for spec in load_tool_specs()])
    _converse(ep, DONE)


def one_script(ep: Episode) -> None:
    """The same three turns in every world, whatever the settings say: what the tiny twin learned from the persona
    set after 600 CPU steps (README, "The offline demo"). In a Nova world its name is right by luck."""
    ep.act(call("settings_get"))
    ep.act(call("cart_get", name="sage"))
    _converse(ep, "Hi! You're talking to Nova: BT-7274 isn't the loaded cart right now. Happy to help all the same!")


DEGENERATE: dict[str, Callable[[Episode], None]] = {
    "refuses": refuses,
    "asks_back": asks_back,
    "settings_then_stops": _then_done(lambda ep: [call("settings_get")]),
    "recall_then_stops": _then_done(lambda ep: [call("memory_recall", query=_request(ep))]),
    "index_search_then_stops": _then_done(lambda ep: [call("index_search", query=_request(ep), kind="code")]),
    "every_tool_empty_args": every_tool_empty,
    "echoes_request": echoes_request,
    "claims_success": claims_success,
    "one_script": one_script,
}


# ---- the random agent --------------------------------------------------------------------------

@dataclass(frozen=True)
class RandomPlan:
    """What a random agent does: turns of tool calls, then a final text."""

    turns: tuple[tuple[ToolCallSpec, ...], ...]
    text: str


def vocabulary(scenario: Scenario) -> list[str]:
    """Words a random agent draws arguments from: the request's words and the world's names."""
    world = scenario.build_world()
    words = re.findall(r"[\w./@-]+", " ".join(str(m.get("content") or "") for m in scenario.messages))
    names = [*world.hosts, *world.carts, *(c["tag"] for c in world.carts.values()),
             *(c["voice"] for c in world.carts.values()), *(a for h in world.hosts.values() for a in h["aliases"]),
             *world.files, "root@sin", "uptime", "wg show", "ping", "ssh", "npm test", "ls", "self-model"]
    return [w for w in dict.fromkeys([*words, *names]) if w]


def random_arguments(spec: dict[str, Any], pick: Callable[[list[Any]], Any], words: list[str]) -> dict[str, Any]:
    """Arguments for a tool from its JSON schema: each property present or not, values of its type."""
    props = (spec["function"].get("parameters") or {}).get("properties") or {}
    args: dict[str, Any] = {}
    for name, schema in props.items():
        if not pick([True, True, False]):
            continue
        kind = schema.get("type")
        if "enum" in schema:
            args[name] = pick(list(schema["enum"]))
        elif kind == "integer":
            args[name] = pick([1, 3, 5])
        elif kind == "array":
            args[name] = [{"content": " ".join(pick(words) for _ in range(3)),
                           "status": pick(["pending", "in_progress", "completed"])} for _ in range(pick([1, 3]))]
        else:
            args[name] = " ".join(pick(words) for _ in range(pick([1, 2, 4])))
    return args


def random_plan(scenario: Scenario, rng: random.Random) -> RandomPlan:
    words = vocabulary(scenario)
    specs = load_tool_specs()

    def pick(options: list[Any]) -> Any:
        return rng.choice(options)

    turns = tuple(
        tuple(ToolCallSpec((s := pick(specs))["function"]["name"], random_arguments(s, pick, words))
              for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(1, 6)))
    return RandomPlan(turns, " ".join(pick(words) for _ in range(rng.randint(3, 20))))


def play_plan(scenario: Scenario, plan: RandomPlan) -> dict[str, Any]:
    ep = Episode(scenario)
    for turn in plan.turns:
        ep.act(*turn)
    _converse(ep, plan.text)
    return ep.transcript()


# ---- playing and the table ---------------------------------------------------------------------

AGENTS: dict[str, Callable[[Episode], None]] = {**DEGENERATE, **FAMILY}


def play(agent: str, scenario: Scenario) -> dict[str, Any]:
    ep = Episode(scenario)
    AGENTS[agent](ep)
    return ep.transcript()


@dataclass
class Cell:
    passed: int = 0
    failed: int = 0
    not_exercised: int = 0

    def add(self, outcome: str) -> None:
        if outcome == PASSED:
            self.passed += 1
        elif outcome == NOT_EXERCISED:
            self.not_exercised += 1
        else:
            self.failed += 1

    def __str__(self) -> str:
        return f"{self.passed}/{self.failed}/{self.not_exercised}"


@dataclass
class SelfTest:
    """agent -> eval -> outcome counts, and every (agent, scenario) that passed."""

    table: dict[str, dict[str, Cell]]
    passes: list[tuple[str, str, str]]  # (agent, scenario, the grader's reason)

    @property
    def ok(self) -> bool:
        return not self.passes


def run_selftest(scenarios: list[Scenario] | None = None, random_tries: int = 3, seed: int = 0,
                 adversarial: bool = True) -> SelfTest:
    scenarios = scenarios if scenarios is not None else load_scenarios()
    scripted = [*DEGENERATE, *(FAMILY if adversarial else ())]
    agents = [*DEGENERATE, "random", *(FAMILY if adversarial else ())]
    table = {a: {e: Cell() for e in EVALS} for a in agents}
    passes: list[tuple[str, str, str]] = []
    for scenario in scenarios:
        trajectories = [(a, play(a, scenario)) for a in scripted]
        rng = random.Random(f"{seed}:{scenario.id}")
        trajectories += [("random", play_plan(scenario, random_plan(scenario, rng))) for _ in range(random_tries)]
        for agent, transcript in trajectories:
            verdict = grade(scenario.eval, transcript)
            table[agent][scenario.eval].add(verdict.outcome)
            if verdict.passed:
                passes.append((agent, scenario.id, verdict.reason))
    return SelfTest(table, passes)


def render(result: SelfTest) -> str:
    """The degenerate agent x behaviour table (passed/failed/not exercised per cell), one line per adversarial
    agent (its cells summed over behaviours), then every pass."""
    agents = [a for a in result.table if a not in FAMILY]
    width = max(len(e) for e in EVALS)
    short = [a[:10] for a in agents]
    lines = ["cells: passed/failed/not exercised", f"{'behaviour':<{width}}  " + " ".join(f"{a:>10}" for a in short)]
    for eval_id in EVALS:
        lines.append(f"{eval_id:<{width}}  " + " ".join(f"{str(result.table[a][eval_id]):>10}" for a in agents))
    totals = {a: sum(c.passed for c in result.table[a].values()) for a in agents}
    lines.append(f"{'scenarios passed':<{width}}  " + " ".join(f"{totals[a]:>10}" for a in agents))
    family = [a for a in result.table if a in FAMILY]
    if family:
        lines.append(f"{'adversarial agent':<{width}}  passed/failed/not exercised")
    for agent in family:
        cells = result.table[agent].values()
        total = Cell(sum(c.passed for c in cells), sum(c.failed for c in cells), sum(c.not_exercised for c in cells))
        lines.append(f"{agent:<{width}}  {total}")
    for agent, scenario, reason in result.passes:
        lines.append(f"PASSED BY {agent}: {scenario}: {reason}")
    lines.append("ok: no degenerate or adversarial agent passes any scenario" if result.ok else
                 f"FAIL: degenerate or adversarial agents passed {len(result.passes)} scenario(s); redesign them")
    return "\n".join(lines)
