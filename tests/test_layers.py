"""The import contracts (pyproject.toml, checked by `lint-imports`) cover every top-level package whole: each
product package is one layer, nothing is excepted by hand, and the only package outside the layers is the test
doubles, which no product package may import."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTSIDE_THE_LAYERS = {"tests", "doubles"}


def _config() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def _contract(kind: str) -> dict[str, Any]:
    return next(c for c in _config()["contracts"] if c["type"] == kind)


def _packages() -> set[str]:
    return {p.parent.name for p in REPO.glob("*/__init__.py")}


def test_every_top_level_package_is_one_whole_layer() -> None:
    layers = [[m.strip() for m in layer.split("|")] for layer in _contract("layers")["layers"]]
    layered = [m for layer in layers for m in layer]
    assert all("." not in m and ":" not in m for m in layered), f"a layer names part of a package: {layered}"
    assert sorted(layered) == sorted(_packages() - OUTSIDE_THE_LAYERS)


def test_no_contract_excepts_an_import_by_hand() -> None:
    assert not [c["name"] for c in _config()["contracts"] if c.get("ignore_imports")]


def test_every_package_is_scanned_and_checked_for_cycles() -> None:
    scanned = _packages() - {"tests"}
    assert set(_config()["root_packages"]) == scanned
    assert set(_contract("acyclic_siblings")["ancestors"]) == scanned


def test_no_product_package_imports_the_doubles() -> None:
    forbidden = _contract("forbidden")
    assert forbidden["forbidden_modules"] == ["doubles"]
    assert set(forbidden["source_modules"]) == _packages() - OUTSIDE_THE_LAYERS - {"benchmarks"}


def test_the_spec_cli_hands_run_to_the_runner_by_name() -> None:
    from evals.__main__ import RUN_PROGRAM

    assert RUN_PROGRAM.split(".")[0] == "runner" and callable(importlib.import_module(RUN_PROGRAM).main)
