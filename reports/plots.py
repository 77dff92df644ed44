"""Bar charts of pass rates with Wilson error bars, rendered to PNG bytes (matplotlib, Agg, no pyplot)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure


@dataclass(frozen=True)
class Series:
    name: str
    rates: Sequence[float]  # NaN where the arm has no sample in that group
    intervals: Sequence[tuple[float, float]]


def rate_bars(groups: Sequence[str], series: Sequence[Series], title: str) -> bytes:
    """Grouped bars (one colour per arm) with asymmetric error bars; horizontal when groups are many."""
    horizontal = len(groups) > 8
    n_series = max(1, len(series))
    width = 0.8 / n_series
    if horizontal:
        fig = Figure(figsize=(8.5, 1.2 + 0.22 * len(groups) * max(1.0, n_series / 2)), dpi=100)
    else:
        fig = Figure(figsize=(max(6.0, 0.9 * len(groups) * max(1.0, n_series / 2)), 4.2), dpi=100)
    ax = fig.subplots()
    for s_idx, s in enumerate(series):
        pos = [g + (s_idx - (n_series - 1) / 2) * width for g in range(len(groups))]
        vals = [0.0 if math.isnan(r) else r for r in s.rates]
        lo = [0.0 if math.isnan(r) else r - iv[0] for r, iv in zip(s.rates, s.intervals, strict=True)]
        hi = [0.0 if math.isnan(r) else iv[1] - r for r, iv in zip(s.rates, s.intervals, strict=True)]
        if horizontal:
            ax.barh(pos, vals, height=width, xerr=[lo, hi], capsize=2, label=s.name)
        else:
            ax.bar(pos, vals, width=width, yerr=[lo, hi], capsize=3, label=s.name)
    ticks = list(range(len(groups)))
    if horizontal:
        ax.set_yticks(ticks, list(groups), fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("pass rate (Wilson 95% interval)")
    else:
        ax.set_xticks(ticks, list(groups), rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("pass rate (Wilson 95% interval)")
    ax.set_title(title, fontsize=10, pad=18 if len(series) > 1 else 6)
    if len(series) > 1:  # above the axes, where no bar can hide under it
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
