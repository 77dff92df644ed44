"""Command lines of every CLI of the project: usage errors in one line with a hint, and numbers that are
finite and in range (argparse's `type=float` takes `nan`, `inf` and `1e999`; `type=int` takes `-1`).

    parser = OneLineParser(prog="python -m dataset")
    parser.add_argument("--count", type=int_in(0, 10_000))
    parser.add_argument("--temperature", type=float_in(0.0, 2.0))

It imports nothing from the project (any layer may use it).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

MAX_SEED = 2**32 - 1  # numpy, torch and vLLM all take seeds this large


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as one line, `NAME: what is wrong (see `python -m NAME CMD --help`)`,
    and exit 2 (its subparsers are OneLineParsers too: argparse gives them the parent's class)."""

    def error(self, message: str) -> NoReturn:
        prog = self.prog if self.prog.startswith("python -m ") else f"python -m {self.prog}"
        name = prog.removeprefix("python -m ").split()[0]
        text = " ".join(str(message).split())
        self.exit(2, f"{name}: {text} (see `{prog} --help`)\n")


def _number(text: str, kind: type) -> float | int:
    text = text.strip()
    if kind is int:
        if len(text.lstrip("+-")) > 40:
            raise argparse.ArgumentTypeError(f"{text[:20]}… is not a number this option takes")
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _show(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {_show(low)} and {_show(high)}"
    return f">= {_show(low)}" if low is not None else f"<= {_show(high)}"


def float_in(low: float | None = None, high: float | None = None, *,
             low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float in [low, high] (or (low, high] with low_open)."""

    def parse(text: str) -> float:
        value = float(_number(text, float))
        too_low = low is not None and (value < low or (low_open and value == low))
        if too_low or (high is not None and value > high):
            if low_open and high is None:
                raise argparse.ArgumentTypeError(f"expected a number > {low:g}, got {text.strip()}")
            where = _bounds(low, high) + (f" (and not {low:g})" if low_open else "")
            raise argparse.ArgumentTypeError(f"expected a number {where}, got {text.strip()}")
        return value

    parse.__name__ = "number"  # argparse names the type in "invalid <name> value" messages
    return parse


def int_in(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {_bounds(low, high)}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse
