"""The settings of a run: one dataclass, and the options that fill it (CLI and pytest alike).

Kept free of inspect-ai imports so that loading the pytest plugin costs nothing for `pytest tests/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.cli_args import MAX_SEED, float_in, int_in
from runner.backends import BACKENDS

DEFAULT_REPORT_DIR = Path("reports/runs")
# The ranges of the numeric options: argparse alone takes `nan`, `inf`, `-1` (and results.json then holds them).
LIMITS: dict[str, tuple[float, float]] = {
    "epochs": (1, 1000), "temperature": (0.0, 2.0), "seed": (0, MAX_SEED), "max_tokens": (1, 1_000_000),
    "max_connections": (1, 1024), "max_turns": (1, 1000), "max_retries": (0, 100), "request_timeout": (1, 86400),
}


@dataclass
class RunConfig:
    """The settings of one run (the CLI flags and the pytest options are these fields)."""

    backend: str = "vllm"
    adapter: str | None = "madcat"
    base_url: str | None = None
    base_model: str | None = None
    model: str | None = None  # local model dir (--backend local)
    adapter_dir: str | None = None  # the adapter's files, to record their sha256 (vllm/openai)
    api_key: str | None = None
    epochs: int = 3
    temperature: float | None = 0.7
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    max_connections: int | None = None
    max_turns: int | None = None
    prompt: str = "minimal"
    report_dir: str = str(DEFAULT_REPORT_DIR)
    run_id: str | None = None
    transcripts: str | None = None
    evals: list[str] | None = None
    scenarios: list[str] | None = None  # scenario ids (default: every scenario of the selected evals)
    cache: bool = False
    max_retries: int = 6  # inspect's retries of one failed request (then the sample errors and is retried once)
    retry_on_error: int = 1
    request_timeout: int = 600  # seconds for one request, its retries included; a hung server makes it incomplete
    display: str = "none"  # inspect's own display: none | plain | rich | full
    extra: dict[str, Any] = field(default_factory=dict)  # more run metadata for results.json



def _int(name: str) -> Callable[[str], int]:
    low, high = LIMITS[name]
    return int_in(int(low), int(high))


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


def add_run_options(add: Callable[..., Any], prefix: str = "") -> None:
    """The options shared by `python -m evals run` and `pytest evals/` (add = parser.add_argument/addoption)."""
    add(f"--{prefix}backend", default="vllm", choices=BACKENDS, help="where the model runs (default vllm)")
    add(f"--{prefix}adapter", default="madcat",
        help="the adapter: its served LoRA name (vllm/openai) or a peft dir (local); 'none' = the base model")
    add(f"--{prefix}base-url", default=None, help="the server (default $VLLM_BASE_URL or http://sin:8000/v1)")
    add(f"--{prefix}base-model", default=None, help="the base model's served name (the baseline; checked as the "
        "adapter's parent)")
    add(f"--{prefix}model", default=None, help="local model dir for --backend local (default: the tiny twin)")
    add(f"--{prefix}adapter-dir", default=None, help="the adapter's files, to record their sha256 (vllm/openai)")
    add(f"--{prefix}epochs", type=_int("epochs"), default=3, help="tries per scenario (default 3)")
    add(f"--{prefix}temperature", type=float_in(*LIMITS["temperature"]), default=0.7,
        help="sampling temperature, 0 to 2 (default 0.7)")
    add(f"--{prefix}seed", type=_int("seed"), default=None, help="sampling seed")
    add(f"--{prefix}max-tokens", type=_int("max_tokens"), default=None,
        help="tokens per completion (default 2048; local 256)")
    add(f"--{prefix}max-connections", type=_int("max_connections"), default=None,
        help="concurrent requests (default 32; local 8)")
    add(f"--{prefix}max-turns", type=_int("max_turns"), default=None,
        help="generations per scenario (default: the scenario's)")
    add(f"--{prefix}report-dir", default=str(DEFAULT_REPORT_DIR), help="where run dirs go (default reports/runs)")
    add(f"--{prefix}prompt", default="minimal", choices=("minimal", "full"),
        help="system prompt: minimal (cart identity, as with the adapter) or full (the house rules)")
    add(f"--{prefix}transcripts", default=None, help="JSONL of transcripts for --backend replay")
    add(f"--{prefix}max-retries", type=_int("max_retries"), default=6,
        help="retries of a failed request before its sample errors (default 6; an errored sample is retried once, "
        "then recorded incomplete)")
    add(f"--{prefix}request-timeout", type=_int("request_timeout"), default=600,
        help="seconds one model request may take, retries included (default 600); past it the sample is incomplete")
    add(f"--{prefix}cache", action="store_true", default=False,
        help="reuse model outputs, keyed on the adapter's sha256 (needs its files)")


def config_from_options(get: Callable[[str], Any], evals: list[str] | None = None) -> RunConfig:
    """A RunConfig from option values (`get("base_url")`)."""
    return RunConfig(backend=get("backend"), adapter=get("adapter"), base_url=get("base_url"),
                     base_model=get("base_model"), model=get("model"), adapter_dir=get("adapter_dir"),
                     epochs=get("epochs"), temperature=get("temperature"), seed=get("seed"),
                     max_tokens=get("max_tokens"), max_connections=get("max_connections"),
                     max_turns=get("max_turns"), report_dir=get("report_dir"), prompt=get("prompt"),
                     transcripts=get("transcripts"), cache=get("cache"), max_retries=get("max_retries"),
                     request_timeout=get("request_timeout"), evals=evals)
