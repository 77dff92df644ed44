"""Every module of evals/ is in one layer of the import contract (pyproject.toml), so `lint-imports`
checks it: the spec's layer names each spec module, evals/run/ is the runner's; only the CLI and the
pytest front end sit on top, outside the layers."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ON_TOP = {"__init__", "__main__", "test_behaviours"}


def _layers() -> list[set[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [{m.strip() for m in layer.replace("|", ":").split(":")} for layer in contract["layers"]]


def test_every_evals_module_is_in_a_layer() -> None:
    layered = set().union(*_layers())
    modules = {p.stem for p in (REPO / "evals").glob("*.py")} | {
        p.parent.name for p in (REPO / "evals").glob("*/__init__.py")}
    missing = sorted(f"evals.{m}" for m in modules - ON_TOP if f"evals.{m}" not in layered)
    assert not missing, f"add these to the layers contract in pyproject.toml: {missing}"


def test_every_top_level_package_is_a_root_of_the_contracts() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(config["root_packages"])
