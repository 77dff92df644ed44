"""The whole loop offline, on the tiny twin: `python -m e2e.offline_loop [--work DIR]`.

dataset build + validate -> tiny twin -> QLoRA training on the CPU -> the eval suite on the
baseline and on the adapter (local backend) -> compare -> gate -> HTML report. Each step is one of
the project's own commands, run as a subprocess so that what a user would type is what runs; its
output streams through, and a failed step ends the loop with one line saying which and where its
log is. The numbers in the report come from the runs this loop just made.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _step(number: int, total: int, title: str, argv: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> int:
    print(f"\n=== [{number}/{total}] {title}\n$ {shlex.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(argv, cwd=REPO)
    print(f"--- {title}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    if code not in ok_codes:
        raise SystemExit(f"offline loop: step {number} ({title}) failed with exit {code}; see its output above")
    return code


def _parallel_steps(number: int, total: int, title: str, commands: dict[str, list[str]],
                    ok_codes: tuple[int, ...]) -> None:
    """Several commands at once (one CPU core each), their output prefixed with their name."""
    print(f"\n=== [{number}/{total}] {title}", flush=True)
    for name, argv in commands.items():
        print(f"$ {shlex.join(argv)}   # [{name}]", flush=True)
    started = time.monotonic()
    procs = {name: subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, argv in commands.items()}

    def relay(name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"[{name}] {line}", end="", flush=True)

    threads = [threading.Thread(target=relay, args=item) for item in procs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = {name: proc.wait() for name, proc in procs.items()}
    print(f"--- {title}: exits {codes} in {time.monotonic() - started:.0f} s", flush=True)
    bad = [name for name, code in codes.items() if code not in ok_codes]
    if bad:
        raise SystemExit(f"offline loop: step {number} ({title}) failed for {', '.join(bad)}; see its output above")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.offline_loop", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".work/loop"), help="where everything goes")
    parser.add_argument("--count", type=int, default=100, help="training examples (the seed's ~100)")
    parser.add_argument("--train-steps", type=int, default=60, help="optimizer steps on the CPU")
    parser.add_argument("--epochs", type=int, default=1, help="eval tries per scenario")
    parser.add_argument("--max-turns", type=int, default=3, help="generations per scenario")
    parser.add_argument("--max-tokens", type=int, default=80, help="tokens per generation")
    args = parser.parse_args(argv)

    work = (REPO / args.work).resolve() if not args.work.is_absolute() else args.work
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    dataset, twin, adapter = work / "dataset.jsonl", work / "twin", work / "adapter"
    runs, report = work / "runs", work / "report"
    started = time.monotonic()
    total = 7
    _step(1, total, "build the training set from the simulated world",
          [py, "-m", "dataset", "build", "--out", str(dataset), "--count", str(args.count)])
    _step(2, total, "validate it against the spec (graders, hard invariants, schemas, length, decontamination)",
          [py, "-m", "dataset", "validate", str(dataset)])
    _step(3, total, "make the tiny twin (random-init Qwen3-Next, Qwen3's tokenizer, our chat template)",
          [py, "-m", "serving.tiny_twin", str(twin)])
    _step(4, total, "train its adapter (QLoRA path: nf4 experts, LoRA on vLLM-servable modules)",
          [py, "-m", "training.train", "--config", "training/configs/tiny.yaml", "--model", str(twin),
           "--dataset", str(dataset), "--output", str(adapter), "--max-steps", str(args.train_steps)])
    common = ["--backend", "local", "--model", str(twin), "--epochs", str(args.epochs), "--temperature", "0",
              "--seed", "0", "--max-turns", str(args.max_turns), "--max-tokens", str(args.max_tokens),
              "--report-dir", str(runs)]
    # a behaviour below its threshold makes `evals run` exit 1: expected for a tiny random model
    _parallel_steps(5, total, "run the eval suite on the baseline and on the adapter (side by side)",
                    {"baseline": [py, "-m", "evals", "run", *common, "--adapter", "none", "--run-id", "baseline"],
                     "adapter": [py, "-m", "evals", "run", *common, "--adapter", str(adapter), "--run-id", "adapter"]},
                    ok_codes=(0, 1))
    _step(6, total, "compare the two runs",
          [py, "-m", "reports", "compare", str(runs / "baseline"), str(runs / "adapter"), "--names",
           "baseline,adapter", "--out", str(report)])
    verdict = _step(7, total, "apply the promotion gate to the adapter's run",
                    [py, "-m", "reports", "gate", str(runs / "adapter"), "--baseline", str(runs / "baseline")],
                    ok_codes=(0, 1))
    print(f"\nDone in {(time.monotonic() - started) / 60:.1f} min. Gate: {'PASS' if verdict == 0 else 'FAIL'} "
          "(a random tiny model is not expected to pass).")
    print(f"Report: {report / 'comparison.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
