"""Which widths a W4A16 (group 128) checkpoint needs for vLLM's 4-bit kernels, from config.json alone: the Qwen3-Next
MoE (`kernel_shape_problems`) and a dense Qwen2 such as Qwen2.5-Coder (`dense_kernel_shape_problems`).

vLLM 0.25.1's Marlin GEMM (gptq-marlin / awq-marlin / compressed-tensors WNA16) takes a layer whose output
columns a rank are a multiple of 64 and whose input rows a rank are a multiple of 128 (and of the group size);
its fused-MoE Marlin kernel takes hidden % 128 == 0 and an expert width a rank that is a multiple of
max(64, group). Newer vLLM pads some misaligned shapes instead of refusing them; the tiny twin's `w4a16` preset
needs no padding at tensor parallel 1 or 2, so whatever the GPU run shows is not a padding path.
Pure functions: no torch, no files.
"""

from __future__ import annotations

from typing import Any

MARLIN_MIN_N = 64
MARLIN_MIN_K = 128
MOE_MARLIN_HIDDEN = 128


def _linears(c: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(name, in_features, out_features, how vLLM shards it: column | row | replicated) of every quantised Linear
    kind, as vLLM builds them (q/k/v fused into one column-parallel layer, gate/up into another)."""
    h = int(c["hidden_size"])
    nh, nkv, hd = int(c["num_attention_heads"]), int(c["num_key_value_heads"]), int(c.get("head_dim") or 0)
    nk, nv = int(c["linear_num_key_heads"]), int(c["linear_num_value_heads"])
    dk, dv = int(c["linear_key_head_dim"]), int(c["linear_value_head_dim"])
    shared = int(c.get("shared_expert_intermediate_size") or 0)
    out = []
    if "full_attention" in c.get("layer_types", ["full_attention"]):
        # Qwen3-Next's q_proj carries the output gate: 2 x heads x head_dim
        out += [("self_attn.qkv_proj", h, (2 * nh + 2 * nkv) * hd, "column"),
                ("self_attn.o_proj", nh * hd, h, "row")]
    if "linear_attention" in c.get("layer_types", []):
        out += [("linear_attn.in_proj_qkvz", h, 2 * nk * dk + 2 * nv * dv, "column"),
                ("linear_attn.in_proj_ba", h, 2 * nv, "column"),
                ("linear_attn.out_proj", nv * dv, h, "row")]
    if shared:
        out += [("mlp.shared_expert.gate_up_proj", h, 2 * shared, "column"),
                ("mlp.shared_expert.down_proj", shared, h, "row")]
    return out


def kernel_shape_problems(config: dict[str, Any], group_size: int = 128, tp: int = 1) -> list[str]:
    """Every reason vLLM's 4-bit kernels would refuse (or pad) this Qwen3-Next config at tensor parallel `tp`;
    empty when none. Each is one line naming the layer and the numbers."""
    problems: list[str] = []
    try:
        heads = {"num_attention_heads": config["num_attention_heads"], "num_key_value_heads": config["num_key_value_heads"],
                 "linear_num_key_heads": config["linear_num_key_heads"],
                 "linear_num_value_heads": config["linear_num_value_heads"]}
        linears = _linears(config)
        hidden, moe = int(config["hidden_size"]), int(config.get("moe_intermediate_size") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"config.json lacks a Qwen3-Next size ({exc.__class__.__name__}: {exc})"]
    for name, count in heads.items():
        if int(count) % tp:
            problems.append(f"{name} {count} is not divisible by tensor parallel {tp}")
    for name, k, n, split in linears:
        if k % group_size:
            problems.append(f"{name}: in_features {k} is not a multiple of the group size {group_size}")
        n_rank = n // tp if split == "column" else n
        k_rank = k // tp if split == "row" else k
        if n_rank % MARLIN_MIN_N:
            problems.append(f"{name}: {n_rank} output columns a rank at tp {tp}, Marlin needs a multiple of {MARLIN_MIN_N}")
        if k_rank % MARLIN_MIN_K or k_rank % group_size:
            problems.append(f"{name}: {k_rank} input rows a rank at tp {tp}, Marlin needs a multiple of "
                            f"{max(MARLIN_MIN_K, group_size)}")
    if moe:
        if hidden % MOE_MARLIN_HIDDEN:
            problems.append(f"mlp.experts: hidden_size {hidden} is not a multiple of {MOE_MARLIN_HIDDEN} (fused MoE Marlin)")
        if hidden % group_size:
            problems.append(f"mlp.experts: in_features {hidden} is not a multiple of the group size {group_size}")
        need = max(64, group_size)
        if (moe // tp) % need:
            problems.append(f"mlp.experts: expert width {moe // tp} a rank at tp {tp} is not a multiple of {need} "
                            "(fused MoE Marlin)")
    return problems


def dense_linears(c: dict[str, Any]) -> list[tuple[str, int, int, str, tuple[int, ...]]]:
    """(name, in_features, out_features, split, the parts' widths) of every Linear kind of a dense Qwen2 block as
    vLLM builds it: q/k/v fused into one column-parallel layer, gate/up into another, o/down row-parallel."""
    h, nh, nkv = int(c["hidden_size"]), int(c["num_attention_heads"]), int(c["num_key_value_heads"])
    hd = int(c.get("head_dim") or h // nh)
    inter = int(c["intermediate_size"])
    return [("self_attn.qkv_proj", h, (nh + 2 * nkv) * hd, "column", (nh * hd, nkv * hd, nkv * hd)),
            ("self_attn.o_proj", nh * hd, h, "row", (h,)),
            ("mlp.gate_up_proj", h, 2 * inter, "column", (inter, inter)),
            ("mlp.down_proj", inter, h, "row", (h,))]


def dense_kernel_shape_problems(config: dict[str, Any], group_size: int = 128, tp: int = 1) -> list[str]:
    """Every reason vLLM's Marlin W4A16 GEMM would refuse (or pad) a dense Qwen2 config at tensor parallel `tp`:
    a rank's output columns (each fused part's too: q, k, v; gate, up) a multiple of 64, its input rows a multiple
    of 128 and of the group size, the heads divisible by tp. Empty when none; one line each."""
    try:
        linears = dense_linears(config)
        heads = {"num_attention_heads": int(config["num_attention_heads"]),
                 "num_key_value_heads": int(config["num_key_value_heads"])}
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return [f"config.json lacks a Qwen2 size ({exc.__class__.__name__}: {exc})"]
    problems = [f"{name} {count} is not divisible by tensor parallel {tp}" for name, count in heads.items()
                if count % tp]
    for name, k, n, split, parts in linears:
        if k % group_size:
            problems.append(f"{name}: in_features {k} is not a multiple of the group size {group_size}")
        k_rank = k // tp if split == "row" else k
        widths = [p // tp for p in parts] if split == "column" else [n]
        for width in sorted(set(widths)):
            if width % MARLIN_MIN_N:
                problems.append(f"{name}: {width} output columns a rank at tp {tp}, Marlin needs a multiple of "
                                f"{MARLIN_MIN_N}")
        if k_rank % MARLIN_MIN_K or k_rank % group_size:
            problems.append(f"{name}: {k_rank} input rows a rank at tp {tp}, Marlin needs a multiple of "
                            f"{max(MARLIN_MIN_K, group_size)}")
    return problems
