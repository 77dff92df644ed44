"""The training configuration: one dataclass, read from YAML, with command-line overrides.

    python -m training.train --config training/configs/madcat.yaml [--model DIR] [--max-steps N] ...

Every field can be set in the YAML file and has its own option (``--max-steps N`` or ``--max_steps N``),
generated from the dataclass with its help text (ConfigParser); ``--set key=value`` takes a field's value
as text, as the YAML file would.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser

from core.adapter.targets import SUPPORTED_TARGETS
from core.cli_args import OneLineParser, float_in
from core.safe_io import InputError, read_yaml

# What vLLM can serve as LoRA on Qwen3-Next (core/adapter/targets.py SUPPORTED_TARGETS), written the way peft
# matches list entries: a module whose name equals the entry or ends with "." + entry.
DEFAULT_TARGETS: tuple[str, ...] = tuple(t for t in SUPPORTED_TARGETS if t != "shared_expert_gate")

# How the routed experts are held:
#   nf4-grouped     experts stored nf4 (bitsandbytes), dequantised one layer at a time for transformers 5.x's
#                   grouped (fused) expert kernel; loaded layer by layer, never the whole model in bf16.
#   bf16-grouped    plain transformers 5.x: experts in bf16 with the grouped kernel (~156 GB for the full model:
#                   only for the benchmark's reduced-depth replica and the tiny twin).
#   bnb-per-expert  transformers 4.57.x only: experts are 512 nn.Linear per layer that bitsandbytes quantises at
#                   load; fits, but the per-expert Python loop is ~10x slower.
#   int8-grouped    like nf4-grouped with row-wise int8 experts (bitsandbytes int8_vectorwise_quant): ~78 GB of
#                   experts for Qwen3-Coder-Next, closer to bf16 (reports/records/benchmarks/qlora_full.md).
#   none            a dense model without routed experts (SmolLM2 for the known-answer test): plain from_pretrained.
EXPERT_MODES = ("nf4-grouped", "int8-grouped", "bf16-grouped", "bnb-per-expert", "none")
DTYPES = ("bfloat16", "float32")
DEVICES = ("auto", "cuda", "cpu")


class ConfigError(ValueError):
    """A configuration that cannot run; the message says what to change."""


@dataclass
class TrainConfig:
    model: str = field(default="Qwen/Qwen3-Coder-Next", metadata={"help": 'model path or id (a directory with config.json and safetensors)'})
    dataset: str = field(default="dataset/madcat-system.jsonl", metadata={"help": 'dataset JSONL (world-sheet transcripts)'})
    output: str = field(default="out/madcat-system-lora", metadata={"help": 'adapter output directory'})
    # model and quantisation
    experts: str = field(default="nf4-grouped", metadata={"help": f"routed experts: {', '.join(EXPERT_MODES)}"})
    dtype: str = field(default="bfloat16", metadata={"help": 'dense weights and compute: bfloat16 or float32'})
    device: str = field(default="auto", metadata={"help": 'auto, cuda or cpu'})
    bnb_4bit_quant_type: str = field(default="nf4", metadata={"help": 'nf4 or fp4 (nf4-grouped experts)'})
    bnb_4bit_use_double_quant: bool = field(default=True, metadata={"help": 'quantise the 4-bit scales too'})
    bnb_4bit_blocksize: int = field(default=64, metadata={"help": '4-bit quantisation block size'})
    # LoRA
    lora_r: int = field(default=16, metadata={"help": 'LoRA rank'})
    lora_alpha: int = field(default=16, metadata={"help": 'LoRA alpha'})
    lora_dropout: float = field(default=0.05, metadata={"help": 'LoRA dropout, in [0, 1)'})
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS), metadata={"help": 'modules that get LoRA (core/adapter/targets.py lists what vLLM serves)'})
    max_lora_rank: int = field(default=16, metadata={"help": "the server's --max-lora-rank; the saved adapter is linted against it"})
    # optimisation
    epochs: float = field(default=3.0, metadata={"help": 'training epochs'})
    max_steps: int = field(default=-1, metadata={"help": 'optimizer steps (overrides epochs when > 0)'})
    learning_rate: float = field(default=5e-5, metadata={"help": 'learning rate', "aliases": ["--lr"]})
    lr_scheduler_type: str = field(default="linear", metadata={"help": "transformers' learning-rate schedule"})
    warmup_steps: float = field(default=0.0, metadata={"help": 'warm-up steps; below 1, a fraction of the steps (transformers 5 semantics)'})
    weight_decay: float = field(default=0.0, metadata={"help": 'weight decay'})
    optim: str = field(default="adamw_torch", metadata={"help": "transformers' optimizer name"})
    per_device_train_batch_size: int = field(default=1, metadata={"help": 'examples per step (1 for Qwen3-Next: padding would run through the linear-attention state; dense models with experts: none may batch)'})
    gradient_accumulation_steps: int = field(default=8, metadata={"help": 'gradient accumulation steps'})
    max_length: int = field(default=4096, metadata={"help": 'max tokens per example'})
    # trl adds the MoE load-balancing loss (Qwen3-Next's coefficient 0.001) by default. The router is frozen,
    # so that loss could only bend the LoRA towards re-balancing the routing; the adapter trains on the
    # language-model loss alone.
    router_aux_loss_coef: float = field(default=0.0, metadata={"help": 'MoE load-balancing loss coefficient (0: the frozen router is left alone)'})
    gradient_checkpointing: bool = field(default=True, metadata={"help": 'recompute activations in backward (required for nf4/int8-grouped on a GPU)'})
    seed: int = field(default=42, metadata={"help": 'random seed'})
    logging_steps: int = field(default=1, metadata={"help": 'log every N steps'})
    # data
    tools_when_missing: str = field(default="world", metadata={"help": 'tools for a line without `tools`: world (evals/world/tools.json) or none'})
    # preflight
    gpu_memory_gb: float | None = field(default=None, metadata={"help": 'GPU memory to plan for when no GPU is visible (GB; an H200: 141)'})
    preflight: bool = field(default=True, metadata={"help": 'check memory and kernels before loading the model'})


    def validate(self) -> None:
        for name, value in self.to_dict().items():  # YAML's .nan/.inf and `--lr nan` parse as floats
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value}")
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**31 - 1:
                raise ConfigError(f"{name} is out of range ({str(value)[:20]}…)")
        if self.epochs < 0 or self.epochs > 10_000 or self.learning_rate > 1:
            raise ConfigError("epochs must be between 0 and 10000 and learning_rate at most 1")
        if self.experts not in EXPERT_MODES:
            raise ConfigError(f"experts must be one of {', '.join(EXPERT_MODES)}, got {self.experts!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.bnb_4bit_quant_type not in ("nf4", "fp4"):
            raise ConfigError(f"bnb_4bit_quant_type must be nf4 or fp4, got {self.bnb_4bit_quant_type!r}")
        if self.lora_r < 1 or self.lora_alpha <= 0:
            raise ConfigError("lora_r must be >= 1 and lora_alpha > 0")
        if self.lora_r > self.max_lora_rank:
            raise ConfigError(
                f"lora_r={self.lora_r} is above the server's max_lora_rank={self.max_lora_rank}; vLLM would refuse it"
            )
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.target_modules:
            raise ConfigError("target_modules is empty")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ConfigError("set epochs > 0 or max_steps > 0")
        if self.per_device_train_batch_size < 1 or (self.per_device_train_batch_size != 1 and self.experts != "none"):
            # batch > 1 pads; padding tokens would run through a Qwen3-Next's linear-attention state. Dense models
            # (experts: none) pad harmlessly: their attention masks the padding.
            raise ConfigError("per_device_train_batch_size must be 1 for a Qwen3-Next model (experts other than "
                              "'none'; use gradient_accumulation_steps for a larger batch), and >= 1 for a dense one")
        if self.gradient_accumulation_steps < 1 or self.max_length < 16 or self.learning_rate <= 0:
            raise ConfigError("gradient_accumulation_steps >= 1, max_length >= 16 and learning_rate > 0 are required")
        if self.tools_when_missing not in ("world", "none"):
            raise ConfigError("tools_when_missing must be 'world' or 'none'")
        if self.experts in ("nf4-grouped", "int8-grouped") and not self.gradient_checkpointing and self.device != "cpu":
            raise ConfigError(
                f"experts: {self.experts} needs gradient_checkpointing: true (otherwise every layer keeps its "
                "dequantised bf16 experts for backward, ~3 GB a layer)"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(name: str, raw: Any) -> Any:
    """A YAML or command-line value converted to the field's type."""
    default = TrainConfig().__getattribute__(name)
    if isinstance(raw, str):
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name} must be true or false, got {raw!r}")
        if name == "target_modules":
            return [t.strip() for t in raw.split(",") if t.strip()]
        if name == "gpu_memory_gb":
            return None if raw.lower() in ("", "none", "null") else float(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return raw
    if name == "target_modules":
        if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
            raise ConfigError("target_modules must be a list of module names")
        return list(raw)
    if isinstance(default, bool) and not isinstance(raw, bool):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    if isinstance(default, float) and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if default is not None and not isinstance(raw, type(default)):
        raise ConfigError(f"{name} must be a {type(default).__name__}, got {raw!r}")
    return raw


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config (unknown keys are an error) and apply overrides (field -> value or string)."""
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = read_yaml(p, "config")
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {p} must be a mapping of field: value")
        values.update(data)
    values.update(overrides or {})
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)} (known: {', '.join(sorted(_FIELDS))})")
    try:
        cfg = TrainConfig(**{k: _coerce(k, v) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"bad config value: {exc}") from None
    cfg.validate()
    return cfg


class ConfigParser(HfArgumentParser, OneLineParser):
    """A command line generated from TrainConfig (transformers' HfArgumentParser): ``--FIELD`` (or
    ``--field-name``) for every field, the field's help as its help, plus ``--config`` and ``--set``.
    Errors stay one line (OneLineParser); a number must be finite."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(TrainConfig, **kwargs)
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        for action in self._actions:
            if action.dest in fields:
                action.default = argparse.SUPPRESS  # only the options given override the YAML
                if action.type is float:
                    action.type = float_in()  # `--lr nan` is a usage error
        self.add_argument("--config", help="YAML config (training/configs/madcat.yaml, training/configs/tiny.yaml)")
        self.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="set any config field from text, as YAML would (repeatable)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The YAML config, then each --set, then each option given."""
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    overrides.update({k: v for k, v in vars(args).items() if k in _FIELDS})
    return load_config(args.config, overrides)
