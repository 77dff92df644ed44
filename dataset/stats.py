"""Dataset statistics: a markdown report and one PNG (examples per category and behaviour, turns and
tool calls per example, the tool histogram, token lengths)."""

from __future__ import annotations

import io
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.safe_io import write_bytes_atomic, write_text_atomic
from dataset.generators import CATEGORIES
from evals.catalog import EVALS


@dataclass
class Stats:
    examples: int
    categories: Counter
    behaviours: Counter
    recipes: Counter
    sources: Counter
    assistant_turns: list[int]
    user_turns: list[int]
    tool_calls: list[int]
    tools: Counter
    tokens: list[int] = field(default_factory=list)
    tokenizer: str | None = None


def collect(lines: Sequence[dict[str, Any]], token_counts: Sequence[int] | None = None,
            tokenizer: str | None = None) -> Stats:
    categories: Counter = Counter()
    behaviours: Counter = Counter()
    recipes: Counter = Counter()
    sources: Counter = Counter()
    tools: Counter = Counter()
    assistant_turns, user_turns, calls = [], [], []
    for line in lines:
        meta = line.get("meta") or {}
        categories[meta.get("category") or "(none)"] += 1
        behaviours.update(meta.get("behaviours") or [])
        recipes[f"{meta.get('category', '?')}/{meta.get('recipe') or meta.get('source') or '?'}"] += 1
        sources[meta.get("source") or "(unknown)"] += 1
        messages = line.get("messages") or []
        assistant_turns.append(sum(1 for m in messages if m.get("role") == "assistant"))
        user_turns.append(sum(1 for m in messages if m.get("role") == "user"))
        n = 0
        for m in messages:
            for c in m.get("tool_calls") or []:
                tools[(c.get("function") or {}).get("name", "?")] += 1
                n += 1
        calls.append(n)
    return Stats(len(lines), categories, behaviours, recipes, sources, assistant_turns, user_turns, calls, tools,
                 list(token_counts or []), tokenizer)


def _spread(values: Sequence[int]) -> str:
    if not values:
        return "-"
    return (f"min {min(values)}, median {statistics.median(values):g}, mean {statistics.fmean(values):.1f}, "
            f"max {max(values)}")


def markdown(stats: Stats, name: str, plot: str | None = None) -> str:
    out = [f"# Dataset statistics: {name}", "", f"{stats.examples} examples "
           f"({', '.join(f'{n} {s}' for s, n in sorted(stats.sources.items()))}).", ""]
    if plot:
        out += [f"![plots]({plot})", ""]
    out += ["## Examples per category", "", "| category | examples |", "|---|---:|"]
    cats = [c for c in CATEGORIES if stats.categories[c]] + sorted(set(stats.categories) - set(CATEGORIES))
    out += [f"| {c} | {stats.categories[c]} |" for c in cats]
    out += ["", "## Examples per behaviour", "", "Lines whose `meta.behaviours` list the eval (each passes its grader).",
            "", "| behaviour | examples |", "|---|---:|"]
    out += [f"| {b} | {stats.behaviours[b]} |" for b in EVALS]
    extra = sorted(set(stats.behaviours) - set(EVALS))
    out += [f"| {b} (not in the catalog) | {stats.behaviours[b]} |" for b in extra]
    out += ["", "## Conversations", "", f"- assistant turns per example: {_spread(stats.assistant_turns)}",
            f"- user turns per example: {_spread(stats.user_turns)}",
            f"- tool calls per example: {_spread(stats.tool_calls)}",
            f"- examples with follow-up user turns: {sum(1 for u in stats.user_turns if u > 1)}", ""]
    out += ["## Tool histogram", "", "| tool | calls |", "|---|---:|"]
    out += [f"| {t} | {n} |" for t, n in sorted(stats.tools.items(), key=lambda kv: (-kv[1], kv[0]))]
    out += ["", "## Token lengths", ""]
    if stats.tokens:
        out += [f"Rendered with the chat template and the tool specs ({stats.tokenizer} tokenizer): "
                f"{_spread(stats.tokens)}; limit 4096.", ""]
    else:
        out += ["Not measured (--no-tokens).", ""]
    out += ["## Recipes", "", "| recipe | examples |", "|---|---:|"]
    out += [f"| {r} | {n} |" for r, n in sorted(stats.recipes.items())]
    return "\n".join(out) + "\n"


def plot(stats: Stats, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 10))
    cats = [c for c in CATEGORIES if stats.categories[c]] + sorted(set(stats.categories) - set(CATEGORIES))
    ax = axes[0][0]
    ax.bar(cats, [stats.categories[c] for c in cats], color="#4c72b0")
    ax.set_title("examples per category")
    ax.tick_params(axis="x", rotation=30)

    ax = axes[0][1]
    names = list(EVALS)
    ax.barh(names[::-1], [stats.behaviours[b] for b in names[::-1]], color="#55a868")
    ax.set_title("examples per behaviour")
    ax.tick_params(axis="y", labelsize=7)

    ax = axes[1][0]
    tools = sorted(stats.tools.items(), key=lambda kv: (-kv[1], kv[0]))
    ax.bar([t for t, _ in tools], [n for _, n in tools], color="#c44e52")
    ax.set_title("tool calls by tool")
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right", fontsize=8)

    ax = axes[1][1]
    if stats.tokens:
        ax.hist(stats.tokens, bins=20, color="#8172b2")
        ax.axvline(4096, color="black", linestyle="--", label="limit 4096")
        ax.set_title(f"tokens per example ({stats.tokenizer})")
        ax.legend()
    else:
        ax.hist(stats.tool_calls, bins=range(0, max(stats.tool_calls or [0]) + 2), color="#8172b2")
        ax.set_title("tool calls per example (no tokenizer for lengths)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def write_report(stats: Stats, name: str, out_dir: Path) -> tuple[Path, Path]:
    """`out_dir/<name>.md` and `out_dir/<name>.png`."""
    png = out_dir / f"{name}.png"
    md = out_dir / f"{name}.md"
    plot(stats, png)
    write_text_atomic(md, markdown(stats, name, png.name))
    return md, png
