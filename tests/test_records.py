"""reports/ holds the package's modules and one folder, records/: every committed record is listed in its index,
and every script in a record runs as a module (`python -m reports.records.<record>.<script>`), no sys.path edits."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "reports" / "records"
SCRIPTS = sorted(p for p in RECORDS.glob("*/*.py") if p.name != "__init__.py")


def test_reports_has_no_folder_but_records() -> None:
    folders = {p.name for p in (REPO / "reports").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - {"runs", "html"} == {"records"}  # runs/ and html/: a user's own output, ignored by git


def test_the_index_lists_every_record() -> None:
    index = (RECORDS / "README.md").read_text(encoding="utf-8")
    records = sorted(p.name for p in RECORDS.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert records and [r for r in records if f"[{r}/]({r}/" not in index] == []


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"{p.parent.name}/{p.name}" for p in SCRIPTS])
def test_a_record_script_is_a_module_without_path_edits(script: Path) -> None:
    assert "sys.path" not in script.read_text(encoding="utf-8")
    name = f"reports.records.{script.parent.name}.{script.stem}"
    assert f"python -m {name}" in script.read_text(encoding="utf-8"), "its docstring shows how to run it"
    assert callable(importlib.import_module(name).main)
