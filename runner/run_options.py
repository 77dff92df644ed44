"""The settings of a run, each defined once: a field of `RunConfig` carries its default, help and range, and the
command lines are generated from the fields (`python -m runner`/`python -m evals run`, the pytest options of
`pytest evals/`, the drivers in e2e/, docs/runner-options.md), the way trl's SFTConfig is its own CLI.

A driver takes some of the options with its own defaults, by name, and hands them on as flags:

    add_run_options(parser.add_argument, only=("epochs", "max_turns"), defaults={"max_turns": 8})
    argv = ["python", "-m", "evals", "run", *run_flags({"epochs": args.epochs, "max_turns": args.max_turns})]

Kept free of inspect-ai imports so that loading the pytest plugin costs nothing for `pytest tests/`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.cli_args import MAX_SEED, float_in, int_in
from runner.backends import BACKENDS

DEFAULT_REPORT_DIR = Path("reports/runs")
PROMPTS = ("minimal", "full")
DISPLAYS = ("none", "plain", "rich", "full")


def option(default: Any, help: str, *, kind: type | None = None, limits: tuple[float, float] | None = None,
           choices: tuple[str, ...] | None = None, shown: str | None = None, flag: str | None = None,
           repeat: bool = False, pytest: bool = True) -> Any:
    """A field that is also a command-line option. `shown`: the default as the help says it (when None stands for
    one chosen later); `flag`: the option's name when it is not the field's; `repeat`: a list filled by repeating
    the flag; `pytest`: also an option of `pytest evals/` (selection there is pytest's own -k)."""
    meta = {"help": help, "kind": kind, "limits": limits, "choices": choices, "shown": shown, "flag": flag,
            "repeat": repeat, "pytest": pytest}
    if repeat:
        return field(default=None, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """The settings of one run. Fields made with `option` are the command-line options, in this order."""

    backend: str = option("vllm", "where the model runs", choices=BACKENDS)
    adapter: str | None = option("madcat", "the adapter: its served LoRA name (vllm/openai) or a peft dir (local); "
                                 "'none' = the base model")
    base_url: str | None = option(None, "the server", shown="$VLLM_BASE_URL or http://sin:8000/v1")
    base_model: str | None = option(None, "the base model's served name (the baseline; checked as the adapter's "
                                    "parent)")
    model: str | None = option(None, "local model dir for --backend local", shown="the tiny twin")
    adapter_dir: str | None = option(None, "the adapter's files, to record their sha256 (vllm/openai)")
    epochs: int = option(3, "tries per scenario", kind=int, limits=(1, 1000))
    temperature: float | None = option(0.7, "sampling temperature, 0 to 2", kind=float, limits=(0.0, 2.0))
    seed: int | None = option(None, "sampling seed", kind=int, limits=(0, MAX_SEED))
    max_tokens: int | None = option(None, "tokens per completion", kind=int, limits=(1, 1_000_000),
                                    shown="2048; local 256")
    max_connections: int | None = option(None, "concurrent requests", kind=int, limits=(1, 1024),
                                         shown="32; local 8")
    max_turns: int | None = option(None, "generations per scenario", kind=int, limits=(1, 1000),
                                   shown="the scenario's")
    report_dir: str = option(str(DEFAULT_REPORT_DIR), "where run dirs go")
    prompt: str = option("minimal", "system prompt: minimal (cart identity, as with the adapter) or full (the "
                         "house rules)", choices=PROMPTS)
    transcripts: str | None = option(None, "JSONL of transcripts for --backend replay")
    max_retries: int = option(6, "retries of a failed request before its sample errors (an errored sample is "
                              "retried once, then recorded incomplete)", kind=int, limits=(0, 100))
    request_timeout: int = option(600, "seconds one model request may take, retries included; past it the sample "
                                  "is incomplete", kind=int, limits=(1, 86400))
    cache: bool = option(False, "reuse model outputs, keyed on the adapter's sha256 (needs its files)", kind=bool)
    evals: list[str] | None = option(None, "an eval ID or category (repeatable)", shown="all", flag="eval",
                                     repeat=True, pytest=False)
    scenarios: list[str] | None = option(None, "run only this scenario id (repeatable)",
                                         shown="every scenario of the selected behaviours", flag="scenario",
                                         repeat=True)
    run_id: str | None = option(None, "the run dir's name under --report-dir; an existing one is reused",
                                shown="UTC timestamp + arm")
    display: str = option("none", "inspect's own progress display (none: one line per finished sample)",
                          choices=DISPLAYS, pytest=False)
    # settings with no option
    api_key: str | None = None
    top_p: float | None = None
    retry_on_error: int = 1  # inspect retries an errored sample once; then it is recorded incomplete
    extra: dict[str, Any] = field(default_factory=dict)  # more run metadata for results.json


def option_fields(where: str = "cli") -> list[Field[Any]]:
    """The fields that are options of the run CLI (`cli`) or of `pytest evals/` (`pytest`)."""
    if where not in ("cli", "pytest"):
        raise ValueError(f"where must be 'cli' or 'pytest', not {where!r}")
    return [f for f in fields(RunConfig) if "help" in f.metadata and (where == "cli" or f.metadata["pytest"])]


# The ranges of the numeric options: argparse alone takes `nan`, `inf`, `-1` (and results.json then holds them).
LIMITS: dict[str, tuple[float, float]] = {f.name: f.metadata["limits"] for f in option_fields()
                                          if f.metadata["limits"]}


def flag_of(name: str) -> str:
    """The command-line flag of a RunConfig field, e.g. max_turns -> --max-turns, evals -> --eval."""
    meta = RunConfig.__dataclass_fields__[name].metadata
    if "help" not in meta:
        raise KeyError(f"{name} is not a run option")
    return "--" + (meta["flag"] or name).replace("_", "-")


def default_of(f: Field[Any]) -> Any:
    return f.default if f.default is not MISSING else None


def _help(f: Field[Any], default: Any) -> str:
    meta = f.metadata
    if meta["repeat"] and default is not None:
        default = ", ".join(default)
    shown = meta["shown"] if default is None else (str(default).lower() if isinstance(default, bool) else default)
    return meta["help"] if shown is None or meta["kind"] is bool else f"{meta['help']} (default {shown})"


def _type(f: Field[Any]) -> Callable[[str], Any] | None:
    kind, limits = f.metadata["kind"], f.metadata["limits"]
    if kind is int:
        return int_in(int(limits[0]), int(limits[1]))
    if kind is float:
        return float_in(*limits)
    return None


class AppendOverDefault(argparse.Action):
    """A repeatable option with a driver's default list: the first use replaces the default (argparse's `append`
    would add to it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*([] if current is self.default else current), values])


def add_run_options(add: Callable[..., Any], prefix: str = "", *, where: str = "cli",
                    only: Iterable[str] | None = None, defaults: Mapping[str, Any] | None = None) -> None:
    """Declare the run's options with `add` (parser.add_argument or pytest's addoption). `only`: these options
    (a driver's), `defaults`: a driver's own defaults by field name; `prefix` goes before each flag's name."""
    chosen = option_fields(where)
    names = {f.name for f in chosen}
    wanted = list(only) if only is not None else [f.name for f in chosen]
    unknown = [n for n in [*wanted, *(defaults or {})] if n not in names]
    if unknown:
        raise KeyError(f"not run options: {unknown}")
    for f in chosen:
        if f.name not in wanted:
            continue
        default = (defaults or {}).get(f.name, default_of(f))
        flag = "--" + prefix + flag_of(f.name).removeprefix("--")
        # dest: the field's name (pytest's options put their prefix before it)
        kwargs: dict[str, Any] = {"help": _help(f, default), "default": default, "dest": f.name}
        if f.metadata["flag"]:
            kwargs["metavar"] = f.metadata["flag"].upper()
        if f.metadata["repeat"]:
            kwargs["action"] = AppendOverDefault if f.name in (defaults or {}) else "append"
        elif f.metadata["kind"] is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs.update({k: v for k, v in (("type", _type(f)), ("choices", f.metadata["choices"])) if v})
        add(flag, **kwargs)


def config_from_options(get: Callable[[str], Any], where: str = "cli", **settings: Any) -> RunConfig:
    """A RunConfig from option values (`get("base_url")`, by field name) and settings given outright."""
    values = {f.name: get(f.name) for f in option_fields(where) if f.name not in settings}
    return RunConfig(**values, **settings)


def run_flags(values: Mapping[str, Any]) -> list[str]:
    """Run options as command-line flags, e.g. {"max_turns": 8, "cache": True} -> ["--max-turns", "8", "--cache"];
    None and False are left out (the run's default applies)."""
    out: list[str] = []
    for name, value in values.items():
        flag = flag_of(name)
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, list | tuple):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def out_of_range(config: RunConfig) -> str | None:
    """The first numeric setting outside LIMITS (NaN and infinities included), as the line to show; else None."""
    for name, (low, high) in LIMITS.items():
        value = getattr(config, name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is None or (number and low <= value <= high):
            continue
        shown = [str(int(x)) if float(x).is_integer() else f"{x:g}" for x in (low, high)]
        return f"--{name.replace('_', '-')} must be between {shown[0]} and {shown[1]} (got {value!r})"
    return None


def options_markdown() -> str:
    """docs/runner-options.md: every option of `python -m runner` / `python -m evals run` and `pytest evals/`."""
    lines = ["# Runner options", "",
             "Generated from `RunConfig` (runner/run_options.py): `python -m runner.run_options > "
             "docs/runner-options.md`.", "The same options serve `python -m runner`, `python -m evals run` and "
             "`pytest evals/` (the last without the ones marked CLI only); `--quiet` (no progress lines) is the "
             "CLI's own.", "", "| option | default | what it sets |", "|---|---|---|"]
    for f in option_fields():
        meta = f.metadata
        default = default_of(f)
        shown = meta["shown"] if default is None else default
        metavar = "{" + ",".join(meta["choices"]) + "}" if meta["choices"] else (meta["flag"] or f.name).upper()
        value = "" if meta["kind"] is bool else " " + metavar
        where = "" if meta["pytest"] else " (CLI only)"
        lines.append(f"| `{flag_of(f.name)}{value}` | {'' if shown is None else f'`{shown}`'} | "
                     f"{meta['help']}{where} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(options_markdown(), end="")
