"""e2e.offline_loop's plumbing and benchmarks.demo's report (the loop itself runs in benchmarks.demo)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.demo import TITLE, append_record, behaviour_rows, to_markdown
from e2e import offline_loop


def _row(diff: float | None, low: float | None, high: float | None, verdict: str = "no difference shown",
         p: float = 0.25, p_holm: float = 0.75) -> dict[str, object]:
    return {"diff": diff, "ci_low": low, "ci_high": high, "arm_only_passed": 3, "ref_only_passed": 0, "pairs": 4,
            "p_mcnemar": p, "p_holm": p_holm, "verdict": verdict, "holm_family": 4}


COMPARISON = {
    "arms": [
        {"name": "baseline", "behaviours": {"a.x": {"n": 4, "passed": 0}, "b.y": {"n": 4, "passed": 1},
                                            "c.z": {"n": 4, "passed": 0}}},
        {"name": "adapter", "behaviours": {"a.x": {"n": 4, "passed": 4}, "b.y": {"n": 4, "passed": 2},
                                           "c.z": {"n": 4, "passed": 0}}},
    ],
    "paired": [{"behaviours": {"a.x": _row(1.0, 1.0, 1.0, "better", 0.00049, 0.0015),
                               "b.y": _row(0.25, 0.0, 0.75), "c.z": _row(None, None, None),
                               # an interval above 0 is an effect size, not the test: not learned
                               "d.w": _row(1.0, 1.0, 1.0, "no difference shown", 0.125, 1.0)}}],
}


def test_only_the_rules_verdict_is_a_learned_difference() -> None:
    assert [b for b, _ in offline_loop.learned(COMPARISON)] == ["a.x"]
    assert offline_loop.learned({"paired": []}) == []


def test_the_loop_reports_the_holm_family_the_rule_counted() -> None:
    assert offline_loop.holm_family(COMPARISON) == 4
    assert offline_loop.holm_family({"paired": []}) == 0


def test_the_demo_defaults_run_the_taught_behaviours_with_enough_pairs_for_the_rule() -> None:
    from core.exact_power import min_detectable_difference
    from evals.scenarios import load_scenarios
    from runner.task import select_evals

    taught = select_evals(list(offline_loop.DEMO_EVALS))
    assert set(offline_loop.DEMO_TAUGHT) <= set(taught) and offline_loop.DEMO_TEMPERATURE > 0
    for behaviour in offline_loop.DEMO_TAUGHT:
        pairs = offline_loop.DEMO_EPOCHS * len(load_scenarios(evals=[behaviour]))
        # enough pairs to reach the alpha even if Holm counted all 24 behaviours
        assert min_detectable_difference(pairs, 0.05, 24) <= 0.5, (behaviour, pairs)


def test_the_record_is_appended_never_rewritten(tmp_path: Path) -> None:
    result = {"commit": "0123456789abcdef", "date": "2026-12-07 20:00 UTC", "total_seconds": 250.0, "gate": "FAIL",
              "machine": {"cores": 2, "processor": "", "machine": "x86_64", "python": "3.11", "load_before": 0.1,
                          "load_after": 1.9},
              "steps": [{"step": "train", "seconds": 100.0}], "behaviours": [], "epochs": 6, "temperature": 0.6,
              "alpha": 0.05, "holm_family": 2, "evals": ["persona"], "loop_args": []}
    (tmp_path / "demo.json").write_text(json.dumps({"commit": "old", "total_seconds": 164}))
    (tmp_path / "demo.md").write_text(TITLE + "\nold numbers: 164 s\n")
    append_record(tmp_path, result)
    append_record(tmp_path, {**result, "date": "2026-12-08 09:00 UTC"})
    records = json.loads((tmp_path / "demo.json").read_text())
    assert [r["commit"] for r in records] == ["old", "0123456789abcdef", "0123456789abcdef"]
    md = (tmp_path / "demo.md").read_text()
    assert md.startswith(TITLE + "\nold numbers: 164 s\n\n## 2026-12-07 20:00 UTC: commit 0123456789ab")
    assert md.count("## 2026-12-08 09:00 UTC") == 1 and "across the 2 behaviour(s) the runs tested" in md
    append_record(tmp_path / "new", result)
    assert (tmp_path / "new" / "demo.md").read_text().startswith(TITLE + "\n## 2026-12-07")


def test_the_benchmark_table_has_every_behaviour_and_marks_the_significant_ones() -> None:
    comparison = {**COMPARISON, "paired": [{"behaviours": {
        k: v for k, v in COMPARISON["paired"][0]["behaviours"].items() if k != "d.w"}}]}
    rows = behaviour_rows(comparison)
    assert [(r["behaviour"], r["baseline_passed"], r["adapter_passed"], r["learned"]) for r in rows] == [
        ("a.x", 0, 4, True), ("b.y", 1, 2, False), ("c.z", 0, 0, False)]
    md = to_markdown({"commit": "0123456789abcdef", "date": "d", "total_seconds": 290.0, "gate": "FAIL",
                      "machine": {"cores": 2, "processor": "", "machine": "x86_64", "python": "3.11",
                                  "load_before": 0.1, "load_after": 1.9},
                      "steps": [{"step": "train", "seconds": 120.0}], "behaviours": rows,
                      "epochs": 3, "temperature": 0.5, "alpha": 0.05})
    assert "**Total: 290 s (4.8 min)**" in md and "| train | 120 |" in md
    assert "| a.x | 4 | 0 | 4 | 0.00049 | 0.0015 | +1.00 (+1.00 to +1.00) | yes |" in md
    assert "| c.z | 4 | 0 | 0 | 0.25 | 0.75 | — |  |" in md
    assert "3 sampled tries per scenario at temperature 0.5" in md and "p < 0.05" in md


def test_parallel_chains_run_in_order_and_a_failure_stops_its_chain(tmp_path: Path, capsys) -> None:
    log = tmp_path / "log"

    def append(text: str, code: int = 0) -> list[str]:
        return [sys.executable, "-c", f"open({str(log)!r}, 'a').write({text!r} + chr(10)); raise SystemExit({code})"]

    offline_loop.TIMINGS.clear()
    offline_loop._parallel_steps(1, 1, "ok", {"a": [append("a1"), append("a2")], "b": [append("b1")]}, ok_codes=(0,))
    assert log.read_text().split().index("a1") < log.read_text().split().index("a2")
    assert offline_loop.TIMINGS[-1]["step"] == "ok"
    log.unlink()
    with pytest.raises(SystemExit, match=r"step 2 \(bad\) failed for a"):
        offline_loop._parallel_steps(2, 2, "bad", {"a": [append("a1", 3), append("a2")], "b": [append("b1")]},
                                     ok_codes=(0,))
    assert sorted(log.read_text().split()) == ["a1", "b1"]  # a2 never ran
    assert "exits {" in capsys.readouterr().out
