"""The results row: one behaviour graded on one (scenario, epoch) trajectory, as results.json holds it.

One definition for the writer (the runner, runner/results.py, which starts every planned row with
`planned_row` and fills it in) and the readers (reports/, which validate the file against
results.schema.json beside this module and read each row into an `Outcome`). A row is `complete` with
an `outcome` (passed, failed, or not_exercised) or `incomplete` with the reason; only a complete row
that passed counts as a pass anywhere.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from core.errors import BadInput
from core.verdicts import label

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
NOT_FINISHED = "not finished: the run stopped before this sample ended"

# (eval id, scenario id, epoch): one graded trajectory of one behaviour.
SampleKey = tuple[str, str, int]


@dataclass(frozen=True)
class Outcome:
    """One row of ``results``: one behaviour graded on one (scenario, epoch) trajectory."""

    eval: str
    category: str
    scenario: str
    epoch: int
    status: str
    passed: bool | None
    outcome: str | None  # passed | failed | not_exercised for a complete sample; None when incomplete
    reason: str
    hard_violations: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    requests: int
    prompt_tokens_per_request: float | None
    seconds: float
    log: str | None

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def not_exercised(self) -> bool:
        return self.complete and self.outcome == "not_exercised"

    @property
    def counted_pass(self) -> bool:
        """Passed and complete: an incomplete sample never counts as passed."""
        return self.complete and self.passed is True

    @property
    def verdict(self) -> str:
        """PASS, FAIL, NOT EXERCISED or INCOMPLETE (core/verdicts.py: the words every output uses)."""
        return label(self.status, self.outcome, self.passed)

    @property
    def key(self) -> SampleKey:
        return (self.eval, self.scenario, self.epoch)


def planned_row(eval_id: str, scenario: str, epoch: int) -> dict[str, Any]:
    """A row before its sample ran (`incomplete`, not finished): the writer's starting point, every field of
    Outcome in results.json's form."""
    row = dataclasses.asdict(Outcome(
        eval=eval_id, category=eval_id.split(".", 1)[0], scenario=scenario, epoch=epoch, status="incomplete",
        passed=None, reason=NOT_FINISHED, outcome=None, hard_violations=(), prompt_tokens=0, completion_tokens=0,
        requests=0, prompt_tokens_per_request=None, seconds=None, log=None))  # type: ignore[arg-type]
    row["hard_violations"] = []
    return row


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_rows(doc: Any, path: Path) -> tuple[Outcome, ...]:
    """Validate a parsed results.json document and read its rows; every problem becomes one BadInput line."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors) or errors[0]
        raise BadInput(f"reports: {path}: {_where(err.absolute_path)}: {_short(err.message)}")
    outcomes: list[Outcome] = []
    seen: set[SampleKey] = set()
    for i, r in enumerate(doc["results"]):
        if r["status"] == "complete" and r["passed"] is None:
            raise BadInput(
                f"reports: {path}: results[{i}]: a complete sample needs passed true/false, not null"
            )
        outcome = r.get("outcome")
        if r["status"] == "complete":  # older runs have no outcome: passed or failed, as recorded
            outcome = outcome or ("passed" if r["passed"] else "failed")
            if (outcome == "passed") != r["passed"]:
                raise BadInput(f"reports: {path}: results[{i}]: outcome {outcome!r} contradicts passed={r['passed']}")
        o = Outcome(
            eval=r["eval"],
            category=r.get("category") or r["eval"].split(".", 1)[0],
            scenario=r["scenario"],
            epoch=r["epoch"],
            status=r["status"],
            passed=r["passed"],
            reason=r.get("reason") or "",
            outcome=outcome if r["status"] == "complete" else None,
            hard_violations=tuple(r.get("hard_violations") or ()),
            prompt_tokens=r.get("prompt_tokens") or 0,
            completion_tokens=r.get("completion_tokens") or 0,
            requests=r.get("requests") or 0,
            prompt_tokens_per_request=r.get("prompt_tokens_per_request"),
            seconds=float(r.get("seconds") or 0.0),
            log=r.get("log") or None,
        )
        if r.get("verdict") not in (None, o.verdict):
            raise BadInput(f"reports: {path}: results[{i}]: verdict {r['verdict']!r} contradicts the row ({o.verdict})")
        if o.key in seen:
            raise BadInput(
                f"reports: {path}: results[{i}]: duplicate sample eval={o.eval} scenario={o.scenario} epoch={o.epoch}"
            )
        seen.add(o.key)
        outcomes.append(o)
    return tuple(outcomes)
