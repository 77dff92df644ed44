"""Each run setting is declared once, as a RunConfig field: the run CLI, the pytest options and the drivers' options
are generated from the fields (runner/run_options.py), and docs/runner-options.md is what the fields say."""

from __future__ import annotations

import argparse
import importlib
import re
import signal
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.cli import configure_run_parser
from runner.run_options import (
    RunConfig,
    add_run_options,
    default_of,
    flag_of,
    option_fields,
    options_markdown,
    run_flags,
)

REPO = Path(__file__).resolve().parents[1]
DRIVERS = ("e2e.offline_loop", "e2e.gpu_e2e", "e2e.awq_vs_bf16", "e2e.awq_qwen", "e2e.real_model_e2e")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings if s.startswith("--")}


def test_the_run_cli_is_the_dataclass() -> None:
    options = _options(configure_run_parser(argparse.ArgumentParser()))
    expected = {flag_of(f.name): default_of(f) for f in option_fields("cli")}
    assert set(options) - {"--help", "--quiet"} == set(expected)
    assert {flag: options[flag].default for flag in expected} == expected
    assert {options[flag_of(f.name)].dest for f in option_fields()} == {f.name for f in option_fields()}


def test_the_pytest_options_are_the_dataclass() -> None:
    from runner import pytest_plugin

    class Group:
        def __init__(self) -> None:
            self.options: dict[str, dict[str, Any]] = {}

        def addoption(self, name: str, **kwargs: Any) -> None:
            self.options[name] = kwargs

    group = Group()

    class Parser:
        def getgroup(self, *args: Any) -> Group:
            return group

    pytest_plugin.pytest_addoption(Parser())  # type: ignore[arg-type]
    expected = {flag_of(f.name): default_of(f) for f in option_fields("pytest")}
    assert {name: kwargs["default"] for name, kwargs in group.options.items()} == expected
    assert all(kwargs["dest"] == "madcat_" + f.name for f in option_fields("pytest")
               for name, kwargs in group.options.items() if name == flag_of(f.name))


@pytest.mark.parametrize("module_name", DRIVERS)
def test_each_driver_takes_its_run_options_from_the_dataclass(module_name: str, monkeypatch, capsys) -> None:
    module = importlib.import_module(module_name)
    calls: list[dict[str, Any]] = []

    def spy(add: Any, prefix: str = "", **kwargs: Any) -> None:
        calls.append({"parser": add.__self__, **kwargs})
        add_run_options(add, prefix, **kwargs)

    monkeypatch.setattr(module, "add_run_options", spy)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exc:
            module.main(["out", "--help"])
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert exc.value.code == 0 and len(calls) == 1
    options, call = _options(calls[0]["parser"]), calls[0]
    for name in call["only"]:
        field = RunConfig.__dataclass_fields__[name]
        assert options[flag_of(name)].default == (call.get("defaults") or {}).get(name, default_of(field))
    assert "--max-turns" in capsys.readouterr().out or "max_turns" not in call["only"]


def test_no_driver_or_runner_module_declares_a_run_option_by_hand() -> None:
    # flags a driver may declare for a setting of its own: e.g. e2e/awq_qwen.py's --model (a model profile) and
    # --adapter-dir (an adapter trained before, served by its three servers)
    run_only = "|".join(re.escape(flag_of(f.name).removeprefix("--")) for f in option_fields()
                        if f.name not in ("adapter", "model", "base_url", "transcripts", "seed", "adapter_dir"))
    declared = re.compile(rf"""(add_argument|addoption)\(\s*f?["']--({run_only})["']""")
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for folder in ("e2e", "runner")
             for p in sorted((REPO / folder).rglob("*.py")) for m in declared.finditer(p.read_text(encoding="utf-8"))]
    assert found == []
    product = [p for folder in ("core", "evals", "dataset", "training", "serving", "runner", "reports", "e2e")
               for p in (REPO / folder).rglob("*.py") if p.name != "run_options.py"]
    assert [str(p) for p in product if '"--max-turns"' in p.read_text(encoding="utf-8")] == []


def test_docs_runner_options_is_generated_from_the_dataclass() -> None:
    assert (REPO / "docs" / "runner-options.md").read_text(encoding="utf-8") == options_markdown()


def test_a_misspelt_option_name_is_an_error() -> None:
    with pytest.raises(KeyError, match="max_turn"):
        add_run_options(argparse.ArgumentParser().add_argument, only=("max_turn",))
    with pytest.raises(KeyError, match="epoch"):
        run_flags({"epoch": 1})


VALUES = {"epochs": st.integers(1, 1000), "max_turns": st.integers(1, 1000), "temperature": st.floats(0, 2),
          "cache": st.booleans(), "prompt": st.sampled_from(["minimal", "full"]),
          "evals": st.lists(st.sampled_from(["tts", "memory", "mesh"]), max_size=3)}


@given(st.fixed_dictionaries({}, optional=VALUES))
def test_run_flags_parse_back_to_the_same_settings(values: dict[str, Any]) -> None:
    parser = configure_run_parser(argparse.ArgumentParser())
    args = vars(parser.parse_args(run_flags(values)))
    defaults = {f.name: default_of(f) for f in fields(RunConfig)}
    for name, value in values.items():
        expected = defaults[name] if value is False or value == [] else value
        assert args[name] == expected
