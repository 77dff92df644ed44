"""What each arm's agent actually did in the AWQ-vs-BF16 run: its tool calls, read from the inspect logs.

No sample finished within the turn limit on either arm, so the comparison has no verdicts; the calls still
show whether the adapter's learned moves survive the 4-bit base. Per arm: calls a sample, the first call's
tool, every call's tool; and over the samples both arms ran (same scenario and epoch), how often their
call sequences agree exactly. The logs are not committed (6 MB); they came back from the GPU host with the
record (serving/gpu/awq-vs-bf16.sh pack, evallogs.tar).

    python -m reports.records.awq-vs-bf16.tool_calls bf16=RUN_DIR/logs/X.eval w4a16=RUN_DIR/logs/Y.eval

Writes tool_calls.json next to this file (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

Calls = dict[tuple[str, int], list[str]]


def summarise(arms: dict[str, Calls]) -> dict[str, object]:
    """Per arm: samples, calls a sample, first tools and all tools; then the exact agreement of paired samples."""
    out: dict[str, object] = {}
    for name, calls in arms.items():
        seqs = list(calls.values())
        out[name] = {"samples": len(seqs), "calls_per_sample": round(sum(map(len, seqs)) / max(len(seqs), 1), 3),
                     "first_call": dict(Counter(s[0] if s else "(none)" for s in seqs).most_common()),
                     "all_calls": dict(Counter(t for s in seqs for t in s).most_common())}
    if len(arms) == 2:
        a, b = arms.values()
        paired = sorted(set(a) & set(b))
        out["paired"] = {"samples": len(paired), "same_first_call": sum(a[k][:1] == b[k][:1] for k in paired),
                         "same_sequence": sum(a[k] == b[k] for k in paired)}
    return out


def read_calls(path: Path) -> Calls:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    return {(str(s.id), int(s.epoch)): [c.function for m in s.messages for c in (getattr(m, "tool_calls", None) or [])]
            for s in log.samples or []}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("arms", nargs="+", help="NAME=PATH.eval, one an arm")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("tool_calls.json"))
    args = p.parse_args(argv)
    arms: dict[str, Calls] = {}
    for spec in args.arms:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_file():
            p.error(f"{spec!r}: expected NAME=PATH to an inspect .eval log")
        arms[name] = read_calls(Path(path))
    args.out.write_text(json.dumps(summarise(arms), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
