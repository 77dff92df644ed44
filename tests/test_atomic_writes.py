"""Every file the project writes is replaced in one rename (core/safe_io.py): a reader that has the old file
open keeps reading the whole old file, and a write that fails half way leaves the old file as it was."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_harness import call
from reports_builders import grid, pin_hard_invariants, rules_file, write_run

from core.safe_io import write_bytes_atomic, write_json_atomic, write_text_atomic


def assert_replaced(path: Path, rewrite: Callable[[], None]) -> None:
    """`rewrite` gives `path` new content by replacing the file, not by truncating it in place."""
    old = path.read_bytes()
    with path.open("rb") as reader:  # e.g. a trainer reading the dataset, a browser showing the report
        rewrite()
        assert reader.read() == old, f"{path} was rewritten in place"
    assert path.read_bytes() != old, f"{path} was not rewritten"


class Unserialisable:
    pass


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"state": "running", "rows": [1, 2, 3]})
    before = path.read_text()
    with pytest.raises(TypeError):
        write_json_atomic(path, {"rows": [1, 2], "bad": Unserialisable()})  # fails half way through the dump
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_atomic_files_get_the_mode_a_plain_write_would_give(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.md", "x")
        assert stat.S_IMODE((tmp_path / "a.md").stat().st_mode) == 0o644  # mkstemp alone gives 0600
        (tmp_path / "b.png").write_bytes(b"old")
        (tmp_path / "b.png").chmod(0o640)
        write_bytes_atomic(tmp_path / "b.png", b"new")
        assert stat.S_IMODE((tmp_path / "b.png").stat().st_mode) == 0o640 and (tmp_path / "b.png").read_bytes() == b"new"
    finally:
        os.umask(umask)


def test_dataset_build_replaces_its_output_in_one_rename(tmp_path: Path) -> None:
    out = tmp_path / "madcat-system.jsonl"
    out.write_text('{"an": "older dataset"}\n')

    def build() -> None:
        r = call("dataset", ["build", "--out", str(out), "--count", "1", "--no-handwritten", "--no-tokens"])
        assert r.code == 0, r.err

    assert_replaced(out, build)
    assert len(out.read_text().splitlines()) == 1


def test_dataset_stats_replaces_its_report(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(Path("dataset/madcat-system.jsonl").read_text().splitlines(keepends=True)[:3]))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d.md").write_text("an older report")
    assert_replaced(tmp_path / "out" / "d.md",
                    lambda: call("dataset", ["stats", str(data), "--out", str(tmp_path / "out"), "--no-tokens"]))


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(root))
    pin_hard_invariants(monkeypatch)
    write_run(root, "base", grid(lambda e, s, k: (int(s[1:]) + k) % 2 == 0), adapter=None)
    write_run(root, "lora", grid())
    return root


def test_gate_json_comparison_and_report_are_replaced_not_rewritten(runs: Path, tmp_path: Path) -> None:
    rules = str(rules_file(tmp_path))
    (runs / "lora" / "gate.json").write_text('{"verdict": "an older verdict"}')
    assert_replaced(runs / "lora" / "gate.json",
                    lambda: call("reports", ["gate", "lora", "--baseline", "base", "--rules", rules]))
    assert json.loads((runs / "lora" / "gate.json").read_text())["verdict"] in ("PASS", "FAIL")

    out = tmp_path / "cmp"
    out.mkdir()
    compare = ["compare", "base", "lora", "--out", str(out), "--bootstrap", "200"]
    for name in ("comparison.json", "comparison.md", "comparison.html"):
        for older in ("comparison.json", "comparison.md", "comparison.html"):
            (out / older).write_text("older")
        assert_replaced(out / name, lambda: call("reports", compare))

    (runs / "lora" / "report.html").write_text("older")
    assert_replaced(runs / "lora" / "report.html", lambda: call("reports", ["show", "lora"]))
