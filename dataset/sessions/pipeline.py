"""The import: read a store, convert, redact, grade, keep. Nothing is written to the store."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dataset.sessions import claude_code, opencode
from dataset.sessions.convert import ConvertOptions, convert
from dataset.sessions.ir import Session
from dataset.sessions.privacy import find_secrets, redact_slug, redact_transcript
from dataset.sessions.problems import Problems
from dataset.sessions.selection import Graders, infer_world, select
from dataset.sessions.toolmap import load_tool_map, surface_from_specs

SOURCES = ("opencode", "claude-code")


@dataclass
class Outcome:
    source: str
    store: str
    layout: str = ""
    layout_notes: list[str] = field(default_factory=list)
    sessions: int = 0
    subagent_sessions: int = 0
    transcripts: int = 0
    graded: bool = True
    candidates: list[dict] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # transcripts not kept, by reason
    dropped: Counter = field(default_factory=Counter)  # parts of sessions left out, by reason
    redactions: Counter = field(default_factory=Counter)  # in kept candidates
    redactions_refused: Counter = field(default_factory=Counter)  # in candidates refused for secrets
    shown: Counter = field(default_factory=Counter)  # behaviour -> kept candidates showing it
    applicable: Counter = field(default_factory=Counter)  # behaviour -> graded transcripts it applied to
    hard_failed: Counter = field(default_factory=Counter)
    unmapped_tools: Counter = field(default_factory=Counter)
    unmapped_args: Counter = field(default_factory=Counter)
    eval_ids: list[str] = field(default_factory=list)
    hard_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _category(behaviours: list[str]) -> str:
    """The category most of the behaviours belong to (the first such in catalog order on a tie)."""
    counts = Counter(b.split(".", 1)[0] for b in behaviours)
    return max(counts, key=lambda c: (counts[c], -list(counts).index(c)))


def default_store(source: str) -> Path:
    return opencode.default_data_dir() if source == "opencode" else claude_code.default_projects_dir()


def read_sessions(source: str, path: Path, problems: Problems, outcome: Outcome) -> list[Session]:
    if source == "opencode":
        sessions, layout = opencode.read_store(path, problems)
        outcome.layout, outcome.layout_notes = layout.name, layout.notes
    else:
        sessions = claude_code.read_store(path, problems)
        outcome.layout = "jsonl"
    return sorted(sessions, key=lambda s: (s.parent_id or s.session_id, s.parent_id is not None, s.session_id))


def _tool_specs() -> list[dict]:
    from evals.world import load_tool_specs

    return load_tool_specs()


def _carts() -> list[str] | None:
    try:
        from evals.world import World

        return list(World.build().carts)
    except Exception:  # world unavailable: accept any cart name the session saw
        return None


def run_import(
    source: str,
    path: Path,
    *,
    graders: Graders | None,
    problems: Problems,
    tool_map_file: Path | None = None,
    options: ConvertOptions | None = None,
) -> Outcome:
    """Read `path` (read-only) and return the candidates and everything the report needs.
    `graders=None` skips selection: every transcript that passes the privacy check is kept."""
    outcome = Outcome(source=source, store=str(path), graded=graders is not None)
    specs = _tool_specs()
    tools = load_tool_map(source, surface_from_specs(specs), tool_map_file)
    carts = _carts()
    if graders is not None:
        outcome.eval_ids = [e for e in graders.eval_ids if e not in graders.hard]
        outcome.hard_ids = sorted(graders.hard)
    sessions = read_sessions(source, path, problems, outcome)
    outcome.sessions = len(sessions)
    outcome.subagent_sessions = sum(1 for s in sessions if s.parent_id)
    seen: dict[str, str] = {}
    for session in sessions:
        outcome.dropped.update(session.dropped.counts)
        try:
            built_all, skipped = convert(session, tools, options)
        except Exception as exc:  # one malformed session must not stop the import
            problems.add(f"{session.origin} session {session.session_id}", f"cannot be converted ({type(exc).__name__}: {exc}); skipped")
            continue
        outcome.rejected.update(skipped)
        for built in built_all:
            outcome.transcripts += 1
            outcome.dropped.update(built.dropped)
            transcript, redactions = redact_transcript(built.transcript)
            remaining = find_secrets(transcript)
            if remaining:
                outcome.rejected["secret pattern left after redaction (not written)"] += 1
                outcome.redactions_refused.update(redactions)
                continue
            key = hashlib.sha256(json.dumps(transcript["messages"], sort_keys=True).encode()).hexdigest()
            if key in seen:
                outcome.rejected["duplicate of another transcript"] += 1
                continue
            seen[key] = transcript["meta"]["session_id"]
            world = infer_world(transcript, carts)
            candidate = {"messages": transcript["messages"], "tools": specs}
            if world:
                candidate["world"] = world
            meta = dict(transcript["meta"])
            meta["origin"] = redact_slug(str(meta.get("origin")))
            if graders is not None:
                verdicts = select(graders, candidate)
                outcome.applicable.update(verdicts.passed + verdicts.failed)
                outcome.hard_failed.update(verdicts.hard_failed)
                if verdicts.error:
                    outcome.rejected["a grader could not judge it"] += 1
                    problems.add(f"session {meta['session_id']}", f"grader error ({verdicts.error}); transcript skipped")
                    continue
                if verdicts.hard_failed:
                    outcome.rejected["fails a hard invariant"] += 1
                    continue
                if not verdicts.passed:
                    outcome.rejected["passes no behaviour"] += 1
                    continue
                meta["behaviours_detected"] = verdicts.passed
                # The dataset's own keys, so `dataset validate` checks the claims and stats count them.
                meta["behaviours"] = verdicts.passed
                meta["category"] = _category(verdicts.passed)
                outcome.shown.update(verdicts.passed)
            else:
                meta["behaviours_detected"] = []
            meta["redactions"] = dict(sorted(redactions.items()))
            meta["unmapped_tools"] = sorted(built.unmapped_tools)
            if built.unmapped_args:
                meta["unmapped_args"] = sorted(built.unmapped_args)
            if built.dropped:
                meta["dropped"] = dict(sorted(built.dropped.items()))
            if world:
                meta["world_from_session_settings"] = True
            candidate["meta"] = meta
            outcome.candidates.append(candidate)
            outcome.redactions.update(redactions)
            outcome.unmapped_tools.update(built.unmapped_tools)
            outcome.unmapped_args.update(built.unmapped_args)
    outcome.problems = list(problems.lines)
    return outcome
