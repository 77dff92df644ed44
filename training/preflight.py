"""Will this training run fit, and will it be fast?  `python -m training.preflight --config FILE`.

Reads only the model's config.json (no weights) and the training set, whose token lengths it counts
with the model directory's own tokenizer or, without one, Qwen3's (core/qwen_tokenizer.py), and
estimates peak GPU memory at the longest sequence training will see (the dataset's longest line, at
most max_length; no packing):
- weights: every module kind counted from the config; routed experts at 4-bit (nf4 + its block
  statistics) or bf16, the rest in the compute dtype;
- LoRA: its parameters, gradients and Adam states (fp32: 16 bytes a parameter);
- transient: one layer's dequantised experts (nf4-grouped, int8-grouped);
- activations at that length: with gradient checkpointing one saved hidden state per layer plus one
  layer's worth while it is recomputed, the loss over the vocabulary, and allocator headroom.
The activation terms are calibrated against the lent-H100 replica (reports/records/benchmarks/qlora.md).

It also reports the Gated DeltaNet kernels: flash-linear-attention (fla) + Triton >= 3.7.1, or
fla + tilelang on Hopper (fla refuses Triton 3.4-3.7.0 there for the backward pass), and
causal-conv1d. Without them transformers runs the reference torch path, correct but much slower;
the preflight says so loudly, and keeps a broken fla out of the way so training does not crash in
its first backward pass.

Exit codes: 0 fits, 1 will not fit (the message says the fix), 2 bad input.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.safe_io import InputError, read_json
from training.config import ConfigError, ConfigParser, TrainConfig, config_from_args
from training.memory import GB, KNOWN_CONFIGS, Architecture, MemoryEstimate, estimate_memory

# ----------------------------------------------------------------------------- Gated DeltaNet kernels


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - not installed
        return None


def _parse(v: str | None) -> tuple[int, ...]:
    out = []
    for part in (v or "0").split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


@dataclass
class KernelReport:
    fla: str | None
    triton: str | None
    tilelang: str | None
    causal_conv1d: str | None
    gpu: str | None
    hopper: bool
    gdn_fast: bool
    conv_fast: bool
    reason: str
    blocked_fla: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gdn_kernels(device_capability: tuple[int, int] | None = None, gpu_name: str | None = None) -> KernelReport:
    """Which Gated DeltaNet path transformers will take, and why."""
    fla = _version("fla-core") or _version("flash-linear-attention")
    if fla is None and importlib.util.find_spec("fla") is not None:
        fla = "unknown"
    triton = _version("triton")
    tilelang = _version("tilelang")
    conv = _version("causal-conv1d") or _version("causal_conv1d")
    hopper = bool(device_capability and device_capability[0] == 9)
    if fla is None:
        fast, reason = False, "flash-linear-attention is not installed"
    elif not triton:
        fast, reason = False, "Triton is not installed"
    elif hopper and (3, 4, 0) <= _parse(triton) < (3, 7, 1) and not tilelang:
        fast, reason = False, (
            f"fla refuses Triton {triton} on Hopper for the backward pass (wrong gradients, fixed in Triton 3.7.1); "
            "install triton>=3.7.1 (torch>=2.12) or tilelang"
        )
    else:
        fast = True
        reason = f"fla {fla} with {'tilelang ' + tilelang if hopper and tilelang else 'Triton ' + triton}"
    return KernelReport(fla=fla, triton=triton, tilelang=tilelang, causal_conv1d=conv, gpu=gpu_name,
                        hopper=hopper, gdn_fast=fast, conv_fast=conv is not None, reason=reason)


def block_unusable_fla(report: KernelReport) -> bool:
    """Keep an installed-but-unusable fla from being imported by transformers (it would fail in backward).

    Must run before transformers imports the Qwen3-Next modeling code; returns True if it blocked fla.
    """
    if report.fla is None or report.gdn_fast:
        return False
    if not block_fla():
        return False
    report.blocked_fla = True
    return True


def block_fla() -> bool:
    """Make `import fla` fail, so transformers takes the torch Gated DeltaNet path (also the dry run's
    `--gdn torch`). Must run before transformers imports the Qwen3-Next modeling code; True if it did."""
    if "transformers.models.qwen3_next.modeling_qwen3_next" in sys.modules:
        return False
    for name in ("fla", "fla.ops", "fla.ops.gated_delta_rule"):
        sys.modules[name] = None  # type: ignore[assignment] - makes `import fla` raise ImportError
    return True


SLOW_BANNER = (
    "!" * 78 + "\n"
    "!! Gated DeltaNet: SLOW torch reference path ({reason}).\n"
    "!! Training is correct but the 36 linear-attention layers run a Python loop over 64-token chunks.\n"
    "!! Fix: pip install flash-linear-attention with triton>=3.7.1 (or tilelang on Hopper), causal-conv1d.\n"
    + "!" * 78
)


# ----------------------------------------------------------------------------- the report


def read_model_config(model: str) -> tuple[dict[str, Any], str]:
    p = Path(model).expanduser()
    if (p / "config.json").is_file():
        try:  # not UTF-8, not JSON, nested too deeply, a number of thousands of digits: one line
            raw = read_json(p / "config.json", "model config.json")
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p / 'config.json'} is not a model config (a JSON object), got {type(raw).__name__}")
        return raw, str(p / "config.json")
    if model in KNOWN_CONFIGS:
        return dict(KNOWN_CONFIGS[model]), f"built-in architecture of {model}"
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(model, "config.json", local_files_only=True)
        return json.loads(Path(path).read_text(encoding="utf-8")), path
    except Exception:  # noqa: BLE001
        raise ConfigError(f"model {model!r}: no config.json found (pass a local model directory)") from None


def gpu_budget(cfg: TrainConfig) -> tuple[float, str, tuple[int, int] | None]:
    """(bytes available, description, compute capability) of the GPU the run will use."""
    try:
        import torch

        if cfg.device != "cpu" and torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            free, _total = torch.cuda.mem_get_info(0)
            return float(free), f"{props.name} ({free / GB:.1f} GB free)", (props.major, props.minor)
    except Exception:  # noqa: BLE001 - no usable CUDA
        pass
    if cfg.gpu_memory_gb:
        gb = cfg.gpu_memory_gb
        return gb * GB * 0.97, f"planned GPU of {gb:g} GB (none visible here)", (9, 0) if gb > 70 else None
    return float("inf"), "no GPU (CPU run: GPU memory not checked)", None


@dataclass
class DatasetLengths:
    """The training set's token lengths as training renders them (chat template + tools)."""

    path: str
    tokenizer: str
    examples: int = 0
    longest: int = 0
    over_max_length: int = 0
    error: str | None = None  # why it was not counted (then the estimate is at max_length)


def _tokenizer_dir(model: str) -> str | None:
    """A local model directory with its own tokenizer, else None (Qwen3's tokenizer is used)."""
    p = Path(model).expanduser()
    return str(p) if (p / "tokenizer_config.json").is_file() or (p / "tokenizer.json").is_file() else None


@functools.lru_cache(maxsize=8)
def _count_dataset(path: str, stamp: tuple[int, int], tokenizer_dir: str | None, tools_when_missing: str
                   ) -> tuple[str, list[int]]:
    from dataset.tokens import load_counter
    from training.data import load_transcripts

    counter = load_counter(tokenizer_dir)
    return counter.name, [counter.count(t, tools_when_missing) for _, t in load_transcripts(path)]


def dataset_lengths(cfg: TrainConfig) -> DatasetLengths:
    """Count cfg.dataset with the model's own tokenizer (a local model directory) or Qwen3's; never raises."""
    tokenizer_dir = _tokenizer_dir(cfg.model)
    name = tokenizer_dir or "Qwen3"
    if not Path(cfg.dataset).is_file():
        return DatasetLengths(path=cfg.dataset, tokenizer=name, error="no such file")
    try:
        stat = Path(cfg.dataset).stat()
        name, lengths = _count_dataset(cfg.dataset, (stat.st_mtime_ns, stat.st_size), tokenizer_dir,
                                       cfg.tools_when_missing)
    except Exception as exc:  # noqa: BLE001 - a missing file, tokenizer or bad line: say why, estimate anyway
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        return DatasetLengths(path=cfg.dataset, tokenizer=name, error=first)
    if not lengths:
        return DatasetLengths(path=cfg.dataset, tokenizer=name, error="no lines")
    return DatasetLengths(path=cfg.dataset, tokenizer=name, examples=len(lengths), longest=max(lengths),
                          over_max_length=sum(1 for n in lengths if n > cfg.max_length))


@dataclass
class Preflight:
    ok: bool
    message: str
    estimate: MemoryEstimate | None
    kernels: KernelReport
    device: str
    config_source: str
    dataset: DatasetLengths | None = None
    tokens: int | None = None  # the sequence length the estimate is for

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "device": self.device, "config_source": self.config_source,
                "estimate": self.estimate.to_dict() if self.estimate else None, "kernels": self.kernels.to_dict(),
                "dataset": asdict(self.dataset) if self.dataset else None, "tokens": self.tokens}


def _fixes(arch: Architecture, cfg: TrainConfig, budget: float, est: MemoryEstimate, gdn_fast: bool) -> list[str]:
    fixes = []
    if cfg.experts in ("bf16-grouped", "int8-grouped"):
        alt = estimate_memory(arch, TrainConfig(**{**cfg.to_dict(), "experts": "nf4-grouped",
                                                    "gradient_checkpointing": True}), budget, gdn_fast=gdn_fast)
        fixes.append(f"set experts: nf4-grouped (routed experts 4-bit: about {alt.total / GB:.0f} GB)")
    if not cfg.gradient_checkpointing:
        fixes.append("set gradient_checkpointing: true")
    for length in (2048, 1024):
        if length < cfg.max_length:
            shorter = estimate_memory(arch, cfg, budget, tokens=length, gdn_fast=gdn_fast)
            if shorter.fits:
                fixes.append(f"lower max_length to {length} (about {shorter.total / GB:.0f} GB)")
                break
    if not fixes:
        fixes.append("use a larger GPU (an H200 has 141 GB)")
    return fixes


def run_preflight(cfg: TrainConfig, block_fla: bool = True, count_dataset: bool = True) -> Preflight:
    """The fit verdict at the longest training sequence: the dataset's longest line in tokens (no packing) when it
    is shorter than max_length, else max_length."""
    raw, source = read_model_config(cfg.model)
    if raw.get("model_type") not in (None, "qwen3_next"):
        raise ConfigError(f"{source}: model_type {raw.get('model_type')!r}; the estimate knows Qwen3-Next only")
    arch = Architecture.from_config(raw)
    budget, device, capability = gpu_budget(cfg)
    kernels = gdn_kernels(capability, device)
    if block_fla:
        block_unusable_fla(kernels)
    lengths = dataset_lengths(cfg) if count_dataset else None
    tokens = min(cfg.max_length, lengths.longest) if lengths and lengths.longest else cfg.max_length
    est = estimate_memory(arch, cfg, budget, tokens=tokens, gdn_fast=kernels.gdn_fast)
    if est.fits:
        ok = True
        message = (f"fits: about {est.total / GB:.1f} GB of {budget / GB:.1f} GB" if budget != float("inf")
                   else f"needs about {est.total / GB:.1f} GB of GPU memory on a GPU")
    else:
        ok = False
        message = (f"will not fit: about {est.total / GB:.1f} GB needed, {budget / GB:.1f} GB available on {device}; "
                   f"fix: {'; or '.join(_fixes(arch, cfg, budget, est, kernels.gdn_fast))}")
    return Preflight(ok=ok, message=message, estimate=est, kernels=kernels, device=device, config_source=source,
                     dataset=lengths, tokens=tokens)


def format_preflight(p: Preflight) -> str:
    e = p.estimate
    lines = [f"preflight: model config from {p.config_source}; device: {p.device}"]
    d = p.dataset
    if d and d.error:
        lines.append(f"  dataset {d.path}: not counted ({d.error}); estimate at max_length {p.tokens}")
    elif d:
        over = f"; {d.over_max_length} longer than max_length (truncated)" if d.over_max_length else ""
        lines.append(f"  dataset {d.path}: {d.examples} examples, longest {d.longest} tokens ({d.tokenizer} tokenizer)"
                     f"{over}; estimate at {p.tokens} tokens")
    if e:
        lines.append(
            f"  weights: dense {e.weights_dense / GB:.2f} GB + routed experts {e.weights_experts / GB:.2f} GB; LoRA {e.lora_parameters:,} params + Adam {e.lora_and_optimizer / GB:.2f} GB; "
            f"dequant transient {e.dequant_transient / GB:.2f} GB; activations {e.activations / GB:.2f} GB; overhead {e.overhead / GB:.2f} GB; total {e.total / GB:.1f} GB"
        )
    k = p.kernels
    if k.gdn_fast:
        lines.append(f"  Gated DeltaNet: fast path ({k.reason}); causal-conv1d: {k.causal_conv1d or 'torch fallback'}")
    else:
        lines.append(SLOW_BANNER.format(reason=k.reason))
        if k.blocked_fla:
            lines.append("  (fla is installed but unusable here; it was kept out so transformers uses the torch path)")
    lines.append(("OK: " if p.ok else "STOP: ") + p.message)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = ConfigParser(prog="python -m training.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        result = run_preflight(cfg, block_fla=False)
    except ConfigError as exc:
        print(f"preflight: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else format_preflight(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
