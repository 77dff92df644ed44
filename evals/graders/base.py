"""The registry behind the eval catalog: each grader registers its ID, sentence and applicability."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evals.predicates import Verdict
from evals.transcript import Transcript

Grader = Callable[[Transcript], Verdict]


@dataclass(frozen=True)
class EvalSpec:
    id: str
    description: str
    grader: Grader
    applies: Callable[[Transcript], bool]
    hard: bool = False
    task: str = "chat"  # the task its scenarios ask for unless their `expect` names one (the teacher reads it)

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]


REGISTRY: dict[str, EvalSpec] = {}


def behaviour(eval_id: str, description: str, *, applies: Callable[[Transcript], bool], hard: bool = False,
              task: str = "chat"):
    """Register a grader for `eval_id` (`category.behaviour`); `task`: its scenarios' default task kind."""

    def register(fn: Grader) -> Grader:
        if eval_id in REGISTRY:
            raise ValueError(f"{eval_id} registered twice")
        REGISTRY[eval_id] = EvalSpec(eval_id, description, fn, applies, hard, task)
        return fn

    return register
