"""Teacher-forced divergence between two deployments of the same adapter (e.g. AWQ+LoRA vs BF16+LoRA).

Each deployment scores the same reference trajectories token by token (vLLM ``prompt_logprobs``).
The serving code writes one JSON file per deployment in this shape::

    {"trajectories": [{"id": str,
                       "tokens": [str, ...],                 # the reference tokens, same on both sides
                       "logprobs": [float | null, ...],      # log p(token | prefix); null where none (1st token)
                       "top1": [str | null, ...]}]}          # optional: the deployment's argmax token there

Only per-token logprobs of the reference token are assumed, not full distributions, so the true KL
cannot be computed. We report the token-level |Δ logprob| (mean, median, p95, max) as the divergence
measure, and the mean signed Δ = logp_A - logp_B, which is a Monte Carlo estimate of KL(A‖B) per token
only if the references were sampled from A (otherwise read it as a bias: which side finds them likelier).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInput
from core.safe_io import JSON_ERRORS, json_reason


@dataclass(frozen=True)
class Trajectory:
    id: str
    tokens: list[str]
    logprobs: list[float | None]
    top1: list[str | None] | None


def _is_logprob(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v))


def parse_logprobs(doc: Any, source: str) -> dict[str, Trajectory]:
    """Validate the shape above; BadInput (one line) on anything else."""
    if not isinstance(doc, dict) or not isinstance(doc.get("trajectories"), list):
        raise BadInput(f"reports: {source}: expected an object with a 'trajectories' list")
    out: dict[str, Trajectory] = {}
    for i, t in enumerate(doc["trajectories"]):
        where = f"reports: {source}: trajectories[{i}]"
        if not isinstance(t, dict) or not isinstance(t.get("id"), str):
            raise BadInput(f"{where}: needs a string 'id'")
        tokens, logprobs, top1 = t.get("tokens"), t.get("logprobs"), t.get("top1")
        if not isinstance(tokens, list) or not all(isinstance(x, str) for x in tokens):
            raise BadInput(f"{where} ({t['id']}): 'tokens' must be a list of strings")
        if not isinstance(logprobs, list) or not all(_is_logprob(x) for x in logprobs):
            raise BadInput(f"{where} ({t['id']}): 'logprobs' must be a list of finite numbers or null")
        if len(logprobs) != len(tokens):
            raise BadInput(f"{where} ({t['id']}): {len(tokens)} tokens but {len(logprobs)} logprobs")
        if top1 is not None and (
            not isinstance(top1, list)
            or len(top1) != len(tokens)
            or not all(x is None or isinstance(x, str) for x in top1)
        ):
            raise BadInput(f"{where} ({t['id']}): 'top1' must be a list of strings/null, one per token")
        if t["id"] in out:
            raise BadInput(f"{where}: duplicate id {t['id']!r}")
        out[t["id"]] = Trajectory(t["id"], tokens, [None if x is None else float(x) for x in logprobs], top1)
    return out


def load_logprobs(path: str | Path) -> dict[str, Trajectory]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(
            f"reports: {p} does not exist — produce it with the serving logprob scorer first"
        ) from None
    except JSON_ERRORS as e:  # not UTF-8, not JSON, nested too deeply, an integer of thousands of digits
        raise BadInput(f"reports: {p} is {json_reason(e)}") from None
    except OSError as e:
        raise BadInput(f"reports: cannot read {p}: {e.strerror or e}") from None
    return parse_logprobs(doc, str(p))


@dataclass(frozen=True)
class WorstToken:
    id: str
    position: int
    token: str
    a: float
    b: float


@dataclass(frozen=True)
class DivergenceSummary:
    trajectories: int  # compared (present on both sides)
    tokens: int  # positions with a logprob on both sides
    skipped_positions: int  # positions where either side had null
    unmatched: list[str]  # ids present on one side only
    mean_abs: float
    median_abs: float
    p95_abs: float
    max_abs: float
    mean_delta: float  # mean of logp_A - logp_B
    kl_method: str
    top1_positions: int  # positions where both sides gave a top-1 token
    top1_differs: float | None  # fraction of those where the top-1 tokens differ
    worst: list[WorstToken]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


KL_METHOD = "token-level |Δ logprob| of the reference tokens (full distributions not available)"


def summarise_divergence(
    a: dict[str, Trajectory], b: dict[str, Trajectory], worst: int = 5
) -> DivergenceSummary:
    common = sorted(set(a) & set(b))
    if not common:
        raise BadInput(
            "reports: the two logprob files share no trajectory id — were they scored on the same references?"
        )
    deltas: list[float] = []
    where: list[tuple[str, int, str, float, float]] = []
    skipped = top1_n = top1_diff = 0
    for tid in common:
        ta, tb = a[tid], b[tid]
        if ta.tokens != tb.tokens:
            pos = next(
                (i for i, (x, y) in enumerate(zip(ta.tokens, tb.tokens, strict=False)) if x != y),
                min(len(ta.tokens), len(tb.tokens)),
            )
            raise BadInput(
                f"reports: trajectory {tid!r}: the token sequences differ from position {pos} — "
                "both deployments must score the same reference tokens with the same tokenizer"
            )
        for i, (la, lb) in enumerate(zip(ta.logprobs, tb.logprobs, strict=True)):
            if la is None or lb is None:
                skipped += 1
            else:
                deltas.append(la - lb)
                where.append((tid, i, ta.tokens[i], la, lb))
            if (
                ta.top1 is not None
                and tb.top1 is not None
                and ta.top1[i] is not None
                and tb.top1[i] is not None
            ):
                top1_n += 1
                top1_diff += ta.top1[i] != tb.top1[i]
    if not deltas:
        raise BadInput("reports: no token has a logprob on both sides — nothing to compare")
    d = np.asarray(deltas)
    ad = np.abs(d)
    order = np.argsort(-ad, kind="stable")[:worst]
    return DivergenceSummary(
        trajectories=len(common),
        tokens=len(deltas),
        skipped_positions=skipped,
        unmatched=sorted(set(a) ^ set(b)),
        mean_abs=float(ad.mean()),
        median_abs=float(np.median(ad)),
        p95_abs=float(np.percentile(ad, 95)),
        max_abs=float(ad.max()),
        mean_delta=float(d.mean()),
        kl_method=KL_METHOD,
        top1_positions=top1_n,
        top1_differs=(top1_diff / top1_n) if top1_n else None,
        worst=[WorstToken(*where[j]) for j in order],
    )


def format_summary(s: DivergenceSummary, names: tuple[str, str] = ("A", "B")) -> str:
    a, b = names
    lines = [
        f"teacher-forced divergence {a} vs {b}: {s.trajectories} trajectories, {s.tokens} tokens"
        + (f" ({s.skipped_positions} positions without a logprob skipped)" if s.skipped_positions else ""),
        f"  |Δ logprob|  mean {s.mean_abs:.4f}  median {s.median_abs:.4f}  p95 {s.p95_abs:.4f}  max {s.max_abs:.4f}",
        f"  mean logp_{a} - logp_{b}: {s.mean_delta:+.4f} (a KL({a}‖{b}) estimate only if the references came from {a})",
    ]
    if s.top1_differs is not None:
        lines.append(f"  top-1 token differs at {s.top1_differs:.2%} of {s.top1_positions} positions")
    if s.unmatched:
        lines.append(
            f"  warning: {len(s.unmatched)} trajectory ids on one side only: {', '.join(s.unmatched[:5])}"
        )
    for w in s.worst:
        lines.append(f"  worst: {w.id}[{w.position}] {w.token!r}  {a} {w.a:.3f}  {b} {w.b:.3f}")
    return "\n".join(lines)
