"""summary.md of a known-answer record (e2e/real_model_e2e.py): `python -m e2e.real_model_record DIR`.

Reads DIR/summary.json (the driver's measurements), DIR/comparison/comparison.json (`reports compare`)
and DIR/gate-<arm>.json (`reports gate`), and writes DIR/summary.md: the arms (samples, outcomes, tool
calls a sample, repetition), the per-behaviour table with paired bootstrap intervals against the base,
the hard-invariant violations, each gate's verdict, the seed-stability share, timings and versions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from core.safe_io import write_text_atomic

# The model profile (serving/model_profiles.py) the driver recorded -> the title; records before profiles are SmolLM2.
MODEL_TITLES = {"smollm2": "SmolLM2-135M-Instruct", "qwen2.5-coder-0.5b": "Qwen2.5-Coder-0.5B-Instruct"}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _arms(directory: Path, summary: dict[str, Any]) -> list[str]:
    """One row an arm; pass counts from the record's results-<arm>.json (re-graded ones where re-graded)."""
    lines = ["| arm | samples | complete | passed | not exercised | tool calls / sample | samples without a call | "
             "samples repeating a call 3+ times | top tools |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, arm in summary["measured"].get("arms", {}).items():
        results = _load(directory / f"results-{name}.json")
        counts = results["summary"] if results else {"samples": arm["samples"], "complete": arm["complete"],
                                                     "passed": arm["passed"], "not_exercised": "?"}
        top = ", ".join(f"{tool} {n}" for tool, n in arm.get("top_tools", [])[:4])
        lines.append(f"| {name} | {counts['samples']} | {counts['complete']} | {counts['passed']} | "
                     f"{counts['not_exercised']} | {arm.get('tool_calls_per_sample')} | "
                     f"{arm.get('samples_without_tool_calls')} | {arm.get('samples_repeating_a_call_3x')} | {top} |")
    return lines


def _behaviours(comparison: dict[str, Any]) -> list[str]:
    arms = {a["name"]: a for a in comparison["arms"]}
    names = list(arms)
    base = names[0]
    paired = {p["arm"]: p for p in comparison["paired"]}
    head = "| behaviour | " + " | ".join(f"{n} passed / n (not exercised, incomplete)" for n in names)
    head += " | " + " | ".join(f"{n} − {base}: Δ [95% CI], Holm p" for n in names[1:]) + " |"
    lines = [head, "|---|" + "---:|" * (len(names) + len(names) - 1)]
    for behaviour in ["overall", *sorted(arms[base]["behaviours"])]:
        cells = []
        for n in names:
            b = arms[n]["overall"] if behaviour == "overall" else arms[n]["behaviours"].get(behaviour, {})
            cells.append(f"{b.get('passed', 0)}/{b.get('n', 0)} ({b.get('not_exercised', 0)}, {b.get('incomplete', 0)})")
        for n in names[1:]:
            p = paired[n]["overall"] if behaviour == "overall" else paired[n]["behaviours"].get(behaviour)
            holm = p.get("p_holm") if p else None
            cells.append("—" if not p else f"{p['diff']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}]"
                         + (f", {holm:.3f}" if holm is not None else f", McNemar {p['p_mcnemar']:.3f}"))
        lines.append(f"| {behaviour} | " + " | ".join(cells) + " |")
    return lines


def _gates(directory: Path) -> list[str]:
    lines = ["| adapter | verdict | failing rules |", "|---|---|---|"]
    for path in sorted(directory.glob("gate-*.json")):
        gate = _load(path)
        failing = "; ".join(
            f"{r['rule']}: " + ", ".join(f["behaviour"] + (f" ({f['numbers']['violations']} violations)"
                                                          if f.get("numbers", {}).get("violations") else "")
                                         for f in r.get("failures", [])[:3])
            for r in gate.get("rules", []) if r.get("status") == "fail")
        lines.append(f"| {path.stem.removeprefix('gate-')} | {gate.get('verdict')} | {failing or '—'} |")
    return lines


def render(directory: Path) -> str:
    summary = _load(directory / "summary.json") or {"measured": {}}
    comparison = _load(directory / "comparison" / "comparison.json")
    model = MODEL_TITLES.get(summary.get("model", "smollm2"), summary.get("model"))
    out = [f"# Known-answer record: {model} through the production path", "",
           f"Outcome: {summary.get('outcome')}. Made by `python -m e2e.real_model_e2e` "
           "(see README.md for how it was run and what it shows).", "", "## Arms", "", *_arms(directory, summary), ""]
    if comparison:
        out += ["## Per behaviour (paired over scenario × epoch; 95% percentile bootstrap over scenarios)", "",
                *_behaviours(comparison), ""]
    out += ["## Gates (`reports gate ARM --baseline base`)", "", *_gates(directory), ""]
    for name, flips in summary["measured"].get("seed_stability", {}).items():
        out += [f"## Seed stability ({name} vs the same adapter with seed 7)", "",
                f"{len(flips['flipped'])} of {flips['behaviours']} behaviours flip their threshold verdict "
                f"(share {flips['share_flipped']}); {len(flips['pass_rate_changed'])} change their pass rate.", ""]
    steps = summary.get("steps", [])
    out += ["## Steps and timings", "", "| step | exit | seconds |", "|---|---:|---:|",
            *[f"| {s['name']} | {s['exit']} | {s['seconds']} |" for s in steps], "",
            f"Phases (s): {summary['measured'].get('phase_seconds')}; vLLM ready after "
            f"{summary['measured'].get('server_start_seconds')} s.", "", "## Versions", "",
            "```", json.dumps(summary.get("versions", {}), indent=1), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m e2e.real_model_record RECORD_DIR (a directory with summary.json)", file=sys.stderr)
        return 2
    directory = Path(args[0])
    write_text_atomic(directory / "summary.md", render(directory))
    print(f"wrote {directory / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
