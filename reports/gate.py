"""The promotion gate: rules from gate_rules.yaml applied to one run (optionally against the promoted
adapter's run and a baseline run). ``python -m reports gate RUN [--against promoted|RUN] [--baseline RUN] [--out FILE]``
prints PASS/FAIL and one line per failure, writes gate.json beside the run's results.json (or to --out),
and exits 0 (pass), 1 (fail) or 2 (bad input).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reports.analysis import (
    PairedRow,
    Pairing,
    RateRow,
    behaviour_rows,
    fmt_diff,
    fmt_interval,
    fmt_p,
    fmt_rate,
    pair_runs,
)
from reports.gate_rules import DEFAULT_RULES, hard_invariant_ids, load_rules, thresholds_for
from reports.jsonio import write_json
from reports.registry import DEFAULT_REGISTRY, load_entry_run, load_registry, promoted_entry
from reports.results import Run, load_run, tally


@dataclass
class Failure:
    behaviour: str
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class RuleResult:
    rule: str
    status: str  # "pass" | "fail" | "skipped"
    failures: list[Failure] = field(default_factory=list)
    note: str = ""


@dataclass
class GateResult:
    run: Run
    rules_file: str
    results: list[RuleResult]
    warnings: list[str]
    against: Run | None
    baseline: Run | None

    @property
    def passed(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "run_id": self.run.run_id,
            "results": str(self.run.path),
            "against_run_id": self.against.run_id if self.against else None,
            "baseline_run_id": self.baseline.run_id if self.baseline else None,
            "rules_file": self.rules_file,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "rules": [asdict(r) for r in self.results],
            "warnings": self.warnings,
        }


# --- the rules -------------------------------------------------------------------------------------


def rule_hard_invariants(run: Run, rules: dict[str, Any]) -> RuleResult:
    cfg = rules["hard_invariants"]
    invariants = hard_invariant_ids(rules)
    violations: dict[str, set[tuple[str, int]]] = {inv: set() for inv in invariants}
    evaluated = dict.fromkeys(invariants, 0)
    for o in run.outcomes:
        # Only a trajectory that reached the invariant's situation can break it: one that never said who it
        # is, or never connected to sin, is not exercised -- neither a violation nor evidence it holds.
        if o.eval in evaluated and o.complete and not o.not_exercised:
            evaluated[o.eval] += 1
        # A violation is the invariant's own check failing (the row's hard_violations, graded on every
        # sample). A failed sample of the invariant's own scenario can be a task left undone with the invariant
        # kept ("all with a correct alias, but the task was not done"): a threshold failure, not a violation.
        for v in o.hard_violations:
            violations.setdefault(v, set()).add((o.scenario, o.epoch))
    failures = []
    for inv, where in sorted(violations.items()):
        if len(where) > cfg["max_violations"]:
            shown = ", ".join(f"{s} epoch {e}" for s, e in sorted(where)[:4]) + (
                " …" if len(where) > 4 else ""
            )
            failures.append(
                Failure(
                    inv,
                    f"{len(where)} violations (allowed {cfg['max_violations']}): {shown}",
                    {"violations": len(where), "where": [list(w) for w in sorted(where)]},
                )
            )
        elif cfg["require_evaluated"] and inv in evaluated and evaluated[inv] == 0:
            failures.append(
                Failure(inv, "never evaluated: no complete sample of this hard invariant reached its situation",
                        {"complete": 0})
            )
    return RuleResult(
        "hard_invariants", "fail" if failures else "pass", failures, f"{len(invariants)} invariants"
    )


def measured(row: RateRow, measure: str) -> float:
    """What a threshold is compared with: the Wilson lower bound (default) or the plain pass rate."""
    return row.low if measure == "wilson_low" else row.rate


def rule_thresholds(run: Run, rules: dict[str, Any]) -> RuleResult:
    """Hard invariants are left to rule (a): a lower bound can never reach their 1.0."""
    conf, measure = rules["confidence"], rules["thresholds"]["measure"]
    hard = set(hard_invariant_ids(rules))
    rows = [r for r in behaviour_rows(run, confidence=conf) if r.group not in hard]
    limits, source = thresholds_for(rules, [r.group for r in rows])
    what = f"Wilson {conf:.0%} lower bound" if measure == "wilson_low" else "pass rate"
    failures = []
    for r in rows:
        limit, value = limits[r.group], measured(r, measure)
        if not value >= limit:  # NaN (no samples) fails too
            failures.append(
                Failure(
                    r.group,
                    f"{what} {value:.3f} < threshold {limit:.3f} "
                    f"({r.passed}/{r.n} passed = {fmt_rate(r.rate)}, Wilson {fmt_interval(r.low, r.high)}, "
                    f"{r.not_exercised} not exercised, {r.incomplete} incomplete)",
                    {
                        "measure": measure,
                        "value": value,
                        "threshold": limit,
                        "rate": r.rate,
                        "low": r.low,
                        "high": r.high,
                        "passed": r.passed,
                        "n": r.n,
                        "not_exercised": r.not_exercised,
                        "incomplete": r.incomplete,
                    },
                )
            )
    if not run.outcomes:
        failures.append(Failure("overall", "the run has no results to judge"))
    note = f"{len(rows)} behaviours ({what}), hard invariants judged by hard_invariants; thresholds from {source}"
    return RuleResult("thresholds", "fail" if failures else "pass", failures, note)


def _pairing(reference: Run, run: Run, label: str, rules: dict[str, Any], warnings: list[str]) -> Pairing:
    pairing = pair_runs(reference, run, label, run.run_id, n_boot=rules["bootstrap"]["n"],
                        seed=rules["bootstrap"]["seed"], confidence=rules["confidence"], alpha=rules["alpha"])
    warnings.extend(pairing.warnings)
    return pairing


def _test_numbers(r: PairedRow) -> dict[str, Any]:
    d, v = r.difference, r.verdict
    return {"diff": d.diff, "ci_low": d.low, "ci_high": d.high, "pairs": v.pairs, "lost": v.lost, "won": v.won,
            "p_mcnemar": v.p, "p_holm": v.p_holm, "alpha": v.alpha, "verdict": v.verdict}


def rule_no_regression(
    run: Run, against: Run | None, rules: dict[str, Any], warnings: list[str], why_none: str
) -> RuleResult:
    if against is None:
        return RuleResult("no_regression", "skipped", note=why_none)
    pairing = _pairing(against, run, f"promoted {against.run_id}", rules, warnings)
    failures = []
    for r in pairing.behaviours:
        if r.verdict.worse:
            d, v = r.difference, r.verdict
            failures.append(
                Failure(
                    r.group,
                    f"worse than {against.run_id}: lost {v.lost} / won {v.won} of {v.pairs} pairs, exact McNemar p "
                    f"{fmt_p(v.p)}, Holm p {fmt_p(v.p_holm)} < {v.alpha:g}; Δ {fmt_diff(d.diff)} "
                    f"{fmt_interval(d.low, d.high)}",
                    _test_numbers(r),
                )
            )
    return RuleResult("no_regression", "fail" if failures else "pass", failures, f"against {against.run_id}")


def rule_better_than_baseline(
    run: Run, baseline: Run | None, rules: dict[str, Any], warnings: list[str]
) -> RuleResult:
    cfg = rules["better_than_baseline"]
    if baseline is None:
        if cfg["required"]:
            return RuleResult(
                "better_than_baseline",
                "fail",
                [Failure("overall", "no --baseline given and the rules require one")],
            )
        return RuleResult("better_than_baseline", "skipped", note="no --baseline")
    overall = _pairing(baseline, run, f"baseline {baseline.run_id}", rules, warnings).overall
    d, v = overall.difference, overall.verdict
    msg = (
        f"vs baseline {baseline.run_id}: won {v.won} / lost {v.lost} of {v.pairs} pairs ({d.clusters} scenarios), "
        f"exact McNemar p {fmt_p(v.p)}; Δ {fmt_diff(d.diff)} {fmt_interval(d.low, d.high)}; "
        f"needs p < {v.alpha:g} with more won than lost"
    )
    if v.better:
        return RuleResult("better_than_baseline", "pass", note=msg)
    return RuleResult("better_than_baseline", "fail", [Failure("overall", msg, _test_numbers(overall))])


def rule_complete(run: Run, rules: dict[str, Any]) -> RuleResult:
    cfg = rules["complete"]
    t = tally(run.outcomes)
    failures = []
    frac = t.incomplete / t.n if t.n else math.nan
    if t.n == 0:
        failures.append(Failure("overall", "the run has no results"))
    elif frac > cfg["max_incomplete_fraction"]:
        failures.append(
            Failure(
                "overall",
                f"{t.incomplete}/{t.n} samples incomplete ({frac:.1%} > {cfg['max_incomplete_fraction']:.1%})",
                {"incomplete": t.incomplete, "n": t.n, "fraction": frac},
            )
        )
    if run.interrupted and not cfg["allow_interrupted"]:
        still_running = run.meta.get("state") == "running" and not run.meta.get("finished")
        why = (
            "the run is still running (or was killed): wait for it to finish"
            if still_running
            else ("the run was interrupted before it finished")
        )
        failures.append(Failure("overall", why))
    note = f"{t.incomplete}/{t.n} incomplete"
    return RuleResult("complete", "fail" if failures else "pass", failures, note)


# --- driver ---------------------------------------------------------------------------------------


def resolve_against(against: str | None, registry: Path) -> tuple[Run | None, str]:
    """``promoted`` -> the registry's promoted run (None when nothing is promoted yet); else a run."""
    if against is None:
        return None, "no --against"
    if against == "promoted":
        entry = promoted_entry(load_registry(registry))
        if entry is None:
            return None, f"no promoted adapter in {registry} yet"
        return load_entry_run(entry), ""
    return load_run(against), ""


def evaluate_gate(
    run: Run,
    rules: dict[str, Any],
    rules_file: str,
    against: Run | None = None,
    baseline: Run | None = None,
    why_no_against: str = "no --against",
) -> GateResult:
    warnings: list[str] = []
    results = []
    if rules["hard_invariants"]["enabled"]:
        results.append(rule_hard_invariants(run, rules))
    if rules["thresholds"]["enabled"]:
        results.append(rule_thresholds(run, rules))
    if rules["no_regression"]["enabled"]:
        results.append(rule_no_regression(run, against, rules, warnings, why_no_against))
    if rules["better_than_baseline"]["enabled"]:
        results.append(rule_better_than_baseline(run, baseline, rules, warnings))
    if rules["complete"]["enabled"]:
        results.append(rule_complete(run, rules))
    return GateResult(run, rules_file, results, warnings, against, baseline)


def format_verdict(g: GateResult) -> str:
    lines = [f"{g.verdict}  gate for run {g.run.run_id}"]
    for r in g.results:
        for f in r.failures:
            lines.append(f"  {r.rule:<21} {f.behaviour}: {f.message}")
    passed = [r.rule for r in g.results if r.status == "pass"]
    skipped = [f"{r.rule} ({r.note})" for r in g.results if r.status == "skipped"]
    if passed:
        lines.append("passed: " + ", ".join(passed))
    if skipped:
        lines.append("skipped: " + ", ".join(skipped))
    lines += [f"warning: {w}" for w in g.warnings]
    return "\n".join(lines)


def write_gate_json(g: GateResult, out: Path | None = None) -> Path:
    """gate.json beside the run's results.json (what `reports show` and `compare` read), or `out`."""
    return write_json(out or g.run.dir / "gate.json", g.to_json())


def gate_run(
    run_arg: str,
    against: str | None = None,
    baseline: str | None = None,
    rules_path: str | None = None,
    registry: Path | None = None,
) -> GateResult:
    rules = load_rules(Path(rules_path) if rules_path else None)
    run = load_run(run_arg)
    against_run, why = resolve_against(against, registry or DEFAULT_REGISTRY)
    if against_run is not None and against_run.path.resolve() == run.path.resolve():
        against_run, why = None, f"the promoted run is {run.run_id} itself"
    baseline_run = load_run(baseline) if baseline else None
    return evaluate_gate(
        run, rules, rules_path or str(DEFAULT_RULES), against_run, baseline_run, why or "no --against"
    )
