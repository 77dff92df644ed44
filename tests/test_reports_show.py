"""`python -m reports show` for one run, and the teacher-forced divergence summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reports_builders import grid, pin_hard_invariants, rules_file, write_run

from core.errors import BadInput
from reports.__main__ import main
from reports.divergence import parse_logprobs, summarise_divergence

SOFT = "tts.uses_active_cart_voice"


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(root))
    pin_hard_invariants(monkeypatch)
    return root


def test_show_writes_a_report_with_failures_reasons_and_gate(tmp_path: Path, runs: Path, capsys) -> None:
    rows = grid(
        lambda e, s, k: "incomplete" if (e, s, k) == (SOFT, "s01", 2) else "not_exercised" if (
            (e, s, k) == (SOFT, "s02", 0)) else not (e == SOFT and s == "s00"),
        log="logs/run.eval",
    )
    rows[0]["reason"] = "tts_speak used voice 'bt7274' but the active cart is nova"
    d = write_run(runs, "run", rows)
    rules = rules_file(tmp_path, thresholds={"default": 0.5, "evals": {SOFT: 0.9}})
    assert main(["gate", "run", "--rules", str(rules)]) == 1
    capsys.readouterr()
    assert main(["show", "run"]) == 0
    assert f"report: {d / 'report.html'}" in capsys.readouterr().out
    md = (d / "report.md").read_text()
    assert "Gate: FAIL" in md and "thresholds" in md
    assert "tts_speak used voice 'bt7274' but the active cart is nova" in md
    assert f"| {SOFT} | s01 | 2 | INCOMPLETE | timeout |" in md
    assert "1 of 150 samples are incomplete and count as not passed" in md
    assert "1 of 150 samples never reached the situation their scenario sets up (not exercised)" in md
    assert f"| {SOFT} | s02 | 0 | NOT EXERCISED | never spoke |" in md
    assert "| behaviour | n | PASS | FAIL | NOT EXERCISED | INCOMPLETE |" in md
    assert f"| {SOFT} | 30 | 25 | 3 | 1 | 1 | 0.833 |" in md  # n, PASS, FAIL, NOT EXERCISED, INCOMPLETE, rate
    assert "[log](logs/run.eval)" in md
    html = (d / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and '<tr class="fail">' in html


def test_show_out_dir_and_missing_run(tmp_path: Path, runs: Path, capsys) -> None:
    write_run(runs, "run", grid())
    out = tmp_path / "elsewhere"
    assert main(["show", "run", "--out", str(out)]) == 0
    assert "No gate verdict yet" in (out / "report.md").read_text()
    assert main(["show", "ghost"]) == 2
    assert "ghost has no results.json" in capsys.readouterr().err


def _traj(tid: str, lps: list[float | None], top1: list[str | None] | None = None) -> dict:
    t = {"id": tid, "tokens": [f"t{i}" for i in range(len(lps))], "logprobs": lps}
    if top1 is not None:
        t["top1"] = top1
    return t


def test_divergence_summary_known_values() -> None:
    a = parse_logprobs(
        {
            "trajectories": [
                _traj("x", [None, -1.0, -2.0, -0.5], ["a", "b", "c", "d"]),
                _traj("only-a", [-1.0]),
            ]
        },
        "a",
    )
    b = parse_logprobs({"trajectories": [_traj("x", [None, -1.5, -2.0, -0.1], ["a", "b", "z", "d"])]}, "b")
    s = summarise_divergence(a, b)
    assert (s.trajectories, s.tokens, s.skipped_positions, s.unmatched) == (1, 3, 1, ["only-a"])
    assert (
        s.mean_abs == pytest.approx(0.3)
        and s.median_abs == pytest.approx(0.4)
        and s.max_abs == pytest.approx(0.5)
    )
    assert s.p95_abs == pytest.approx(np.percentile([0.5, 0.0, 0.4], 95))
    assert s.mean_delta == pytest.approx((0.5 + 0.0 - 0.4) / 3)
    assert s.top1_positions == 4 and s.top1_differs == pytest.approx(0.25)
    assert (s.worst[0].id, s.worst[0].position) == ("x", 1)


@given(st.lists(st.floats(-20, 0), min_size=1, max_size=30), st.data())
def test_divergence_of_identical_deployments_is_zero_and_symmetric_in_abs(lps: list[float], data) -> None:
    other = data.draw(st.lists(st.floats(-20, 0), min_size=len(lps), max_size=len(lps)))
    a = parse_logprobs({"trajectories": [_traj("x", lps)]}, "a")
    b = parse_logprobs({"trajectories": [_traj("x", other)]}, "b")
    assert summarise_divergence(a, a).max_abs == 0.0
    ab, ba = summarise_divergence(a, b), summarise_divergence(b, a)
    assert ab.mean_abs == pytest.approx(ba.mean_abs) and ab.mean_delta == pytest.approx(-ba.mean_delta)
    assert ab.median_abs <= ab.p95_abs <= ab.max_abs + 1e-12


@pytest.mark.parametrize(
    "doc,needle",
    [
        ({"traj": []}, "'trajectories' list"),
        (
            {"trajectories": [{"id": "x", "tokens": ["a"], "logprobs": [-1.0, -2.0]}]},
            "1 tokens but 2 logprobs",
        ),
        ({"trajectories": [{"id": "x", "tokens": ["a"], "logprobs": ["-1"]}]}, "finite numbers or null"),
        ({"trajectories": [{"id": "x", "tokens": ["a"], "logprobs": [-1.0], "top1": ["a", "b"]}]}, "'top1'"),
        ({"trajectories": [_traj("x", [-1.0]), _traj("x", [-1.0])]}, "duplicate id"),
    ],
)
def test_divergence_input_errors(doc: dict, needle: str) -> None:
    with pytest.raises(BadInput, match=needle):
        parse_logprobs(doc, "f.json")


def test_divergence_refuses_different_tokens() -> None:
    a = parse_logprobs({"trajectories": [{"id": "x", "tokens": ["a", "b"], "logprobs": [None, -1.0]}]}, "a")
    b = parse_logprobs({"trajectories": [{"id": "x", "tokens": ["a", "c"], "logprobs": [None, -1.0]}]}, "b")
    with pytest.raises(BadInput, match="differ from position 1"):
        summarise_divergence(a, b)


def test_divergence_cli(tmp_path: Path, capsys) -> None:
    fa, fb = tmp_path / "awq.json", tmp_path / "bf16.json"
    fa.write_text(json.dumps({"trajectories": [_traj("x", [None, -1.0, -2.0])]}))
    fb.write_text(json.dumps({"trajectories": [_traj("x", [None, -1.25, -2.0])]}))
    out = tmp_path / "div.json"
    assert main(["divergence", str(fa), str(fb), "--names", "awq,bf16", "--out", str(out)]) == 0
    assert "awq vs bf16: 1 trajectories, 2 tokens" in capsys.readouterr().out
    assert json.loads(out.read_text())["max_abs"] == pytest.approx(0.25)
    assert main(["divergence", str(fa), str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
