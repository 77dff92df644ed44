"""Re-grade a recorded run with this checkout's spec, from its inspect logs (no model, no server).

Every complete sample is graded again from its full messages exactly as the scorer does during a run
(same transcript, same catalog grade, same hard-invariant check); incomplete samples stay incomplete
with their reason. The situation is the one the model met (the logged world and faults); what is judged
(expect, check, allows, after_reply) is this checkout's scenario of the same id, so a re-grade applies
today's spec, checks and side-effect rules included, also to logs written before they existed. The result is a new Run in memory, labelled with the spec that re-graded it: the
recorded results.json is never touched (a record's headline is the number its run produced).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.results import Outcome, SampleKey
from evals.spec_hash import spec_sha256
from reports.results import Run


def _log_files(run: Run) -> list[Path]:
    files: list[Path] = []
    for log in run.logs():
        p = run.resolve_log(log)
        files.extend(sorted(p.rglob("*.eval")) if p.is_dir() else [p] if p.is_file() else [])
    return files


def logged_transcripts(run: Run) -> dict[SampleKey, dict[str, Any]]:
    """(eval, scenario, epoch) -> the transcript the scorer would build, for every sample in the run's logs."""
    from inspect_ai.log import read_eval_log

    from evals.scenarios import load_scenarios
    from evals.world import load_tool_specs
    from runner.scorer import transcript_from_state

    files = _log_files(run)
    if not files:
        raise BadInput(f"reports: cannot re-grade {run.run_id}: none of its inspect logs is here "
                       f"({', '.join(run.logs()) or 'no log recorded'})")
    tools = load_tool_specs()
    judged = {s.id: s.transcript_stub()["meta"] for s in load_scenarios()}
    out: dict[SampleKey, dict[str, Any]] = {}
    for path in files:
        try:
            samples = read_eval_log(str(path)).samples or []
        except Exception as e:  # inspect raises many kinds for a damaged log
            raise BadInput(f"reports: cannot re-grade {run.run_id}: {path} is not a readable inspect log ({e})") from None
        for s in samples:
            meta = s.metadata or {}
            data = transcript_from_state(s, tools)
            today = judged.get(str(meta.get("scenario")))
            if today is not None:
                data["meta"].update({k: today[k] for k in ("expect", "check", "allows", "after_reply")})
            out[(str(meta.get("eval")), str(meta.get("scenario")), int(s.epoch))] = data
    return out


def regrade_outcome(o: Outcome, data: dict[str, Any] | None) -> Outcome:
    if not o.complete or data is None:
        return o
    from evals.catalog import grade, hard_violations
    from evals.transcript import load_transcript

    transcript = load_transcript(data)
    verdict = grade(o.eval, transcript)
    return dataclasses.replace(o, passed=verdict.outcome == "passed", outcome=verdict.outcome, reason=verdict.reason,
                               hard_violations=tuple(i for i, _ in hard_violations(transcript)))


def regrade_run(run: Run) -> Run:
    """The run as this checkout's spec grades it; its meta says so (`regraded_by_spec`)."""
    found = logged_transcripts(run)
    outcomes = tuple(regrade_outcome(o, found.get(o.key)) for o in run.outcomes)
    meta = {**run.meta, "graded_by_spec": run.meta.get("spec_sha256"), "spec_sha256": spec_sha256(),
            "regraded_by_spec": spec_sha256()}
    return Run(path=run.path, meta=meta, outcomes=outcomes, summary={})
