"""One vocabulary (issue 31): a sample is PASS, FAIL, NOT EXERCISED or INCOMPLETE in the progress line, the
failure explanation, results.json, the summary line and the reports' Markdown and HTML alike."""

from __future__ import annotations

import json
from pathlib import Path

from core.results import planned_row
from core.verdicts import LABELS, tally_line
from evals.thresholds import load_thresholds
from reports.show import show_run
from runner.results import RunRecorder, judge
from runner.runner import progress_line

EVAL = "memory.recalls_before_code_work"


def _rows() -> dict[str, dict]:
    def row(scenario: str, **done: object) -> dict:
        r = planned_row(EVAL, scenario, 1)
        if done:
            r.update(status="complete", reason=f"why {scenario}", hard_violations=[], requests=1, **done)
        return r

    return {"PASS": row("s-pass", passed=True, outcome="passed"),
            "FAIL": row("s-fail", passed=False, outcome="failed"),
            "NOT EXERCISED": row("s-notex", passed=False, outcome="not_exercised"),
            "INCOMPLETE": row("s-incomplete")}


def test_every_output_gives_a_sample_the_same_label(tmp_path: Path) -> None:
    rows = _rows()
    assert tuple(rows) == LABELS
    path = tmp_path / "run" / "results.json"
    recorder = RunRecorder(path, {"run_id": "run", "epochs": 1}, [], load_thresholds(), min_interval_s=0)
    for r in rows.values():
        recorder.record(r)
    doc = recorder.finish(interrupted=False)
    by_scenario = {r["scenario"]: r for r in json.loads(path.read_text())["results"]}
    explained = judge(EVAL, list(rows.values()), load_thresholds()).explain().splitlines()
    md_path, html_path = show_run(str(path))
    md, html = md_path.read_text(), html_path.read_text()
    for label, r in rows.items():
        s = r["scenario"]
        assert by_scenario[s]["verdict"] == label  # results.json
        assert progress_line(r, 1, 4).split()[1:1 + len(label.split())] == label.split()  # the progress line
        if label != "PASS":
            assert any(line.strip().startswith(f"{label} {s} #1") for line in explained)  # pytest's failure text
            assert f"| {EVAL} | {s} | 1 | {label} |" in md  # the report's sample table
            assert f"<td>{label}</td>" in html
    assert tally_line(doc["summary"]) == "1 PASS, 1 FAIL, 1 NOT EXERCISED, 1 INCOMPLETE"
    assert "| PASS | FAIL | NOT EXERCISED | INCOMPLETE |" in md  # the count columns
