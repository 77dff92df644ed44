"""The `replay` backend: recorded transcripts (JSONL, one transcript a line) re-scored, no model.

Each line is graded against `meta.eval` (or each of `meta.evals`; with neither, every eval that
applies to it). `meta.scenario` names the row (else `line-N`), `meta.epoch` its epoch (else the
count of earlier lines of the same scenario and eval). For iterating on graders: same rows, same
results.json, same thresholds as a model run. A transcript of a catalog scenario recorded without its
task check (an older recording) is judged with the scenario's current `check`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.results import planned_row
from core.safe_io import JSON_ERRORS, InputError, json_reason, read_text
from evals.catalog import EVALS, BadTranscript, applicable_evals, grade, hard_violations
from evals.scenarios import load_scenarios
from evals.transcript import load_transcript
from runner.backends import BackendError
from runner.scorer import compact_trajectory


def read_transcripts(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, transcript) for every non-blank line; bad input is one BackendError line."""
    p = Path(path)
    try:
        text = read_text(p, "transcripts file")
    except InputError as exc:
        raise BackendError(str(exc)) from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BackendError(f"{p} line {number}: not JSON ({exc.msg}); expected one transcript per line") from None
        except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
            raise BackendError(f"{p} line {number}: {json_reason(exc)}; expected one transcript per line"
                               ) from None
        try:
            load_transcript(data)
        except BadTranscript as exc:
            raise BackendError(f"{p} line {number}: not a transcript: {exc}") from None
        out.append((number, data))
    if not out:
        raise BackendError(f"{p} holds no transcripts")
    return out


def _evals_of(data: dict[str, Any], source: str) -> list[str]:
    meta = data.get("meta") or {}
    wanted = meta.get("evals") or ([meta["eval"]] if meta.get("eval") else None)
    if wanted is None:
        return applicable_evals(data)
    unknown = [e for e in wanted if e not in EVALS]
    if unknown:
        raise BackendError(f"{source}: unknown eval {unknown[0]!r} in meta (see `python -m evals list`)")
    return list(wanted)


def _with_task_check(data: dict[str, Any], checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    meta = data.get("meta") or {}
    if "check" in meta or str(meta.get("scenario")) not in checks:
        return data
    return {**data, "meta": {**meta, "check": checks[str(meta["scenario"])]}}


def replay_rows(path: str | Path, evals: list[str] | None = None) -> list[dict[str, Any]]:
    """Grade every transcript of the file; one results row per (transcript, eval)."""
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    checks = {s.id: s.check for s in load_scenarios()}
    for number, data in read_transcripts(path):
        source = f"{path}:{number}"
        data = _with_task_check(data, checks)
        meta = data.get("meta") or {}
        scenario = str(meta.get("scenario") or f"line-{number}")
        transcript = load_transcript(data)
        hard = [i for i, _ in hard_violations(transcript)]
        trajectory = compact_trajectory(transcript)
        for eval_id in _evals_of(data, source):
            if evals is not None and eval_id not in evals:
                continue
            seen[(scenario, eval_id)] = seen.get((scenario, eval_id), 0) + 1
            verdict = grade(eval_id, transcript)
            row = planned_row(eval_id, scenario, int(meta.get("epoch") or seen[(scenario, eval_id)]))
            assistant = sum(1 for m in data["messages"] if m.get("role") == "assistant")
            row.update(status="complete", passed=verdict.passed, outcome=verdict.outcome, reason=verdict.reason,
                       hard_violations=hard,
                       requests=assistant, seconds=0.0, log=source, trajectory=trajectory)
            rows.append(row)
    return rows
