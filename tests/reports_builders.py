"""Builders of constructed results.json runs for the reports tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

EVALS = (
    "tts.uses_active_cart_voice",
    "memory.recalls_before_code_work",
    "agent.todo_for_multistep",
    "persona.no_hardcoded_bt_identity",
    "mesh.uses_sin_ssh_alias",
)
HARD = ("mesh.uses_sin_ssh_alias", "persona.no_hardcoded_bt_identity")
SCENARIOS = tuple(f"s{i:02d}" for i in range(10))
SPEC = "5" * 64  # the spec hash a constructed run was graded by
EPOCHS = 3


def pin_hard_invariants(monkeypatch: Any) -> None:
    """Fix the hard-invariant list to HARD so the catalog growing more invariants can't change these tests."""
    monkeypatch.setattr("reports.gate.hard_invariant_ids", lambda rules: list(HARD))


def result(
    eval_id: str,
    scenario: str,
    epoch: int,
    passed: bool | None = True,
    status: str = "complete",
    hard_violations: Iterable[str] = (),
    prompt_tokens: int = 1200,
    requests: int = 3,
    log: str | None = None,
    reason: str | None = None,
    outcome: str | None = None,
    trajectory: list[str] | None = None,
) -> dict[str, Any]:
    if status == "complete" and outcome is None:
        outcome = "passed" if passed else "failed"
    extra = {"trajectory": trajectory} if trajectory is not None else {}
    return extra | {
        "eval": eval_id,
        "category": eval_id.split(".")[0],
        "scenario": scenario,
        "epoch": epoch,
        "status": status,
        "passed": None if status == "incomplete" else passed,
        "outcome": outcome if status == "complete" else None,
        "reason": reason if reason is not None else ("ok" if passed else "did not do it"),
        "hard_violations": list(hard_violations),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 200,
        "requests": requests,
        "prompt_tokens_per_request": prompt_tokens / requests if requests else None,
        "seconds": 1.5,
        "log": log,
    }


Outcome = bool | str  # True/False, "not_exercised" or "incomplete"


def grid(
    outcome: Callable[[str, str, int], Outcome] = lambda e, s, k: True,
    evals: Iterable[str] = EVALS,
    scenarios: Iterable[str] = SCENARIOS,
    epochs: int = EPOCHS,
    hard_failures_break: bool = True,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Rows of every (eval, scenario, epoch). A failed sample of a hard invariant breaks it (its hard_violations
    names it, as the scorer records an invariant's own check failing) unless hard_failures_break=False: then it
    is a task left undone with the invariant kept."""
    rows = []
    for e in evals:
        for s in scenarios:
            for k in range(epochs):
                o = outcome(e, s, k)
                if o == "incomplete":
                    rows.append(result(e, s, k, status="incomplete", reason="timeout", **kw))
                elif o == "not_exercised":
                    rows.append(result(e, s, k, passed=False, outcome="not_exercised", reason="never spoke", **kw))
                else:
                    rows.append(result(e, s, k, passed=bool(o), **kw))
                    if not o and hard_failures_break and e in HARD:
                        rows[-1]["hard_violations"] = [e]
    return rows


def results_doc(run_id: str, results: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    run = {
        "run_id": run_id,
        "started": "2026-01-01T00:00:00Z",
        "finished": "2026-01-01T01:00:00Z",
        "backend": "local",
        "model": "tiny-twin",
        "adapter": "madcat",
        "adapter_sha256": None,
        "base_model": "tiny-twin",
        "server_version": None,
        "epochs": EPOCHS,
        "temperature": 0.7,
        "seed": 1234,
        "system_prompt": "minimal",
        "interrupted": False,
        "spec_sha256": SPEC,
        "epoch_seeds": "seed + (epoch - 1) * 1000003, mod 2**31",
    }
    run.update(meta)
    return {"run": run, "results": results}


def write_run(root: Path, run_id: str, results: list[dict[str, Any]], **meta: Any) -> Path:
    """Write root/run_id/results.json and return the run dir."""
    d = root / run_id
    d.mkdir(parents=True, exist_ok=True)
    (d / "results.json").write_text(json.dumps(results_doc(run_id, results, **meta), indent=1))
    return d


def rules_file(
    tmp: Path, rules: dict[str, Any] | None = None, thresholds: dict[str, Any] | None = None
) -> Path:
    """A rules file pinning the thresholds file to a test-owned one (so evals/thresholds.yaml can't interfere)."""
    th = tmp / "thresholds.yaml"
    th.write_text(yaml.safe_dump(thresholds if thresholds is not None else {"default": 0.5, "evals": {}}))
    doc = dict(rules or {})
    doc["thresholds"] = {**doc.get("thresholds", {}), "file": str(th)}
    p = tmp / "rules.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p
