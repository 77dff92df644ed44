"""`import-sessions`: mine a user's opencode or Claude Code sessions into training candidates.

Hooked into the dataset CLI as `python -m dataset import-sessions ...` through
`add_import_sessions_parser` / `run_import_sessions`; also runs on its own as
`python -m dataset.sessions --from opencode|claude-code [--path P] --out FILE [--report FILE]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli_args import OneLineParser
from core.safe_io import InputError, check_output_file, write_text_atomic
from dataset.sessions.convert import ConvertOptions
from dataset.sessions.pipeline import SOURCES, default_store, run_import
from dataset.sessions.problems import Problems
from dataset.sessions.report import render
from dataset.sessions.selection import GradersUnavailable, load_graders
from dataset.sessions.toolmap import ToolMapError

DESCRIPTION = (
    "Read a session store read-only and write candidate transcripts (JSONL, world sheet format) "
    "and a review report. Candidates are never merged into the dataset."
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, choices=SOURCES, help="which agent's sessions")
    parser.add_argument("--path", type=Path, help="the store: opencode data dir (default $XDG_DATA_HOME/opencode), "
                        "its storage dir or an opencode.db; Claude Code projects dir (default ~/.claude/projects), "
                        "one project dir or one .jsonl file")
    parser.add_argument("--out", type=Path, required=True, help="candidates JSONL to write")
    parser.add_argument("--report", type=Path, help="markdown review report (default: OUT with .report.md)")
    parser.add_argument("--tool-map", type=Path, help="tool map YAML (default dataset/session_tool_map.yaml)")
    parser.add_argument("--max-output-lines", type=_positive, default=ConvertOptions.max_output_lines,
                        help="cap on tool output lines (default %(default)s)")
    parser.add_argument("--max-output-bytes", type=_positive, default=ConvertOptions.max_output_bytes,
                        help="cap on tool output bytes (default %(default)s)")
    parser.add_argument("--no-grade", action="store_true",
                        help="skip selection by the graders: keep every transcript that passes the privacy check")


def add_import_sessions_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `import-sessions` on the dataset CLI; dispatch to `run_import_sessions(args)`."""
    parser = subparsers.add_parser("import-sessions", help="mine opencode / Claude Code sessions into candidates",
                                   description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=run_import_sessions)
    return parser


def _error(message: str) -> int:
    print(f"import-sessions: error: {message}", file=sys.stderr)
    return 2


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve() if parent.is_dir() else parent.resolve().parent)
        return True
    except ValueError:
        return False


def run_import_sessions(args: argparse.Namespace) -> int:
    import json

    store: Path = args.path or default_store(args.source)
    if not store.exists():
        return _error(f"no session store at {store} (give --path)")
    report: Path = args.report or args.out.with_name(args.out.stem + ".report.md")
    for target, flag in ((args.out, "--out"), (report, "--report")):
        if _inside(target, store):
            return _error(f"{target} is inside the session store; write it somewhere else (the store is read-only)")
        try:
            check_output_file(target, flag)
        except InputError as exc:
            return _error(str(exc))
    graders = None
    if not args.no_grade:
        try:
            graders = load_graders()
        except GradersUnavailable as exc:
            return _error(f"{exc} (use --no-grade to import without selection)")
    problems = Problems(echo=True)
    options = ConvertOptions(max_output_lines=args.max_output_lines, max_output_bytes=args.max_output_bytes)
    try:
        outcome = run_import(args.source, store, graders=graders, problems=problems,
                             tool_map_file=args.tool_map, options=options)
    except ToolMapError as exc:
        return _error(str(exc))
    except ValueError as exc:  # e.g. the tool surface file is unreadable
        return _error(str(exc))
    except OSError as exc:
        return _error(f"cannot read the session store ({exc.strerror or exc}: {exc.filename or store})")
    lines = "".join(json.dumps(c, ensure_ascii=False, sort_keys=False) + "\n" for c in outcome.candidates)
    try:
        write_text_atomic(args.out, lines)
        write_text_atomic(report, render(outcome, str(args.out)))
    except OSError as exc:
        return _error(f"cannot write output ({exc.strerror or exc}: {exc.filename or ''})")
    print(f"import-sessions: {outcome.sessions} sessions ({outcome.layout or 'nothing found'}), "
          f"{outcome.transcripts} transcripts, {len(outcome.candidates)} candidates -> {args.out}; "
          f"report -> {report}; {len(outcome.problems)} problem(s)")
    if outcome.sessions == 0:
        print(f"import-sessions: no sessions found under {store}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m dataset.sessions", description=DESCRIPTION)
    add_arguments(parser)
    return run_import_sessions(parser.parse_args(argv))
