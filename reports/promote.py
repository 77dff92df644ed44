"""Promotion: record an adapter in the registry once its bytes match the evaluated ones, the adapter a server
served (vllm/openai runs) is tied to those bytes (core/adapter/identity.py), and the gate passes.

``python -m reports promote RUN [--registry FILE] [--adapter-dir DIR] [--against promoted|RUN] [--baseline RUN]``
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.adapter.identity import identity_problem
from core.errors import BadInput, Refused
from core.hashing import adapter_sha256
from reports.gate import (
    DEFAULT_RULES,
    GateResult,
    evaluate_gate,
    format_verdict,
    load_rules,
    write_gate_json,
)
from reports.registry import add_promotion, load_entry_run, load_registry, promoted_entry, save_registry
from reports.results import Run, load_run


@dataclass(frozen=True)
class Promotion:
    entry: dict[str, Any] | None  # None when the adapter was already the promoted one
    gate: GateResult | None
    message: str


def no_sha256_cause(run: Run) -> str:
    """Why a run recorded no adapter_sha256, in the words of its fix."""
    if run.adapter_label is None:
        return f"run {run.run_id} evaluated the base model (no adapter): only a run of an adapter can be promoted"
    backend = run.meta.get("backend") or "?"
    return (f"run {run.run_id} evaluated the adapter {run.meta.get('adapter')!r} on backend {backend} without "
            "--adapter-dir, so it recorded no adapter_sha256 and cannot be tied to the adapter's bytes; "
            "run the eval again with --adapter-dir DIR")


def adapter_dir_of(run: Run, given: str | None) -> Path:
    recorded = run.meta.get("adapter_dir") or run.meta.get("adapter_path")
    path = given or recorded
    if not path:
        raise BadInput(f"reports: run {run.run_id} did not record its adapter dir — pass --adapter-dir DIR")
    p = Path(path)
    if not p.is_dir():
        raise BadInput(
            f"reports: adapter dir {p} does not exist — pass --adapter-dir with the adapter that was evaluated"
        )
    return p


def promote(
    run_arg: str,
    registry_path: Path,
    adapter_dir: str | None = None,
    against: str | None = "promoted",
    baseline: str | None = None,
    rules_path: str | None = None,
    name: str | None = None,
) -> Promotion:
    rules = load_rules(Path(rules_path) if rules_path else None)
    run = load_run(run_arg)
    recorded = run.meta.get("adapter_sha256")
    if not recorded:
        raise BadInput(f"reports: {no_sha256_cause(run)}")
    directory = adapter_dir_of(run, adapter_dir)
    on_disk = adapter_sha256(directory)
    if on_disk != recorded:
        raise Refused(
            f"promote: refused — the adapter in {directory} (sha256 {on_disk[:12]}…) is not the one run {run.run_id} "
            f"evaluated ({recorded[:12]}…); evaluate these bytes first"
        )
    served = identity_problem(run.meta)  # vllm/openai: the server's adapter must be these bytes, and live
    if served:
        raise Refused(
            f"promote: refused — run {run.run_id} cannot be tied to the adapter in {directory}: {served}"
        )
    registry = load_registry(registry_path)
    current = promoted_entry(registry)
    if current is not None and current.get("adapter_sha256") == on_disk:
        return Promotion(
            None, None, f"adapter {on_disk[:12]}… is already the promoted one (run {current.get('run_id')})"
        )

    why = "no --against"
    against_run: Run | None = None
    if against == "promoted":
        if current is None:
            why = f"no promoted adapter in {registry_path} yet"
        else:
            against_run = load_entry_run(current)
    elif against:
        against_run = load_run(against)
    baseline_run = load_run(baseline) if baseline else None
    gate = evaluate_gate(run, rules, rules_path or str(DEFAULT_RULES), against_run, baseline_run, why)
    write_gate_json(gate)
    if not gate.passed:
        raise Refused(
            f"promote: refused — the gate failed for run {run.run_id} (see {run.dir / 'gate.json'})",
            detail=format_verdict(gate),
        )

    entry = {
        "name": name or run.adapter_label or directory.name,
        "adapter_sha256": on_disk,
        "dataset_sha256": run.meta.get("dataset_sha256"),
        "adapter_dir": str(directory.resolve()),
        "run_id": run.run_id,
        "results": str(run.path.resolve()),
        "baseline_run_id": baseline_run.run_id if baseline_run else None,
        "against_run_id": against_run.run_id if against_run else None,
        "git_commit": run.meta.get("git_commit"),
        "verdict": gate.verdict,
        "gate": str((run.dir / "gate.json").resolve()),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_registry(registry_path, add_promotion(registry, entry))
    superseded = (
        f"; {current.get('name')} ({str(current.get('adapter_sha256'))[:12]}…) superseded" if current else ""
    )
    return Promotion(
        entry,
        gate,
        f"promoted {entry['name']} ({on_disk[:12]}…) from run {run.run_id} into {registry_path}{superseded}",
    )
