"""Loading and validating results.json: the three ways to name a run, and one-line errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reports_builders import grid, result, results_doc, write_run

from core.errors import BadInput
from reports.__main__ import main
from reports.results import (
    by_scenario,
    load_run,
    parse_results,
    passes_per_scenario,
    prompt_tokens_per_request,
    tally,
)


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(root))
    return root


def test_a_run_is_named_by_dir_file_or_id(runs: Path) -> None:
    d = write_run(runs, "r1", grid())
    for name in (d, d / "results.json", "r1"):
        assert load_run(name).run_id == "r1"


def test_missing_run_says_what_to_do(runs: Path) -> None:
    with pytest.raises(BadInput, match=r"nope has no results\.json — run `pytest evals/` first"):
        load_run("nope")


def test_garbled_json_is_one_line(runs: Path) -> None:
    d = runs / "bad"
    d.mkdir(parents=True)
    (d / "results.json").write_text('{"run": {"run_id": "bad"}, "results": [')
    with pytest.raises(BadInput) as e:
        load_run(d)
    assert "not valid JSON" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d.pop("results"), "'results' is a required property"),
        (lambda d: d["run"].pop("run_id"), "run_id"),
        (lambda d: d["results"][0].update(status="done"), "results[0].status"),
        (lambda d: d["results"][1].update(epoch=-1), "results[1].epoch"),
        (lambda d: d["results"][0].update(eval="no_category"), "results[0].eval"),
        (lambda d: d["results"][0].update(passed=None), "complete sample needs passed"),
        (lambda d: d["results"].append(copy.deepcopy(d["results"][0])), "duplicate sample"),
        (lambda d: d["run"].update(adapter_sha256="xyz"), "run.adapter_sha256"),
    ],
)
def test_invalid_documents_name_the_problem(mutate, needle: str) -> None:
    doc = results_doc("r", grid())
    mutate(doc)
    with pytest.raises(BadInput) as e:
        parse_results(doc, Path("r/results.json"))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_incomplete_samples_count_as_not_passed_and_are_reported() -> None:
    rows = [
        result("tts.a", "s1", 0),
        result("tts.a", "s1", 1, status="incomplete"),
        result("tts.a", "s2", 0, passed=False),
    ]
    run = parse_results(results_doc("r", rows), Path("r.json"))
    t = tally(run.outcomes)
    assert (t.n, t.passed, t.incomplete, t.failed) == (3, 1, 1, 1)
    assert sorted(passes_per_scenario(run.outcomes)) == [(1, 0), (2, 1)]
    assert set(by_scenario(run.outcomes)) == {"s1", "s2"}


def test_prompt_tokens_per_request_is_weighted_by_requests() -> None:
    rows = [
        result("tts.a", "s1", 0, prompt_tokens=100, requests=1),
        result("tts.a", "s2", 0, prompt_tokens=900, requests=3),
    ]
    run = parse_results(results_doc("r", rows), Path("r.json"))
    assert prompt_tokens_per_request(run.outcomes) == pytest.approx(250.0)


def test_category_defaults_to_the_eval_prefix() -> None:
    row = result("mesh.uses_sin_ssh_alias", "s1", 0)
    del row["category"]
    run = parse_results(results_doc("r", [row]), Path("r.json"))
    assert run.outcomes[0].category == "mesh"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.lists(
        st.sampled_from(["run", "results", 0, "eval", "epoch", "status", "passed", "run_id"]), max_size=3
    ),
    value=json_values,
)
def test_any_mutation_is_either_valid_or_one_line_bad_input(path: list, value) -> None:
    doc: dict = results_doc("r", [result("tts.a", "s1", 0), result("tts.a", "s1", 1, passed=False)])
    target = doc
    try:
        for p in path[:-1]:
            target = target[p]
        if path:
            target[path[-1]] = value
        else:
            doc = value
    except (KeyError, IndexError, TypeError):
        return
    try:
        run = parse_results(doc, Path("x.json"))
    except BadInput as e:
        assert str(e).startswith("reports: x.json") and "\n" not in str(e)
    else:
        assert all(o.status in ("complete", "incomplete") for o in run.outcomes)


def test_cli_on_malformed_results_exits_2_with_one_line(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = runs / "broken"
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"run": {"run_id": "broken"}, "results": [{"eval": "x"}]}))
    for argv in (
        ["show", "broken"],
        ["gate", "broken"],
        ["compare", "broken", "broken"],
        ["promote", "broken"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("reports:"), err


def test_cli_bad_arguments_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["gate"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m reports gate --help" in err
