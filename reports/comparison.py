"""A comparison of runs as data: its arms (one run each, with their rows) and the pairings against the
reference arm, and the comparison.json that `python -m reports compare` writes from it."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from reports.analysis import OVERALL, PairedRow, Pairing, RateRow
from reports.results import Outcome, Run, prompt_tokens_per_request, tally
from reports.seed_agreement import SeedAgreement
from reports.significance import rule_text


@dataclass(frozen=True)
class Arm:
    name: str
    run: Run
    behaviours: list[RateRow]
    categories: list[RateRow]  # categories, then "overall"

    @property
    def overall(self) -> RateRow:
        return self.categories[-1]

    @property
    def prompt_tokens_per_request(self) -> float | None:
        return prompt_tokens_per_request(self.run.outcomes)

    def gate(self) -> dict[str, Any] | None:
        """The run's gate.json (written by `python -m reports gate`), or None when absent or unreadable."""
        try:
            doc = json.loads((self.run.dir / "gate.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        return doc if isinstance(doc, dict) and doc.get("verdict") in ("PASS", "FAIL") else None

    def gate_verdict(self) -> str | None:
        g = self.gate()
        return str(g["verdict"]) if g else None


@dataclass(frozen=True)
class Comparison:
    arms: list[Arm]
    pairings: list[Pairing]  # pairings[i] is arms[i + 1] against arms[0]
    k: int
    confidence: float
    n_boot: int
    seed: int
    alpha: float = 0.05  # the gate's (reports/gate_rules.yaml), for the rule (reports/significance.py)
    seed_agreement: list[SeedAgreement] = dataclasses.field(default_factory=list)
    spec_notes: list[str] = dataclasses.field(default_factory=list)  # which spec graded which arm
    label: str = ""  # e.g. "as recorded" / "re-graded with spec …" when --regrade shows both

    @property
    def warnings(self) -> list[str]:
        ref = self.arms[0].name
        return self.spec_notes + [
            f"{arm.name} vs {ref}: {w}"
            for arm, p in zip(self.arms[1:], self.pairings, strict=True)
            for w in p.warnings
        ]


def significant(row: PairedRow) -> bool:
    """Whether the row differs under the project's one rule (reports/significance.py), at the alpha it
    was paired with."""
    return row.verdict.significant


def changed_samples(ref: Run, arm: Run) -> list[tuple[Outcome, Outcome]]:
    """(reference, arm) outcomes of every paired sample that passed in one arm only, sorted."""
    mine = {o.key: o for o in arm.outcomes}
    pairs = [(o, mine[o.key]) for o in ref.outcomes if o.key in mine]
    return sorted(((a, b) for a, b in pairs if a.counted_pass != b.counted_pass), key=lambda ab: ab[0].key)


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _rate_json(r: RateRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": r.n,
        "passed": r.passed,
        "failed": r.failed,
        "not_exercised": r.not_exercised,
        "incomplete": r.incomplete,
        "rate": _num(r.rate),
        "wilson_low": r.low,
        "wilson_high": r.high,
    }
    if r.pass_k is not None:
        out["pass_k"] = _num(r.pass_k.value)
        out["pass_k_scenarios"] = r.pass_k.scenarios
        out["pass_k_skipped_scenarios"] = r.pass_k.skipped
    return out


def _paired_json(r: PairedRow) -> dict[str, Any]:
    d, m = r.difference, r.mcnemar
    return {
        "pairs": m.pairs,
        "clusters": d.clusters,
        "ref_only_passed": m.a_only,
        "arm_only_passed": m.b_only,
        "diff": _num(d.diff),
        "ci_low": _num(d.low),
        "ci_high": _num(d.high),
        "p_mcnemar": m.p_value,
        "p_holm": _num(r.p_holm),
        "verdict": r.verdict.verdict,
        "significant": r.verdict.significant,
        "holm_family": r.verdict.family,
        "min_detectable_diff": _num(r.verdict.min_detectable),
    }


def to_json(c: Comparison) -> dict[str, Any]:
    arms = []
    for arm in c.arms:
        run, t = arm.run, tally(arm.run.outcomes)
        arms.append(
            {
                "name": arm.name,
                "run_id": run.run_id,
                "results": str(run.path),
                **{
                    f: run.meta.get(f)
                    for f in (
                        "adapter",
                        "adapter_sha256",
                        "model",
                        "backend",
                        "system_prompt",
                        "epochs",
                        "seed",
                        "temperature",
                        "spec_sha256",
                    )
                },
                "samples": t.n,
                "not_exercised": t.not_exercised,
                "incomplete": t.incomplete,
                "interrupted": run.interrupted,
                "requests": sum(o.requests for o in run.outcomes),
                "prompt_tokens": sum(o.prompt_tokens for o in run.outcomes),
                "completion_tokens": sum(o.completion_tokens for o in run.outcomes),
                "prompt_tokens_per_request": _num(arm.prompt_tokens_per_request),
                "gate": arm.gate_verdict(),
                "logs": run.logs(),
                "behaviours": {r.group: _rate_json(r) for r in arm.behaviours},
                "categories": {r.group: _rate_json(r) for r in arm.categories if r.group != OVERALL},
                "overall": _rate_json(arm.overall),
            }
        )
    paired = []
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        paired.append(
            {
                "arm": arm.name,
                "against": c.arms[0].name,
                "only_in_reference": p.only_a,
                "only_in_arm": p.only_b,
                "behaviours": {r.group: _paired_json(r) for r in p.behaviours},
                "overall": _paired_json(p.overall),
                "better": [r.group for r in p.behaviours if r.verdict.better],
                "worse": [r.group for r in p.behaviours if r.verdict.worse],
            }
        )
    return {
        "label": c.label or None,
        "rule": {"alpha": c.alpha, "text": rule_text(c.alpha), "module": "reports/significance.py"},
        "arms": arms,
        "paired": paired,
        "seed_agreement": [a.to_json() for a in c.seed_agreement],
        "k": c.k,
        "confidence": c.confidence,
        "bootstrap": {"n": c.n_boot, "seed": c.seed, "cluster": "scenario"},
        "alpha": c.alpha,
        "warnings": c.warnings,
    }


# --- document ------------------------------------------------------------------------------------
