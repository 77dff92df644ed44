"""Load and validate one run's results.json; group its outcomes.

A run is named by its directory, its results.json path, or its run id under the runs root
(``$MADCAT_RUNS_DIR``, else ``./reports/runs``, else the ``runs/`` folder beside this module).
Incomplete samples (no verdict: a server error, a limit) and complete ones whose behaviour was not
exercised are kept: both count as *not passed* everywhere and their numbers are reported.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.results import Outcome, SampleKey, read_rows
from core.safe_io import JSON_ERRORS, InputError, json_reason, read_text

RUN_HINT = "run `pytest evals/` first"

@dataclass(frozen=True)
class Tally:
    n: int
    passed: int
    incomplete: int
    not_exercised: int = 0

    @property
    def failed(self) -> int:
        return self.n - self.passed - self.incomplete - self.not_exercised

    @property
    def rate(self) -> float:
        return self.passed / self.n if self.n else float("nan")


@dataclass(frozen=True)
class Run:
    path: Path  # the results.json
    meta: dict[str, Any]
    outcomes: tuple[Outcome, ...]
    summary: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def epochs(self) -> int:
        """Declared epochs, else the largest number of samples any (eval, scenario) has."""
        declared = self.meta.get("epochs")
        if isinstance(declared, int) and declared > 0:
            return declared
        counts = defaultdict(int)
        for o in self.outcomes:
            counts[(o.eval, o.scenario)] += 1
        return max(counts.values(), default=1)

    @property
    def adapter_label(self) -> str | None:
        """The adapter's short name (a served LoRA name, or a local adapter dir's basename); None for the base."""
        adapter = self.meta.get("adapter")
        if not adapter or str(adapter).lower() == "none":
            return None
        return Path(str(adapter)).name if "/" in str(adapter) else str(adapter)

    @property
    def interrupted(self) -> bool:
        return bool(self.meta.get("interrupted", False))

    def evals(self) -> list[str]:
        return sorted({o.eval for o in self.outcomes})

    def logs(self) -> list[str]:
        return sorted({o.log for o in self.outcomes if o.log})

    def resolve_log(self, log: str) -> Path:
        """A log path as written by the runner: absolute, relative to the run dir, or to the cwd."""
        p = Path(log)
        if p.is_absolute():
            return p
        beside = self.dir / p
        return beside if beside.exists() or not p.exists() else p.resolve()


def runs_root() -> Path:
    env = os.environ.get("MADCAT_RUNS_DIR")
    if env:
        return Path(env)
    cwd_runs = Path("reports/runs")
    if cwd_runs.is_dir():
        return cwd_runs
    return Path(__file__).resolve().parent / "runs"


def find_results(run: str | Path) -> Path:
    """Turn a run dir, a results.json path or a run id into the results.json path (or BadInput)."""
    given = Path(run)
    candidates = [given / "results.json"] if given.is_dir() else []
    if given.is_file():
        candidates.insert(0, given)
    if not given.is_absolute() and len(given.parts) == 1:
        candidates.append(runs_root() / given / "results.json")
    for c in candidates:
        if c.is_file():
            return c
    raise BadInput(f"reports: {run} has no results.json — {RUN_HINT} (looked in {runs_root()} for run ids)")


def parse_results(doc: Any, path: Path) -> Run:
    """A parsed results.json document as a Run (core.results.read_rows validates it)."""
    outcomes = read_rows(doc, path)  # validates first
    return Run(path=path, meta=dict(doc["run"]), outcomes=outcomes, summary=dict(doc.get("summary") or {}))


def load_run(run: str | Path) -> Run:
    path = find_results(run)
    try:
        text = read_text(path, "results.json")
    except InputError as e:
        raise BadInput(f"reports: {e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(
            f"reports: {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}) — {RUN_HINT}"
        ) from None
    except JSON_ERRORS as e:  # nested too deeply to parse, an integer of thousands of digits
        raise BadInput(f"reports: {path} is {json_reason(e)} — {RUN_HINT}") from None
    return parse_results(doc, path)


def tally(outcomes: Iterable[Outcome]) -> Tally:
    n = passed = incomplete = not_exercised = 0
    for o in outcomes:
        n += 1
        passed += o.counted_pass
        incomplete += not o.complete
        not_exercised += o.not_exercised
    return Tally(n=n, passed=passed, incomplete=incomplete, not_exercised=not_exercised)


def by_eval(outcomes: Iterable[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.eval].append(o)
    return dict(sorted(groups.items()))


def by_category(outcomes: Iterable[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.category].append(o)
    return dict(sorted(groups.items()))


def by_scenario(outcomes: Iterable[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.scenario].append(o)
    return dict(sorted(groups.items()))


def passes_per_scenario(outcomes: Iterable[Outcome]) -> list[tuple[int, int]]:
    """(samples, counted passes) per scenario: the input of pass^k."""
    return [(len(group), sum(o.counted_pass for o in group)) for group in by_scenario(outcomes).values()]


def outcome_map(outcomes: Iterable[Outcome]) -> dict[SampleKey, bool]:
    return {o.key: o.counted_pass for o in outcomes}


def prompt_tokens_per_request(outcomes: Iterable[Outcome]) -> float | None:
    """Prompt tokens per model request over the run (weighted by requests); None when nothing was sent."""
    tokens = requests = 0
    for o in outcomes:
        if o.requests:
            tokens += o.prompt_tokens
            requests += o.requests
    return tokens / requests if requests else None
