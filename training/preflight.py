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
The activation terms are calibrated against the lent-H100 replica (reports/benchmarks/qlora.md).

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.safe_io import InputError, read_json
from training.config import ConfigError, ConfigParser, TrainConfig, config_from_args

GB = 1e9
# Architecture of Qwen/Qwen3-Coder-Next (the fields the estimate reads), for planning on a machine
# that has not downloaded it; a real config.json next to the weights always wins.
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "Qwen/Qwen3-Coder-Next": {
        "model_type": "qwen3_next",
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 5120,
        "num_hidden_layers": 48,
        "full_attention_interval": 4,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
        "num_experts": 512,
        "num_experts_per_tok": 10,
        "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "tie_word_embeddings": False,
        # Qwen3-Next's attention rotates a quarter of each head; no other field here changes a shape or a
        # kernel (rope_theta, token ids), so training/dryrun.py leaves those to transformers' defaults.
        "partial_rotary_factor": 0.25,
        "max_position_embeddings": 262144,
    }
}

# Calibration against the lent H100 (reports/benchmarks/qlora.md): the 4-layer full-width replica's peak
# above its weights was 0.78 / 2.87 GB at 1k / 4k tokens with bf16 experts (activations only), +3.22 GB
# with nf4 experts (one layer's dequantised bf16 experts, 1.0x), and ~40% less activation memory with the
# fla kernels. The coefficients below reproduce that within ~20% (over, never under).
CALIBRATION = {
    "moe_bytes_per_routed_token": 4.0,  # x (hidden + moe_intermediate) x 2 bytes, for each of top-k
    "gdn_torch_bytes_per_token": 28.0,  # x value_dim x 4 bytes (fp32 reference path, incl. chunk states)
    "gdn_fast_divisor": 2.5,  # the fla kernels keep less per token
    "attn_bytes_per_token": 12.0,  # x heads*head_dim x 2 bytes
    "logits_bytes_per_token": 0.02,  # x vocab x 4 bytes: trl's fused LM head computes the loss in tiles
    "dequant_copies": 1.1,  # one layer's dequantised experts (measured 1.0x), with margin
    "overhead_bytes": 1.5 * GB,  # CUDA context, allocator slack
    "overhead_fraction": 0.05,
}


@dataclass
class Architecture:
    vocab: int
    hidden: int
    layers: int
    layer_types: list[str]
    heads: int
    kv_heads: int
    head_dim: int
    lin_k_heads: int
    lin_v_heads: int
    lin_k_dim: int
    lin_v_dim: int
    conv_kernel: int
    experts: int
    top_k: int
    moe_inter: int
    shared_inter: int
    dense_inter: int
    moe_layers: list[bool]
    tied: bool

    @classmethod
    def from_config(cls, c: dict[str, Any]) -> Architecture:
        try:
            layers = int(c["num_hidden_layers"])
            interval = int(c.get("full_attention_interval", 4))
            types = c.get("layer_types") or [
                "full_attention" if (i + 1) % interval == 0 else "linear_attention" for i in range(layers)
            ]
            sparse_step = int(c.get("decoder_sparse_step", 1) or 1)
            mlp_only = set(c.get("mlp_only_layers") or [])
            experts = int(c.get("num_experts", 0))
            moe = [experts > 0 and i not in mlp_only and (i + 1) % sparse_step == 0 for i in range(layers)]
            heads = int(c["num_attention_heads"])
            return cls(
                vocab=int(c["vocab_size"]), hidden=int(c["hidden_size"]), layers=layers, layer_types=list(types),
                heads=heads, kv_heads=int(c.get("num_key_value_heads", heads)),
                head_dim=int(c.get("head_dim") or int(c["hidden_size"]) // heads),
                lin_k_heads=int(c["linear_num_key_heads"]), lin_v_heads=int(c["linear_num_value_heads"]),
                lin_k_dim=int(c["linear_key_head_dim"]), lin_v_dim=int(c["linear_value_head_dim"]),
                conv_kernel=int(c.get("linear_conv_kernel_dim", 4)), experts=experts,
                top_k=int(c.get("num_experts_per_tok", 0)), moe_inter=int(c.get("moe_intermediate_size", 0)),
                shared_inter=int(c.get("shared_expert_intermediate_size", 0)),
                dense_inter=int(c.get("intermediate_size", 0)), moe_layers=moe,
                tied=bool(c.get("tie_word_embeddings", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"config.json lacks or mangles a Qwen3-Next field: {exc}") from None

    # -- module shapes (in_features, out_features) of the nn.Linear kinds LoRA can target
    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        h = self.hidden
        kd, vd = self.lin_k_heads * self.lin_k_dim, self.lin_v_heads * self.lin_v_dim
        return {
            "q_proj": (h, self.heads * self.head_dim * 2),  # Qwen3-Next's gated attention: query + gate
            "k_proj": (h, self.kv_heads * self.head_dim),
            "v_proj": (h, self.kv_heads * self.head_dim),
            "o_proj": (self.heads * self.head_dim, h),
            "in_proj_qkvz": (h, 2 * kd + 2 * vd),
            "in_proj_ba": (h, 2 * self.lin_v_heads),
            "out_proj": (vd, h),
            "shared_expert.gate_proj": (h, self.shared_inter),
            "shared_expert.up_proj": (h, self.shared_inter),
            "shared_expert.down_proj": (self.shared_inter, h),
            "shared_expert_gate": (h, 1),
        }

    def module_counts(self) -> dict[str, int]:
        full = sum(1 for t in self.layer_types if t == "full_attention")
        lin = self.layers - full
        moe = sum(self.moe_layers)
        return {
            "q_proj": full, "k_proj": full, "v_proj": full, "o_proj": full,
            "in_proj_qkvz": lin, "in_proj_ba": lin, "out_proj": lin,
            "shared_expert.gate_proj": moe, "shared_expert.up_proj": moe, "shared_expert.down_proj": moe,
            "shared_expert_gate": moe,
        }

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per kind; their sum equals the model's parameter count."""
        h = self.hidden
        shapes, counts = self.linear_shapes(), self.module_counts()
        full = counts["q_proj"]
        lin = counts["in_proj_qkvz"]
        moe = sum(self.moe_layers)
        kd, vd = self.lin_k_heads * self.lin_k_dim, self.lin_v_heads * self.lin_v_dim
        attention = full * (sum(shapes[k][0] * shapes[k][1] for k in ("q_proj", "k_proj", "v_proj", "o_proj"))
                            + 2 * self.head_dim)  # + q_norm, k_norm
        linear_attention = lin * (
            sum(shapes[k][0] * shapes[k][1] for k in ("in_proj_qkvz", "in_proj_ba", "out_proj"))
            + (2 * kd + vd) * self.conv_kernel  # depthwise conv1d
            + 2 * self.lin_v_heads  # A_log, dt_bias
            + self.lin_v_dim  # gated RMSNorm
        )
        return {
            "embeddings": self.vocab * h,
            "lm_head": 0 if self.tied else self.vocab * h,
            "attention": attention,
            "linear_attention": linear_attention,
            "router": moe * self.experts * h,
            "shared_expert": moe * (3 * h * self.shared_inter + h),
            "routed_experts": moe * 3 * self.experts * h * self.moe_inter,
            "dense_mlp": (self.layers - moe) * 3 * h * self.dense_inter,
            "norms": self.layers * 2 * h + h,
        }

    def expert_params_per_layer(self) -> int:
        return 3 * self.experts * self.hidden * self.moe_inter


def nf4_bytes_per_param(blocksize: int, double_quant: bool) -> float:
    """4-bit codes plus absmax per block (uint8 + an fp32 per 256 blocks with double quant, else fp32)."""
    stats = (1.0 + 4.0 / 256) / blocksize if double_quant else 4.0 / blocksize
    return 0.5 + stats


def int8_bytes_per_param(arch: Architecture) -> float:
    """Row-wise int8 codes plus a float32 scale per output row (gate_up rows of `hidden`, down rows of `moe_inter`)."""
    h, i = arch.hidden, arch.moe_inter
    return 1.0 + 4.0 * (2 * i + h) / (3 * h * i)


def lora_parameters(arch: Architecture, targets: list[str], rank: int) -> int:
    shapes, counts = arch.linear_shapes(), arch.module_counts()
    return sum(counts[t] * rank * (shapes[t][0] + shapes[t][1]) for t in targets if t in shapes)


@dataclass
class MemoryEstimate:
    budget_bytes: float
    weights_dense: float
    weights_experts: float
    lora_and_optimizer: float
    dequant_transient: float
    activations: float
    overhead: float
    parameters: dict[str, int] = field(default_factory=dict)
    lora_parameters: int = 0

    @property
    def total(self) -> float:
        return (self.weights_dense + self.weights_experts + self.lora_and_optimizer + self.dequant_transient
                + self.activations + self.overhead)

    @property
    def fits(self) -> bool:
        return self.total <= self.budget_bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total"] = self.total
        d["fits"] = self.fits
        return d


def estimate_memory(arch: Architecture, cfg: TrainConfig, budget_bytes: float, tokens: int | None = None,
                    gdn_fast: bool = False) -> MemoryEstimate:
    t = tokens or cfg.max_length
    dtype_bytes = 2 if cfg.dtype == "bfloat16" else 4
    params = arch.parameter_counts()
    experts = params["routed_experts"]
    dense = sum(params.values()) - experts
    if cfg.experts in ("nf4-grouped", "bnb-per-expert"):
        expert_bytes = experts * nf4_bytes_per_param(cfg.bnb_4bit_blocksize, cfg.bnb_4bit_use_double_quant)
    elif cfg.experts == "int8-grouped":
        expert_bytes = experts * int8_bytes_per_param(arch)
    else:
        expert_bytes = experts * dtype_bytes
    lora = lora_parameters(arch, cfg.target_modules, cfg.lora_r)
    transient = 0.0
    if cfg.experts == "nf4-grouped":
        transient = CALIBRATION["dequant_copies"] * arch.expert_params_per_layer() * dtype_bytes
    elif cfg.experts == "int8-grouped":  # + bitsandbytes' float32 rows of gate_up (2/3 of the layer) on the way
        transient = CALIBRATION["dequant_copies"] * arch.expert_params_per_layer() * (dtype_bytes + 4 * 2 / 3)
    h = arch.hidden
    moe_per_layer = t * arch.top_k * (h + arch.moe_inter) * 2 * CALIBRATION["moe_bytes_per_routed_token"]
    vd = arch.lin_v_heads * arch.lin_v_dim
    gdn_factor = CALIBRATION["gdn_torch_bytes_per_token"] / (CALIBRATION["gdn_fast_divisor"] if gdn_fast else 1)
    gdn_per_layer = t * vd * 4 * gdn_factor
    attn_per_layer = t * arch.heads * arch.head_dim * 2 * CALIBRATION["attn_bytes_per_token"]
    per_layer = moe_per_layer + max(gdn_per_layer, attn_per_layer)
    saved_inputs = arch.layers * t * h * dtype_bytes
    if cfg.gradient_checkpointing:
        layer_acts = per_layer + saved_inputs
    else:
        n_lin = sum(1 for x in arch.layer_types if x != "full_attention")
        layer_acts = arch.layers * moe_per_layer + n_lin * gdn_per_layer + (arch.layers - n_lin) * attn_per_layer
        if cfg.experts in ("nf4-grouped", "int8-grouped"):  # every layer keeps its dequantised experts for backward
            transient = arch.layers * arch.expert_params_per_layer() * dtype_bytes
    logits = t * arch.vocab * 4 * CALIBRATION["logits_bytes_per_token"]
    base = dense * dtype_bytes + expert_bytes + lora * 16 + transient + layer_acts + logits
    overhead = CALIBRATION["overhead_bytes"] + CALIBRATION["overhead_fraction"] * base
    return MemoryEstimate(
        budget_bytes=budget_bytes, weights_dense=dense * dtype_bytes, weights_experts=expert_bytes,
        lora_and_optimizer=lora * 16, dequant_transient=transient, activations=layer_acts + logits,
        overhead=overhead, parameters=params, lora_parameters=lora,
    )


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
