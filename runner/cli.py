"""`python -m runner ...` (and `python -m evals run ...`, which hands its command line on by this module's name):
the run's command line, generated from RunConfig. Parsing, `--help` and bad options cost no inspect-ai or torch
import; runner/runner.py loads only when a run starts."""

from __future__ import annotations

import argparse

from core.cli_args import OneLineParser
from runner.run_options import add_run_options


def _run(args: argparse.Namespace) -> int:
    from runner.runner import run_from_args

    return run_from_args(args)


def configure_run_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The run's command line: its options and the run as the action."""
    add_run_options(p.add_argument)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_run)
    return p


def main(argv: list[str] | None = None, prog: str = "python -m runner") -> int:
    """`python -m runner ...`, which `python -m evals run ...` forwards to (evals/__main__.py)."""
    parser = OneLineParser(prog=prog, description="Run the behavioural suite against a model and write results.json.")
    configure_run_parser(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))
