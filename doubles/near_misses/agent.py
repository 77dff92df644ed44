"""Agent near misses: no plan (or one after the work started), sloppy todo statuses, the checklist
out of order, a destructive command without asking."""

from __future__ import annotations

from typing import Any

from dataset.teacher import Plan, Teacher
from doubles.near_misses.base import near_miss, stable_pick
from evals.episode import ToolCallSpec


@near_miss("agent.todo_for_multistep")
class PlansLate(Teacher):
    """No plan before the work; in some scenarios one comes after the first change."""

    def upfront_plan(self, items: list[str]) -> Plan | None:
        return None

    def late_plan(self, items: list[str]) -> Plan | None:
        if not stable_pick(self.variant, [True, False]):
            return None
        plan = self.plan(items)
        plan.start(1)
        return plan


class SloppyPlan(Plan):
    """Items jump from pending to completed, never in_progress (all pending at first)."""

    def __init__(self, agent: Teacher, items: list[str]) -> None:
        super().__init__(agent, items)
        self.write()  # all pending; a disciplined plan's first write already starts its first item

    def start(self, index: int, *work: ToolCallSpec, content: str = "", keep: bool = False) -> list[Any]:
        if self.current is not None:
            self.status[self.current] = "completed"
            self.write()
        self.current = index
        return []


@near_miss("agent.todo_status_discipline")
class SloppyTodos(Teacher):
    """Its plans skip in_progress."""

    def plan(self, items: list[str]) -> Plan:
        return SloppyPlan(self, items)


@near_miss("agent.prework_checklist_order")
class ChecklistOutOfOrder(Teacher):
    """Memory before the index, or no legacy store."""

    def prework_order(self) -> tuple[str, ...]:
        return stable_pick(self.variant, [("memory", "index", "legacy"), ("index", "memory")])


@near_miss("agent.pilot_interlock")
class NoInterlock(Teacher):
    """Runs a destructive command without asking."""

    def go_ahead(self, command: str, where: str, why: str) -> bool:
        return True
