"""The review report (markdown): coverage per behaviour, what was redacted, what was dropped and why."""

from __future__ import annotations

from collections import Counter

from dataset.sessions.pipeline import Outcome
from dataset.sessions.privacy import Redactor, redact_slug


def _table(header: tuple[str, str], rows: list[tuple[str, object]]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---:|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return lines


def _counts(counter: Counter, header: tuple[str, str], empty: str) -> list[str]:
    if not counter:
        return [empty]
    return _table(header, sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def render(outcome: Outcome, out_file: str) -> str:
    o = outcome
    lines = [
        f"# Session import: {o.source}",
        "",
        f"Store `{o.store}` (layout: {o.layout or 'none found'}), read read-only.",
        f"{o.sessions} sessions read ({o.subagent_sessions} of them subagent sessions); "
        f"{o.transcripts} transcripts built; **{len(o.candidates)} candidates kept** in `{out_file}`.",
        "",
        "Candidates are not part of the dataset: run `python -m dataset validate` and the decontamination "
        "check on them, then pick the ones to keep by hand.",
    ]
    if o.layout_notes:
        lines += ["", *[f"- {note}" for note in o.layout_notes]]
    lines += ["", "## Behaviour coverage", ""]
    if not o.graded:
        lines.append("Not graded (`--no-grade`): every transcript that passed the privacy check was kept.")
    else:
        lines.append("Kept candidates that pass each behaviour (a zero is where the generator must fill in), "
                     "and how many built transcripts the behaviour applied to.")
        lines += ["", "| behaviour | kept candidates showing it | transcripts it applied to |", "|---|---:|---:|"]
        lines += [f"| {e} | {o.shown.get(e, 0)} | {o.applicable.get(e, 0)} |" for e in o.eval_ids]
        if o.hard_failed:
            lines += ["", "Hard invariants failed (transcripts dropped for it):", ""]
            lines += _counts(o.hard_failed, ("hard invariant", "transcripts"), "")
    lines += ["", "## Redactions", ""]
    lines += _counts(o.redactions, ("kind", "redactions in kept candidates"), "Nothing was redacted in kept candidates.")
    if o.redactions_refused:
        lines += ["", "In candidates refused because a secret pattern remained after redaction:", ""]
        lines += _counts(o.redactions_refused, ("kind", "redactions"), "")
    lines += ["", "## Dropped", "", "Transcripts not kept:", ""]
    lines += _counts(o.rejected, ("reason", "transcripts"), "None.")
    lines += ["", "Parts of sessions left out while converting:", ""]
    lines += _counts(o.dropped, ("reason", "count"), "None.")
    lines += ["", "## Tools outside our surface", ""]
    lines += _counts(o.unmapped_tools, ("session tool (kept as is, flagged)", "calls in kept candidates"),
                     "Every call in the kept candidates maps onto our tool surface.")
    if o.unmapped_args:
        lines += ["", *_counts(o.unmapped_args, ("argument not in our schema (kept, flagged)", "candidates"), "")]
    lines += ["", "Edit `dataset/session_tool_map.yaml` to map more of them.", "", "## Problems", ""]
    lines += [f"- {p}" for p in o.problems] or ["None."]
    # The report names files and sessions only; still, keep personal paths out of it.
    return Redactor().text("\n".join(redact_slug(line) for line in lines) + "\n")
