"""The whole loop offline, on the tiny twin: `python -m e2e.offline_loop [--work DIR]`.

dataset build + validate -> tiny twin -> QLoRA training on the CPU -> the eval suite on the baseline and on
the adapter (local backend) -> gate -> compare (the HTML report, whose banner reads gate.json). Each step is
one of the project's own commands, run as a subprocess so that what a user would type is what runs; its output
streams through, and a failed step ends the loop with one line saying which and where its log is. The numbers
in the report come from the runs this loop just made; the loop ends by naming the behaviours the adapter
learned under the project's one rule (reports/significance.py: exact McNemar on the paired samples,
Holm-adjusted across the behaviours the runs tested, p < the gate's alpha), and writes each step's wall time to
<work>/timings.json. By default both arms run the scenarios of the behaviours the demo teaches (DEMO_EVALS: the
persona category, 9 scenarios), each for DEMO_EPOCHS sampled epochs (temperature DEMO_TEMPERATURE, each epoch its own
seed: runner/epoch_seeds.py, the same seeds in both arms), so each taught behaviour has 20 or 25 pairs: the exact test
can reach the alpha. The Holm family is the behaviours the runs tested (both taught ones); the other 22 behaviours are
not run (`--eval CATEGORY`, repeatable, replaces the default: name persona too to keep it).

The twin is the `demo` preset: a base pretrained once on a GPU on habitless transcripts (it uses the world's
tools when asked and copies what they return, and introduces itself as a stock "Qwen"; reports/records/twin-pretraining/).
The demo's training set is a selection (`--categories`, `--recipes`): on two CPU cores the loop teaches that
base one habit, the persona opening (read the settings, load the active cart, introduce itself as that cart),
rather than all seven categories at once. What it learns is measured in docs/demo.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from runner.run_options import add_run_options, run_flags

REPO = Path(__file__).resolve().parent.parent
DEMO_CATEGORIES = "persona=24"
DEMO_RECIPES = "introduce,bt-probe"
# the behaviours the demo's selection teaches (its base corpus must show neither: tests/test_habitless_corpus.py)
DEMO_TAUGHT = ("persona.loads_identity_from_cart", "persona.no_hardcoded_bt_identity")
DEMO_EVALS = ("persona",)  # the category of exactly the taught behaviours: what the eval arms run by default
DEMO_EPOCHS = 5  # 4 and 5 scenarios x 5 = 20 and 25 pairs (the rule can never call 4 or 5 pairs learned)
DEMO_TEMPERATURE = 0.6  # sampled: at 0 every epoch repeats one trajectory and adds no evidence
TIMINGS: list[dict[str, object]] = []  # each step's title and wall seconds, in order


def _timed(title: str, started: float) -> float:
    seconds = time.monotonic() - started
    TIMINGS.append({"step": title, "seconds": round(seconds, 1)})
    return seconds


def _step(number: int, total: int, title: str, argv: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> int:
    print(f"\n=== [{number}/{total}] {title}\n$ {shlex.join(argv)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(argv, cwd=REPO)
    print(f"--- {title}: exit {code} in {_timed(title, started):.0f} s", flush=True)
    if code not in ok_codes:
        raise SystemExit(f"offline loop: step {number} ({title}) failed with exit {code}; see its output above")
    return code


def _parallel_steps(number: int, total: int, title: str, commands: dict[str, list[list[str]]],
                    ok_codes: tuple[int, ...]) -> None:
    """Several command chains at once (one CPU core each), their output prefixed with their name; the
    commands of one chain run one after the other and the chain stops at its first failure."""
    print(f"\n=== [{number}/{total}] {title}", flush=True)
    for name, chain in commands.items():
        for argv in chain:
            print(f"$ {shlex.join(argv)}   # [{name}]", flush=True)
    started = time.monotonic()
    codes: dict[str, int] = {}

    def run_chain(name: str, chain: list[list[str]]) -> None:
        for argv in chain:
            proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                print(f"[{name}] {line}", end="", flush=True)
            codes[name] = proc.wait()
            if codes[name] not in ok_codes:
                return

    threads = [threading.Thread(target=run_chain, args=item) for item in commands.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"--- {title}: exits {codes} in {_timed(title, started):.0f} s", flush=True)
    bad = [name for name, code in codes.items() if code not in ok_codes]
    if bad:
        raise SystemExit(f"offline loop: step {number} ({title}) failed for {', '.join(bad)}; see its output above")


def learned(comparison: dict[str, object]) -> list[tuple[str, dict[str, float]]]:
    """The behaviours compare judged better under the rule (reports/significance.py), from comparison.json."""
    out = []
    for pairing in comparison.get("paired", []):  # type: ignore[union-attr]
        for behaviour, row in pairing["behaviours"].items():
            if row.get("verdict") == "better":
                out.append((behaviour, row))
    return out


def holm_family(comparison: dict[str, object]) -> int:
    """How many behaviours the rule's Holm adjustment counted: those with pairs (reports/significance.py)."""
    families = {row["holm_family"] for pairing in comparison.get("paired", [])  # type: ignore[union-attr]
                for row in pairing["behaviours"].values() if row.get("pairs")}
    return max(families, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.offline_loop", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".work/loop"), help="where everything goes")
    parser.add_argument("--categories", default=DEMO_CATEGORIES,
                        help="training lines per category (default %(default)s; 'all' = the default build)")
    parser.add_argument("--recipes", default=DEMO_RECIPES,
                        help="only these recipes (default %(default)s; 'all' = every recipe)")
    parser.add_argument("--train-steps", type=int, default=160, help="optimizer steps on the CPU")
    parser.add_argument("--learning-rate", type=float, default=3e-3,
                        help="LoRA learning rate, decaying linearly to 0 over the steps")
    # the eval's settings, with the demo's defaults (DEMO_EVALS, DEMO_EPOCHS, DEMO_TEMPERATURE): every sampled try
    # of all 101 scenarios would take over 15 minutes on two cores, one greedy try gives 4-5 pairs a behaviour, which
    # the rule can never call learned. max_tokens 48: the demo set's longest assistant turn is 40.
    add_run_options(parser.add_argument, only=("evals", "epochs", "temperature", "max_turns", "max_tokens"),
                    defaults={"evals": list(DEMO_EVALS), "epochs": DEMO_EPOCHS, "temperature": DEMO_TEMPERATURE,
                              "max_turns": 3, "max_tokens": 48})
    args = parser.parse_args(argv)
    evals: list[str] = args.evals

    work = (REPO / args.work).resolve() if not args.work.is_absolute() else args.work
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    dataset, twin, adapter = work / "dataset.jsonl", work / "twin", work / "adapter"
    runs, report = work / "runs", work / "report"
    started = time.monotonic()
    TIMINGS.clear()
    total = 6
    selection = [] if args.categories == "all" else ["--categories", args.categories, "--no-handwritten"]
    selection += [] if args.recipes == "all" else ["--recipes", args.recipes]
    _parallel_steps(1, total, "build the training set from the simulated world and validate it against the spec "
                    "(graders, hard invariants, schemas, length, decontamination); beside it, make the tiny twin "
                    "(Qwen3-Next at toy size with its pretrained habitless base, Qwen3's tokenizer, our chat template)",
                    {"dataset": [[py, "-m", "dataset", "build", "--out", str(dataset), *selection],
                                 [py, "-m", "dataset", "validate", str(dataset)]],
                     "twin": [[py, "-m", "serving.tiny_twin", str(twin), "--preset", "demo"]]},
                    ok_codes=(0,))
    _step(2, total, "train its adapter (QLoRA path: nf4 experts, LoRA on vLLM-servable modules)",
          [py, "-m", "training.train", "--config", "training/configs/tiny.yaml", "--model", str(twin),
           "--dataset", str(dataset), "--output", str(adapter), "--max-steps", str(args.train_steps),
           "--learning-rate", str(args.learning_rate), "--set", "lr_scheduler_type=linear"])
    common = run_flags({"backend": "local", "model": twin, "evals": evals, "epochs": args.epochs,
                        "temperature": args.temperature, "seed": 0, "max_turns": args.max_turns,
                        "max_tokens": args.max_tokens, "report_dir": runs})
    # a behaviour below its threshold makes `evals run` exit 1: expected for a tiny model
    _parallel_steps(3, total, f"run the evals ({', '.join(evals)}; {args.epochs} tries a scenario) on the baseline "
                    "and on the adapter (side by side)",
                    {"baseline": [[py, "-m", "evals", "run", *common, "--adapter", "none", "--run-id", "baseline"]],
                     "adapter": [[py, "-m", "evals", "run", *common, "--adapter", str(adapter), "--run-id", "adapter"]]},
                    ok_codes=(0, 1))
    # the gate first: the comparison's verdict banner reads the adapter run's gate.json
    verdict = _step(4, total, "apply the promotion gate to the adapter's run",
                    [py, "-m", "reports", "gate", str(runs / "adapter"), "--baseline", str(runs / "baseline")],
                    ok_codes=(0, 1))
    _step(5, total, "compare the two runs",
          [py, "-m", "reports", "compare", str(runs / "baseline"), str(runs / "adapter"), "--names",
           "baseline,adapter", "--out", str(report)])
    comparison = json.loads((report / "comparison.json").read_text(encoding="utf-8"))
    alpha = comparison["rule"]["alpha"]
    family = holm_family(comparison)
    print(f"\n=== [6/{total}] what the adapter learned: {comparison['rule']['text']}; the Holm family: the {family} "
          "behaviour(s) these runs tested")
    found = learned(comparison)
    for behaviour, row in found:
        print(f"  {behaviour}: won {row['arm_only_passed']} / lost {row['ref_only_passed']} of {row['pairs']} pairs, "
              f"exact McNemar p {row['p_mcnemar']:.2g}, Holm p {row['p_holm']:.2g} < {alpha:g}; "
              f"Δ {row['diff']:+.2f} (95% bootstrap {row['ci_low']:+.2f} to {row['ci_high']:+.2f})")
    if not found:
        print(f"  no behaviour: on none of them is the adapter better than its base at Holm-adjusted exact p < {alpha:g}")
    elapsed = time.monotonic() - started
    (work / "timings.json").write_text(json.dumps(
        {"steps": TIMINGS, "total_seconds": round(elapsed, 1), "learned": [b for b, _ in found],
         "evals": evals, "epochs": args.epochs, "temperature": args.temperature, "alpha": alpha,
         "holm_family": family,
         "gate": "PASS" if verdict == 0 else "FAIL"}, indent=2) + "\n", encoding="utf-8")
    print(f"\nDone in {elapsed / 60:.1f} min. Gate: {'PASS' if verdict == 0 else 'FAIL'} "
          "(a tiny model is not expected to pass). "
          f"Learned: {len(found)} behaviour(s) better than the base at Holm-adjusted exact McNemar p < {alpha:g}.")
    print(f"Report: {report / 'comparison.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
