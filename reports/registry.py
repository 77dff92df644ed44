"""The adapter registry: a human-readable JSON list of promotions; at most one entry is ``promoted``.

{"entries": [{"name", "adapter_sha256", "dataset_sha256", "run_id", "results", "baseline_run_id",
              "against_run_id", "verdict", "date", "status": "promoted"|"superseded",
              "superseded_by"?, "superseded_on"?, "adapter_dir"}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.safe_io import JSON_ERRORS, json_reason, write_json_atomic
from reports.results import Run, load_run

DEFAULT_REGISTRY = Path(__file__).resolve().parent / "registry.json"


def load_registry(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"entries": []}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as e:
        why = json_reason(e) if isinstance(e, JSON_ERRORS) else (e.strerror or str(e))
        raise BadInput(f"reports: registry {path} is unreadable: {why}") from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("entries"), list)
        or not all(isinstance(e, dict) and isinstance(e.get("status"), str) for e in doc["entries"])
    ):
        raise BadInput(f'reports: registry {path} is not of the form {{"entries": [{{..., "status": ...}}]}}')
    if sum(e["status"] == "promoted" for e in doc["entries"]) > 1:
        raise BadInput(f"reports: registry {path} has more than one promoted entry — fix it by hand")
    return doc


def save_registry(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically so an interrupted promotion never leaves half a registry."""
    write_json_atomic(path, doc, indent=2)


def promoted_entry(doc: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in doc["entries"] if e["status"] == "promoted"), None)


def load_entry_run(entry: dict[str, Any]) -> Run:
    """The run an entry was promoted on: its recorded results path, else its run id under the runs root."""
    results = entry.get("results")
    if results and Path(results).is_file():
        return load_run(results)
    run_id = entry.get("run_id")
    if not run_id:
        raise BadInput("reports: the promoted registry entry has no run_id")
    try:
        return load_run(run_id)
    except BadInput:
        raise BadInput(
            f"reports: the promoted adapter's run {run_id} has no results.json any more "
            f"(recorded at {results}) — restore it, or gate against another run with --against RUN"
        ) from None


def add_promotion(doc: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """Append entry as promoted; the previous promoted entry becomes superseded. Returns the new doc."""
    entries = []
    for e in doc["entries"]:
        if e["status"] == "promoted":
            e = {
                **e,
                "status": "superseded",
                "superseded_by": entry["adapter_sha256"],
                "superseded_on": entry["date"],
            }
        entries.append(e)
    entries.append({**entry, "status": "promoted"})
    return {**doc, "entries": entries}
