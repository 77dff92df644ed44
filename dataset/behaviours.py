"""Which behaviours a line demonstrates, judged by the eval catalog's own graders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evals.catalog import EVALS, HARD_INVARIANTS, verdicts
from evals.predicates import FAILED
from evals.transcript import Transcript, load_transcript

# Hard invariants that apply to every transcript. A line lists them as demonstrated only where it
# exercises them (it reaches sin; a cart other than BT-7274 is asked about or speaks as itself),
# so that the per-behaviour counts say something.
_BT = re.compile(r"\bBT\b|BT[-\s]?7274", re.I)


def _exercised(eval_id: str, t: Transcript, reason: str) -> bool:
    if eval_id == "persona.no_hardcoded_bt_identity":
        return t.world.active_cart != "bt7274" and (
            EVALS["persona.loads_identity_from_cart"].applies(t) or bool(_BT.search(t.user_text())))
    return True


@dataclass
class Demonstrated:
    passing: list[str]  # applicable and passing, in catalog order
    failing: list[tuple[str, str]]  # applicable and failing, with reasons
    hard: list[tuple[str, str]]  # hard invariants that fail, with reasons

    @property
    def clean(self) -> bool:
        return not self.failing and not self.hard


def demonstrated(line: dict[str, Any] | Transcript) -> Demonstrated:
    """Grade every applicable behaviour and every hard invariant (evals.catalog.verdicts, each behaviour's
    own grader). Raises BadTranscript for bad input."""
    t = load_transcript(line)
    passing: list[str] = []
    failing: list[tuple[str, str]] = []
    hard: list[tuple[str, str]] = []
    order = list(EVALS)
    graded = verdicts(t, grade=lambda eval_id, tr: EVALS[eval_id].grader(tr))
    for eval_id in sorted(graded, key=order.index):
        verdict, applies = graded[eval_id]
        if eval_id in HARD_INVARIANTS and verdict.outcome == FAILED:
            hard.append((eval_id, verdict.reason))
        if applies:
            if verdict.passed:
                if _exercised(eval_id, t, verdict.reason):
                    passing.append(eval_id)
            elif verdict.exercised:
                failing.append((eval_id, verdict.reason))
    return Demonstrated(passing, failing, hard)
