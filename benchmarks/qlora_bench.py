"""QLoRA training benchmark on one GPU: a full-width, reduced-depth Qwen3-Coder-Next replica.

    python -m benchmarks.qlora_bench run --out DIR [--layers 4] [--tokens 1024,4096] [--steps 4]

The replica has Qwen3-Coder-Next's real widths (hidden 2048, 512 experts top-10, moe/shared
intermediate 512, attention 16 heads / 2 KV x 256, linear attention 16 key / 32 value heads x 128,
vocab 151936) and 4 layers (3 linear-attention : 1 full-attention, the model's repeating block).
It is random-initialised on the GPU, saved with save_pretrained (per-expert checkpoint layout, like
the Hugging Face checkpoint) and loaded back through training/loading.py -- the real training path.

For each experts path (nf4-grouped: 4-bit experts + grouped kernel; bf16-grouped: plain
transformers 5.x) and each Gated DeltaNet path (torch reference; fla when importable), a worker
process runs trl's SFTTrainer on random sequences of exactly T tokens (batch 1, LoRA r=16 on the
vLLM targets, gradient checkpointing, bf16) and records the median step time and the peak GPU
memory. The same model with its decoder layers removed gives the fixed cost (embeddings, LM head,
loss, optimizer), so one 4-layer block costs (T4 - T0) and 48 layers cost T0 + 12 (T4 - T0).

Writes DIR/qlora.json (all numbers and the projection) and prints a table. Needs a CUDA GPU,
torch, transformers 5.x, peft, trl, datasets, bitsandbytes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.qlora_projection import (
    GB,
    REPLICA_SIZES,
    SEED_EXAMPLES,
    VOCAB,
    project,
    table,
)

REPO = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- replica


def build_replica(out: Path, layers: int) -> dict[str, Any]:
    """Random-init the replica on the GPU in bf16, save it (with Qwen3's tokenizer), free the GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.qwen_tokenizer import write_tokenizer
    from serving.tiny_twin import TwinSizes, build_config

    start = time.time()
    sizes = TwinSizes(**{**REPLICA_SIZES, "layers": layers})
    config = build_config(sizes, VOCAB, dtype="bfloat16")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    built = time.time()
    model.save_pretrained(out, max_shard_size="5GB")
    write_tokenizer(out, model_max_length=REPLICA_SIZES["max_position_embeddings"])
    del model
    torch.cuda.empty_cache()
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    return {"parameters": params, "layers": layers, "checkpoint_bytes": size,
            "init_seconds": round(built - start, 1), "save_seconds": round(time.time() - built, 1)}


# ----------------------------------------------------------------------------- worker


def _dataset(length: int, count: int, vocab: int, seed: int) -> Any:
    import random

    from datasets import Dataset

    rng = random.Random(seed)
    ids = [[rng.randrange(16, vocab) for _ in range(length)] for _ in range(count)]
    # loss on the last quarter, like an assistant reply after a long prompt
    masks = [[0] * (length - length // 4) + [1] * (length // 4) for _ in range(count)]
    return Dataset.from_dict({"input_ids": ids, "assistant_masks": masks})


def _time_steps(peft_model: Any, tokenizer: Any, cfg: Any, length: int, steps: int, warmup: int) -> dict[str, Any]:
    import torch
    from transformers import TrainerCallback
    from trl import SFTTrainer

    from training.train import sft_config

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.t0 = 0.0

        def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001
            torch.cuda.synchronize()
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    cfg.max_length = length
    cfg.max_steps = warmup + steps
    cfg.gradient_accumulation_steps = 1
    cfg.logging_steps = 1
    out_dir = Path("/tmp/qlora-bench-trainer")
    trainer = SFTTrainer(model=peft_model, args=sft_config(cfg, str(out_dir), use_cpu=False),
                         train_dataset=_dataset(length, warmup + steps, len(tokenizer), length),
                         processing_class=tokenizer, callbacks=[timer])
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    trainer.train()
    torch.cuda.synchronize()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    timed = timer.times[warmup:]
    result = {
        "tokens": length,
        "steps_timed": len(timed),
        "step_seconds_median": round(statistics.median(timed), 4) if timed else None,
        "step_seconds_all": [round(t, 4) for t in timer.times],
        "tokens_per_second": round(length / statistics.median(timed), 1) if timed else None,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "allocated_before_bytes": before,
        "losses": losses,
        "loss_finite": all(x == x and abs(x) != float("inf") for x in losses),
    }
    del trainer
    torch.cuda.empty_cache()
    return result


def _time_forward(model: Any, length: int, vocab: int) -> dict[str, Any]:
    """Inference-mode forward at `length` tokens: isolates the Gated DeltaNet kernels from backward."""
    import torch

    ids = torch.randint(16, vocab, (1, length), device="cuda")
    model.eval()
    times = []
    with torch.no_grad():
        for _ in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(input_ids=ids, use_cache=False, logits_to_keep=1)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    model.train()
    return {"tokens": length, "forward_seconds_median": round(statistics.median(times[1:]), 4)}


def _check_experts_kernel(model: Any) -> dict[str, Any]:
    """On the GPU: the 4-bit module equals the grouped kernel on its dequantised weights."""
    import torch
    from transformers.integrations.moe import grouped_mm_experts_forward

    from training.experts4bit import FusedView, Nf4GroupedExperts

    experts = next(m for m in model.modules() if isinstance(m, Nf4GroupedExperts))
    gate_up, down = experts.dequantized()
    hidden = torch.randn(512, experts.hidden_dim, device=gate_up.device, dtype=torch.bfloat16)
    top_k = torch.stack([torch.randperm(experts.num_experts, device=hidden.device)[:10] for _ in range(512)])
    weights = torch.softmax(torch.randn(512, 10, device=hidden.device), -1).to(torch.bfloat16)
    out = experts(hidden, top_k, weights)
    ref = grouped_mm_experts_forward(FusedView(experts.num_experts, gate_up, down, experts.act_fn), hidden, top_k,
                                     weights)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        experts.dequantized()
    torch.cuda.synchronize()
    return {"max_abs_diff_vs_dequantised_reference": float((out - ref).abs().max()),
            "dequantise_layer_ms": round((time.perf_counter() - t0) / 5 * 1000, 2),
            "storage_bytes_per_layer": experts.storage_bytes()}


def worker(args: argparse.Namespace) -> int:
    result: dict[str, Any] = {"experts": args.experts, "gdn": args.gdn, "ok": False}
    out = Path(args.result)
    try:
        if args.gdn == "torch":
            for name in ("fla", "fla.ops", "fla.ops.gated_delta_rule"):
                sys.modules[name] = None  # type: ignore[assignment] - transformers takes the torch path
        import torch
        from transformers import AutoTokenizer

        from training.config import TrainConfig
        from training.loading import load_base_model
        from training.preflight import gdn_kernels
        from training.targets import apply_lora, lora_placement, summarise_modules

        props = torch.cuda.get_device_properties(0)
        result["gpu"] = props.name
        result["kernels"] = gdn_kernels((props.major, props.minor), props.name).to_dict()
        import transformers.models.qwen3_next.modeling_qwen3_next  # noqa: F401 - decides the GDN kernels now

        result["fla_in_use"] = sys.modules.get("fla") is not None
        cfg = TrainConfig(model=args.replica, experts=args.experts, dtype="bfloat16", device="cuda",
                          gradient_checkpointing=True, lora_dropout=0.05, seed=0)
        tokenizer = AutoTokenizer.from_pretrained(args.replica)
        model, load = load_base_model(cfg, torch.device("cuda"))
        result["load"] = load.to_dict()
        if args.experts == "nf4-grouped":
            result["experts_kernel_check"] = _check_experts_kernel(model)
        result["forward"] = [_time_forward(model, length, len(tokenizer)) for length in args.tokens]
        out.write_text(json.dumps(result, indent=2, default=str))
        peft_model = apply_lora(model, cfg)
        placement = lora_placement(peft_model)
        result["lora_modules"] = summarise_modules(placement.modules)
        result["lora_parameters"] = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        result["runs"] = []
        for length in args.tokens:
            result["runs"].append(_time_steps(peft_model, tokenizer, cfg, length, args.steps, args.warmup))
            out.write_text(json.dumps(result, indent=2))
        # the fixed cost: no decoder layers, the final norm trainable so the optimizer has a parameter
        base = peft_model.get_base_model()
        base.model.layers = torch.nn.ModuleList()
        base.model.norm.weight.requires_grad_(True)
        result["fixed"] = [_time_steps(peft_model, tokenizer, cfg, length, args.steps, args.warmup)
                           for length in args.tokens]
        result["ok"] = True
    except Exception as exc:  # the benchmark records what failed and why
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        result["traceback"] = traceback.format_exc()[-4000:]
    out.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


# ----------------------------------------------------------------------------- projection


# ----------------------------------------------------------------------------- driver


def dataset_lengths(path: Path) -> tuple[list[int], str]:
    """Token lengths of the training set, as training renders it, with Qwen3's tokenizer."""
    from core.qwen_tokenizer import load_tokenizer
    from training.data import encode_dataset

    if not path.is_file():
        return [2048] * SEED_EXAMPLES, f"{path} missing: 2048 tokens per example assumed"
    return [len(e.input_ids) for e in encode_dataset(load_tokenizer(), path)], f"{path}, Qwen3 tokenizer"


def run(args: argparse.Namespace) -> int:
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "layers": args.layers,
                              "tokens": args.tokens, "steps": args.steps, "warmup": args.warmup,
                              "sizes": {**REPLICA_SIZES, "layers": args.layers, "vocab_size": VOCAB}}
    props = torch.cuda.get_device_properties(0)
    report["gpu"] = {"name": props.name, "memory_bytes": props.total_memory,
                     "capability": f"{props.major}.{props.minor}"}
    versions = {}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "triton", "fla-core", "tilelang", "datasets"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001
            versions[name] = None
    report["versions"] = versions
    replica = Path(args.work) / f"replica-{args.layers}"
    replica.mkdir(parents=True, exist_ok=True)
    report["replica"] = build_replica(replica, args.layers)
    print(f"replica: {report['replica']}", flush=True)
    combos = [(e, "torch") for e in args.experts]
    fla_present = subprocess.run([sys.executable, "-c", "import fla"], capture_output=True).returncode == 0
    if fla_present and "nf4-grouped" in args.experts and not args.no_fla:
        combos.append(("nf4-grouped", "fla"))
    report["workers"] = []
    for experts, gdn in combos:
        result_file = out / f"worker-{experts}-{gdn}.json"
        cmd = [sys.executable, "-m", "benchmarks.qlora_bench", "worker", "--replica", str(replica),
               "--experts", experts, "--gdn", gdn, "--tokens", ",".join(map(str, args.tokens)), "--steps", str(args.steps), "--warmup",
               str(args.warmup), "--result", str(result_file)]
        print(f"--- {experts} / GDN {gdn}", flush=True)
        started = time.time()
        try:
            subprocess.run(cmd, timeout=args.worker_timeout, check=False, cwd=REPO,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except subprocess.TimeoutExpired:
            pass
        result = json.loads(result_file.read_text()) if result_file.is_file() else {"experts": experts, "gdn": gdn}
        result["wall_seconds"] = round(time.time() - started, 1)
        if not result.get("ok") and "error" not in result:
            result["error"] = f"worker did not finish within {args.worker_timeout} s"
        report["workers"].append(result)
        (out / "qlora.json").write_text(json.dumps(report, indent=2, default=str))
        print(summary_line(result), flush=True)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    (out / "qlora.json").write_text(json.dumps(report, indent=2, default=str))
    print(table(report))
    return 0


def summary_line(r: dict[str, Any]) -> str:
    if r.get("error"):
        return f"{r.get('experts')}/{r.get('gdn')}: FAILED {r['error']}"
    parts = [f"{x['tokens']}: {x['step_seconds_median']} s, peak {x['peak_allocated_bytes'] / GB:.1f} GB"
             for x in r.get("runs", [])]
    return f"{r['experts']}/{r['gdn']}: load {r['load']['gpu_allocated_after_load'] / GB:.2f} GB; " + "; ".join(parts)


def report(args: argparse.Namespace) -> int:
    """Add the 48-layer and seed-run projections to a device run's qlora.json (the dataset's real lengths)."""
    raw = json.loads(Path(args.results).read_text())
    lengths, source = dataset_lengths(Path(args.dataset))
    raw["dataset_lengths"] = {"source": source, "count": len(lengths), "total": sum(lengths),
                              "median": sorted(lengths)[len(lengths) // 2], "max": max(lengths)}
    for result in raw["workers"] + raw.get("repeats", []):
        if result.get("runs") and result.get("fixed") and result.get("load"):
            result["projection"] = project(result, raw["layers"], lengths)
    out = Path(args.out)
    out.write_text(json.dumps(raw, indent=2, default=str) + "\n")
    print(table(raw))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run", help="build the replica, run every path, write qlora.json")
    r.add_argument("--out", required=True)
    r.add_argument("--work", default="/tmp/qlora-bench")
    r.add_argument("--layers", type=int, default=4)
    r.add_argument("--experts", default="nf4-grouped,bf16-grouped")
    r.add_argument("--worker-timeout", type=int, default=240)
    r.add_argument("--no-fla", action="store_true", help="skip the flash-linear-attention worker")
    rep = sub.add_parser("report", help="add projections (dataset lengths) to a run's qlora.json")
    rep.add_argument("--results", required=True)
    rep.add_argument("--dataset", default=str(REPO / "dataset" / "madcat-system.jsonl"))
    rep.add_argument("--out", default=str(REPO / "reports" / "records" / "benchmarks" / "qlora.json"))
    w = sub.add_parser("worker", help=argparse.SUPPRESS)
    w.add_argument("--replica", required=True)
    w.add_argument("--experts", required=True)
    w.add_argument("--gdn", choices=("torch", "fla"), default="torch")
    w.add_argument("--result", required=True)
    for p in (r, w):
        p.add_argument("--tokens", default="1024,4096")
        p.add_argument("--steps", type=int, default=4)
        p.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    if args.verb == "report":
        return report(args)
    args.tokens = [int(x) for x in str(args.tokens).split(",") if x]
    if args.verb == "worker":
        return worker(args)
    args.experts = [x for x in args.experts.split(",") if x]
    import torch

    if not torch.cuda.is_available():
        print("qlora_bench: error: no CUDA GPU visible", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
