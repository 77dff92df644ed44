"""W4A16 copies of a dense Qwen2 checkpoint (Qwen2.5-Coder, `python -m serving.qwen_coder`), two ways:
`python -m serving.quantise_qwen2 SOURCE OUT --method awq|rtn`.

- `awq`: real AWQ, as an AWQ base is made: llm-compressor 0.14.0.1's `AWQModifier` (activation-aware scales
  searched per layer, folded into the preceding norm or layer; its default Qwen2 mappings: input_layernorm ->
  q/k/v, v_proj -> o_proj (skipped by llm-compressor when the widths differ, as grouped-query attention makes them),
  post_attention_layernorm -> gate/up, up_proj -> down_proj), then `QuantizationModifier` rounds the scaled weights.
  Calibrated on lines of the project's dataset (default dataset/madcat-system.jsonl, or a `dataset build`),
  rendered with the model's own chat template exactly as training renders them (training/data.py), cut to
  --max-length tokens; which lines, how many tokens, the file's sha256 go into the stamp.
- `rtn`: the data-free round-to-nearest copy `serving.quantise` makes of the twin.
Both: 4-bit integer weights, symmetric, a bf16 scale per group of 128 inputs, activations 16-bit, every Linear
but `lm_head`, written as compressed-tensors `pack-quantized` (what vLLM serves with its Marlin kernels). Refused
before any work: a shape vLLM's Marlin GEMM would not take at the --check-tp sizes (serving/quant_shapes.py).
Checked before it is published (serving/quant_verify.py): the config, every tensor's name and dtype, every 4-bit
weight within about half a step of the weight it was rounded from (AWQ: the smoothed weight), the rest bit-equal
to it; for AWQ, the only tensors that differ from the source are the norms it scaled. The stamp `w4a16.json`
holds what it was made from, the check and the logits against the source on one chat prompt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import random
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.cli_args import OneLineParser, int_in
from core.safe_io import build_model_dir
from serving.quant_shapes import dense_kernel_shape_problems
from serving.quantise import (
    CARRIED,
    GROUP_SIZE,
    INSTALL_HINT,
    SCHEME,
    STAMP_FILE,
    QuantiseError,
    _versions,
    parse_tp,
)
from serving.quantise import read_source as read_checkpoint

ARCHITECTURE = "Qwen2ForCausalLM"
METHODS = ("awq", "rtn")
IGNORE = ("lm_head",)
DEFAULT_CALIBRATION = "dataset/madcat-system.jsonl"
# AWQ folds its scales into these (llm-compressor's default mappings' smooth layers that are not quantised).
SMOOTHED = ("input_layernorm.weight", "post_attention_layernorm.weight", "v_proj.bias")


@dataclasses.dataclass(frozen=True)
class Qwen2QuantiseConfig:
    source: Path  # a BF16 Qwen2 checkpoint directory (python -m serving.qwen_coder)
    out: Path  # where the copy goes (replaced if it is an earlier copy made here; refused if anything else)
    method: str  # "awq" or "rtn"
    calibration: Path = Path(DEFAULT_CALIBRATION)  # JSONL transcripts (awq only)
    samples: int = 128  # calibration lines (all of them when the file has fewer)
    max_length: int = 2048  # tokens a calibration line is cut to
    seed: int = 0  # which lines, when the file has more than `samples`
    device: str = "auto"  # where llm-compressor runs: cuda when there is one
    check_tp: tuple[int, ...] = (1,)  # tensor-parallel sizes whose kernel shapes must hold
    allow_misaligned: bool = False


def read_source(source: Path) -> dict[str, Any]:
    """The source's config.json, if it is an unquantised Qwen2 checkpoint with its weights; else QuantiseError."""
    return read_checkpoint(source, ARCHITECTURE, "Qwen2", "give the one `python -m serving.qwen_coder` prepares")


def check_config(cfg: Qwen2QuantiseConfig) -> dict[str, Any]:
    """Everything refused before llm-compressor is imported; the source's config.json."""
    if cfg.method not in METHODS:
        raise QuantiseError(f"method {cfg.method!r} is not one of {', '.join(METHODS)}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise QuantiseError(f"device {cfg.device!r} is not auto, cpu or cuda")
    config = read_source(cfg.source)
    if cfg.out.resolve() == cfg.source.resolve():
        raise QuantiseError("OUT_DIR is the source directory; give another directory")
    if cfg.out.exists() and (not cfg.out.is_dir() or (any(cfg.out.iterdir()) and not (cfg.out / STAMP_FILE).exists())):
        raise QuantiseError(f"{cfg.out} exists and is not a W4A16 copy made here; refusing to overwrite it")
    if cfg.method == "awq" and not cfg.calibration.is_file():
        raise QuantiseError(f"no calibration file {cfg.calibration} (JSONL transcripts: dataset/madcat-system.jsonl "
                            "or `python -m dataset build --out FILE`)")
    if not cfg.allow_misaligned:
        for tp in cfg.check_tp:
            problems = dense_kernel_shape_problems(config, GROUP_SIZE, tp)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise QuantiseError(f"{cfg.source}: {problems[0]}{more}; vLLM's Marlin kernels would not take it "
                                    "(pass --allow-misaligned to quantise anyway)")
    return config


def calibration_set(tokenizer: Any, cfg: Qwen2QuantiseConfig) -> tuple[Any, dict[str, Any]]:
    """The calibration lines as a tokenised `datasets.Dataset`, rendered as training renders them, and what they
    were (for the stamp)."""
    from datasets import Dataset

    from training.data import DataError, encode_dataset

    try:
        examples = encode_dataset(tokenizer, cfg.calibration)
    except DataError as exc:
        raise QuantiseError(f"calibration: {exc}") from None
    chosen = examples if len(examples) <= cfg.samples else random.Random(cfg.seed).sample(examples, cfg.samples)
    ids = [e.input_ids[: cfg.max_length] for e in chosen]
    info = {"file": str(cfg.calibration), "sha256": hashlib.sha256(cfg.calibration.read_bytes()).hexdigest(),
            "lines": len(chosen), "of_lines": len(examples), "seed": cfg.seed, "max_length": cfg.max_length,
            "tokens": sum(len(i) for i in ids), "cut": sum(len(e.input_ids) > cfg.max_length for e in chosen),
            "sources": [e.source for e in chosen], "template": "the model's own (tokenizer chat template)"}
    return Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids]}), info


def recipe(method: str) -> list[Any]:
    """llm-compressor 0.14's recipe: AWQ's scales (awq only), then W4A16 group-128 rounding of every Linear but
    lm_head (the API its deprecation shim for the old `modifiers.awq.AWQModifier` names)."""
    try:
        from llmcompressor.modifiers.quantization import QuantizationModifier
        from llmcompressor.modifiers.transform import AWQModifier
    except ImportError as exc:
        raise QuantiseError(f"llm-compressor is not installed ({exc.name}): {INSTALL_HINT}") from None
    rounding = QuantizationModifier(targets="Linear", scheme=SCHEME, ignore=list(IGNORE))
    return [AWQModifier(), rounding] if method == "awq" else [rounding]


def _device(choice: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if choice == "auto" else choice


def smoothed_tensors(source: dict[str, Any], reference: dict[str, Any], quantised: set[str]) -> tuple[list[str], list[str]]:
    """Tensors kept 16-bit in the copy that differ from the source: (all of them, those AWQ has no business
    changing: anything but the smooth layers' norms and v_proj's bias)."""
    import torch

    changed = sorted(k for k, v in reference.items()
                     if k in source and k not in quantised and not torch.equal(v, source[k]))
    return changed, [k for k in changed if not k.endswith(SMOOTHED)]


@contextlib.contextmanager
def _no_pinning_without_a_gpu() -> Iterator[None]:
    """llm-compressor 0.14.0.1's AWQ pins its cached activations (page-locked memory for faster copies to the GPU)
    unconditionally, which raises on a host without one; there, pinning has nothing to speed up and is skipped."""
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if torch.cuda.is_available():
        yield
        return
    original = IntermediatesCache.pin_memory
    IntermediatesCache.pin_memory = lambda self, batch_index, input_names=None: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        IntermediatesCache.pin_memory = original  # type: ignore[method-assign]


def _write(tmp: Path, cfg: Qwen2QuantiseConfig, started: float) -> None:
    import torch
    from llmcompressor import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from serving.quant_verify import _tensors, compare_logits, inspect_checkpoint

    device = _device(cfg.device)
    tokenizer = AutoTokenizer.from_pretrained(cfg.source)
    model = AutoModelForCausalLM.from_pretrained(cfg.source, dtype=torch.bfloat16).to(device)
    kwargs: dict[str, Any] = {}
    calibration = None
    if cfg.method == "awq":
        data, calibration = calibration_set(tokenizer, cfg)
        kwargs = {"dataset": data, "num_calibration_samples": len(data), "max_seq_length": cfg.max_length,
                  "shuffle_calibration_samples": False, "tokenizer": tokenizer}
    quantise_started = time.monotonic()
    with _no_pinning_without_a_gpu():
        oneshot(model=model, recipe=recipe(cfg.method), **kwargs)
    quantise_seconds = time.monotonic() - quantise_started
    source = _tensors(cfg.source)
    # What the 4-bit weights were rounded from: the model as llm-compressor left it (AWQ: scaled), before packing.
    state = model.state_dict()
    reference = {k: state[k].detach().to("cpu", copy=True) for k in source if k in state}
    model.save_pretrained(tmp, save_compressed=True)
    del model, state
    for name in CARRIED:
        if (cfg.source / name).is_file():
            shutil.copyfile(cfg.source / name, tmp / name)
    report = inspect_checkpoint(tmp, cfg.source, reference)
    packed = {k.removesuffix("_packed") for k in _tensors(tmp) if k.endswith(".weight_packed")}
    changed, unexpected = smoothed_tensors(source, reference, packed)
    if cfg.method == "rtn" and changed:
        report["problems"].append(f"{len(changed)} tensor(s) changed before rounding, e.g. {changed[0]}")
    if unexpected:
        report["problems"].append(f"{len(unexpected)} 16-bit tensor(s) differ from the source that AWQ does not "
                                  f"scale, e.g. {unexpected[0]}")
    if report["problems"]:
        raise QuantiseError(f"the W4A16 copy failed its check: {report['problems'][0]} "
                            f"({len(report['problems'])} problem(s))")
    stamp = {"method": cfg.method, "source": str(cfg.source.resolve()), "format": "compressed-tensors",
             "scheme": SCHEME, "group_size": GROUP_SIZE, "ignore": list(IGNORE), "device": device,
             "calibration": calibration, "recipe": [type(m).__name__ for m in recipe(cfg.method)],
             "smoothed_tensors": len(changed), "check": report, "logits": compare_logits(cfg.source, tmp),
             "quantise_seconds": round(quantise_seconds, 1), "seconds": round(time.monotonic() - started, 1),
             "versions": _versions()}
    (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def quantise_qwen2(cfg: Qwen2QuantiseConfig) -> Path:
    """Write the W4A16 copy of cfg.source to cfg.out (atomically); QuantiseError on bad input or a failed check."""
    check_config(cfg)
    recipe(cfg.method)  # one line, before any work, when the extra is missing
    started = time.monotonic()
    try:
        return build_model_dir(cfg.out, STAMP_FILE, "a W4A16 copy made here", lambda tmp: _write(tmp, cfg, started))
    except ValueError as exc:
        raise QuantiseError(str(exc)) from None


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m serving.quantise_qwen2",
                      description="A W4A16 (4-bit, group 128, symmetric) compressed-tensors copy of a BF16 Qwen2 "
                                  "checkpoint: real AWQ calibrated on the project's dataset, or data-free RTN.")
    p.add_argument("source", type=Path, help="BF16 Qwen2 checkpoint (python -m serving.qwen_coder)")
    p.add_argument("out", type=Path, help="output directory (an earlier copy made here is replaced)")
    p.add_argument("--method", choices=METHODS, required=True, help="awq (calibrated) or rtn (data-free)")
    p.add_argument("--calibration", type=Path, default=Path(DEFAULT_CALIBRATION),
                   help=f"JSONL transcripts for AWQ (default {DEFAULT_CALIBRATION})")
    p.add_argument("--samples", type=int_in(1, 100_000), default=128, help="calibration lines (default 128)")
    p.add_argument("--max-length", type=int_in(16, 32_768), default=2048,
                   help="tokens a calibration line is cut to (default 2048)")
    p.add_argument("--seed", type=int_in(0, 2**32 - 1), default=0, help="which lines, when there are more")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--check-tp", type=parse_tp, default=(1,), metavar="N[,N]",
                   help="tensor-parallel sizes at which vLLM's Marlin kernels must take every shape (default 1; "
                        "Qwen2.5-Coder-0.5B's o_proj is 448 rows a rank at 2)")
    p.add_argument("--allow-misaligned", action="store_true", help="quantise even when a shape would be refused")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    cfg = Qwen2QuantiseConfig(source=a.source, out=a.out, method=a.method, calibration=a.calibration,
                              samples=a.samples, max_length=a.max_length, seed=a.seed, device=a.device,
                              check_tp=a.check_tp, allow_misaligned=a.allow_misaligned)
    try:
        out = quantise_qwen2(cfg)
    except (QuantiseError, OSError) as exc:
        print(f"serving.quantise_qwen2: error: {exc}", file=sys.stderr)
        return 2
    stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    check, logits, cal = stamp["check"], stamp["logits"], stamp["calibration"]
    print(f"wrote {out}: {stamp['method']}, {check['quantised_modules']} Linear layers W4A16 (group "
          f"{check['group_size']}), {len(check['unquantised_modules'])} left BF16, {check['size_bytes'] / 1e6:.1f} MB"
          + (f", calibrated on {cal['lines']} lines ({cal['tokens']} tokens)" if cal else "")
          + f"; {stamp['quantise_seconds']} s quantising, {stamp['seconds']} s in all; logits vs BF16 on a "
          f"{logits['tokens']}-token prompt: mean |diff| {logits['mean_abs_diff']}, top-1 agreement "
          f"{logits['top1_agreement']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
