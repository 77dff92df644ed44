"""results.json: one row per (scenario, epoch), written atomically as samples finish.

A row is `complete` with an `outcome` (passed, failed, or not_exercised: the trajectory never reached
the situation the scenario sets up), or `incomplete` with the reason (a server error, a timeout, a
generation cut by a limit, the turn limit): only a passed outcome counts as a pass anywhere.

The file is valid at every moment: before the first sample every planned row is `incomplete`; each
finished sample replaces its row; the final write sets `finished` and `interrupted`. A run stopped
by Ctrl-C (or killed) leaves the last snapshot, whose unfinished rows stay `incomplete` and never
count as passed. Thresholds (evals/thresholds.yaml) decide whether a behaviour met its bar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.redact import redact_text
from core.results import NOT_FINISHED, SampleKey, planned_row
from core.safe_io import write_json_atomic  # the project's one atomic writer (core/safe_io.py)
from core.verdicts import FAIL, row_label
from evals.catalog import HARD_INVARIANTS
from evals.predicates import FAILED, NOT_EXERCISED, PASSED
from evals.thresholds import DEFAULT_PASS_RATE
from runner.scorer import INCOMPLETE
from runner.solver import INCOMPLETE_PREFIX, STORE_COMPLETION_TOKENS, STORE_PROMPT_TOKENS, STORE_REQUESTS

SCORER_NAME = "madcat_grader"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---- rows --------------------------------------------------------------------------------------

def _first_line(text: str, width: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _error_text(error: Any) -> str:
    """The line that says what went wrong: for a request retried to exhaustion (tenacity's RetryError
    hides the cause), the server's own answer from the traceback, e.g. `Error code: 500 - {...}`."""
    full = getattr(error, "message", "") or str(error)
    message = _first_line(full)
    if INCOMPLETE_PREFIX in message:  # the solver's own reason (runner.solver.Incomplete)
        return redact_text(message[message.index(INCOMPLETE_PREFIX) + len(INCOMPLETE_PREFIX):].rstrip("')\""))
    lines = [ln.strip() for ln in f"{full}\n{getattr(error, 'traceback', '') or ''}".splitlines() if ln.strip()]
    if any("AttemptTimeoutError" in ln or "TimeoutError" in ln for ln in lines) and not any(
            "Error code:" in ln for ln in lines):
        return "the server did not answer in time (--request-timeout)"
    if message.startswith(("RetryError", "ModelGenerateError")):
        # the server's own answer (`Error code: 500 - {...}`) hides behind the retry or the request dump
        causes = [ln for ln in lines if "Error code:" in ln]
        if causes:
            return redact_text(_first_line(causes[-1]))  # no URL credentials or API keys in results.json
        if message.startswith("ModelGenerateError") and lines:
            return redact_text(_first_line(lines[-1]))
    return redact_text(message)


def row_from_sample(sample: Any, log: str | None = None) -> dict[str, Any]:
    """One results row from an inspect EvalSample (errored samples are `incomplete`)."""
    meta = sample.metadata or {}
    eval_id = str(meta.get("eval"))
    row = planned_row(eval_id, str(meta.get("scenario", sample.id)), int(sample.epoch))
    store = sample.store or {}
    requests = int(store.get(STORE_REQUESTS, 0) or 0)
    prompt_tokens = int(store.get(STORE_PROMPT_TOKENS, 0) or 0)
    row.update(requests=requests, prompt_tokens=prompt_tokens,
               completion_tokens=int(store.get(STORE_COMPLETION_TOKENS, 0) or 0),
               prompt_tokens_per_request=round(prompt_tokens / requests, 1) if requests else None,
               seconds=round(float(sample.total_time), 3) if sample.total_time is not None else None, log=log)
    score = (sample.scores or {}).get(SCORER_NAME)
    if sample.error is not None or score is None:
        why = _error_text(sample.error) if sample.error is not None else "no score"
        # a sample in flight when the run was cancelled (Ctrl-C) ends with a CancelledError
        if why.startswith("CancelledError"):
            reason = NOT_FINISHED
        elif sample.error is not None and INCOMPLETE_PREFIX in str(getattr(sample.error, "message", "")):
            reason = f"incomplete: {why}"
        else:
            reason = f"error: {why}"
        row.update(status="incomplete", passed=None, outcome=None, reason=reason)
        return row
    if sample.limit is not None:  # inspect's own limits (time, tokens, messages) ended it: no verdict
        row.update(status="incomplete", passed=None, outcome=None,
                   reason=f"incomplete: stopped by inspect's {sample.limit.type} limit")
        return row
    smeta = score.metadata or {}
    if smeta.get("outcome") == INCOMPLETE:  # the scorer found it unfinished (runner/scorer.py): no verdict
        row.update(status="incomplete", passed=None, outcome=None, reason=score.explanation or "incomplete")
        return row
    outcome = str(smeta.get("outcome") or (PASSED if score.value == "C" else FAILED))
    row.update(status="complete", passed=outcome == PASSED, outcome=outcome, reason=score.explanation or "",
               hard_violations=list(smeta.get("hard_violations") or []), stopped="done",
               trajectory=list(smeta.get("trajectory") or []))
    return row


# ---- judgement --------------------------------------------------------------------

@dataclass
class Judgement:
    """Whether one behaviour met its bar in one run."""

    eval: str
    threshold: float
    hard: bool
    rows: list[dict[str, Any]]
    violations: list[dict[str, Any]] = field(default_factory=list)  # any trajectory breaking this hard invariant

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r["status"] == "complete" and r["passed"] is True)

    @property
    def incomplete(self) -> int:
        return sum(1 for r in self.rows if r["status"] != "complete")

    @property
    def not_exercised(self) -> int:
        return sum(1 for r in self.rows if r["status"] == "complete" and r.get("outcome") == NOT_EXERCISED)

    @property
    def failed(self) -> int:
        return self.n - self.passed - self.incomplete - self.not_exercised

    @property
    def rate(self) -> float | None:
        return self.passed / self.n if self.n else None

    @property
    def pass_hat_k(self) -> float | None:
        """The share of scenarios whose every try passed (pass^k)."""
        by_scenario: dict[str, list[bool]] = {}
        for r in self.rows:
            by_scenario.setdefault(r["scenario"], []).append(r["status"] == "complete" and r["passed"] is True)
        return sum(all(v) for v in by_scenario.values()) / len(by_scenario) if by_scenario else None

    @property
    def ok(self) -> bool:
        if not self.n:
            return False
        if self.hard:
            return self.passed == self.n and not self.violations
        return (self.rate or 0.0) >= self.threshold - 1e-9

    def headline(self) -> str:
        if not self.n:
            return f"{self.eval}: no scenarios ran"
        extra = f", {self.not_exercised} not exercised" if self.not_exercised else ""
        extra += f", {self.incomplete} incomplete" if self.incomplete else ""
        bar = "every try must pass (hard invariant)" if self.hard else f"needs {self.threshold:.0%}"
        text = f"{self.eval}: {self.passed}/{self.n} passed ({self.rate:.0%}{extra}); {bar}"
        if self.violations:
            text += f"; broken on {len(self.violations)} trajectories of any scenario"
        return text

    def failing_rows(self) -> list[dict[str, Any]]:
        bad = [r for r in self.rows if not (r["status"] == "complete" and r["passed"] is True)]
        seen = {(r["scenario"], r["epoch"]) for r in bad}
        return bad + [r for r in self.violations if (r["scenario"], r["epoch"]) not in seen]

    def explain(self, max_rows: int = 6) -> str:
        """The headline, then each failing try with the grader's reason and a compact trajectory."""
        lines = [self.headline()]
        failing = self.failing_rows()
        for r in failing[:max_rows]:
            status = row_label(r)
            reason = r["reason"]
            if self.hard and r["eval"] != self.eval:
                status, reason = "BROKEN", f"(while testing {r['eval']}) broke {self.eval}"
            lines.append(f"  {status} {r['scenario']} #{r['epoch']}: {reason}")
            lines.extend(f"      {step}" for step in r.get("trajectory") or [])
        if len(failing) > max_rows:
            lines.append(f"  … and {len(failing) - max_rows} more (results.json has them all)")
        return "\n".join(lines)


def judge(eval_id: str, rows: Iterable[dict[str, Any]], thresholds: dict[str, float]) -> Judgement:
    rows = list(rows)
    hard = eval_id in HARD_INVARIANTS
    return Judgement(eval=eval_id, threshold=thresholds.get(eval_id, DEFAULT_PASS_RATE), hard=hard,
                     rows=[r for r in rows if r["eval"] == eval_id],
                     violations=[r for r in rows if hard and eval_id in (r.get("hard_violations") or [])])


def summarize(rows: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, Any]:
    evals: dict[str, Any] = {}
    for eval_id in dict.fromkeys(r["eval"] for r in rows):
        j = judge(eval_id, rows, thresholds)
        evals[eval_id] = {"n": j.n, "passed": j.passed, "failed": j.failed, "not_exercised": j.not_exercised,
                          "incomplete": j.incomplete, "pass_rate": j.rate,
                          "pass_hat_k": j.pass_hat_k, "threshold": j.threshold, "hard": j.hard,
                          "hard_violations": len(j.violations), "ok": j.ok}
    done = [r for r in rows if r["requests"]]
    requests = sum(r["requests"] for r in rows)
    prompt_tokens = sum(r["prompt_tokens"] for r in rows)
    return {"samples": len(rows), "complete": sum(r["status"] == "complete" for r in rows),
            "incomplete": sum(r["status"] != "complete" for r in rows),
            "passed": sum(r["status"] == "complete" and r["passed"] is True for r in rows),
            "failed": sum(row_label(r) == FAIL for r in rows),
            "not_exercised": sum(r["status"] == "complete" and r.get("outcome") == NOT_EXERCISED for r in rows),
            "requests": requests, "prompt_tokens": prompt_tokens,
            "completion_tokens": sum(r["completion_tokens"] for r in rows),
            "prompt_tokens_per_request": round(prompt_tokens / requests, 1) if requests else None,
            "samples_with_requests": len(done), "evals_ok": sum(e["ok"] for e in evals.values()),
            "evals": evals}


# ---- the recorder ------------------------------------------------------------------------------

class RunRecorder:
    """Holds a run's rows and keeps results.json current (atomic, throttled snapshots).

    A sample that lands inside the throttle interval is written by a trailing flush at its end, so
    results.json is never more than `min_interval_s` behind, even when no later sample comes."""

    def __init__(self, path: Path, run: dict[str, Any], planned: Iterable[tuple[str, str, int]],
                 thresholds: dict[str, float], min_interval_s: float = 1.0) -> None:
        self.path = path
        self.run = dict(run)
        self.thresholds = thresholds
        self.rows: dict[SampleKey, dict[str, Any]] = {
            (eval_id, scenario, epoch): planned_row(eval_id, scenario, epoch) for eval_id, scenario, epoch in planned}
        self.finished_keys: set[SampleKey] = set()
        self.min_interval_s = min_interval_s
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer at a time; the final write is the last one
        self._flush_timer: threading.Timer | None = None
        self._closed = False
        self._t0 = time.monotonic()
        self.run.setdefault("started", now_iso())
        self.run.update(finished=None, interrupted=True, state="running")

    def record(self, row: dict[str, Any]) -> None:
        key = (row["eval"], row["scenario"], int(row["epoch"]))
        with self._lock:
            self.rows[key] = row
            self.finished_keys.add(key)
        if time.monotonic() - self._last_write >= self.min_interval_s:
            self.write()
        else:
            self._flush_later()

    def _flush_later(self) -> None:
        with self._lock:
            if self._flush_timer is not None or self._closed:
                return
            delay = max(0.0, self.min_interval_s - (time.monotonic() - self._last_write))
            self._flush_timer = threading.Timer(delay, self._flush)
            self._flush_timer.daemon = True
            self._flush_timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._flush_timer = None
        self.write()

    def set_log(self, log: str) -> None:
        """Point every finished row at the inspect log file (known once the eval ends)."""
        with self._lock:
            for key in self.finished_keys:
                self.rows[key]["log"] = log

    def results(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.rows.values())

    def document(self) -> dict[str, Any]:
        rows = [dict(r, verdict=row_label(r)) for r in self.results()]  # the label every output shows
        run = dict(self.run, wall_seconds=round(time.monotonic() - self._t0, 3))
        return {"run": run, "results": rows, "summary": summarize(rows, self.thresholds)}

    def write(self, final: bool = False) -> None:
        with self._write_lock:
            if self._closed:  # a trailing flush that lost the race with finish(): the final file stays
                return
            self._closed = final
            doc = self.document()
            write_json_atomic(self.path, doc)
            self._last_write = time.monotonic()

    def finish(self, interrupted: bool, **extra: Any) -> dict[str, Any]:
        with self._lock:
            timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
        self.run.update(finished=now_iso(), interrupted=interrupted,
                        state="interrupted" if interrupted else "finished", **extra)
        self.write(final=True)
        return self.document()
