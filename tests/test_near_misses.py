"""The near misses (doubles/near_misses/): exactly one per eval of evals.catalog, each in the module of
its grader's category and overriding hooks of the teacher; the teacher itself names no eval."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import pytest

from dataset.teacher import Teacher
from doubles.near_misses import NEAR_MISSES, near_miss
from evals.catalog import EVALS

REPO = Path(__file__).resolve().parents[1]


def test_every_eval_has_exactly_one_near_miss() -> None:
    assert sorted(NEAR_MISSES) == sorted(EVALS)
    assert len(set(NEAR_MISSES.values())) == len(NEAR_MISSES)


def test_a_second_near_miss_for_an_eval_is_refused() -> None:
    with pytest.raises(ValueError, match="near miss already"):
        near_miss("mesh.uses_sin_ssh_alias")(type("Again", (Teacher,), {}))


@pytest.mark.parametrize("eval_id", list(EVALS))
def test_a_near_miss_sits_beside_its_category_and_overrides_teacher_hooks(eval_id: str) -> None:
    cls = NEAR_MISSES[eval_id]
    assert issubclass(cls, Teacher)
    assert cls.__module__ == f"doubles.near_misses.{EVALS[eval_id].category}"
    overridden = [name for name, value in vars(cls).items()
                  if callable(value) and name in dir(Teacher) and not name.startswith("__")]
    assert overridden, f"{cls.__name__} overrides no hook of the teacher"


def test_near_miss_modules_mirror_the_grader_modules_and_are_independent() -> None:
    graders = {p.stem for p in (REPO / "evals" / "graders").glob("*.py")} - {"__init__", "base"}
    near = {p.stem for p in (REPO / "doubles" / "near_misses").glob("*.py")} - {"__init__", "base"}
    assert near == graders
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    independent = next(c for c in config["contracts"] if c["type"] == "independence")
    assert set(independent["modules"]) == {f"doubles.near_misses.{m}" for m in near}


def test_the_teacher_names_no_eval() -> None:
    """Eval IDs have one definition, evals.catalog: the teacher reads a scenario's default task from it."""
    for path in sorted((REPO / "dataset" / "teacher").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        named = [eval_id for eval_id in EVALS if eval_id in text]
        assert not named, f"{path.name} names {named}"


def test_the_teacher_is_no_near_miss() -> None:
    assert Teacher not in NEAR_MISSES.values()
    assert inspect.getmodule(Teacher).__name__ == "dataset.teacher.agent"
