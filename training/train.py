"""Train the madcat LoRA with trl's SFTTrainer.  `python -m training.train --config FILE [overrides]`.

Steps: preflight (memory + Gated DeltaNet kernels) -> render and mask the dataset with the model's
chat template (loss on assistant output only, no packing) -> load the base model (routed experts
per the `experts` mode) -> LoRA on the vLLM-servable targets, checked module by module -> SFTTrainer
(progress bar and loss every `logging_steps`) -> save the adapter -> lint it as vLLM will read it ->
write <adapter_dir>.manifest.json.

Exit codes: 0 trained and the adapter passes the lint; 1 the preflight says it will not fit, the
LoRA landed elsewhere than asked, or the saved adapter fails the lint; 2 bad input.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.adapter.manifest import manifest_path
from core.safe_io import InputError, check_output_dir, publish_dir
from training.config import ConfigError, ConfigParser, TrainConfig, config_from_args
from training.data import DataError, Example, encode_dataset, length_stats, to_hf_dataset
from training.manifest import now, write_manifest
from training.targets import TargetMismatch, check_lora_placement, summarise_modules


class LintFailed(RuntimeError):
    pass


def sft_config(cfg: TrainConfig, output_dir: str, use_cpu: bool) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        optim=cfg.optim,
        bf16=cfg.dtype == "bfloat16" and not use_cpu,
        fp16=False,
        use_cpu=use_cpu,
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        disable_tqdm=False,
        save_strategy="no",
        report_to="none",
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        # The dataset arrives tokenized with assistant masks (training/data.py); trl turns the masks into
        # labels and truncates to max_length. No packing: linear-attention state would leak across examples.
        max_length=cfg.max_length,
        router_aux_loss_coef=cfg.router_aux_loss_coef,
        packing=False,
        padding_free=False,
        assistant_only_loss=False,
        completion_only_loss=False,
        dataloader_num_workers=0,
    )


def _print(msg: str) -> None:
    print(msg, flush=True)


def _fresh_output(path: Path) -> None:
    """Refuse to overwrite a directory that is not an adapter we wrote, or a path no directory can go to."""
    try:
        check_output_dir(path, "output")  # a file there, or a parent that is a file: before hours of training
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if path.exists() and any(path.iterdir()) and not (path / "adapter_config.json").exists():
        raise ConfigError(f"output {path} exists and is not an adapter directory; refusing to overwrite it")


def _save_adapter(peft_model: Any, output: Path) -> None:
    """Save next to the target, then swap it in, so a server never sees a half-written adapter."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        peft_model.save_pretrained(str(tmp))
        publish_dir(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_saved_adapter(output: Path, expected_modules: set[str], max_rank: int) -> dict[str, Any]:
    """Lint the saved adapter (config + tensor names) and compare its modules with what was trained."""
    from core.adapter.lint import lint_adapter
    from training.adapter_values import non_finite_problem

    report = lint_adapter(output, max_rank=max_rank)
    saved = {n[len("base_model.model."):] if n.startswith("base_model.model.") else n for n in report.module_names}
    problems = list(report.errors)
    if report.unreadable:
        problems.append("the saved adapter cannot be read")
    if saved != expected_modules:
        missing, extra = sorted(expected_modules - saved), sorted(saved - expected_modules)
        problems.append(f"saved tensors differ from the trained modules (missing {missing[:3]}, extra {extra[:3]})")
    if not report.unreadable:
        diverged = non_finite_problem(output)
        if diverged:
            problems.append(diverged)
    result = report.to_dict()
    result["problems"] = problems
    if problems:
        raise LintFailed("; ".join(problems))
    return result


def _score_only_loss_positions_on_cpu() -> None:
    """trl's fused LM head projects only the positions that carry loss on CUDA, but every position on devices
    without Triton (to keep tile shapes fixed for compilers). On a CPU, with Qwen3's 151,936-column head and the loss
    on ~2% of the tiny twin's tokens, that full pass was most of a step: take the CUDA path's compact scoring there
    too (the same maths; only the positions outside the loss are skipped). A no-op when trl lacks the switch."""
    import trl.trainer.utils as trl_utils

    decide = getattr(trl_utils, "_use_triton", None)
    if decide is None or getattr(decide, "madcat_cpu_compact", False):
        return

    def compact(device: Any) -> bool:
        return getattr(device, "type", None) == "cpu" or decide(device)

    compact.madcat_cpu_compact = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run the whole pipeline; returns the manifest. Raises ConfigError/DataError/... on failure."""
    started = now()
    output = Path(cfg.output)
    _fresh_output(output)
    preflight = None
    if cfg.preflight:
        from training.preflight import format_preflight, run_preflight

        result = run_preflight(cfg)
        _print(format_preflight(result))
        preflight = result.to_dict()
        if not result.ok:
            raise PreflightFailed(result.message)

    import torch

    from training.loading import load_base_model, load_tokenizer, resolve_device
    from training.targets import apply_lora, lora_placement

    device = resolve_device(cfg)
    tokenizer = load_tokenizer(cfg)
    examples: list[Example] = encode_dataset(tokenizer, cfg.dataset, cfg.tools_when_missing)
    stats = length_stats(examples, cfg.max_length)
    _print(
        f"data: {stats['examples']} transcripts from {cfg.dataset}; tokens min/median/max "
        f"{stats['tokens_min']}/{stats['tokens_median']}/{stats['tokens_max']}; "
        f"{stats['assistant_tokens_total']} of {stats['tokens_total']} tokens carry loss"
    )
    if stats["over_max_length"]:
        _print(f"WARNING: {stats['over_max_length']} transcript(s) are longer than max_length={cfg.max_length} "
               "and are truncated (their tail carries no loss)")

    torch.manual_seed(cfg.seed)
    _print(f"loading {cfg.model} ({cfg.experts}, {cfg.dtype}) on {device} ...")
    model, load_report = load_base_model(cfg, device)
    _print(f"loaded in {load_report.seconds:.1f} s: experts {load_report.expert_bytes / 1e9:.2f} GB "
           f"({load_report.expert_layers} layers), dense {load_report.dense_bytes / 1e9:.2f} GB")

    peft_model = apply_lora(model, cfg)
    placement = lora_placement(peft_model)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    _print(f"LoRA r={cfg.lora_r} alpha={cfg.lora_alpha} on {len(placement.modules)} modules "
           f"({trainable:,} trainable parameters):")
    for kind, layers in summarise_modules(placement.modules).items():
        _print(f"  {kind}: layers {layers}")

    from trl import SFTTrainer

    if device.type == "cpu":
        _score_only_loss_positions_on_cpu()
    with tempfile.TemporaryDirectory(prefix="madcat-trainer-") as work:
        trainer = SFTTrainer(
            model=peft_model,
            args=sft_config(cfg, work, use_cpu=device.type == "cpu"),
            train_dataset=to_hf_dataset(examples),
            processing_class=tokenizer,
        )
        # SFTTrainer must not have re-wrapped or re-targeted anything.
        check_lora_placement(trainer.model, placement.modules)
        train_output = trainer.train()
        log_history = list(trainer.state.log_history)
    metrics = dict(train_output.metrics)
    if device.type == "cuda":
        metrics["gpu_peak_allocated_bytes"] = torch.cuda.max_memory_allocated(device)

    _save_adapter(peft_model, output)
    lint = check_saved_adapter(output, placement.modules, cfg.max_lora_rank)
    manifest = write_manifest(
        output, config=cfg.to_dict(), dataset_path=Path(cfg.dataset), data_stats=stats, log_history=log_history,
        train_metrics=metrics, lora_modules=summarise_modules(placement.modules), lint=lint, preflight=preflight,
        load=load_report.to_dict(), started=started, device=str(device),
    )
    losses = [e["loss"] for e in manifest["loss_curve"]]
    _print(f"saved {output} (adapter sha256 {manifest['adapter_sha256'][:12]}…), manifest {manifest_path(output)}")
    if losses:
        _print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} over {metrics.get('train_runtime', 0):.0f} s; lint: ok")
    return manifest


class PreflightFailed(RuntimeError):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = ConfigParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.print_config:
            print(json.dumps(cfg.to_dict(), indent=2))
            return 0
        train(cfg)
    except (ConfigError, DataError) as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2
    except (PreflightFailed, TargetMismatch, LintFailed) as exc:
        print(f"train: stopped: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from training.loading import LoadError

        if isinstance(exc, LoadError):
            print(f"train: error: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
