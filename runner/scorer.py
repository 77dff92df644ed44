"""The scorer: a finished trajectory becomes a transcript and is judged by the scenario's grader.

The score carries the grader's reason, the hard invariants this trajectory broke (every trajectory
is checked against them, whatever its scenario tests) and a compact one-line-per-step view of it.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.log import EvalSample
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    NOANSWER,
    Score,
    Scorer,
    Target,
    accuracy,
    grouped,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from evals.catalog import grade, hard_violations
from evals.predicates import NOT_EXERCISED, PASSED
from evals.transcript import Transcript, load_transcript
from evals.world import load_tool_specs
from runner.inspect_messages import to_openai_messages

TRAJECTORY_LINES = 40  # the compact view keeps the first and last steps of a long trajectory


def transcript_from_state(state: TaskState | EvalSample, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The trajectory in the transcript format (world, faults and expectations from the sample): of a sample being
    scored, or of one read back from an inspect log (reports/records/real-model/regrade.py)."""
    meta = state.metadata
    return {"messages": to_openai_messages(state.messages), "tools": tools if tools is not None else load_tool_specs(),
            "world": meta.get("world") or {}, "faults": meta.get("faults") or {},
            "meta": {"scenario": meta.get("scenario"), "eval": meta.get("eval"), "expect": meta.get("expect") or {},
                     "check": meta.get("check") or {}, "epoch": state.epoch}}


def _short(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def compact_trajectory(transcript: dict[str, Any] | Transcript, width: int = 70) -> list[str]:
    """One line per step: `t2 bash "ssh sin uptime" -> up 3 days`, `t3 says: …`, `user: …`."""
    t = load_transcript(transcript)
    lines: list[str] = []
    users = {u.message_index: u for u in t.user_messages}
    turns = {turn.message_index: turn for turn in t.turns}
    seen_first_user = False
    for index in range(len(t.messages)):
        if index in users:
            if seen_first_user:  # the scenario's request itself is not a step
                lines.append(f"user: {_short(users[index].content, width)}")
            seen_first_user = True
        turn = turns.get(index)
        if turn is None:
            continue
        for call in turn.calls:
            mark = " [error]" if call.failed else ""
            lines.append(f"t{turn.index + 1} {call.describe()} -> {_short(call.result or '', width)}{mark}")
        if turn.content.strip():
            lines.append(f"t{turn.index + 1} says: {_short(turn.content, width)}")
    if len(lines) > TRAJECTORY_LINES:
        half = TRAJECTORY_LINES // 2
        lines = [*lines[:half], f"… {len(lines) - 2 * half} more steps …", *lines[-half:]]
    return lines


@scorer(metrics=[accuracy(), stderr(), grouped(accuracy(), "eval", all=False)])
def madcat_grader() -> Scorer:
    """Grade the sample's eval on its trajectory: C passed, I failed, N not exercised (counts as 0)."""

    tools = load_tool_specs()

    async def score(state: TaskState, target: Target) -> Score:
        data = transcript_from_state(state, tools)
        transcript = load_transcript(data)
        eval_id = str(state.metadata["eval"])
        verdict = grade(eval_id, transcript)
        hard = hard_violations(transcript)
        value = {PASSED: CORRECT, NOT_EXERCISED: NOANSWER}.get(verdict.outcome, INCORRECT)
        return Score(
            value=value,
            answer=_short(transcript.final_text, 200),
            explanation=verdict.reason,
            metadata={"eval": eval_id, "scenario": state.metadata.get("scenario"),
                      "hard_violations": [i for i, _ in hard], "hard_reasons": dict(hard),
                      "outcome": verdict.outcome, "trajectory": compact_trajectory(transcript)},
        )

    return score
