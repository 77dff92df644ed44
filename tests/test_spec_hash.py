"""results.json carries the digest of the spec that graded it (evals/spec_hash.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from doubles.scripted import good_agent
from evals.scenarios import load_scenarios
from evals.spec_hash import SPEC_ROOT, digest, spec_files, spec_sha256
from runner.runner import RunConfig, run


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "evals"
    shutil.copytree(SPEC_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_digest_covers_what_grades_and_nothing_else(tmp_path: Path) -> None:
    names = {p.relative_to(SPEC_ROOT).as_posix() for p in spec_files()}
    assert {"graders/persona.py", "scenarios/persona.yaml", "checks.py", "predicates.py", "world/world.yaml",
            "world/tools.json", "catalog.py"} <= names
    assert not {n for n in names if n.startswith(("run/", "prompts/"))}
    assert not names & {"thresholds.yaml", "selftest.py", "__main__.py", "test_behaviours.py"}
    root = _copy(tmp_path)
    before = digest(root)
    assert before == spec_sha256()
    (root / "thresholds.yaml").write_text("default: 0.99\n")  # a bar, not a verdict
    (root / "prompts" / "full_system.md").write_text("other words\n")
    assert digest(root) == before
    grader = root / "graders" / "persona.py"
    grader.write_text(grader.read_text() + "\n# a change\n")
    assert digest(root) != before


def test_a_run_records_the_spec_that_graded_it(tmp_path: Path) -> None:
    transcripts = tmp_path / "t.jsonl"
    transcripts.write_text(json.dumps(good_agent(load_scenarios()[0])) + "\n")
    outcome = run(RunConfig(backend="replay", transcripts=str(transcripts), report_dir=str(tmp_path / "runs")))
    assert json.loads(outcome.results_path.read_text())["run"]["spec_sha256"] == spec_sha256()
