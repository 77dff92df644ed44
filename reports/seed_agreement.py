"""Seed agreement: two runs of the same arm (same model, adapter bytes, prompt, backend, temperature and
epochs) with different seeds, and the share of behaviours on which their verdicts agree. A verdict that
flips with the seed was never the adapter's.

Two verdicts per behaviour: its threshold (what `pytest evals/` and the gate's thresholds rule judge: hard
invariants every try, the others the gate's measure against evals/thresholds.yaml), and, when both runs are
paired against the same reference arm, the rule's better / worse / no difference (reports/significance.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.analysis import RateRow, behaviour_rows
from reports.gate_rules import hard_invariant_ids, load_rules, thresholds_for
from reports.results import Run

SAME_ARM = ("backend", "model", "adapter", "adapter_sha256", "system_prompt", "temperature", "epochs")


def same_arm_other_seed(a: Run, b: Run) -> bool:
    return (all(a.meta.get(k) == b.meta.get(k) for k in SAME_ARM)
            and a.meta.get("seed") is not None and a.meta.get("seed") != b.meta.get("seed"))


@dataclass(frozen=True)
class Agreement:
    what: str  # "threshold" or "vs <reference arm>"
    behaviours: int
    agree: int
    disagree: list[str]

    @property
    def share(self) -> float:
        return self.agree / self.behaviours if self.behaviours else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.what, "behaviours": self.behaviours, "agree": self.agree,
                "share": None if not self.behaviours else self.share, "disagree": self.disagree}


@dataclass(frozen=True)
class SeedAgreement:
    arms: tuple[str, str]
    seeds: tuple[Any, Any]
    agreements: list[Agreement]

    def to_json(self) -> dict[str, Any]:
        return {"arms": list(self.arms), "seeds": list(self.seeds), "agreements": [a.to_json() for a in self.agreements]}

    def line(self) -> str:
        parts = [f"{a.what} verdicts agree on {a.agree}/{a.behaviours} behaviours ({a.share:.0%})"
                 + (f", differ on {', '.join(a.disagree)}" if a.disagree else "") for a in self.agreements]
        return f"seed agreement {self.arms[0]} (seed {self.seeds[0]}) vs {self.arms[1]} (seed {self.seeds[1]}): " + "; ".join(parts)


def threshold_verdicts(run: Run, rules: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """Per behaviour: did this run meet its bar (the gate's thresholds rule; hard invariants: every try)."""
    rules = dict(rules or load_rules())
    rows: list[RateRow] = behaviour_rows(run, confidence=rules["confidence"])
    limits, _ = thresholds_for(rules, [r.group for r in rows])
    hard, measure = set(hard_invariant_ids(rules)), rules["thresholds"]["measure"]
    out = {}
    for r in rows:
        if r.group in hard:
            out[r.group] = r.n > 0 and r.passed == r.n
        else:
            value = r.low if measure == "wilson_low" else r.rate
            out[r.group] = value >= limits[r.group]
    return out


def agreement(what: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> Agreement:
    common = sorted(set(a) & set(b))
    differ = [k for k in common if a[k] != b[k]]
    return Agreement(what, len(common), len(common) - len(differ), differ)
