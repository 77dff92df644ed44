"""`python -m evals list`, `python -m evals score --eval ID FILE` (world sheet: exit 0 pass, 1 fail or not
exercised, 2 bad input), `python -m evals selftest` (degenerate agents must pass nothing: exit 0, else 1) and
`python -m evals run ...` (the suite against a model; the same options as `pytest evals/`), which is
`python -m runner ...` handed on by name: the spec lies below the runner and never imports it."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from core.cli_args import OneLineParser
from core.safe_io import JSON_ERRORS, json_reason


def _list(args: argparse.Namespace) -> int:
    from evals.catalog import EVALS

    rows = [{"id": s.id, "category": s.category, "description": s.description, "hard": s.hard}
            for s in EVALS.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        flag = " [hard]" if r["hard"] else ""
        print(f"{r['id']:<{width}}  {r['category']:<8} {r['description']}{flag}")
    return 0


def _read_transcript(path: str) -> object:
    from evals.catalog import BadTranscript

    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1:  # a JSONL file: score its first line, say so
            try:
                json.loads(lines[0])
            except JSON_ERRORS:
                pass
            else:
                raise BadTranscript("FILE holds several JSON lines; score takes one transcript (one JSON object)") from None
        raise
    except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
        raise BadTranscript(json_reason(exc)) from None


def _score(args: argparse.Namespace) -> int:
    from evals.catalog import BadTranscript, UnknownEval, grade

    try:
        data = _read_transcript(args.file)
        verdict = grade(args.eval, data)
    except UnknownEval as exc:
        sys.stderr.write(f"evals: {exc}\n")
        return 2
    except FileNotFoundError:
        sys.stderr.write(f"evals: no such file: {args.file}\n")
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"evals: cannot read {args.file}: {exc.__class__.__name__}\n")
        return 2
    except json.JSONDecodeError as exc:
        sys.stderr.write(f"evals: {args.file} is not JSON (line {exc.lineno}: {exc.msg})\n")
        return 2
    except BadTranscript as exc:
        sys.stderr.write(f"evals: {args.file} is not a transcript: {exc}\n")
        return 2
    print(json.dumps({"eval": args.eval, "passed": verdict.passed, "outcome": verdict.outcome,
                      "reason": verdict.reason}))
    return 0 if verdict.passed else 1


def _selftest(args: argparse.Namespace) -> int:
    from evals.selftest import render, run_selftest

    if args.random_tries < 0:
        sys.stderr.write(f"evals: --random-tries must be 0 or more (got {args.random_tries})\n")
        return 2
    result = run_selftest(random_tries=args.random_tries, seed=args.seed)
    print(render(result))
    return 0 if result.ok else 1


# The runner's command line, run in this process under `python -m evals run`. It is named, not imported: the
# runner sits above the spec in the layers (pyproject.toml), and inspect-ai loads only when a run starts.
RUN_PROGRAM = "runner.cli"


def _run(argv: list[str]) -> int:
    return int(importlib.import_module(RUN_PROGRAM).main(argv, prog="python -m evals run"))


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser; imports nothing heavy (graders, inspect-ai, torch load when a command runs)."""
    parser = OneLineParser(prog="python -m evals", description="The madcat behavioural spec.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="one line per eval: ID, category, description")
    p_list.add_argument("--json", action="store_true", help="machine-readable list")
    p_list.set_defaults(func=_list)
    p_score = sub.add_parser("score", help="judge one transcript against one behaviour")
    p_score.add_argument("--eval", required=True, help="the eval ID (see `list`)")
    p_score.add_argument("file", help="a transcript JSON file, or - for stdin")
    p_score.set_defaults(func=_score)
    p_self = sub.add_parser("selftest", help="play agents that ignore the task through every scenario; exit 1 if "
                                             "any passes anything")
    p_self.add_argument("--random-tries", type=int, default=3, help="random agents per scenario (default 3)")
    p_self.add_argument("--seed", type=int, default=0, help="seed of the random agents (default 0)")
    p_self.set_defaults(func=_selftest)
    sub.add_parser("run", add_help=False, help="run the behavioural suite against a model and write results.json "
                                               "(`python -m runner`; see `python -m evals run --help`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:
        return _guarded(lambda: _run(argv[1:]))
    args = build_parser().parse_args(argv)
    return _guarded(lambda: args.func(args))


def _guarded(command: Callable[[], int]) -> int:
    try:
        return command()
    except Exception as exc:  # noqa: BLE001 - a grader bug must still not print a traceback at the user
        sys.stderr.write(f"evals: internal error: {exc.__class__.__name__}: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
