"""Issue 31, the front ends of a run: `--run-id` and `--scenario` on `pytest evals/` and `python -m evals run`,
the warning when a served adapter cannot be tied to its bytes, promote's refusal naming that cause, help on
every option, and a `--help` that imports nothing heavy."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from reports_builders import grid, pin_hard_invariants, rules_file, write_run

from doubles.openai_stub import OpenAIStub
from evals.__main__ import main as evals_main
from reports.__main__ import build_parser as reports_parser
from reports.__main__ import main as reports_main
from runner.run_options import add_run_options
from serving.__main__ import build_parser as serving_parser

REPO = Path(__file__).resolve().parent.parent
SCENARIO = "mesh-alias-bt-vllm-status"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"}) as server:
        yield server


def _pytest_evals(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_pytest_evals_takes_run_id_and_scenario_and_warns_about_the_missing_adapter_dir(
        stub: OpenAIStub, tmp_path: Path) -> None:
    proc = _pytest_evals("--base-url", stub.base_url + "/v1", "--epochs", "1", "--report-dir", str(tmp_path),
                         "--run-id", "ci-nightly", "--scenario", SCENARIO, "-k", "mesh")
    doc = json.loads((tmp_path / "ci-nightly" / "results.json").read_text())
    assert doc["run"]["run_id"] == "ci-nightly"
    assert {r["scenario"] for r in doc["results"]} == {SCENARIO}
    # the power warning (one scenario, one epoch: no exact test can reach alpha) is a warning of its own
    warning = [ln for ln in proc.stderr.splitlines()
               if ln.startswith("madcat: warning:") and "cannot be tied to its files" in ln]
    assert len(warning) == 1 and "--adapter-dir DIR" in warning[0] and "reports promote` will refuse" in warning[0]
    assert any("--epochs" in ln for ln in proc.stderr.splitlines() if ln.startswith("madcat: warning:"))


def test_pytest_evals_refuses_an_unknown_scenario_in_one_line_with_a_suggestion(tmp_path: Path) -> None:
    proc = _pytest_evals("--backend", "local", "--report-dir", str(tmp_path), "--scenario", SCENARIO[:-1] + "x")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "unknown scenario id" in ln]
    assert len(lines) == 1 and f"did you mean {SCENARIO!r}" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("argv", "needle"), [
    (["--scenario", "mesh-alias-bt-vllm-stat"], f"did you mean {SCENARIO!r}"),
    (["--run-id", "../elsewhere"], "--run-id must be a folder name"),
])
def test_evals_run_refuses_bad_names_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], needle: str) -> None:
    code = evals_main(["run", "--backend", "local", "--report-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert not any(tmp_path.iterdir())


def test_the_help_imports_neither_inspect_nor_torch_nor_the_graders() -> None:
    # `python -m evals --help`, and `python -m evals run --help` (handed on to runner.cli by name)
    probe = ("import argparse, sys, evals.__main__ as m, importlib; m.build_parser(); "
             "importlib.import_module(m.RUN_PROGRAM).configure_run_parser(argparse.ArgumentParser()); "
             "print(sorted(x for x in ('inspect_ai', 'torch', 'transformers', 'evals.catalog') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _actions(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for where, a in _actions(sub):
                    yield f"{name} {where}", a
        elif not isinstance(action, argparse._HelpAction):
            yield action.dest, action


def test_every_option_and_argument_has_help() -> None:
    from evals.__main__ import build_parser as evals_parser

    missing = [f"{prog}: {where}" for prog, parser in
               (("reports", reports_parser()), ("evals", evals_parser()), ("serving", serving_parser()))
               for where, a in _actions(parser) if not (a.help or "").strip()]
    pytest_options: list[str] = []
    add_run_options(lambda name, **kw: pytest_options.append(name) if not kw.get("help") else None)
    assert missing == [] and pytest_options == []


def test_usage_lines_name_the_module_and_serving_names_logprobs() -> None:
    assert reports_parser().format_usage().startswith("usage: python -m reports ")
    assert "logprobs" in (serving_parser().description or "")


def test_promote_of_a_served_adapter_run_without_adapter_dir_names_the_cause(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(runs))
    pin_hard_invariants(monkeypatch)
    write_run(runs, "served", grid(), backend="vllm", adapter="madcat")
    code = reports_main(["promote", "served", "--registry", str(tmp_path / "reg.json"),
                         "--rules", str(rules_file(tmp_path))])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "without --adapter-dir" in err and "run the eval again with --adapter-dir DIR" in err
    write_run(runs, "base", grid(), backend="vllm", adapter=None)
    assert reports_main(["promote", "base", "--registry", str(tmp_path / "reg.json")]) == 2
    assert "evaluated the base model" in capsys.readouterr().err
