"""Bad input as a new user gives it, one case per kind found by trying the five CLIs (issue 13): each is one
line naming the problem and the fix, a documented exit code, and never a traceback or a silent accept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import BINARY, DEEP_JSON, HUGE_INT, Result, call, write
from reports_builders import grid, write_run

from doubles.openai_stub import OpenAIStub
from serving.tiny_twin import default_twin_dir

REPO = Path(__file__).resolve().parents[1]


def bad(result: Result, *fragments: str) -> None:
    """Exit 2, one line on stderr holding every fragment, no traceback."""
    assert result.crash is None, result.crash
    assert result.code == 2, (result.code, result.out, result.err)
    assert result.one_line_error(), result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


# ---- tracebacks ------------------------------------------------------------------------------------

def test_deep_json_in_a_dataset_is_a_problem_of_its_line_not_a_recursion_error(tmp_path: Path) -> None:
    data = write(tmp_path / "deep.jsonl", '{"messages": ' + DEEP_JSON + "}\n")
    r = call("dataset", ["validate", str(data), "--no-tokens"])
    assert r.crash is None and r.code == 1, r.crash
    assert "line 1: not readable JSON: arrays/objects nested too deeply" in r.out
    r = call("dataset", ["decontam", str(data)])
    assert r.crash is None and r.code == 1, r.crash
    assert "skipped 1 line(s) that are not JSON objects: 1" in r.out


def test_deep_json_and_huge_numbers_in_results_and_logprob_files_are_one_line(tmp_path: Path) -> None:
    deep = write(tmp_path / "deep" / "results.json", DEEP_JSON)
    huge = write(tmp_path / "huge" / "results.json", '{"run": {"run_id": "x"}, "results": [], "n": ' + HUGE_INT + "}")
    bad(call("reports", ["show", str(deep)]), "nested too deeply", "run `pytest evals/` first")
    bad(call("reports", ["show", str(huge.parent)]), "a number of more than 4300 digits")
    lp_deep = write(tmp_path / "a.json", DEEP_JSON)
    lp_huge = write(tmp_path / "b.json", '{"trajectories": [{"id": "t", "tokens": ["a"], "logprobs": [-' + HUGE_INT
                    + "]}]}")
    bad(call("reports", ["divergence", str(lp_deep), str(lp_huge)]), f"{lp_deep} is not readable JSON")
    bad(call("reports", ["divergence", str(lp_huge), str(lp_huge)]), "more than 4300 digits")


def test_deep_json_in_training_data_is_a_data_error(tmp_path: Path) -> None:
    from training.data import DataError, load_transcripts

    data = write(tmp_path / "deep.jsonl", '{"messages": ' + DEEP_JSON + "}\n")
    with pytest.raises(DataError, match=r"deep\.jsonl:1: not readable JSON: arrays/objects nested too deeply"):
        load_transcripts(data)


def test_stats_out_naming_an_existing_file_is_refused_before_reading(tmp_path: Path) -> None:
    taken = write(tmp_path / "report", "not a directory")
    bad(call("dataset", ["stats", "dataset/madcat-system.jsonl", "--out", str(taken), "--no-tokens"]),
        f"--out {taken} is a file; give a directory")
    assert taken.read_text() == "not a directory"


def test_build_out_naming_a_directory_is_refused_before_the_build(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(**_: object) -> None:
        raise AssertionError("the build ran although --out cannot be written")

    monkeypatch.setattr("dataset.__main__.build", no_build)
    bad(call("dataset", ["build", "--out", str(tmp_path)]), f"--out {tmp_path} is a directory")
    inside_a_file = write(tmp_path / "file", "x") / "out.jsonl"
    bad(call("dataset", ["build", "--out", str(inside_a_file)]), "is a file, not a directory")


def test_a_training_output_that_cannot_be_a_directory_is_refused_before_training(tmp_path: Path) -> None:
    taken = write(tmp_path / "adapter", "a file where the adapter directory goes")
    bad(call("training.train", ["--output", str(taken), "--model", str(tmp_path)]), f"output {taken} is a file")
    bad(call("training.train", ["--output", str(taken / "lora"), "--model", str(tmp_path)]), "is a file, not a directory")


def test_binary_files_given_as_configs_transcripts_or_model_config_are_one_line(tmp_path: Path) -> None:
    binary = write(tmp_path / "blob.yaml", BINARY)
    bad(call("training.train", ["--config", str(binary), "--print-config"]), "not UTF-8 text")
    bad(call("training.preflight", ["--config", str(binary)]), "not UTF-8 text")
    bad(call("serving", ["command", str(binary)]), "not UTF-8 text")
    bad(call("reports", ["gate", "x", "--rules", str(binary)]), "not UTF-8 text")
    model = write(tmp_path / "model" / "config.json", BINARY).parent
    bad(call("training.preflight", ["--model", str(model)]), "config.json is not UTF-8 text")
    bad(call("serving", ["logprobs", "--base-url", "http://127.0.0.1:9", "--model", "m", "--tokenizer",
                         str(default_twin_dir()), "--transcripts", str(binary), "--out", str(tmp_path / "o.json")]),
        "not UTF-8 text")


def test_a_model_config_json_that_is_a_list_is_one_line(tmp_path: Path) -> None:
    model = write(tmp_path / "model" / "config.json", "[1, 2]").parent
    bad(call("training.preflight", ["--model", str(model)]), "is not a model config (a JSON object), got list")


@pytest.mark.parametrize(("cli", "argv", "fragment"), [
    ("serving", ["check", "--base-url", "http://127.0.0.1:9", "--timeout", "1e999"], "expected a finite number"),
    ("reports", ["compare", "a", "b", "--bootstrap", "100000000000"], "between 100 and 1000000"),
    ("reports", ["compare", "a", "b", "--seed", "-1"], "--seed: expected a whole number between 0 and"),
    ("evals", ["run", "--temperature", "nan"], "--temperature: expected a finite number"),
    ("evals", ["run", "--temperature", "inf"], "--temperature: expected a finite number"),
    ("evals", ["run", "--max-tokens", "-1"], "--max-tokens: expected a whole number between 1 and"),
    ("training.train", ["--lr", "nan", "--print-config"], "--lr: expected a finite number"),
    ("training.train", ["--epochs", "inf", "--print-config"], "--epochs: expected a finite number"),
    ("training.train", ["--set", "learning_rate=nan", "--print-config"], "learning_rate must be a finite number"),
])
def test_nan_inf_and_out_of_range_numbers_are_refused(cli: str, argv: list[str], fragment: str) -> None:
    bad(call(cli, argv), fragment)


def test_a_huge_bootstrap_and_a_negative_seed_on_real_runs_are_usage_errors(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_run(tmp_path, name, grid())
    ok = call("reports", ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"),
                          "--bootstrap", "100"])
    assert ok.code == 0, ok.err
    bad(call("reports", ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--seed", "-1"]), "--seed")


def test_out_in_a_missing_directory_is_made_and_a_bad_one_refused_before_any_request(tmp_path: Path) -> None:
    lines = Path(REPO / "dataset/madcat-system.jsonl").read_text().splitlines()[:1]
    refs = write(tmp_path / "refs.jsonl", "\n".join(lines) + "\n")
    twin = str(default_twin_dir())
    with OpenAIStub(adapters={"madcat": "tiny-base"}) as stub:
        out = tmp_path / "not" / "yet" / "lp.json"
        ok = call("serving", ["logprobs", "--base-url", stub.base_url, "--model", "madcat", "--tokenizer", twin,
                              "--transcripts", str(refs), "--out", str(out)])
        assert ok.code == 0 and ok.crash is None, ok.crash or ok.err
        assert json.loads(out.read_text())["trajectories"]
        before = len(stub.calls("/v1/completions"))
        bad(call("serving", ["logprobs", "--base-url", stub.base_url, "--model", "madcat", "--tokenizer", twin,
                             "--transcripts", str(refs), "--out", str(tmp_path)]), "is a directory")
        assert len(stub.calls("/v1/completions")) == before  # nothing gathered only to be lost


# ---- accepted silently -----------------------------------------------------------------------------

def test_an_empty_dataset_does_not_validate(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.jsonl", "\n\n")
    for verb in (["validate", str(empty), "--no-tokens"], ["decontam", str(empty)]):
        r = call("dataset", verb)
        assert r.crash is None and r.code == 1, (verb, r.out)
        assert "holds no examples" in r.out
    bad(call("dataset", ["stats", str(empty), "--no-tokens", "--out", str(tmp_path / "s")]), "holds no examples")


def test_results_never_hold_a_literal_nan(tmp_path: Path) -> None:
    from runner.runner import RunConfig, UsageError, validate

    for field, value in (("temperature", float("nan")), ("temperature", float("inf")), ("max_tokens", -1),
                         ("seed", -1)):
        with pytest.raises(UsageError, match=field.replace("_", "-")):
            validate(RunConfig(**{field: value, "report_dir": str(tmp_path)}))  # type: ignore[arg-type]


# ---- weak ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cli", "argv", "hint"), [
    ("serving", ["check"], "see `python -m serving check --help`"),
    ("serving", ["frobnicate"], "see `python -m serving --help`"),
    ("training.train", ["--bogus"], "see `python -m training.train --help`"),
    ("training.preflight", ["--max-steps", "x"], "see `python -m training.preflight --help`"),
    ("dataset", ["build", "--seed", "x", "--out", "o"], "see `python -m dataset build --help`"),
    ("reports", ["show"], "see `python -m reports show --help`"),
    ("evals", ["run", "--epochs", "0"], "see `python -m evals run --help`"),
])
def test_usage_errors_are_one_line_with_a_hint(cli: str, argv: list[str], hint: str) -> None:
    r = call(cli, argv)
    bad(r, hint)
    assert "usage:" not in r.err


def test_serving_says_serving_once_and_names_a_missing_tokenizer_directory(tmp_path: Path) -> None:
    refs = write(tmp_path / "refs.jsonl", Path(REPO / "dataset/madcat-system.jsonl").read_text().splitlines()[0])
    r = call("serving", ["logprobs", "--base-url", "http://127.0.0.1:9", "--model", "m", "--tokenizer",
                         str(default_twin_dir()), "--transcripts", str(refs), "--out", str(tmp_path / "o.json")])
    bad(r, "cannot reach")
    assert r.err.count("serving:") == 1
    r = call("serving", ["logprobs", "--base-url", "http://127.0.0.1:9", "--model", "m", "--tokenizer",
                         str(tmp_path / "no-such-dir"), "--transcripts", str(refs), "--out", str(tmp_path / "o.json")])
    bad(r, "--tokenizer", "is not a directory")
    assert "Repo id" not in r.err


def test_a_simply_bad_transcript_is_not_an_internal_error(tmp_path: Path) -> None:
    deep = write(tmp_path / "deep.json", DEEP_JSON)
    bad(call("evals", ["score", "--eval", "mesh.uses_sin_ssh_alias", str(deep)]), "is not a transcript",
        "nested too deeply")


# ---- a real process: nothing reaches the terminal as a traceback -------------------------------------

@pytest.mark.parametrize("argv", [
    ["evals", "score", "--eval", "mesh.uses_sin_ssh_alias", "{deep}"],
    ["dataset", "validate", "{deep}", "--no-tokens"],
    ["training.preflight", "--config", "{blob}"],
    ["serving", "check", "--base-url", "http://127.0.0.1:9", "--timeout", "1e999"],
    ["reports", "divergence", "{deep}", "{deep}"],
])
def test_no_traceback_reaches_the_terminal(tmp_path: Path, argv: list[str]) -> None:
    deep = write(tmp_path / "deep.json", DEEP_JSON)
    blob = write(tmp_path / "blob.yaml", BINARY)
    args = [a.format(deep=deep, blob=blob) for a in argv]
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.count("\n") <= 1, proc.stderr  # problems of a dataset go to stdout (exit 1)
