"""Peak GPU memory of a training run, estimated from the model's config.json alone (no weights): the
weights (routed experts at 4-/8-bit or bf16), the LoRA and its optimizer states, one layer's dequantised
experts, and the activations at a given length, calibrated against the lent-H100 replica
(reports/records/benchmarks/qlora.md). training/preflight.py reports it; the dry run and the benchmarks use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.config import ConfigError, TrainConfig

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

# Calibration against the lent H100 (reports/records/benchmarks/qlora.md): the 4-layer full-width replica's peak
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
