"""The offline demo from a fresh clone: each phase's wall time, the total, and what the adapter learned.

    python -m benchmarks.demo [--repo .] [--out reports/records/benchmarks]

Clones the repository's HEAD into a temporary directory and runs the demo's loop there
(`python -m e2e.offline_loop`, what `bash scripts/demo.sh` runs after its set-up) with this
interpreter, whose environment is the set-up (`bash scripts/setup.sh`), so the time is the demo's own,
set-up excluded. Appends to reports/records/benchmarks/demo.json (a list, oldest first) and demo.md (one dated
section a run; earlier numbers are history and stay as they were): the commit, the machine (cores, load average
before and after: the demo shares the machine with whatever else runs), the loop's phases and total, which evals
ran and how many tries, and per behaviour the adapter's and the baseline's passes, the verdict of the one rule
(reports/significance.py) with its exact and Holm-adjusted p and the size of the Holm family, and the paired
bootstrap interval of the difference (its size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT_DIR = Path("reports/records/benchmarks")
DEMO_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def behaviour_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """Per behaviour: baseline and adapter passes of n, the rule's verdict, and the paired difference."""
    arms = {arm["name"]: arm for arm in comparison["arms"]}
    paired = comparison["paired"][0]["behaviours"]
    rows = []
    for behaviour, row in paired.items():
        base, adapter = arms["baseline"]["behaviours"][behaviour], arms["adapter"]["behaviours"][behaviour]
        rows.append({"behaviour": behaviour, "n": adapter["n"], "baseline_passed": base["passed"],
                     "adapter_passed": adapter["passed"], "diff": row["diff"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"], "pairs": row["pairs"], "p_mcnemar": row["p_mcnemar"],
                     "p_holm": row["p_holm"], "learned": row.get("verdict") == "better"})
    return rows


TITLE = "# The offline demo from a fresh clone\n"


def to_markdown(result: dict[str, Any]) -> str:
    """One run's dated section of demo.md."""
    m = result["machine"]
    evals = ", ".join(result.get("evals") or ["every eval"])
    lines = [
        f"## {result['date']}: commit {result['commit'][:12]}",
        "",
        f"`python -m benchmarks.demo` at commit {result['commit'][:12]} ({result['date']}): a fresh clone, then "
        "`python -m e2e.offline_loop` (what `bash scripts/demo.sh` runs after its set-up)"
        + (f" with {' '.join(result['loop_args'])}" if result.get("loop_args") else "") + ".",
        f"Machine: {m['cores']} cores ({m['processor'] or m['machine']}), Python {m['python']}; load average "
        f"{m['load_before']} before and {m['load_after']} after (the machine is shared: other jobs slow the demo down).",
        "",
        f"**Total: {result['total_seconds']:.0f} s ({result['total_seconds'] / 60:.1f} min)**, set-up excluded.",
        "",
        "| phase | seconds |",
        "|---|---:|",
        *(f"| {s['step']} | {s['seconds']:.0f} |" for s in result["steps"]),
        "",
        f"Evals run: {evals}. Per behaviour, {result.get('epochs', '?')} sampled tries per scenario at temperature "
        f"{result.get('temperature', '?')}, each epoch its own seed, the same in both arms. Learned = the one rule "
        "(reports/significance.py): two-sided exact McNemar on the paired samples, Holm-adjusted across the "
        f"{result.get('holm_family', '?')} behaviour(s) the runs tested, p < {result.get('alpha', 0.05):g}, more "
        "pairs won than lost. The difference is adapter - baseline with its 95% percentile bootstrap interval over "
        "scenarios (10,000 resamples, seed 0): its size, not the test.",
        "",
        "| behaviour | n | baseline | adapter | exact p | Holm p | difference (95% CI) | learned |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in result["behaviours"]:
        ci = "—" if r["ci_low"] is None else f"{r['diff']:+.2f} ({r['ci_low']:+.2f} to {r['ci_high']:+.2f})"
        p, ph = (("—" if x is None else f"{x:.2g}") for x in (r.get("p_mcnemar"), r.get("p_holm")))
        lines.append(f"| {r['behaviour']} | {r['n']} | {r['baseline_passed']} | {r['adapter_passed']} | {p} | {ph} | "
                     f"{ci} | {'yes' if r['learned'] else ''} |")
    lines += ["", f"Gate: {result['gate']}."]
    return "\n".join(lines) + "\n"


def run(repo: Path, out_dir: Path, loop_args: list[str]) -> dict[str, Any]:
    commit = _git(repo, "rev-parse", "HEAD")
    with tempfile.TemporaryDirectory(prefix="madcat-demo-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        load_before = round(os.getloadavg()[0], 2)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "e2e.offline_loop", *loop_args], cwd=clone,
                               env={**os.environ, **DEMO_ENV})
        wall = time.monotonic() - started
        load_after = round(os.getloadavg()[0], 2)
        if code != 0:
            raise SystemExit(f"benchmarks.demo: the loop failed with exit {code}; see its output above")
        work = clone / ".work" / "loop"
        timings = json.loads((work / "timings.json").read_text(encoding="utf-8"))
        comparison = json.loads((work / "report" / "comparison.json").read_text(encoding="utf-8"))
    result = {
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
                    "python": platform.python_version(), "load_before": load_before, "load_after": load_after},
        "loop_args": loop_args,
        "total_seconds": round(wall, 1),
        "loop_seconds": timings["total_seconds"],
        "steps": timings["steps"],
        "learned": timings["learned"],
        "evals": timings.get("evals"),
        "epochs": timings.get("epochs"),
        "temperature": timings.get("temperature"),
        "alpha": timings.get("alpha"),
        "holm_family": timings.get("holm_family"),
        "gate": timings["gate"],
        "behaviours": behaviour_rows(comparison),
    }
    append_record(out_dir, result)
    return result


def append_record(out_dir: Path, result: dict[str, Any]) -> None:
    """Add this run to demo.json (a list; an older single record becomes its first item) and a dated section to
    demo.md; what is there stays as it was."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "demo.json", out_dir / "demo.md"
    earlier = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else []
    records = [earlier] if isinstance(earlier, dict) else list(earlier)
    json_path.write_text(json.dumps([*records, result], indent=2) + "\n", encoding="utf-8")
    text = md_path.read_text(encoding="utf-8") if md_path.exists() else TITLE
    md_path.write_text(text.rstrip("\n") + "\n\n" + to_markdown(result), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository to clone (its HEAD)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where demo.json and demo.md are appended to")
    args, loop_args = parser.parse_known_args(argv)
    result = run(args.repo.resolve(), args.out, loop_args)
    print(f"demo: {result['total_seconds']:.0f} s; learned: {', '.join(result['learned']) or 'none'}; "
          f"appended to {args.out / 'demo.json'} and {args.out / 'demo.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
