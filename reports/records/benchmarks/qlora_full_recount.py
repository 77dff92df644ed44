"""Re-project qlora_full.json's seed runs with the dataset's lengths in Qwen3 tokens, offline (issue 17).

The full-shape benchmark timed real micro-steps on the GPU and fitted each run's step time to
a + b x tokens; its "seed run" puts every example's length through that line (training.dryrun.run_estimate).
Those lengths were counted with the tiny twin's tokenizer of the day, a 4k BPE trained in this repository.
This script first checks that the old tokenizer's lengths reproduce every recorded seed run, then
re-projects each run with the same fits and Qwen3's lengths. The GPU measurements themselves are unchanged.

    git show c390ae8:dataset/madcat-system.jsonl > /tmp/record-dataset.jsonl   # the dataset the record used
    (git archive c390ae8 | tar -x -C /tmp/rec && cd /tmp/rec && python -m serving.tiny_twin /tmp/rec-twin)
    python -m reports.records.benchmarks.qlora_full_recount --dataset /tmp/record-dataset.jsonl --old-twin /tmp/rec-twin
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default=str(HERE / "qlora_full.json"))
    parser.add_argument("--dataset", required=True, help="the dataset the record was measured on")
    parser.add_argument("--old-twin", required=True, help="a twin with the record's tokenizer")
    parser.add_argument("--config", default="training/configs/madcat.yaml")
    parser.add_argument("--out", default=str(HERE / "qlora_full_recount.json"))
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from core.qwen_tokenizer import load_tokenizer
    from training.config import load_config
    from training.data import encode_dataset
    from training.dryrun import run_estimate

    cfg = load_config(args.config)
    record = json.loads(Path(args.record).read_text(encoding="utf-8"))
    old = [len(e.input_ids) for e in encode_dataset(AutoTokenizer.from_pretrained(args.old_twin), args.dataset)]
    qwen3 = [len(e.input_ids) for e in encode_dataset(load_tokenizer(), args.dataset)]
    out: dict[str, Any] = {
        "dataset": args.dataset,
        "old_tokens_per_epoch": sum(old),
        "qwen3_tokens_per_epoch": sum(qwen3),
        "qwen3_median": sorted(qwen3)[len(qwen3) // 2],
        "qwen3_max": max(qwen3),
        "runs": [],
    }
    for run in record["runs"]:
        if not run.get("ok"):
            continue
        fit = run["step_seconds_fit"]
        costs = (fit["a"], fit["b_per_token"], run["optimizer_step_seconds"], run["other_seconds_per_optimizer_step"])
        again = run_estimate(old, cfg, *costs)["minutes"]
        if abs(again - run["seed_run_minutes"]) > 0.011:
            print(f"qlora_full_recount: the old tokenizer gives {again} min for run {run['call']} "
                  f"({run['experts_format']}, {run['gdn_path']}), the record {run['seed_run_minutes']}: "
                  "wrong dataset or tokenizer", file=sys.stderr)
            return 1
        minutes = run_estimate(qwen3, cfg, *costs)["minutes"]
        out["runs"].append({
            "experts": run["experts_format"], "gdn_path": run["gdn_path"], "call": run["call"],
            "recorded_minutes": run["seed_run_minutes"], "qwen3_minutes": minutes,
            "qwen3_minutes_with_first_use": round(minutes + run["first_use_seconds"] / 60, 2),
        })
        print(f"{run['experts_format']:13} {run['gdn_path']:5} call {run['call']}: seed run {run['seed_run_minutes']} min "
              f"(old tokenizer, reproduced) -> {minutes} min in Qwen3 tokens")
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"tokens an epoch: {sum(old)} (old) -> {sum(qwen3)} (Qwen3); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
