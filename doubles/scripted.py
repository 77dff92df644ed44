"""Scripted reference agents that play a scenario against the simulated world (transcript dicts).

`good_agent(scenario)` is the teacher policy (dataset/teacher/): it follows the whole spec.
`bad_agent(scenario)` is the teacher with the one characteristic mistake of the scenario's eval:
its near miss from doubles/near_misses/ (what a lazy grader gets wrong).
"""

from __future__ import annotations

from typing import Any

from dataset.teacher import play
from doubles.near_misses import NEAR_MISSES
from evals.scenarios import Scenario


def good_agent(scenario: Scenario, prompt: str = "minimal") -> dict[str, Any]:
    """A trajectory that follows the whole spec on this scenario (a transcript dict)."""
    return play(scenario, prompt=prompt)


def bad_agent(scenario: Scenario, prompt: str = "minimal") -> dict[str, Any]:
    """The same agent committing the characteristic mistake of the scenario's eval."""
    return play(scenario, NEAR_MISSES[scenario.eval], prompt=prompt)


__all__ = ["bad_agent", "good_agent"]
