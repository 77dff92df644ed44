"""Side-by-side comparison of two or more runs (arms) on the same scenarios, epochs and seeds.

``python -m reports compare RUN_A RUN_B [RUN_C ...] [--out DIR] [--names a,b,...]``
The first run is the reference arm: every other arm is paired against it.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from core.errors import BadInput
from reports.analysis import (
    OVERALL,
    RateRow,
    behaviour_rows,
    category_rows,
    fmt_diff,
    fmt_interval,
    fmt_p,
    fmt_rate,
    pair_runs,
)
from reports.comparison import Arm, Comparison, to_json
from reports.document import (
    Bullets,
    Document,
    Heading,
    Image,
    Link,
    Para,
    Table,
    relative_href,
    write_document,
)
from reports.jsonio import write_json
from reports.plots import Series, rate_bars
from reports.results import Run, load_run, runs_root


def default_names(runs: list[Run]) -> list[str]:
    names: list[str] = []
    for r in runs:
        name, i = r.run_id, 2
        while name in names:
            name, i = f"{r.run_id}#{i}", i + 1
        names.append(name)
    return names


def compare_runs(
    runs: list[Run],
    names: list[str] | None = None,
    k: int | None = None,
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    if len(runs) < 2:
        raise BadInput("reports: compare needs at least two runs")
    names = names or default_names(runs)
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise BadInput(f"reports: --names needs {len(runs)} distinct names, got {','.join(names)}")
    k = k or min(r.epochs for r in runs)
    arms = [
        Arm(n, r, behaviour_rows(r, k, confidence), category_rows(r, confidence))
        for n, r in zip(names, runs, strict=True)
    ]
    pairings = [
        pair_runs(
            arms[0].run, arm.run, arms[0].name, arm.name, n_boot=n_boot, seed=seed, confidence=confidence
        )
        for arm in arms[1:]
    ]
    return Comparison(arms, pairings, k, confidence, n_boot, seed)


# --- JSON ----------------------------------------------------------------------------------------


def _pass_k(r: RateRow) -> str:
    return "—" if r.pass_k is None else fmt_rate(r.pass_k.value)


def log_links(run: Run, out_dir: Path) -> list[tuple[Link]]:
    return [(Link(log, relative_href(run.resolve_log(log), out_dir)),) for log in run.logs()]


def to_document(c: Comparison, out_dir: Path) -> Document:
    ref = c.arms[0]
    names = " vs ".join(a.name for a in c.arms)
    doc = Document(f"Comparison: {names}")
    pct = f"{c.confidence:.0%}"
    for w in c.warnings:
        doc.add(Para.of(w, style="warning"))

    doc.add(Heading("Arms"))
    doc.add(
        Table(
            (
                "arm",
                "run",
                "adapter",
                "system prompt",
                "gate",
                "samples",
                "not exercised",
                "incomplete",
                "pass rate",
                f"Wilson {pct}",
                "prompt tokens / request",
            ),
            tuple(
                (
                    a.name,
                    Link(a.run.run_id, relative_href(a.run.path, out_dir)),
                    a.run.adapter_label or "— (base)",
                    str(a.run.meta.get("system_prompt") or "—"),
                    a.gate_verdict() or "—",
                    str(a.overall.n),
                    str(a.overall.not_exercised),
                    str(a.overall.incomplete),
                    fmt_rate(a.overall.rate),
                    fmt_interval(a.overall.low, a.overall.high),
                    "—" if a.prompt_tokens_per_request is None else f"{a.prompt_tokens_per_request:.0f}",
                )
                for a in c.arms
            ),
            numeric_from=5,
        )
    )
    doc.add(
        Para.of(
            f"Not exercised and incomplete samples count as not passed. Differences are arm − {ref.name} over paired (scenario, epoch) "
            f"samples; {pct} percentile bootstrap over scenarios ({c.n_boot} resamples, seed {c.seed}); exact McNemar "
            f"on discordant pairs, Holm-adjusted across behaviours. pass^{c.k}: chance that {c.k} tries of a scenario all pass."
        )
    )

    doc.add(Heading("Overall"))
    doc.add(_table(c, lambda a: [a.overall], lambda p: [p.overall], pct))
    doc.add(Heading("Categories"))
    doc.add(Image(_category_plot(c), "pass rate per category and arm", "categories"))
    doc.add(
        Table(
            ("category", "arm", "n", "passed", "not exercised", "incomplete", "pass rate", f"Wilson {pct}"),
            tuple(
                (
                    r.group,
                    a.name,
                    str(r.n),
                    str(r.passed),
                    str(r.not_exercised),
                    str(r.incomplete),
                    fmt_rate(r.rate),
                    fmt_interval(r.low, r.high),
                )
                for cat in _categories(c)
                for a in c.arms
                for r in a.categories
                if r.group == cat
            ),
            numeric_from=2,
        )
    )
    doc.add(Heading("Behaviours"))
    doc.add(_table(c, lambda a: a.behaviours, lambda p: p.behaviours, pct))
    doc.add(Image(_behaviour_plot(c), "pass rate per behaviour and arm", "behaviours"))
    doc.add(Heading("Inspect logs"))
    for a in c.arms:
        links = log_links(a.run, out_dir)
        doc.add(Para.of(f"{a.name}: " + ("" if links else "no logs recorded")))
        if links:
            doc.add(Bullets(tuple(links)))
    return doc


def _categories(c: Comparison) -> list[str]:
    return sorted({r.group for a in c.arms for r in a.categories if r.group != OVERALL})


def _behaviours(c: Comparison) -> list[str]:
    return sorted({r.group for a in c.arms for r in a.behaviours})


def _table(c: Comparison, rate_rows, paired_rows, pct: str) -> Table:
    """Rows: (group, arm). Paired columns are empty for the reference arm."""
    rates = {(r.group, a.name): r for a in c.arms for r in rate_rows(a)}
    paired = {
        (r.group, arm.name): r for arm, p in zip(c.arms[1:], c.pairings, strict=True) for r in paired_rows(p)
    }
    groups = sorted({g for g, _ in rates})
    rows, styles = [], []
    for g in groups:
        for a in c.arms:
            r, pr = rates.get((g, a.name)), paired.get((g, a.name))
            cells = [g, a.name]
            cells += (
                [
                    str(r.n),
                    str(r.passed),
                    str(r.not_exercised),
                    str(r.incomplete),
                    fmt_rate(r.rate),
                    fmt_interval(r.low, r.high),
                    _pass_k(r),
                ]
                if r
                else ["0", "—", "—", "—", "—", "—", "—"]
            )
            if pr:
                d = pr.difference
                cells += [
                    str(d.pairs),
                    fmt_diff(d.diff),
                    fmt_interval(d.low, d.high),
                    f"{pr.mcnemar.a_only}/{pr.mcnemar.b_only}",
                    fmt_p(pr.mcnemar.p_value),
                    fmt_p(pr.p_holm),
                ]
            else:
                cells += ["—"] * 6
            rows.append(tuple(cells))
            styles.append("total" if g == OVERALL else "")
    headers = (
        "behaviour",
        "arm",
        "n",
        "passed",
        "not exercised",
        "incomplete",
        "pass rate",
        f"Wilson {pct}",
        f"pass^{c.k}",
        "pairs",
        f"Δ vs {c.arms[0].name}",
        f"bootstrap {pct}",
        "lost/won",
        "McNemar p",
        "Holm p",
    )
    return Table(headers, tuple(rows), tuple(styles), numeric_from=2)


def _series(c: Comparison, groups: list[str], rows_of) -> list[Series]:
    out = []
    for a in c.arms:
        by = {r.group: r for r in rows_of(a)}
        rates = [by[g].rate if g in by else math.nan for g in groups]
        intervals = [(by[g].low, by[g].high) if g in by else (0.0, 0.0) for g in groups]
        out.append(Series(a.name, rates, intervals))
    return out


def _category_plot(c: Comparison) -> bytes:
    groups = _categories(c) + [OVERALL]
    return rate_bars(groups, _series(c, groups, lambda a: a.categories), "pass rate per category")


def _behaviour_plot(c: Comparison) -> bytes:
    groups = _behaviours(c)
    return rate_bars(groups, _series(c, groups, lambda a: a.behaviours), "pass rate per behaviour")


# --- CLI -----------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def default_out_dir(names: list[str]) -> Path:
    return runs_root().parent / "html" / ("compare-" + "-vs-".join(_slug(n) for n in names))


def write_comparison(c: Comparison, out_dir: Path) -> dict[str, Path]:
    try:
        md, html = write_document(to_document(c, out_dir), out_dir, "comparison")
        js = write_json(out_dir / "comparison.json", to_json(c))
    except OSError as e:
        raise BadInput(f"reports: cannot write the comparison to {out_dir}: {e}") from None
    return {"markdown": md, "html": html, "json": js}


def run_compare(
    run_args: list[str], out: str | None, names_arg: str | None, k: int | None, n_boot: int, seed: int
) -> int:
    runs = [load_run(r) for r in run_args]
    names = [n.strip() for n in names_arg.split(",")] if names_arg else None
    c = compare_runs(runs, names, k=k, n_boot=n_boot, seed=seed)
    for w in c.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    out_dir = Path(out) if out else default_out_dir([a.name for a in c.arms])
    paths = write_comparison(c, out_dir)
    ref = c.arms[0]
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        d = p.overall.difference
        print(
            f"{arm.name} vs {ref.name}: overall {fmt_rate(arm.overall.rate)} vs {fmt_rate(ref.overall.rate)}, "
            f"Δ {fmt_diff(d.diff)} {fmt_interval(d.low, d.high)} over {d.pairs} pairs; "
            f"{sum(1 for r in p.behaviours if r.p_holm < 0.05)} behaviours differ at Holm p < 0.05"
        )
    for a in c.arms:
        ptpr = a.prompt_tokens_per_request
        print(
            f"  {a.name}: prompt tokens/request {'—' if ptpr is None else f'{ptpr:.0f}'}, "
            f"not exercised {a.overall.not_exercised}, incomplete {a.overall.incomplete}"
        )
    print(f"report: {paths['html']}")
    return 0
