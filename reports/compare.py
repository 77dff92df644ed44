"""Side-by-side comparison of two or more runs (arms) on the same scenarios, epochs and seeds.

``python -m reports compare RUN_A RUN_B [RUN_C ...] [--out DIR] [--names a,b,...] [--regrade]``
The first run is the reference arm: every other arm is paired against it. Better / worse is the one rule
(reports/significance.py) at the gate's alpha. Runs graded by different specs (results.json `spec_sha256`)
are refused (exit 1) unless --regrade: then the comparison as recorded and the one re-graded with this
checkout's spec from the runs' inspect logs are both written, labelled (the second under DIR/regraded/).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from core.errors import BadInput, Refused
from core.safe_io import write_text_atomic
from reports.analysis import (
    COUNT_HEADERS,
    OVERALL,
    Pairing,
    RateRow,
    behaviour_rows,
    category_rows,
    fmt_diff,
    fmt_interval,
    fmt_p,
    fmt_rate,
    pair_runs,
)
from reports.comparison import Arm, Comparison, changed_samples, significant, to_json
from reports.document import (
    Banner,
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
from reports.gate_rules import load_rules
from reports.jsonio import write_json
from reports.plots import Effect, forest_plot
from reports.results import Outcome, Run, load_run, runs_root
from reports.seed_agreement import SeedAgreement, agreement, same_arm_other_seed, threshold_verdicts
from reports.significance import rule_text
from reports.trajectory import render_page, run_steps


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
    alpha: float | None = None,
    regrade: bool = False,
    label: str = "",
) -> Comparison:
    """`alpha`: None = the gate's (reports/gate_rules.yaml). `regrade`: runs graded by different specs are
    compared (labelled) instead of refused."""
    if len(runs) < 2:
        raise BadInput("reports: compare needs at least two runs")
    names = names or default_names(runs)
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise BadInput(f"reports: --names needs {len(runs)} distinct names, got {','.join(names)}")
    rules = load_rules()
    alpha = rules["alpha"] if alpha is None else alpha
    spec_notes = spec_check(runs, names, regrade) + replica_notes(runs, names)
    k = k or min(r.epochs for r in runs)
    arms = [
        Arm(n, r, behaviour_rows(r, k, confidence), category_rows(r, confidence))
        for n, r in zip(names, runs, strict=True)
    ]
    pairings = [
        pair_runs(
            arms[0].run, arm.run, arms[0].name, arm.name, n_boot=n_boot, seed=seed, confidence=confidence,
            alpha=alpha,
        )
        for arm in arms[1:]
    ]
    agreements = seed_agreements(arms, pairings, rules)
    return Comparison(arms, pairings, k, confidence, n_boot, seed, alpha, agreements, spec_notes, label)


def _short(h: str | None) -> str:
    return "no spec hash" if not h else h[:12]


def replica_notes(runs: list[Run], names: list[str]) -> list[str]:
    """Runs whose epochs all sampled with one seed (before runner/epoch_seeds.py): each scenario's epochs repeat
    one trajectory, so the paired test counts one outcome as several independent pairs."""
    return [f"{n}: its {r.meta.get('epochs')} epochs all sampled with seed {r.meta.get('seed')}: they are replicas "
            "of one trajectory, not independent samples, and the exact test counts each scenario's outcome "
            f"{r.meta.get('epochs')} times; judge it by scenarios"
            for n, r in zip(names, runs, strict=True)
            if (r.meta.get("epochs") or 1) > 1 and r.meta.get("seed") is not None and not r.meta.get("epoch_seeds")]


def spec_check(runs: list[Run], names: list[str], regrade: bool) -> list[str]:
    """Runs graded by different specs cannot be compared as recorded: Refused unless `regrade`. A run
    without the hash (older results.json) is a warning: nothing says which spec graded it."""
    hashes = {n: r.meta.get("spec_sha256") for n, r in zip(names, runs, strict=True)}
    notes = [f"{n}: its results.json records no spec hash (an older run): which spec graded it is unknown"
             for n, h in hashes.items() if not h]
    known = {h for h in hashes.values() if h}
    if len(known) > 1:
        which = ", ".join(f"{n} by {_short(h)}" for n, h in hashes.items() if h)
        if not regrade:
            raise Refused(f"reports: compare refused: the runs were graded by different specs ({which}); "
                          "their verdicts are not comparable. --regrade re-grades them with this checkout's spec "
                          "from their inspect logs and shows both")
        notes.append(f"graded by different specs ({which}): not comparable as recorded")
    return notes


def seed_agreements(arms: list[Arm], pairings: list, rules: dict) -> list[SeedAgreement]:
    """Every two arms that are the same arm run with different seeds (reports/seed_agreement.py)."""
    paired = {arm.name: p for arm, p in zip(arms[1:], pairings, strict=True)}
    out = []
    for i, a in enumerate(arms):
        for b in arms[i + 1:]:
            if not same_arm_other_seed(a.run, b.run):
                continue
            found = [agreement("threshold", threshold_verdicts(a.run, rules), threshold_verdicts(b.run, rules))]
            if a.name in paired and b.name in paired:
                va = {r.group: r.verdict.verdict for r in paired[a.name].behaviours}
                vb = {r.group: r.verdict.verdict for r in paired[b.name].behaviours}
                found.append(agreement(f"vs {arms[0].name}", va, vb))
            out.append(SeedAgreement((a.name, b.name), (a.run.meta.get("seed"), b.run.meta.get("seed")), found))
    return out


# --- JSON ----------------------------------------------------------------------------------------


def _pass_k(r: RateRow) -> str:
    return "—" if r.pass_k is None else fmt_rate(r.pass_k.value)


def log_links(run: Run, out_dir: Path) -> list[tuple[Link]]:
    return [(Link(log, relative_href(run.resolve_log(log), out_dir)),) for log in run.logs()]


_RULE_SENTENCE = {
    "hard_invariants": "broke a hard invariant",
    "thresholds": "is below its threshold",
    "no_regression": "is worse than the promoted adapter",
    "better_than_baseline": "is not better than the baseline",
    "complete": "is not complete enough to judge",
}


def _gate_lines(gate: dict) -> list[tuple[str, ...]]:
    """One sentence per failing rule and behaviour of a gate.json."""
    lines = []
    for rule in gate.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        for f in rule.get("failures") or []:
            who = "the run" if f.get("behaviour") == "overall" else str(f.get("behaviour"))
            sentence = _RULE_SENTENCE.get(str(rule.get("rule")), f"fails {rule.get('rule')}")
            lines.append((f"{who} {sentence}: {f.get('message', '')}",))
    return lines


def _effect_line(c: Comparison, arm: Arm, p: Pairing) -> str:
    d = p.overall.difference
    better = sum(1 for r in p.behaviours if r.verdict.better)
    worse = sum(1 for r in p.behaviours if r.verdict.worse)
    return (f"{arm.name} − {c.arms[0].name}: overall Δ {fmt_diff(d.diff)} {fmt_interval(d.low, d.high)} over "
            f"{d.pairs} pairs; {better} behaviour(s) significantly better, {worse} worse "
            f"(Holm-adjusted exact McNemar p < {c.alpha:g})")


def verdict_banners(c: Comparison) -> list[Banner]:
    """Per compared arm: its gate's verdict with each failing rule as a sentence, and the paired effect."""
    out = []
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        gate = arm.gate()
        effect = (_effect_line(c, arm, p),)
        if gate is None:
            out.append(Banner(f"{arm.name}: no gate verdict yet",
                              ((f"run `python -m reports gate {arm.run.run_id} --baseline {c.arms[0].run.run_id}`, "
                                "then compare again",), effect), "none"))
            continue
        verdict = str(gate["verdict"])
        failing = _gate_lines(gate)
        headline = f"Gate {verdict} for {arm.name} (run {arm.run.run_id})"
        if failing:
            headline += f": {len(failing)} failing check{'s' if len(failing) != 1 else ''}"
        out.append(Banner(headline, (effect, *failing), verdict.lower()))
    return out


def _effects(c: Comparison, p: Pairing) -> list[Effect]:
    return [Effect(r.group, r.difference.diff, r.difference.low, r.difference.high, significant(r))
            for r in p.behaviours]


def trajectory_href(arm: str, o: Outcome) -> str:
    """Where a sample's trajectory page lies, relative to the comparison's dir."""
    return f"trajectories/{_slug(arm)}/{_slug(o.eval)}__{_slug(o.scenario)}__{o.epoch}.html"


def _changes_table(c: Comparison, arm: Arm) -> Table | Para:
    ref = c.arms[0]
    changed = changed_samples(ref.run, arm.run)
    if not changed:
        return Para.of(f"No paired sample passed in one of {ref.name} and {arm.name} only.")
    rows = tuple(
        (
            a.eval,
            f"{a.scenario} #{a.epoch}",
            "won" if b.counted_pass else "lost",
            Link(a.verdict, trajectory_href(ref.name, a)),
            Link(b.verdict, trajectory_href(arm.name, b)),
            b.reason or a.reason or "—",
        )
        for a, b in changed
    )
    styles = tuple("" if b.counted_pass else "fail" for _a, b in changed)
    return Table(("behaviour", "scenario", f"{arm.name}", f"{ref.name} (trajectory)", f"{arm.name} (trajectory)",
                  f"grader's reason ({arm.name}, else {ref.name})"), rows, styles, numeric_from=99)


def to_document(c: Comparison, out_dir: Path) -> Document:
    ref = c.arms[0]
    names = " vs ".join(a.name for a in c.arms)
    doc = Document(f"Comparison: {names}" + (f" ({c.label})" if c.label else ""))
    pct = f"{c.confidence:.0%}"
    doc.add(*verdict_banners(c))
    for w in c.warnings:
        doc.add(Para.of(w, style="warning"))

    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        doc.add(Heading(f"What {arm.name} changes, per behaviour"))
        doc.add(Image(forest_plot(_effects(c, p), f"{arm.name} − {ref.name}, per behaviour",
                                  f"difference in pass rate ({pct} bootstrap interval over scenarios); "
                                  f"◆ / * : Holm-adjusted exact McNemar p < {c.alpha:g}"),
                      f"forest plot: {arm.name} − {ref.name} per behaviour", f"forest-{_slug(arm.name)}"))

    doc.add(Heading("Arms"))
    doc.add(
        Table(
            ("arm", "run", "adapter", "system prompt", "gate", "n", *COUNT_HEADERS, "pass rate", f"Wilson {pct}",
             "prompt tokens / request"),
            tuple(
                (
                    a.name,
                    Link(a.run.run_id, relative_href(a.run.path, out_dir)),
                    a.run.adapter_label or "— (base)",
                    str(a.run.meta.get("system_prompt") or "—"),
                    a.gate_verdict() or "—",
                    str(a.overall.n),
                    *a.overall.count_cells(),
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
            f"NOT EXERCISED and INCOMPLETE samples count as not passed. Differences are arm − {ref.name} over paired "
            f"(scenario, epoch) samples. The rule ({rule_text(c.alpha)}) gives each verdict (* marks the "
            f"significant ones); the {pct} percentile bootstrap over scenarios ({c.n_boot} resamples, seed {c.seed}) "
            f"is the size of the difference. 'detectable': the smallest |Δ| these pairs could ever show under the "
            f"rule (— : none). pass^{c.k}: chance that {c.k} tries of a scenario all pass."
        )
    )
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        doc.add(Para.of(verdict_line(arm.name, ref.name, p, c.alpha)))
    for a in c.seed_agreement:
        doc.add(Para.of(a.line()))
    doc.add(Heading("Behaviours"))
    doc.add(_table(c, lambda a: a.behaviours, lambda p: p.behaviours, pct))
    doc.add(Heading("Overall"))
    doc.add(_table(c, lambda a: [a.overall], lambda p: [p.overall], pct))
    for arm in c.arms[1:]:
        doc.add(Heading(f"What changed: samples {arm.name} won and lost against {ref.name}"))
        doc.add(_changes_table(c, arm))
    doc.add(Heading("Categories"))
    doc.add(
        Table(
            ("category", "arm", "n", *COUNT_HEADERS, "pass rate", f"Wilson {pct}"),
            tuple(
                (r.group, a.name, str(r.n), *r.count_cells(), fmt_rate(r.rate), fmt_interval(r.low, r.high))
                for cat in _categories(c)
                for a in c.arms
                for r in a.categories
                if r.group == cat
            ),
            numeric_from=2,
        )
    )
    doc.add(Heading("Inspect logs"))
    for a in c.arms:
        links = log_links(a.run, out_dir)
        doc.add(Para.of(f"{a.name}: " + ("" if links else "no logs recorded")))
        if links:
            doc.add(Bullets(tuple(links)))
    return doc


def _categories(c: Comparison) -> list[str]:
    return sorted({r.group for a in c.arms for r in a.categories if r.group != OVERALL})


def _table(c: Comparison, rate_rows, paired_rows, pct: str) -> Table:
    """Rows: (group, arm). The rule's verdict comes right after the arm, where it wraps; paired columns are
    empty for the reference arm."""
    rates = {(r.group, a.name): r for a in c.arms for r in rate_rows(a)}
    paired = {
        (r.group, arm.name): r for arm, p in zip(c.arms[1:], c.pairings, strict=True) for r in paired_rows(p)
    }
    groups = sorted({g for g, _ in rates})
    rows, styles = [], []
    for g in groups:
        for a in c.arms:
            r, pr = rates.get((g, a.name)), paired.get((g, a.name))
            cells = [g, a.name, pr.verdict.verdict if pr else "—"]
            cells += (
                [str(r.n), *r.count_cells(), fmt_rate(r.rate), fmt_interval(r.low, r.high), _pass_k(r)]
                if r
                else ["0", "—", "—", "—", "—", "—", "—", "—"]
            )
            if pr:
                d = pr.difference
                mark = " *" if g != OVERALL and significant(pr) else ""
                cells += [
                    fmt_diff(d.diff) + mark,
                    fmt_interval(d.low, d.high),
                    f"{pr.mcnemar.a_only}/{pr.mcnemar.b_only}",
                    fmt_p(pr.mcnemar.p_value),
                    fmt_p(pr.p_holm) if g != OVERALL else "—",
                    fmt_rate(pr.verdict.min_detectable),
                ]
            else:
                cells += ["—"] * 6
            rows.append(tuple(cells))
            styles.append("total" if g == OVERALL else "")
    headers = (
        "behaviour",
        "arm",
        f"verdict (p < {c.alpha:g})",
        "n",
        *COUNT_HEADERS,
        "pass rate",
        f"Wilson {pct}",
        f"pass^{c.k}",
        f"Δ vs {c.arms[0].name}",
        f"bootstrap {pct}",
        "lost/won",
        "McNemar p",
        "Holm p",
        "detectable",
    )
    return Table(headers, tuple(rows), tuple(styles), numeric_from=3)


# --- CLI -----------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def default_out_dir(names: list[str]) -> Path:
    return runs_root().parent / "html" / ("compare-" + "-vs-".join(_slug(n) for n in names))


def write_trajectories(c: Comparison, out_dir: Path) -> int:
    """A readable page per sample of the "what changed" tables, in both arms; returns how many."""
    written = 0
    for arm in c.arms[1:]:
        changed = changed_samples(c.arms[0].run, arm.run)
        for side, outcomes in ((c.arms[0], [a for a, _ in changed]), (arm, [b for _, b in changed])):
            steps = run_steps(side.run, {o.key for o in outcomes})
            for o in outcomes:
                href = trajectory_href(side.name, o)
                found, source = steps.get(o.key, (None, ""))
                back = "../" * href.count("/") + "comparison.html"
                write_text_atomic(out_dir / href, render_page(o, side.name, found, source, back))
                written += 1
    return written


def write_comparison(c: Comparison, out_dir: Path) -> dict[str, Path]:
    try:
        write_trajectories(c, out_dir)
        md, html = write_document(to_document(c, out_dir), out_dir, "comparison")
        js = write_json(out_dir / "comparison.json", to_json(c))
    except OSError as e:
        raise BadInput(f"reports: cannot write the comparison to {out_dir}: {e}") from None
    return {"markdown": md, "html": html, "json": js}


def verdict_line(arm: str, ref: str, p, alpha: float) -> str:
    """One line per pairing: what the rule grants, overall and per behaviour."""
    o, d = p.overall.verdict, p.overall.difference
    better = [r.group for r in p.behaviours if r.verdict.better]
    worse = [r.group for r in p.behaviours if r.verdict.worse]
    return (
        f"{arm} vs {ref}: overall {o.verdict} (won {o.won} / lost {o.lost} of {o.pairs} pairs, exact McNemar "
        f"p {fmt_p(o.p)}; Δ {fmt_diff(d.diff)} {fmt_interval(d.low, d.high)}); "
        f"{len(better)} behaviours better, {len(worse)} worse at Holm-adjusted exact p < {alpha:g}"
        + (f" (better: {', '.join(better)})" if better else "") + (f" (worse: {', '.join(worse)})" if worse else "")
    )


def _print_comparison(c: Comparison, paths: dict[str, Path]) -> None:
    ref = c.arms[0]
    if c.label:
        print(f"[{c.label}]")
    for arm, p in zip(c.arms[1:], c.pairings, strict=True):
        print(f"{verdict_line(arm.name, ref.name, p, c.alpha)}; overall pass rate {fmt_rate(arm.overall.rate)} "
              f"vs {fmt_rate(ref.overall.rate)}")
    for a in c.seed_agreement:
        print(a.line())
    for a in c.arms:
        ptpr = a.prompt_tokens_per_request
        print(
            f"  {a.name}: prompt tokens/request {'—' if ptpr is None else f'{ptpr:.0f}'}, "
            f"not exercised {a.overall.not_exercised}, incomplete {a.overall.incomplete}"
        )
    print(f"report: {paths['html']}")


def run_compare(
    run_args: list[str], out: str | None, names_arg: str | None, k: int | None, n_boot: int, seed: int,
    regrade: bool = False,
) -> int:
    runs = [load_run(r) for r in run_args]
    names = [n.strip() for n in names_arg.split(",")] if names_arg else None
    c = compare_runs(runs, names, k=k, n_boot=n_boot, seed=seed, regrade=regrade,
                     label="as recorded" if regrade else "")
    for w in c.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    out_dir = Path(out) if out else default_out_dir([a.name for a in c.arms])
    _print_comparison(c, write_comparison(c, out_dir))
    if regrade:
        from evals.spec_hash import spec_sha256
        from reports.regrade import regrade_run

        again = compare_runs([regrade_run(r) for r in runs], [a.name for a in c.arms], k=k, n_boot=n_boot,
                             seed=seed, label=f"re-graded with spec {spec_sha256()[:12]}")
        _print_comparison(again, write_comparison(again, out_dir / "regraded"))
    return 0
