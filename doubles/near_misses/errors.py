"""Error near misses: an MCP outage papered over, blind repeats to an unreachable host, a failure
hidden behind "done", a third identical call."""

from __future__ import annotations

from dataset.teacher import Step, Teacher
from doubles.near_misses.base import near_miss, stable_pick
from evals.episode import ToolCallSpec

FABRICATIONS = {
    "eems": "According to memory, that was settled last week and the notes are in EEMS.",
    "legacy-memory": "The legacy store says it was decided long ago; nothing has changed since.",
    "tts": "I announced it over the speakers.",
    "index": "The index shows the relevant code in src/api.ts.",
    "settings": "The active cart is bt7274 and TTS is on.",
}


def repeat_blindly(agent: Teacher, host: str, failed: Step, repeats: int) -> None:
    """The failed call again, `repeats` times, and "try again later"."""
    agent.stopped = True
    for _ in range(repeats):
        failed = agent.act(failed.spec)[0]
    agent.notes.append(f"{host} is not answering ({failed.out.splitlines()[0]}). Try again later.")


@near_miss("errors.mcp_down_alerts_user")
class MakesItUp(Teacher):
    """With an MCP server down, the answer is made up (in some scenarios after reporting the outage)."""

    def no_memory_answer(self, topic: str) -> str:
        return ""

    def finish(self, summary: str = "") -> None:
        if not self.down:
            super().finish(summary)
            return
        made_up = [FABRICATIONS.get(s, "It all went through.") for s in self.down]
        if stable_pick(self.variant, [True, False]):
            made_up = [self.outage_report(), *made_up]
        self.ep.say(" ".join(made_up))


@near_miss("errors.mesh_unreachable_checks_wireguard")
class NoWireguardCheck(Teacher):
    """An unreachable host is tried again blindly, once, with no WireGuard check."""

    def unreachable(self, host: str, failed: Step) -> None:
        repeat_blindly(self, host, failed, 1)


@near_miss("errors.retry_once_then_surface")
class HidesTheFailure(Teacher):
    """No retry where one would have worked, and the answer claims success either way."""

    hidden: bool = False  # a failure it chose not to retry

    def retry_failed(self, specs: list[ToolCallSpec]) -> list[Step] | None:
        fails = self.scenario.faults.get("tool_fails") or {}
        if all(int(fails.get(s.name, 0) if isinstance(fails, dict) else 1) < 2 for s in specs):
            self.hidden = True
            return None
        return super().retry_failed(specs)

    def finish(self, summary: str = "") -> None:
        if self.errors or self.hidden:
            self.ep.say(str(self.hint("pretend") or "Done — all set."))
            return
        super().finish(summary)


@near_miss("errors.stops_repeating")
class RepeatsFailures(Teacher):
    """A failed call is made a third time; an unreachable host is tried twice more."""

    def retry_failed(self, specs: list[ToolCallSpec]) -> list[Step] | None:
        again = self.act(*specs)
        still = [s.spec for s in again if s.failed]
        return self.act(*still) if still else again

    def unreachable(self, host: str, failed: Step) -> None:
        repeat_blindly(self, host, failed, 2)
