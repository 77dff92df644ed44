"""A W4A16 copy of a Qwen3-Next checkpoint (the tiny twin), offline: `python -m serving.quantise TWIN_DIR OUT_DIR`.

Data-free round-to-nearest with llm-compressor (`pip install -e '.[quant]'`: llmcompressor 0.14.0.1,
compressed-tensors 0.19.0): `QuantizationModifier(targets="Linear", scheme="W4A16")`, i.e. 4-bit integer
weights, symmetric, one bf16 scale per group of 128 inputs, activations left in 16 bits, written in the
compressed-tensors `pack-quantized` format that vLLM serves with its Marlin kernels. Left unquantised, as
llm-compressor's Qwen3-Next examples leave them and as vLLM 0.25.1 builds them (its Qwen3-Next MoE block creates
the router and the shared-expert gate with no quantisation): `lm_head`, the router `mlp.gate`,
`mlp.shared_expert_gate`; the embedding and the Gated DeltaNet's conv1d, A_log, dt_bias and norm are not
Linear layers, so they stay as they were. Quantised: q/k/v/o_proj, in_proj_qkvz, in_proj_ba, out_proj, the
shared expert and every routed expert (unfused to per-expert Linears first, the checkpoint's own layout).

The copy keeps the twin's tokenizer files and chat template, is checked before it is published (serving/
quant_verify.py: its config's quantization_config, every tensor's name and dtype, every quantised weight
within about half a step of the BF16 weight it came from) and is written next to OUT_DIR then swapped in, with
`w4a16.json` (what it was made from, the check's result). AutoAWQ's GEMM format is not written: see
README ("AWQ + LoRA at small scale").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core.safe_io import InputError, build_model_dir, read_json
from serving.quant_shapes import kernel_shape_problems

STAMP_FILE = "w4a16.json"
ARCHITECTURE = "Qwen3NextForCausalLM"
SCHEME = "W4A16"
GROUP_SIZE = 128
# llm-compressor's ignore list for Qwen3-Next (its examples/awq/qwen3_next_example.py): regexes on module names.
IGNORE = ("lm_head", "re:.*mlp.gate$", "re:.*mlp.shared_expert_gate$")
FORMATS = ("compressed-tensors",)
# Files of the source directory that travel with the weights (the twin's tokenizer and chat template).
CARRIED = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "chat_template.jinja",
           "special_tokens_map.json", "generation_config.json")
INSTALL_HINT = "pip install -e '.[quant]' (llmcompressor==0.14.0.1, compressed-tensors==0.19.0)"


class QuantiseError(ValueError):
    """Bad input or a missing package; str() is the one line for the user."""


@dataclasses.dataclass(frozen=True)
class QuantiseConfig:
    """What `python -m serving.quantise` does; every field is an option of its CLI."""

    source: Path  # a BF16 Qwen3-Next checkpoint directory (python -m serving.tiny_twin DIR --preset w4a16)
    out: Path  # where the W4A16 copy goes (replaced if it is an earlier copy; refused if it is anything else)
    format: str = "compressed-tensors"
    check_tp: tuple[int, ...] = (1, 2)  # tensor-parallel sizes whose kernel shapes must hold
    allow_misaligned: bool = False  # quantise even when vLLM's 4-bit kernels would refuse or pad a shape


def read_source(source: Path, architecture: str = ARCHITECTURE, family: str = "Qwen3-Next",
                hint: str = "give a tiny twin (python -m serving.tiny_twin DIR --preset w4a16)") -> dict[str, Any]:
    """The source's config.json, if it is an unquantised `family` checkpoint with its weights; else QuantiseError."""
    if not source.exists():
        raise QuantiseError(f"no such directory: {source}")
    if not source.is_dir():
        raise QuantiseError(f"{source} is a file; give a checkpoint directory")
    try:
        config = read_json(source / "config.json", "config.json")
    except InputError as exc:
        raise QuantiseError(f"{source} is not a {family} checkpoint: {exc}") from None
    archs = config.get("architectures") if isinstance(config, dict) else None
    if not isinstance(archs, list) or architecture not in archs:
        raise QuantiseError(f"{source} is not a {family} checkpoint (architectures: {archs}); {hint}")
    if config.get("quantization_config"):
        method = config["quantization_config"].get("quant_method", "?")
        raise QuantiseError(f"{source} is already quantised ({method}); give the BF16 checkpoint")
    if not list(source.glob("*.safetensors")):
        raise QuantiseError(f"{source} has no *.safetensors weights")
    return config


def check_config(cfg: QuantiseConfig) -> dict[str, Any]:
    """Everything that can be refused before llm-compressor is imported; returns the source's config.json."""
    if cfg.format not in FORMATS:
        raise QuantiseError(f"format {cfg.format!r} is not written (only {', '.join(FORMATS)})")
    source = read_source(cfg.source)
    if cfg.out.resolve() == cfg.source.resolve():
        raise QuantiseError("OUT_DIR is the source directory; give another directory")
    if cfg.out.exists() and (not cfg.out.is_dir() or (any(cfg.out.iterdir()) and not (cfg.out / STAMP_FILE).exists())):
        raise QuantiseError(f"{cfg.out} exists and is not a W4A16 copy made here; refusing to overwrite it")
    if not cfg.allow_misaligned:
        for tp in cfg.check_tp:
            problems = kernel_shape_problems(source, GROUP_SIZE, tp)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise QuantiseError(f"{cfg.source}: {problems[0]}{more}; build the twin with --preset w4a16, "
                                    "or pass --allow-misaligned")
    return source


def _llmcompressor() -> tuple[Any, Any, Any]:
    try:
        from llmcompressor import oneshot
        from llmcompressor.modeling.moe.linearize import linearize_moe
        from llmcompressor.modifiers.quantization import QuantizationModifier
    except ImportError as exc:
        raise QuantiseError(f"llm-compressor is not installed ({exc.name}): {INSTALL_HINT}") from None
    return oneshot, linearize_moe, QuantizationModifier


def _write(tmp: Path, cfg: QuantiseConfig, started: float) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from serving.quant_verify import compare_logits, inspect_checkpoint

    oneshot, linearize_moe, modifier = _llmcompressor()
    model = AutoModelForCausalLM.from_pretrained(cfg.source, dtype=torch.bfloat16)
    # transformers 5 fuses the routed experts into 3-D tensors on load; llm-compressor unfuses them into one Linear
    # per expert and projection, so they are quantised and saved as the checkpoint's experts.N.*_proj.
    linearize_moe(model)
    oneshot(model=model, recipe=modifier(targets="Linear", scheme=SCHEME, ignore=list(IGNORE)))
    model.save_pretrained(tmp, save_compressed=True)
    for name in CARRIED:
        if (cfg.source / name).is_file():
            shutil.copyfile(cfg.source / name, tmp / name)
    report = inspect_checkpoint(tmp, cfg.source)
    if report["problems"]:
        raise QuantiseError(f"the W4A16 copy failed its check: {report['problems'][0]} "
                            f"({len(report['problems'])} problem(s))")
    stamp = {"source": str(cfg.source.resolve()), "format": cfg.format, "scheme": SCHEME, "group_size": GROUP_SIZE,
             "ignore": list(IGNORE), "check": report, "logits": compare_logits(cfg.source, tmp),
             "seconds": round(time.monotonic() - started, 1),
             "versions": _versions()}
    (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("llmcompressor", "compressed-tensors", "transformers", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def quantise(cfg: QuantiseConfig) -> Path:
    """Write the W4A16 copy of cfg.source to cfg.out (atomically) and return it; QuantiseError on bad input."""
    check_config(cfg)
    _llmcompressor()  # one line, before any work, when the extra is missing
    started = time.monotonic()
    try:
        return build_model_dir(cfg.out, STAMP_FILE, "a W4A16 copy made here", lambda tmp: _write(tmp, cfg, started))
    except ValueError as exc:  # build_model_dir's refusal, or the check's
        raise QuantiseError(str(exc)) from None


def parse_tp(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--check-tp is a comma-separated list of sizes (e.g. 1,2), got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--check-tp sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.quantise",
        description="Write a W4A16 (4-bit weights, group 128, symmetric) compressed-tensors copy of a Qwen3-Next "
                    "checkpoint, data-free, with llm-compressor; lm_head, the router and the shared-expert gate stay BF16.")
    parser.add_argument("source", type=Path, help="BF16 Qwen3-Next checkpoint (python -m serving.tiny_twin DIR --preset w4a16)")
    parser.add_argument("out", type=Path, help="output directory (an earlier copy made here is replaced)")
    parser.add_argument("--format", choices=FORMATS, default="compressed-tensors",
                        help="checkpoint format (AutoAWQ's GEMM format is not written; see README)")
    parser.add_argument("--check-tp", type=parse_tp, default=(1, 2), metavar="N[,N]",
                        help="tensor-parallel sizes at which vLLM's 4-bit kernels must take every shape (default 1,2)")
    parser.add_argument("--allow-misaligned", action="store_true",
                        help="quantise even when a shape would be refused or padded by vLLM's 4-bit kernels")
    parser.add_argument("--json", action="store_true", help="print the check's report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = QuantiseConfig(source=args.source, out=args.out, format=args.format, check_tp=args.check_tp,
                         allow_misaligned=args.allow_misaligned)
    try:
        out = quantise(cfg)
    except (QuantiseError, OSError) as exc:
        print(f"serving.quantise: error: {exc}", file=sys.stderr)
        return 2
    stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    check = stamp["check"]
    if args.json:
        print(json.dumps(check, indent=2))
    print(f"wrote {out}: {check['quantised_modules']} Linear layers W4A16 (group {check['group_size']}), "
          f"{len(check['unquantised_modules'])} left BF16, {check['size_bytes'] / 1e6:.1f} MB of weights, "
          f"{stamp['seconds']} s; logits vs BF16 on a {stamp['logits']['tokens']}-token prompt: max |diff| "
          f"{stamp['logits']['max_abs_diff']}, mean {stamp['logits']['mean_abs_diff']}, top-1 agreement "
          f"{stamp['logits']['top1_agreement']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
