"""Re-grade a recorded GPU run with the current graders, from its inspect logs: no GPU, no model.

    python -m reports.records.real-model.regrade RECORD_DIR EVAL_LOG_DIR OUT_DIR

For each arm's results-<arm>.json in RECORD_DIR it finds the arm's inspect logs (*.eval under
EVAL_LOG_DIR/<arm>/) and re-grades every complete sample from its full messages, exactly as the
scorer does during a run (same transcript, same catalog grade, same hard-invariant check); incomplete
samples stay incomplete with their reason. It writes OUT_DIR/<arm>/results.json (the run's metadata,
the new rows, the summary recomputed) so that `reports compare` and `reports gate` read it like any
run, and prints each verdict that changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from core.safe_io import write_json_atomic
from evals.catalog import grade, hard_violations
from evals.thresholds import load_thresholds
from evals.transcript import load_transcript
from evals.world import load_tool_specs
from runner.results import summarize
from runner.scorer import compact_trajectory, transcript_from_state


def transcripts(log_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """(scenario, epoch) -> the transcript the scorer built, for every sample of the arm's logs."""
    from inspect_ai.log import read_eval_log

    tools = load_tool_specs()
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for path in sorted(log_dir.rglob("*.eval")):
        for sample in read_eval_log(str(path)).samples or []:
            out[(str((sample.metadata or {}).get("scenario")), int(sample.epoch))] = transcript_from_state(sample, tools)
    return out


def regrade(doc: dict[str, Any], found: dict[tuple[str, int], dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    rows, changes = [], []
    for row in doc["results"]:
        data = found.get((row["scenario"], row["epoch"]))
        if row["status"] != "complete" or data is None:
            rows.append(row)
            continue
        transcript = load_transcript(data)
        verdict = grade(row["eval"], transcript)
        new = {**row, "passed": verdict.passed, "outcome": verdict.outcome, "reason": verdict.reason,
               "hard_violations": [i for i, _ in hard_violations(transcript)],
               "trajectory": compact_trajectory(transcript)}
        if (new["outcome"], new["hard_violations"]) != (row.get("outcome"), row.get("hard_violations")):
            changes.append(f"{row['eval']} {row['scenario']} #{row['epoch']}: {row.get('outcome')} -> "
                           f"{new['outcome']} ({verdict.reason[:90]})")
        rows.append(new)
    return rows, changes


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    record, logs, out = map(Path, argv)
    thresholds = load_thresholds()
    for results in sorted(record.glob("results-*.json")):
        arm = results.stem.removeprefix("results-")
        doc = json.loads(results.read_text(encoding="utf-8"))
        found = transcripts(logs / arm)
        rows, changes = regrade(doc, found)
        complete = sum(r["status"] == "complete" for r in doc["results"])
        print(f"{arm}: {len(found)} logged samples, {complete} complete rows, {len(changes)} verdict(s) changed")
        for line in changes:
            print(f"  {line}")
        run = {**doc["run"], "regraded": "reports/records/real-model/regrade.py (current graders, from the inspect logs)"}
        write_json_atomic(out / arm / "results.json",
                          {**doc, "run": run, "results": rows, "summary": summarize(rows, thresholds)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
