"""`python -m reports compare`: markdown, self-contained HTML and JSON whose numbers match the statistics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from reports_builders import EVALS, SCENARIOS, grid, write_run
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from reports.__main__ import main

SOFT = "tts.uses_active_cart_voice"


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(root))
    # base: full system prompt, passes half of everything; adapter: minimal prompt, passes all but SOFT on s00-s02.
    write_run(
        root,
        "base",
        grid(lambda e, s, k: (int(s[1:]) + k) % 2 == 0, prompt_tokens=9000, requests=3, log="logs/base.eval"),
        adapter=None,
        system_prompt="full",
    )
    write_run(
        root,
        "lora",
        grid(
            lambda e, s, k: not (e == SOFT and s in ("s00", "s01", "s02")),
            prompt_tokens=1500,
            requests=3,
            log="logs/lora.eval",
        ),
    )
    return root


def test_compare_writes_md_html_json_with_matching_numbers(tmp_path: Path, runs: Path, capsys) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", "base", "lora", "--out", str(out), "--names", "base,madcat"]) == 0
    stdout = capsys.readouterr().out
    assert "madcat vs base" in stdout and f"report: {out / 'comparison.html'}" in stdout
    data = json.loads((out / "comparison.json").read_text())
    base, lora = data["arms"]
    assert (base["name"], lora["name"]) == ("base", "madcat")
    assert base["prompt_tokens_per_request"] == 3000 and lora["prompt_tokens_per_request"] == 500

    soft = lora["behaviours"][SOFT]
    assert (soft["n"], soft["passed"], soft["incomplete"]) == (30, 21, 0)
    low, high = proportion_confint(21, 30, method="wilson")
    assert soft["wilson_low"] == pytest.approx(low) and soft["wilson_high"] == pytest.approx(high)
    assert soft["pass_k"] == pytest.approx(0.7)  # 7 of 10 scenarios passed all 3 epochs

    paired = data["paired"][0]
    assert paired["arm"] == "madcat" and paired["against"] == "base"
    b_soft = paired["behaviours"][SOFT]
    # base passes (s + k) even; lora fails s00-s02 entirely and passes the rest.
    a_only = sum((int(s[1:]) + k) % 2 == 0 for s in ("s00", "s01", "s02") for k in range(3))
    b_only = sum((int(s[1:]) + k) % 2 == 1 for s in SCENARIOS[3:] for k in range(3))
    assert (b_soft["ref_only_passed"], b_soft["arm_only_passed"]) == (a_only, b_only)
    assert b_soft["p_mcnemar"] == pytest.approx(sm_mcnemar([[0, a_only], [b_only, 0]], exact=True).pvalue)
    raw = [paired["behaviours"][e]["p_mcnemar"] for e in sorted(EVALS)]
    holm = multipletests(raw, method="holm")[1]
    assert [paired["behaviours"][e]["p_holm"] for e in sorted(EVALS)] == pytest.approx(list(holm))
    assert paired["overall"]["diff"] == pytest.approx(lora["overall"]["rate"] - base["overall"]["rate"])
    assert paired["overall"]["ci_low"] > 0 and data["bootstrap"] == {
        "n": 10000,
        "seed": 0,
        "cluster": "scenario",
    }
    assert data["warnings"] == []

    md = (out / "comparison.md").read_text()
    row = f"| {SOFT} | madcat | {b_soft['verdict']} | 30 | 21 | 9 | 0 | 0 | 0.700 | [{low:.3f}, {high:.3f}] | 0.700 |"
    assert row in md
    assert "(comparison-forest-madcat.png)" in md and (out / "comparison-forest-madcat.png").is_file()
    assert "[logs/lora.eval](../runs/lora/logs/lora.eval)" in md

    html = (out / "comparison.html").read_text()
    assert html.count('src="data:image/png;base64,') == 1  # the forest plot
    assert not re.search(r'(src|href)="https?://', html) and "<link" not in html  # self-contained
    assert f"[{low:.3f}, {high:.3f}]" in html and 'href="../runs/base/logs/base.eval"' in html


def test_compare_warns_loudly_and_pairs_only_common_samples(tmp_path: Path, runs: Path, capsys) -> None:
    write_run(runs, "short", grid(scenarios=SCENARIOS[:6], epochs=2), seed=99, epochs=2)
    out = tmp_path / "cmp"
    assert main(["compare", "lora", "short", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "WARNING: short vs lora: seed differs: lora has 1234, short has 99" in err
    assert "WARNING: short vs lora: epochs differs" in err
    assert "90 samples only in lora" in err  # 5 evals x (4 scenarios x 3 + 6 scenarios x 1)
    data = json.loads((out / "comparison.json").read_text())
    assert data["paired"][0]["overall"]["pairs"] == 5 * 6 * 2
    assert data["k"] == 2
    assert "samples only in lora" in (out / "comparison.md").read_text()


def test_compare_three_arms_pairs_each_against_the_first(tmp_path: Path, runs: Path) -> None:
    write_run(runs, "bf16", grid())
    out = tmp_path / "cmp3"
    assert main(["compare", "lora", "base", "bf16", "--out", str(out), "--bootstrap", "500"]) == 0
    data = json.loads((out / "comparison.json").read_text())
    assert [p["arm"] for p in data["paired"]] == ["base", "bf16"]
    assert {p["against"] for p in data["paired"]} == {"lora"}


def test_compare_counts_incomplete_samples_per_arm(tmp_path: Path, runs: Path) -> None:
    write_run(runs, "flaky", grid(lambda e, s, k: "incomplete" if s == "s09" else True))
    out = tmp_path / "cmp"
    assert main(["compare", "lora", "flaky", "--out", str(out)]) == 0
    data = json.loads((out / "comparison.json").read_text())
    flaky = data["arms"][1]
    assert flaky["incomplete"] == 15 and flaky["overall"]["passed"] == 135 and flaky["overall"]["n"] == 150


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["compare", "lora"], "at least two runs"),
        (["compare", "lora", "base", "--names", "x"], "--names needs 2 distinct names"),
        (["compare", "lora", "base", "--names", "x,x"], "--names needs 2 distinct names"),
        (["compare", "lora", "ghost"], "ghost has no results.json"),
    ],
)
def test_compare_bad_input_is_one_line_exit_2(runs: Path, capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_compare_shows_each_arms_last_gate_verdict(tmp_path: Path, runs: Path, monkeypatch) -> None:
    monkeypatch.setattr("reports.gate.hard_invariant_ids", lambda rules: ["persona.no_hardcoded_bt_identity"])
    assert main(["gate", "base"]) == 1  # half of the hard invariant's tries fail
    out = tmp_path / "cmp"
    assert main(["compare", "base", "lora", "--out", str(out), "--bootstrap", "200"]) == 0
    data = json.loads((out / "comparison.json").read_text())
    assert [a["gate"] for a in data["arms"]] == ["FAIL", None]
    assert (
        "| base | [base](../runs/base/results.json) | — (base) | full | FAIL |"
        in (out / "comparison.md").read_text()
    )


def test_runs_whose_epochs_repeat_one_seed_are_flagged_as_replicas(tmp_path: Path) -> None:
    """Before runner/epoch_seeds.py every epoch sampled with the run's one seed: the epochs were replicas."""
    from reports.compare import compare_runs
    from reports.results import load_run

    old = write_run(tmp_path, "old", grid(), epoch_seeds=None)
    new = write_run(tmp_path, "new", grid())
    single = write_run(tmp_path, "single", grid(epochs=1), epochs=1, epoch_seeds=None)
    c = compare_runs([load_run(str(new)), load_run(str(old)), load_run(str(single))], ["new", "old", "single"])
    replicas = [w for w in c.warnings if "replicas" in w]
    assert len(replicas) == 1 and replicas[0].startswith("old: its 3 epochs all sampled with seed 1234")
