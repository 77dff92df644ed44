"""The four words a sample's verdict is shown with, everywhere (progress lines, summaries, JSON, Markdown,
HTML): one definition so that no output calls FAIL what another counts as NOT EXERCISED."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PASS, FAIL, NOT_EXERCISED, INCOMPLETE = "PASS", "FAIL", "NOT EXERCISED", "INCOMPLETE"
LABELS = (PASS, FAIL, NOT_EXERCISED, INCOMPLETE)
# results.json's count keys, in the same order as LABELS
COUNT_KEYS = {PASS: "passed", FAIL: "failed", NOT_EXERCISED: "not_exercised", INCOMPLETE: "incomplete"}


def label(status: str, outcome: str | None, passed: bool | None = None) -> str:
    """A sample's verdict: INCOMPLETE unless complete; then its outcome (passed / failed / not_exercised)."""
    if status != "complete":
        return INCOMPLETE
    if outcome == "not_exercised":
        return NOT_EXERCISED
    if outcome is None:  # older rows without an outcome: as recorded
        return PASS if passed else FAIL
    return PASS if outcome == "passed" else FAIL


def row_label(row: Mapping[str, Any]) -> str:
    """The verdict of a results.json row (a dict)."""
    return label(str(row.get("status")), row.get("outcome"), row.get("passed"))


def counts(summary: Mapping[str, Any]) -> dict[str, int]:
    """{label: count} from a summary with passed / not_exercised / incomplete (and failed, or samples)."""
    out = {lab: int(summary.get(key) or 0) for lab, key in COUNT_KEYS.items()}
    if "failed" not in summary and "samples" in summary:  # summaries written before `failed` was recorded
        out[FAIL] = int(summary["samples"]) - out[PASS] - out[NOT_EXERCISED] - out[INCOMPLETE]
    return out


def tally_line(summary: Mapping[str, Any]) -> str:
    """`12 PASS, 3 FAIL, 2 NOT EXERCISED, 1 INCOMPLETE`: the one way a count of samples is printed."""
    return ", ".join(f"{n} {lab}" for lab, n in counts(summary).items())
