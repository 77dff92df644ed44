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


@dataclass(frozen=True)
class Effect:
    """One behaviour's paired difference (arm - reference) with its interval, and whether it is significant."""

    group: str
    diff: float  # NaN when no pair
    low: float
    high: float
    significant: bool


def forest_plot(effects: Sequence[Effect], title: str, xlabel: str) -> bytes:
    """One row per behaviour: the difference as a dot, its interval as a line, 0 as a dashed line; a
    significant difference is a filled diamond (green better, red worse), the rest hollow grey circles."""
    fig = Figure(figsize=(9.0, 1.3 + 0.3 * max(1, len(effects))), dpi=100)
    ax = fig.subplots()
    ax.axvline(0.0, color="#555", linestyle="--", linewidth=1)
    for y, e in enumerate(effects):
        if math.isnan(e.diff):
            ax.text(0.0, y, "no pairs", ha="center", va="center", fontsize=7, color="#888")
            continue
        colour = ("#2e7d32" if e.diff > 0 else "#c62828") if e.significant else "#8a8a8a"
        ax.plot([e.low, e.high], [y, y], color=colour, linewidth=2.2 if e.significant else 1.4)
        if e.significant:
            ax.plot([e.diff], [y], marker="D", markersize=7, color=colour)
        else:
            ax.plot([e.diff], [y], marker="o", markersize=6, markerfacecolor="white", markeredgecolor=colour)
    ax.set_yticks(list(range(len(effects))), [e.group + (" *" if e.significant else "") for e in effects],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(len(effects) - 0.5, -0.5)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="#eee")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
