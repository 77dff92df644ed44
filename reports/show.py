"""Report for one run: ``python -m reports show RUN [--out DIR]`` writes report.md and report.html
(default: beside the run's results.json)."""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import BadInput
from reports.analysis import (
    COUNT_HEADERS,
    OVERALL,
    RateRow,
    behaviour_rows,
    category_rows,
    fmt_interval,
    fmt_rate,
)
from reports.document import (
    Bullets,
    Document,
    Heading,
    Image,
    Link,
    Para,
    Pre,
    Table,
    relative_href,
    write_document,
)
from reports.gate import hard_invariant_ids, load_rules, measured, rule_hard_invariants, thresholds_for
from reports.plots import Series, rate_bars
from reports.results import Outcome, Run, load_run, prompt_tokens_per_request, tally

_META = (
    "model",
    "base_model",
    "adapter",
    "adapter_sha256",
    "dataset_sha256",
    "backend",
    "server_version",
    "system_prompt",
    "epochs",
    "temperature",
    "seed",
    "started",
    "finished",
    "git_commit",
)


def _gate_section(run: Run) -> list:
    path = run.dir / "gate.json"
    if not path.is_file():
        return [Para.of("No gate verdict yet: run ", "`python -m reports gate " + run.run_id + "`", ".")]
    try:
        g = json.loads(path.read_text(encoding="utf-8"))
        verdict = str(g["verdict"])
        failures = [
            (f"{r['rule']}: {f['behaviour']}: {f['message']}",)
            for r in g.get("rules", [])
            for f in r.get("failures", [])
        ]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return [Para.of(f"{path.name} is unreadable; run the gate again.", style="warning")]
    against = f" against {g['against_run_id']}" if g.get("against_run_id") else ""
    baseline = f", baseline {g['baseline_run_id']}" if g.get("baseline_run_id") else ""
    blocks: list = [
        Para.of(
            f"Gate: {verdict}{against}{baseline} ({g.get('date', '')})",
            style="pass" if verdict == "PASS" else "fail",
        )
    ]
    if failures:
        blocks.append(Bullets(tuple(failures)))
    return blocks


def _sample_table(run: Run, samples: list[Outcome], out_dir: Path) -> Table:
    rows = []
    for o in samples:
        log = Link("log", relative_href(run.resolve_log(o.log), out_dir)) if o.log else "—"
        rows.append(
            (
                o.eval,
                o.scenario,
                str(o.epoch),
                o.verdict,
                o.reason or "—",
                ", ".join(o.hard_violations) or "—",
                log,
            )
        )
    return Table(
        ("behaviour", "scenario", "epoch", "verdict", "reason", "hard violations", "inspect log"),
        tuple(rows),
        numeric_from=99,
    )


def _plot(rows: list[RateRow], title: str) -> bytes:
    return rate_bars(
        [r.group for r in rows],
        [Series("run", [r.rate for r in rows], [(r.low, r.high) for r in rows])],
        title,
    )


def _rules_of_last_gate(run: Run) -> Path | None:
    """The rules file the last gate of this run used, so the report's thresholds agree with its verdict."""
    try:
        recorded = json.loads((run.dir / "gate.json").read_text(encoding="utf-8")).get("rules_file")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return Path(recorded) if recorded and Path(recorded).is_file() else None


def to_document(run: Run, out_dir: Path, rules_path: Path | None = None) -> Document:
    doc = Document(f"Eval run {run.run_id}")
    meta = [f"{k}: {run.meta[k]}" for k in _META if run.meta.get(k) not in (None, "")]
    doc.add(Para.of(" · ".join(meta) if meta else "no run metadata recorded"))
    doc.add(Para.of("results: ", Link(run.path.name, relative_href(run.path, out_dir))))
    t = tally(run.outcomes)
    if run.interrupted:
        doc.add(Para.of("the run was interrupted: results are partial", style="warning"))
    if t.incomplete:
        doc.add(
            Para.of(
                f"{t.incomplete} of {t.n} samples are incomplete and count as not passed", style="warning"
            )
        )
    if t.not_exercised:
        doc.add(Para.of(f"{t.not_exercised} of {t.n} samples never reached the situation their scenario sets up "
                        "(not exercised) and count as not passed"))
    doc.add(Heading("Gate"), *_gate_section(run))

    rules = load_rules(rules_path)
    confidence = rules["confidence"]
    pct = f"{confidence:.0%}"
    cats = category_rows(run, confidence)
    doc.add(
        Heading("Categories"),
        Image(_plot(cats, "pass rate per category"), "pass rate per category", "categories"),
    )
    doc.add(
        Table(
            ("category", "n", *COUNT_HEADERS, "pass rate", f"Wilson {pct}"),
            tuple(
                (
                    r.group,
                    str(r.n),
                    *r.count_cells(),
                    fmt_rate(r.rate),
                    fmt_interval(r.low, r.high),
                )
                for r in cats
            ),
            tuple("total" if r.group == OVERALL else "" for r in cats),
        )
    )

    k = run.epochs
    rows = behaviour_rows(run, k, confidence)
    limits, source = thresholds_for(rules, [r.group for r in rows])
    measure = rules["thresholds"]["measure"]
    broken = {f.behaviour for f in rule_hard_invariants(run, rules).failures}
    hard = set(hard_invariant_ids(rules))

    def bar(r: RateRow) -> tuple[str, bool]:
        if r.group in hard:
            return "hard: no violation", r.group not in broken
        return f"{limits[r.group]:.2f}", measured(r, measure) >= limits[r.group]

    bars = {r.group: bar(r) for r in rows}
    doc.add(Heading("Behaviours"))
    doc.add(
        Table(
            (
                "behaviour",
                "n",
                *COUNT_HEADERS,
                "pass rate",
                f"Wilson {pct}",
                f"pass^{k}",
                "threshold",
                "meets it",
            ),
            tuple(
                (
                    r.group,
                    str(r.n),
                    *r.count_cells(),
                    fmt_rate(r.rate),
                    fmt_interval(r.low, r.high),
                    fmt_rate(r.pass_k.value) if r.pass_k else "—",
                    bars[r.group][0],
                    "yes" if bars[r.group][1] else "no",
                )
                for r in rows
            ),
            tuple("" if bars[r.group][1] else "fail" for r in rows),
        )
    )
    compared = "the Wilson lower bound" if measure == "wilson_low" else "the pass rate"
    doc.add(
        Para.of(
            f"Thresholds from {source}, compared with {compared}; a hard invariant must never be broken. "
            f"pass^{k}: chance that {k} tries of a scenario all pass (unbiased estimator per scenario, averaged). "
            "Not exercised and incomplete samples count as not passed."
        )
    )
    if rows:
        doc.add(Image(_plot(rows, "pass rate per behaviour"), "pass rate per behaviour", "behaviours"))

    failing = [o for o in run.outcomes if not o.counted_pass or o.hard_violations]
    doc.add(Heading("Failing, not exercised and incomplete samples"))
    if failing:
        doc.add(_sample_table(run, sorted(failing, key=lambda o: (o.eval, o.scenario, o.epoch)), out_dir))
    else:
        doc.add(Para.of("none"))

    ptpr = prompt_tokens_per_request(run.outcomes)
    doc.add(Heading("Cost"))
    doc.add(
        Pre(
            f"requests            {sum(o.requests for o in run.outcomes)}\n"
            f"prompt tokens       {sum(o.prompt_tokens for o in run.outcomes)}\n"
            f"prompt tokens/req   {'—' if ptpr is None else f'{ptpr:.0f}'}\n"
            f"completion tokens   {sum(o.completion_tokens for o in run.outcomes)}\n"
            f"seconds (sum)       {sum(o.seconds for o in run.outcomes):.1f}"
        )
    )
    doc.add(Heading("Inspect logs"))
    logs = run.logs()
    doc.add(
        Bullets(tuple((Link(log, relative_href(run.resolve_log(log), out_dir)),) for log in logs))
        if logs
        else Para.of("no logs recorded")
    )
    return doc


def show_run(run_arg: str, out: str | None = None, rules: str | None = None) -> tuple[Path, Path]:
    run = load_run(run_arg)
    out_dir = Path(out) if out else run.dir
    doc = to_document(run, out_dir, Path(rules) if rules else _rules_of_last_gate(run))
    try:
        return write_document(doc, out_dir, "report")
    except OSError as e:
        raise BadInput(f"reports: cannot write the report to {out_dir}: {e}") from None
