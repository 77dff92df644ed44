"""Run the behavioural suite once: pick the backend, run every selected scenario k times, write results.

    python -m evals run --backend vllm --base-url http://sin:8000/v1 --adapter madcat --epochs 5
    python -m evals run --backend local --adapter none            # the tiny twin, offline

Everything lands under <report-dir>/<run-id>/ (default reports/runs/, run id = UTC timestamp + arm):
the inspect logs (logs/, open them with `inspect view --log-dir ...`) and results.json, which is
rewritten atomically as samples finish, so Ctrl-C leaves a valid partial file (`interrupted: true`,
unfinished samples `incomplete`). The pytest front end (runner/pytest_plugin.py) calls `run` too.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from core.exact_power import power_warnings
from core.redact import redact_text
from core.safe_io import InputError, check_output_dir
from core.suggest import unknown_names
from core.verdicts import row_label, tally_line
from evals.catalog import UnknownEval
from evals.scenarios import load_scenarios
from evals.spec_hash import spec_sha256
from evals.thresholds import load_thresholds
from runner.backends import BACKENDS, BackendError, ModelPlan, is_baseline, plan_local
from runner.epoch_seeds import EPOCH_SEED_RULE
from runner.results import RunRecorder, judge, row_from_sample
from runner.run_options import RunConfig, config_from_options, out_of_range
from runner.stop_signals import Stop, stop_like_ctrl_c
from runner.task import select_evals

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAX_TOKENS = {"vllm": 2048, "openai": 2048, "local": 256}

Progress = Callable[[str], None]


@dataclass
class RunOutcome:
    run_dir: Path
    results_path: Path
    document: dict[str, Any]
    interrupted: bool

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.document["results"]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; `outcome` is what was written (results.json with `interrupted: true`)."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(interruption_line(outcome))
        self.outcome = outcome


class UsageError(Exception):
    """Bad settings or an unusable backend: str() is one line for the user."""


# ---- helpers -----------------------------------------------------------------------------------

def _arm(config: RunConfig) -> str:
    if config.backend == "replay":
        return "replay"
    if is_baseline(config.adapter):
        return "baseline"
    name = Path(str(config.adapter)).name or "adapter"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def new_run_id(config: RunConfig) -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{_arm(config)}"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _run_dir(config: RunConfig) -> tuple[str, Path]:
    root = Path(config.report_dir)
    run_id = config.run_id or new_run_id(config)
    candidate, n = run_id, 1
    while (root / candidate).exists() and config.run_id is None:
        n += 1
        candidate = f"{run_id}-{n}"
    return candidate, root / candidate


def validate(config: RunConfig, own_model: bool = False) -> list[str]:
    """The eval IDs to run; raises UsageError for bad settings."""
    if config.backend not in BACKENDS and not own_model:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)} (got {config.backend!r})")
    if config.prompt not in ("minimal", "full"):
        raise UsageError(f"--prompt must be minimal or full (got {config.prompt!r})")
    if config.epochs < 1:
        raise UsageError(f"--epochs must be at least 1 (got {config.epochs})")
    if config.request_timeout < 1:
        raise UsageError(f"--request-timeout must be at least 1 second (got {config.request_timeout})")
    if config.max_connections is not None and config.max_connections < 1:
        raise UsageError(f"--max-connections must be at least 1 (got {config.max_connections})")
    bad = out_of_range(config)  # NaN/inf and out-of-range numbers given programmatically (the CLIs refuse them)
    if bad:
        raise UsageError(bad)
    try:
        check_output_dir(config.report_dir, "--report-dir")
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if config.run_id is not None and not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}", config.run_id):
        raise UsageError(f"--run-id must be a folder name of letters, digits, '.', '_' or '-' (got {config.run_id!r})")
    if config.backend == "replay" and not config.transcripts:
        raise UsageError("--backend replay needs --transcripts FILE (JSONL, one transcript a line)")
    if config.transcripts and config.backend != "replay":
        raise UsageError("--transcripts goes with --backend replay")
    try:
        eval_ids = select_evals(config.evals)
    except UnknownEval as exc:
        raise UsageError(str(exc)) from None
    if config.scenarios:
        unknown = unknown_names(config.scenarios, (s.id for s in load_scenarios()))
        if unknown:
            raise UsageError(f"--scenario: unknown scenario id {unknown} (the ids are in evals/scenarios/)")
    return eval_ids


def adapter_dir_warning(config: RunConfig) -> str | None:
    """A served adapter run without --adapter-dir records no adapter_sha256: it can never be promoted."""
    from core.adapter.identity import SERVED_BACKENDS

    if config.backend not in SERVED_BACKENDS or is_baseline(config.adapter) or config.adapter_dir:
        return None
    return (f"the served adapter {config.adapter!r} cannot be tied to its files: without --adapter-dir no "
            "adapter_sha256 is recorded and `python -m reports promote` will refuse this run; "
            "add --adapter-dir DIR (the adapter's directory)")


def plan(config: RunConfig) -> ModelPlan:
    """Check the backend (server reachable, adapter served, files readable) before anything runs."""
    from runner.backends import vllm

    try:
        if config.backend == "vllm":
            return vllm.plan_vllm(config.base_url, config.adapter, config.base_model, config.adapter_dir, config.api_key)
        if config.backend == "openai":
            return vllm.plan_openai(config.base_url, config.adapter, config.base_model, config.adapter_dir,
                                    config.api_key)
        if config.backend == "local":
            return plan_local(config.adapter, config.model)
        return ModelPlan(info={"backend": "replay", "model": None, "adapter": None, "base_model": None,
                               "transcripts": str(config.transcripts)})
    except BackendError as exc:
        raise UsageError(str(exc)) from None


def progress_line(row: dict[str, Any], done: int, total: int) -> str:
    verdict = row_label(row)
    hard = f"  HARD: {', '.join(row['hard_violations'])}" if row.get("hard_violations") else ""
    seconds = f", {row['seconds']:.1f}s" if row.get("seconds") is not None else ""
    width = len(str(total))
    return (f"[{done:>{width}}/{total}] {verdict:<13} {row['eval']}  {row['scenario']} #{row['epoch']} "
            f"({row['requests']} requests{seconds}){hard}")


def stream_progress(stream: TextIO | None = None) -> Progress:
    def write(line: str) -> None:
        out = stream or sys.__stderr__ or sys.stderr
        out.write(line + "\n")
        out.flush()
    return write


# ---- the run -----------------------------------------------------------------------------------

def run(config: RunConfig, model: Any = None, progress: Progress | None = None,
        thresholds: dict[str, float] | None = None, planned: ModelPlan | None = None) -> RunOutcome:
    """One run of the selected evals. `model`: a ready inspect Model (tests, benchmarks) instead of a backend;
    `planned`: a backend already checked by `plan(config)`.

    Raises UsageError (one line) before anything runs; KeyboardInterrupt propagates after the partial
    results.json is written.
    """
    eval_ids = validate(config, own_model=model is not None)
    try:
        thresholds = thresholds or load_thresholds()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if model is not None:
        model_plan = ModelPlan(model=model, info={"backend": config.backend, "model": str(model),
                                                  "adapter": None if is_baseline(config.adapter) else config.adapter,
                                                  "base_model": config.base_model})
    elif planned is not None:
        model_plan = planned
    else:
        with stop_like_ctrl_c() as stop:
            try:
                model_plan = plan(config)
            except KeyboardInterrupt:  # during the server check: the run is recorded, every sample unfinished
                raise RunInterrupted(record_stopped_before_start(config, eval_ids, thresholds,
                                                                 stop.signal or "SIGINT")) from None
    if config.cache and not model_plan.info.get("adapter_sha256"):
        raise UsageError("--cache needs the adapter's files to key the cache on their sha256 "
                         "(--adapter-dir DIR, or --backend local --adapter DIR)")
    max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS.get(config.backend, 2048)
    max_connections = config.max_connections or model_plan.max_connections or 32
    run_id, run_dir = _run_dir(config)
    run_meta = {"run_id": run_id, "started": datetime.now(UTC).isoformat(timespec="seconds"), "finished": None,
                "backend": config.backend, "model": None, "adapter": None, "adapter_sha256": None,
                "adapter_dir": None, "base_model": None, "server_version": None, "epochs": config.epochs,
                "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed,
                "epoch_seeds": EPOCH_SEED_RULE if config.seed is not None else None,
                "max_tokens": max_tokens, "max_connections": max_connections, "max_turns": config.max_turns,
                "max_retries": config.max_retries, "request_timeout": config.request_timeout,
                "system_prompt": config.prompt, "evals": eval_ids, "git_commit": _git_commit(), "interrupted": False,
                "spec_sha256": spec_sha256(),
                "cache": bool(config.cache), **model_plan.info, **config.extra}
    say = progress or (lambda _line: None)
    warning = adapter_dir_warning(config) if model is None else None
    if warning:
        say(f"madcat: warning: {warning}")
    for note in model_plan.notes:
        say(f"madcat: note: {note}")

    if config.backend == "replay" and model is None:
        from runner.backends.replay import replay_rows

        try:
            rows = replay_rows(str(config.transcripts), eval_ids)
        except BackendError as exc:
            raise UsageError(str(exc)) from None
        recorder = RunRecorder(run_dir / "results.json", run_meta, [], thresholds, min_interval_s=0)
        for i, row in enumerate(rows, start=1):
            recorder.record(row)
            say(progress_line(row, i, len(rows)))
        doc = recorder.finish(interrupted=False)
        return RunOutcome(run_dir, recorder.path, doc, False)

    scenarios = load_scenarios(evals=eval_ids, ids=config.scenarios)
    if not scenarios:
        raise UsageError(f"no scenarios for the selected evals ({', '.join(eval_ids)})"
                         + (f" with ids {', '.join(config.scenarios)}" if config.scenarios else "")
                         + " in evals/scenarios/")
    planned = [(s.eval, s.id, e) for s in scenarios for e in range(1, config.epochs + 1)]
    recorder = RunRecorder(run_dir / "results.json", run_meta, planned, thresholds)
    recorder.write()
    say(f"madcat: {len(scenarios)} scenarios x {config.epochs} epochs = {len(planned)} samples, "
        f"backend {config.backend} ({run_meta.get('model')}), results in {recorder.path}")
    for line in power_warnings(dict(Counter(s.eval for s in scenarios)), config.epochs, config.temperature):
        say(f"madcat: warning: {line}")
    interrupted = True
    with stop_like_ctrl_c() as stop:  # SIGTERM/SIGHUP: the same orderly stop as Ctrl-C
        try:
            logs = _run_inspect(config, model_plan, eval_ids, run_dir / "logs", recorder, say, max_tokens,
                                max_connections)
            # inspect swallows Ctrl-C: it cancels the run and returns the cancelled logs (or none at all)
            interrupted = not logs or any(log.status == "cancelled" for log in logs)
            for log in logs:
                if log.location:
                    recorder.set_log(os.path.relpath(log.location, run_dir))
                if log.status == "error" and log.error is not None:
                    recorder.run.setdefault("errors", []).append(
                        redact_text(log.error.message.strip().splitlines()[0][:300]))
        except KeyboardInterrupt:  # one that inspect did not swallow: the same orderly stop
            interrupted = True
        finally:
            interrupted = interrupted or stop.signal is not None
            # inspect swallows Ctrl-C and returns cancelled logs; SIGTERM/SIGHUP are caught by name
            stopped_by = stop.signal or ("SIGINT" if interrupted else None)
            doc = recorder.finish(interrupted=interrupted, **({"stopped_by": stopped_by} if stopped_by else {}))
    outcome = RunOutcome(run_dir, recorder.path, doc, interrupted)
    if interrupted:
        raise RunInterrupted(outcome)
    return outcome


def record_stopped_before_start(config: RunConfig, eval_ids: list[str], thresholds: dict[str, float],
                               stopped_by: str) -> RunOutcome:
    """Stopped while the backend was checked: results.json says so, with every planned sample unfinished."""
    run_id, run_dir = _run_dir(config)
    scenarios = [] if config.backend == "replay" else load_scenarios(evals=eval_ids, ids=config.scenarios)
    planned = [(s.eval, s.id, e) for s in scenarios for e in range(1, config.epochs + 1)]
    meta = {"run_id": run_id, "backend": config.backend, "model": None,
            "adapter": None if is_baseline(config.adapter) else config.adapter, "adapter_sha256": None,
            "base_model": config.base_model, "epochs": config.epochs, "temperature": config.temperature,
            "seed": config.seed, "system_prompt": config.prompt, "evals": eval_ids, "git_commit": _git_commit(),
            "stopped_during": "the backend check, before any sample ran"}
    recorder = RunRecorder(run_dir / "results.json", meta, planned, thresholds, min_interval_s=0)
    doc = recorder.finish(interrupted=True, stopped_by=stopped_by)
    return RunOutcome(run_dir, recorder.path, doc, True)


def interruption_line(outcome: RunOutcome) -> str:
    """The one line an interrupted run ends with (its exit code: Stop(stopped_by).exit_code)."""
    run = outcome.document["run"]
    stopped_by = run.get("stopped_by") or "SIGINT"
    when = " during the backend check" if run.get("stopped_during") else ""
    return (f"interrupted by {stopped_by}{when}; partial results in {outcome.results_path} "
            f"(exit {Stop(stopped_by).exit_code})")


def _run_inspect(config: RunConfig, model_plan: ModelPlan, eval_ids: list[str], log_dir: Path,
                 recorder: RunRecorder, say: Progress, max_tokens: int, max_connections: int) -> list[Any]:
    from inspect_ai import eval as inspect_eval

    from runner import sample_sink
    from runner.task import madcat_behaviours

    total = len(recorder.rows)
    started = time.monotonic()

    def on_sample(sample: Any) -> None:
        row = row_from_sample(sample, os.path.relpath(log_dir, recorder.path.parent))
        recorder.record(row)
        say(progress_line(row, len(recorder.finished_keys), total))

    cache_key = model_plan.info.get("adapter_sha256") if config.cache else None
    task = madcat_behaviours(evals=eval_ids, prompt=config.prompt, max_turns=config.max_turns,
                             epochs=config.epochs, scenarios=config.scenarios, cache_key=cache_key,
                             seed=config.seed)
    generate: dict[str, Any] = {"max_tokens": max_tokens, "max_connections": max_connections,
                                "max_retries": config.max_retries, "timeout": config.request_timeout,
                                "attempt_timeout": config.request_timeout}
    for key in ("temperature", "top_p", "seed"):
        if getattr(config, key) is not None:
            generate[key] = getattr(config, key)
    with sample_sink.active(on_sample):
        logs = inspect_eval(
            task, model=model_plan.model, model_args=model_plan.model_args, model_base_url=model_plan.model_base_url,
            log_dir=str(log_dir), display=config.display, fail_on_error=False, retry_on_error=config.retry_on_error,
            max_samples=max_connections, score_display=False, ctl_server=False, log_level="error",
            # results.json is the live view; inspect's realtime sample buffer costs ~5 ms CPU a request
            # (see benchmarks/runner_bench.py), and the rows come from the sample hook, not a re-read log.
            log_realtime=False, log_header_only=True,
            **generate,
        )
    recorder.run["inspect_seconds"] = round(time.monotonic() - started, 3)
    return logs


# ---- judging & CLI -----------------------------------------------------------------------------

def failed_evals(outcome: RunOutcome, thresholds: dict[str, float] | None = None) -> list[str]:
    """The behaviours of this run that missed their threshold, each explained."""
    thresholds = thresholds or load_thresholds()
    rows = outcome.rows
    return [j.explain() for e in dict.fromkeys(r["eval"] for r in rows) if not (j := judge(e, rows, thresholds)).ok]


def run_from_args(args: argparse.Namespace) -> int:
    """The run CLI's action (runner/cli.py parses the command line)."""
    config = config_from_options(lambda k: getattr(args, k))
    try:
        outcome = run(config, progress=None if args.quiet else stream_progress())
    except UsageError as exc:
        sys.stderr.write(f"evals: {exc}\n")
        return 2
    except RunInterrupted as exc:
        sys.stderr.write(f"evals: {interruption_line(exc.outcome)}\n")
        return Stop(exc.outcome.document["run"].get("stopped_by")).exit_code  # 130 Ctrl-C, 143 SIGTERM
    except KeyboardInterrupt:
        sys.stderr.write("evals: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback; results.json keeps what finished
        sys.stderr.write(f"evals: the run failed: {exc.__class__.__name__}: {redact_text(str(exc))}\n")
        return 2
    failures = failed_evals(outcome)
    for text in failures:
        print(text)
    summary = outcome.document["summary"]
    print(f"{summary['evals_ok']}/{len(summary['evals'])} behaviours met their threshold; "
          f"{summary['samples']} tries: {tally_line(summary)}; {outcome.results_path}")
    return 1 if failures else 0


__all__ = ["RunConfig", "RunInterrupted", "RunOutcome", "UsageError", "failed_evals", "run", "run_from_args"]
