"""Calling the five CLIs in-process the way a user's shell would, and the bad files a new user hands them."""

from __future__ import annotations

import contextlib
import io
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataset.__main__ import main as dataset_main
from evals.__main__ import main as evals_main
from reports.__main__ import main as reports_main
from serving.__main__ import main as serving_main
from training.preflight import main as preflight_main
from training.train import main as train_main

Main = Callable[[list[str]], int]
CLIS: dict[str, Main] = {"evals": evals_main, "dataset": dataset_main, "training.train": train_main,
                         "training.preflight": preflight_main, "serving": serving_main, "reports": reports_main}
# The exit codes each CLI documents (README and module docstrings): 0 ok, 1 a finding (failed verdict, problems,
# gate FAIL, refused, will not fit), 2 bad input; evals run 130/143 when interrupted.
DOCUMENTED = {0, 1, 2}

DEEP_JSON = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5000
BINARY = bytes(range(256)) * 4


@dataclass
class Result:
    code: int
    out: str
    err: str
    crash: str | None  # the traceback of an exception that escaped main(), if one did

    def one_line_error(self) -> bool:
        return self.err.count("\n") == 1 and self.err.endswith("\n") and bool(self.err.strip())


def call(cli: str, argv: list[str]) -> Result:
    """Run `python -m <cli> argv` in-process: the exit code, stdout, stderr, and any escaped exception."""
    out, err = io.StringIO(), io.StringIO()
    crash = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = CLIS[cli](argv)
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except BaseException:  # noqa: BLE001 - a traceback the user would have seen
            crash = traceback.format_exc()
            code = -1
    return Result(code, out.getvalue(), err.getvalue(), crash)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path
