"""An episode: a scenario played against the simulated world, one assistant step at a time.

Used by scripted agents (tests, the dataset generator) and by the inspect-ai solver alike, so a
trajectory means the same thing whoever produced it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evals.scenarios import Scenario
from evals.world import Simulator, World, load_tool_specs


@dataclass
class ToolCallSpec:
    name: str
    arguments: dict[str, Any] | str


def call(name: str, /, **arguments: Any) -> ToolCallSpec:
    """A tool call to pass to `Episode.act` (`name` is positional-only: tools may take a `name` argument)."""
    return ToolCallSpec(name, arguments)


class Episode:
    """Messages so far + the world they changed. `act` runs calls; `say` ends a turn with text."""

    def __init__(self, scenario: Scenario, prompt: str = "minimal", world: World | None = None) -> None:
        self.scenario = scenario
        self.world = world or scenario.build_world()
        self.simulator = Simulator(self.world)
        self.messages: list[dict[str, Any]] = scenario.initial_messages(prompt)
        self.prompt = prompt
        self._replies = list(scenario.replies)
        self._next_id = 0

    def _new_id(self) -> str:
        self._next_id += 1
        return f"call_{self._next_id}"

    def act(self, *calls: ToolCallSpec, content: str = "") -> list[str]:
        """One assistant turn with these tool calls (in parallel); returns their results in order."""
        tool_calls = []
        for spec in calls:
            args = spec.arguments if isinstance(spec.arguments, str) else json.dumps(spec.arguments)
            tool_calls.append({"id": self._new_id(), "type": "function",
                               "function": {"name": spec.name, "arguments": args}})
        self.messages.append({"role": "assistant", "content": content, "tool_calls": tool_calls})
        return [self.answer(tc) for tc in tool_calls]

    def answer(self, tool_call: dict[str, Any]) -> str:
        """Run one OpenAI-format tool call in the world and append its tool message."""
        fn = tool_call["function"]
        result = self.simulator.call(fn["name"], fn.get("arguments"))
        self.messages.append({"role": "tool", "tool_call_id": tool_call["id"], "content": result.content})
        return result.content

    def say(self, text: str) -> str | None:
        """An assistant turn with text only. Returns the user's reply if the scenario has one left."""
        self.messages.append({"role": "assistant", "content": text})
        return self.user_reply()

    def user_reply(self) -> str | None:
        if not self._replies:
            return None
        reply = self._replies.pop(0)
        self.messages.append({"role": "user", "content": reply})
        return reply

    def transcript(self) -> dict[str, Any]:
        return {"messages": self.messages, "tools": load_tool_specs(), **self.scenario.transcript_stub()}
