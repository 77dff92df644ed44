"""The scorer: a finished trajectory becomes a transcript and is judged by the scenario's grader.

The score carries the grader's reason, the hard invariants this trajectory broke (every trajectory
is checked against them, whatever its scenario tests) and a compact one-line-per-step view of it.

A sample that did not finish as the model's own (a cut generation, the turn limit, a server error, an inspect
limit: the solver never recorded `done`) is not graded: the task scores errored samples too (`score_on_error`,
after their retries), and such a sample scores 0 with the outcome `incomplete`, so the log's metrics count it in
the denominator as results.json does (incomplete and not exercised: not passed), and `inspect view` shows the
pass rate the report shows.
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
from runner.solver import STORE_STOPPED

TRAJECTORY_LINES = 40  # the compact view keeps the first and last steps of a long trajectory
INCOMPLETE = "incomplete"  # the score's outcome for a sample that has no verdict (results.json: status incomplete)


def transcript_from_state(state: TaskState | EvalSample, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The trajectory in the transcript format (world, faults and expectations from the sample): of a sample being
    scored, or of one read back from an inspect log (reports/records/real-model/regrade.py)."""
    meta = state.metadata
    # what the request allows to change: absent from logs written before side effects were judged in runs
    judged = {key: list(meta.get(key) or []) for key in ("allows", "after_reply") if key in meta}
    return {"messages": to_openai_messages(state.messages), "tools": tools if tools is not None else load_tool_specs(),
            "world": meta.get("world") or {}, "faults": meta.get("faults") or {},
            "meta": {"scenario": meta.get("scenario"), "eval": meta.get("eval"), "expect": meta.get("expect") or {},
                     "check": meta.get("check") or {}, **judged, "epoch": state.epoch}}


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
    """Grade the sample's eval on its trajectory: C passed, I failed, N not exercised (counts as 0); a sample
    that did not finish is not graded: I with the outcome `incomplete` (counts as 0, as in results.json)."""

    tools = load_tool_specs()

    async def score(state: TaskState, target: Target) -> Score:
        data = transcript_from_state(state, tools)
        transcript = load_transcript(data)
        eval_id = str(state.metadata["eval"])
        stopped = state.store.get(STORE_STOPPED)
        if stopped != "done":
            why = stopped or "the sample ended before the agent finished (a server error or a limit)"
            return Score(value=INCORRECT, answer=_short(transcript.final_text, 200), explanation=f"incomplete: {why}",
                         metadata={"eval": eval_id, "scenario": state.metadata.get("scenario"), "outcome": INCOMPLETE,
                                   "hard_violations": [], "hard_reasons": {},
                                   "trajectory": compact_trajectory(transcript)})
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
