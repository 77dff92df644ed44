"""``python -m reports {show,compare,equivalence,gate,promote,divergence}``; exit 0 ok, 1 failed gate/refused
(compare: runs graded by different specs without --regrade; equivalence: runs graded by different specs), 2 bad
input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli_args import MAX_SEED, OneLineParser, float_in, int_in
from core.errors import BadInput, Refused
from core.safe_io import InputError, check_output_dir, check_output_file
from reports.registry import DEFAULT_REGISTRY


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(  # usage errors: one line and a hint, not argparse's usage block
        prog="python -m reports", description="Reports, comparisons, the promotion gate and the adapter registry."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("show", help="report.md + report.html for one run")
    s.add_argument("run", help="run dir, results.json or run id under reports/runs")
    s.add_argument("--out", help="output dir (default: the run dir)")
    s.add_argument(
        "--rules", help="rules file for the thresholds column (default: the one the last gate used)"
    )

    c = sub.add_parser("compare", help="compare two or more runs; the first is the reference arm")
    c.add_argument("runs", nargs="+", metavar="RUN",
                   help="two or more runs (dir, results.json or run id); the first is the reference arm")
    c.add_argument("--out", help="output dir (default: reports/html/compare-A-vs-B)")
    c.add_argument("--names", help="comma-separated arm names, one per run")
    c.add_argument("--k", type=int_in(1, 1000), help="k of pass^k (default: the smallest epochs among the runs)")
    c.add_argument("--bootstrap", type=int_in(100, 1_000_000), default=10_000,
                   help="bootstrap resamples, 100 to 1000000 (default 10000)")
    c.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="bootstrap seed (default 0)")
    c.add_argument("--regrade", action="store_true",
                   help="compare runs graded by different specs: as recorded, and re-graded with this checkout's "
                        "spec from their inspect logs (under OUT/regraded/), both labelled")

    e = sub.add_parser("equivalence", help="per behaviour: is RUN_B equivalent to RUN_A within a margin, "
                                           "different (the one rule), or undecided")
    e.add_argument("runs", nargs=2, metavar="RUN", help="RUN_A (the reference) and RUN_B")
    e.add_argument("--names", help="two names, e.g. bf16,awq (default: the run ids)")
    e.add_argument("--margin", type=open_unit("--margin"), default=0.10,
                   help="equivalence margin on the pass-rate difference, in (0, 1) (default 0.10)")
    e.add_argument("--alpha", type=open_unit("--alpha", 0.5),
                   help="level of each one-sided test and of the one rule, in (0, 0.5) (default: the gate's)")
    e.add_argument("--out", help="output dir (default: reports/html/equivalence-B-vs-A)")
    e.add_argument("--bootstrap", type=int_in(100, 1_000_000), default=10_000,
                   help="bootstrap resamples, 100 to 1000000 (default 10000)")
    e.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="bootstrap seed (default 0)")

    g = sub.add_parser("gate", help="apply the promotion gate to a run; exit 0 pass, 1 fail")
    g.add_argument("run", help="the run to judge: run dir, results.json or run id under reports/runs")
    g.add_argument("--out", type=Path, help="where to write gate.json (default: RUN's dir/gate.json)")
    g.add_argument("--against", help="'promoted' (the registry's promoted run) or a run")
    g.add_argument("--baseline", help="the baseline run (e.g. the base model) the adapter must beat overall")
    g.add_argument("--rules", help="rules file merged over reports/gate_rules.yaml")
    g.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY, help="registry for --against promoted")

    r = sub.add_parser("promote", help="gate a run and record its adapter as promoted in the registry")
    r.add_argument("run", help="the adapter's run: run dir, results.json or run id under reports/runs")
    r.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY, help=f"default {DEFAULT_REGISTRY}")
    r.add_argument("--adapter-dir", help="the adapter that was evaluated (default: run.adapter_dir)")
    r.add_argument("--against", default="promoted", help="'promoted' (default), 'none', or a run")
    r.add_argument("--baseline", help="the baseline run")
    r.add_argument("--rules", help="rules file merged over reports/gate_rules.yaml")
    r.add_argument("--name", help="name for the registry entry (default: run.adapter)")

    d = sub.add_parser("divergence", help="teacher-forced logprob divergence between two deployments")
    d.add_argument("a", help="logprobs JSON of deployment A")
    d.add_argument("b", help="logprobs JSON of deployment B")
    d.add_argument("--names", default="A,B", help="two names, e.g. awq,bf16")
    d.add_argument("--out", type=Path, help="also write the summary as JSON here")
    return p


def open_unit(option: str, high: float = 1.0):
    """An argparse type: a finite number strictly between 0 and `high` (NaN, 0 and `high` refused)."""
    closed = float_in(0.0, high, low_open=True)

    def parse(text: str) -> float:
        value = closed(text)
        if value == high:
            raise argparse.ArgumentTypeError(f"{option} must be between 0 and {high:g}, both excluded, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def _check_outputs(args: argparse.Namespace) -> None:
    """Output paths are checked before any run is read or any statistic computed."""
    try:
        if args.command in ("show", "compare", "equivalence") and args.out:
            check_output_dir(args.out)
        if args.command in ("divergence", "gate") and args.out:
            check_output_file(args.out, "--out")
        if args.command == "promote":
            check_output_file(args.registry, "--registry")
    except InputError as e:
        raise BadInput(f"reports: {e}") from None


def _dispatch(args: argparse.Namespace) -> int:
    _check_outputs(args)
    if args.command == "show":
        from reports.show import show_run

        md, html = show_run(args.run, args.out, args.rules)
        print(f"report: {html}\nmarkdown: {md}")
        return 0
    if args.command == "compare":
        from reports.compare import run_compare

        return run_compare(args.runs, args.out, args.names, args.k, args.bootstrap, args.seed, args.regrade)
    if args.command == "equivalence":
        from reports.equivalence import run_equivalence

        return run_equivalence(args.runs, args.out, args.names, args.margin, args.alpha, args.bootstrap, args.seed)
    if args.command == "gate":
        from reports.gate import format_verdict, gate_run, write_gate_json

        g = gate_run(args.run, args.against, args.baseline, args.rules, args.registry)
        path = write_gate_json(g, args.out)
        print(format_verdict(g))
        print(f"gate.json: {path}")
        return 0 if g.passed else 1
    if args.command == "promote":
        from reports.promote import promote

        against = None if args.against in ("none", "") else args.against
        result = promote(
            args.run, args.registry, args.adapter_dir, against, args.baseline, args.rules, args.name
        )
        if result.gate is not None:
            from reports.gate import format_verdict

            print(format_verdict(result.gate))
        print(result.message)
        return 0
    if args.command == "divergence":
        from reports.divergence import format_summary, load_logprobs, summarise_divergence
        from reports.jsonio import write_json

        names = [n.strip() for n in args.names.split(",")]
        if len(names) != 2 or not all(names):
            raise BadInput("reports: --names needs exactly two names, e.g. awq,bf16")
        summary = summarise_divergence(load_logprobs(args.a), load_logprobs(args.b))
        print(format_summary(summary, (names[0], names[1])))
        if args.out:
            write_json(args.out, {"a": names[0], "b": names[1], **summary.to_json()})
        return 0
    raise BadInput(f"reports: unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BadInput as e:
        print(str(e), file=sys.stderr)
        return 2
    except Refused as e:
        if e.detail:
            print(e.detail)
        print(str(e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
