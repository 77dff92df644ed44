"""What benchmarks/qlora_bench.py makes of a replica measurement: the replica's sizes (Qwen3-Coder-Next's widths
at 4 layers), the 48-layer step time and peak memory and the seed's run projected from it, and the table."""

from __future__ import annotations

import statistics
from typing import Any

from training.memory import KNOWN_CONFIGS

GB = 1e9
SEED_EXAMPLES, SEED_EPOCHS, SEED_GRAD_ACCUM = 100, 3, 8
# The replica: Qwen3-Coder-Next's widths, from the one copy of its architecture (training/memory.py), at 4 layers
# and an 8k context.
_FULL = KNOWN_CONFIGS["Qwen/Qwen3-Coder-Next"]
REPLICA_SIZES = {
    "layers": 4,
    **{name: _FULL[name] for name in (
        "full_attention_interval", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
        "head_dim", "linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim",
        "linear_conv_kernel_dim", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
        "shared_expert_intermediate_size")},
    "max_position_embeddings": 8192,
}
VOCAB = _FULL["vocab_size"]
FULL_LAYERS = _FULL["num_hidden_layers"]


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(a, b) of t = a + b * tokens through the measured points (two or more)."""
    if len(points) == 1:
        return 0.0, points[0][1] / points[0][0]
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def expert_per_layer_bf16(load: dict[str, Any]) -> float:
    """Bytes of one layer's experts in the bf16 checkpoint (3 x E x H x I x 2)."""
    sizes = REPLICA_SIZES
    return 3 * sizes["num_experts"] * sizes["hidden_size"] * sizes["moe_intermediate_size"] * 2


def project(worker_result: dict[str, Any], layers: int, lengths: list[int]) -> dict[str, Any]:
    """48-layer step time and peak memory, and the seed's run, from a replica measurement."""
    runs = {r["tokens"]: r for r in worker_result["runs"]}
    fixed = {r["tokens"]: r for r in worker_result.get("fixed", [])}
    blocks_full = FULL_LAYERS / layers
    steps48 = {}
    for t, r in runs.items():
        t_fixed = fixed[t]["step_seconds_median"] if t in fixed else 0.0
        per_block = r["step_seconds_median"] - t_fixed
        steps48[t] = t_fixed + blocks_full * per_block
    a, b = _fit(sorted(steps48.items()))
    micro_steps = [(a + b * n) for n in lengths]
    epoch_seconds = sum(micro_steps)
    load = worker_result["load"]
    # memory: the replica's peak + the other 44 layers' weights, LoRA + Adam, and checkpointed layer inputs
    expert_per_layer = load["expert_bytes"] / max(load["expert_layers"], 1)
    dense_replica = load["dense_bytes"]
    embed_head = 2 * VOCAB * REPLICA_SIZES["hidden_size"] * 2
    dense_per_layer = (dense_replica - embed_head) / layers
    lora_per_layer = worker_result["lora_parameters"] / layers * 16
    mem48 = {}
    for t, r in runs.items():
        extra_layers = FULL_LAYERS - layers
        ckpt = extra_layers * t * REPLICA_SIZES["hidden_size"] * 2
        mem48[t] = r["peak_allocated_bytes"] + extra_layers * (expert_per_layer + dense_per_layer + lora_per_layer) + ckpt
    return {
        "step_seconds_48_layers": {str(t): round(v, 3) for t, v in sorted(steps48.items())},
        "step_seconds_fit": {"a": round(a, 4), "b_per_token": b},
        "peak_bytes_48_layers": {str(t): int(v) for t, v in sorted(mem48.items())},
        "weights_bytes_48_layers": int(embed_head + FULL_LAYERS * (expert_per_layer + dense_per_layer)),
        "seed_run": {
            "examples": len(lengths), "epochs": SEED_EPOCHS, "tokens_per_epoch": sum(lengths),
            "train_minutes": round(SEED_EPOCHS * epoch_seconds / 60, 1),
            # the replica loaded from the page cache; the full 159 GB checkpoint is read from disk once
            "load_minutes_page_cache": round(load["seconds"] * FULL_LAYERS / layers / 60, 1),
            "load_minutes_at_1_GBps": round(
                (embed_head + FULL_LAYERS * (expert_per_layer_bf16(load) + dense_per_layer)) / 1e9 / 60, 1),
        },
    }


def table(report: dict[str, Any]) -> str:
    rows = ["| experts | GDN | GPU after load | step 1k | step 4k | peak 1k | peak 4k | 48-layer step 4k | "
            "48-layer peak 4k | seed run (min) |", "|" + "---|" * 10]
    for r in report["workers"]:
        if r.get("error") and not r.get("runs"):
            rows.append(f"| {r.get('experts')} | {r.get('gdn')} | failed: {r['error']} |" + " |" * 7)
            continue
        runs = {x["tokens"]: x for x in r.get("runs", [])}
        proj = r.get("projection", {})

        def step(t: int, runs: dict = runs) -> str:
            return f"{runs[t]['step_seconds_median']:.3f} s" if t in runs else "-"

        def peak(t: int, runs: dict = runs) -> str:
            return f"{runs[t]['peak_allocated_bytes'] / GB:.1f} GB" if t in runs else "-"

        rows.append(
            f"| {r['experts']} | {r['gdn']} | {r['load']['gpu_allocated_after_load'] / GB:.2f} GB | {step(1024)} | "
            f"{step(4096)} | {peak(1024)} | {peak(4096)} | "
            f"{proj.get('step_seconds_48_layers', {}).get('4096', '-')} s | "
            f"{int(proj.get('peak_bytes_48_layers', {}).get('4096', 0)) / GB:.1f} GB | "
            f"{proj.get('seed_run', {}).get('train_minutes', '-')} |"
        )
    return "\n".join(rows)
