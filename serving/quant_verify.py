"""Checks of a W4A16 copy against the BF16 checkpoint it came from (serving/quantise.py runs them before publishing).

`inspect_checkpoint(quant_dir, source_dir)`: config.json's `quantization_config` (compressed-tensors,
pack-quantized, 4-bit int, symmetric, group 128, weights only, the ignore list), every tensor's name and dtype
(a quantised Linear is `weight_packed` int32 [out, in/8] + `weight_scale` bf16 [out, in/128] + `weight_shape`;
everything else is the source's tensor, bit for bit), and every quantised weight unpacked here (not with
compressed-tensors) within about half a quantisation step of the BF16 weight it came from.
`compare_logits`: both checkpoints loaded by transformers (which reads compressed-tensors through that
package), their logits on one short chat prompt.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

# A round-to-nearest weight is within half a step of its source; the bf16 scale's own rounding adds a little.
MAX_STEP_ERROR = 0.55
PROMPT = [{"role": "system", "content": "You are a madcat agent."},
          {"role": "user", "content": "Read the settings, then introduce yourself as the active cart."}]
EXPECTED_IGNORED = re.compile(r"(^|\.)(lm_head|mlp\.gate|mlp\.shared_expert_gate)$")


def unpack_int4(packed: Any, in_features: int) -> Any:
    """compressed-tensors' pack-quantized int4: 8 values an int32, lowest nibble first, stored as value + 8."""
    import torch

    words = packed.to(torch.int64) & 0xFFFFFFFF
    shifts = torch.arange(8, dtype=torch.int64) * 4
    values = (words.unsqueeze(-1) >> shifts) & 0xF
    return (values.reshape(packed.shape[0], -1)[:, :in_features] - 8).to(torch.int8)


def _tensors(directory: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    out: dict[str, Any] = {}
    for path in sorted(directory.glob("*.safetensors")):
        out.update(load_file(path))
    return out


def _kind(module: str) -> str:
    return re.sub(r"\.\d+\.", ".N.", re.sub(r"^model\.layers\.\d+\.", "", module))


def _config_problems(qc: dict[str, Any]) -> list[str]:
    problems = []
    weights = next(iter((qc.get("config_groups") or {}).values()), {}).get("weights") or {}
    want = {"quant_method": (qc.get("quant_method"), "compressed-tensors"), "format": (qc.get("format"), "pack-quantized"),
            "num_bits": (weights.get("num_bits"), 4), "type": (weights.get("type"), "int"),
            "symmetric": (weights.get("symmetric"), True), "strategy": (weights.get("strategy"), "group"),
            "group_size": (weights.get("group_size"), 128)}
    for key, (got, expected) in want.items():
        if got != expected:
            problems.append(f"quantization_config {key} is {got!r}, expected {expected!r}")
    group = next(iter((qc.get("config_groups") or {}).values()), {})
    if group.get("input_activations") is not None:
        problems.append("quantization_config quantises activations; W4A16 keeps them 16-bit")
    return problems


def inspect_checkpoint(quant_dir: Path, source_dir: Path, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the W4A16 copy holds and every way it departs from what it should be (`problems`, empty when none).

    `reference`: the tensors the copy was rounded from, by name, when they are not the source directory's (AWQ
    scales weights and norms before rounding: its reference is the smoothed model)."""
    import torch

    config = json.loads((quant_dir / "config.json").read_text(encoding="utf-8"))
    qc = config.get("quantization_config") or {}
    problems = [] if qc else ["config.json has no quantization_config"]
    problems += _config_problems(qc) if qc else []
    weights = next(iter((qc.get("config_groups") or {}).values()), {}).get("weights") or {}
    group = int(weights.get("group_size") or 128)
    ignore = list(qc.get("ignore") or [])
    quant, source = _tensors(quant_dir), (reference if reference is not None else _tensors(source_dir))
    modules = sorted(k.removesuffix(".weight_packed") for k in quant if k.endswith(".weight_packed"))
    by_kind: Counter[str] = Counter()
    worst = 0.0
    covered: set[str] = set()
    for module in modules:
        packed, scale = quant[f"{module}.weight_packed"], quant.get(f"{module}.weight_scale")
        shape, original = quant.get(f"{module}.weight_shape"), source.get(f"{module}.weight")
        covered |= {f"{module}.weight_packed", f"{module}.weight_scale", f"{module}.weight_shape"}
        by_kind[_kind(module)] += 1
        if scale is None or shape is None or original is None:
            problems.append(f"{module}: weight_scale, weight_shape or the source weight is missing")
            continue
        out_f, in_f = (int(v) for v in shape.tolist())
        if packed.dtype != torch.int32 or tuple(packed.shape) != (out_f, -(-in_f // 8)):
            problems.append(f"{module}.weight_packed is {packed.dtype} {tuple(packed.shape)}, expected int32 "
                            f"{(out_f, -(-in_f // 8))}")
            continue
        if scale.dtype != torch.bfloat16 or tuple(scale.shape) != (out_f, in_f // group):
            problems.append(f"{module}.weight_scale is {scale.dtype} {tuple(scale.shape)}, expected bfloat16 "
                            f"{(out_f, in_f // group)}")
            continue
        if tuple(original.shape) != (out_f, in_f):
            problems.append(f"{module}: weight_shape {(out_f, in_f)} but the source weight is {tuple(original.shape)}")
            continue
        steps = scale.float().repeat_interleave(group, dim=1)
        error = ((unpack_int4(packed, in_f).float() * steps - original.float()).abs() / steps).max().item()
        worst = max(worst, error)
        if error > MAX_STEP_ERROR:
            problems.append(f"{module}: a weight is {error:.2f} steps from its BF16 value (round-to-nearest: <= 0.5)")
    unquantised = []
    for name, tensor in quant.items():
        if name in covered:
            continue
        if name not in source:
            problems.append(f"{name} is not in the source checkpoint")
        elif tensor.dtype != source[name].dtype or not torch.equal(tensor, source[name]):
            problems.append(f"{name} differs from the source ({tensor.dtype} vs {source[name].dtype})")
        if name.endswith(".weight") and EXPECTED_IGNORED.search(name.removesuffix(".weight")):
            unquantised.append(name.removesuffix(".weight"))
    missing = sorted(set(source) - set(quant) - {f"{m}.weight" for m in modules})
    if missing:
        problems.append(f"{len(missing)} source tensor(s) missing from the copy, e.g. {missing[0]}")
    wrongly = [m for m in modules if EXPECTED_IGNORED.search(m)]
    if wrongly:
        problems.append(f"{len(wrongly)} module(s) that must stay BF16 were quantised, e.g. {wrongly[0]}")
    not_listed = sorted(set(unquantised) - set(ignore))
    if not_listed:
        problems.append(f"{len(not_listed)} BF16 module(s) not in quantization_config.ignore, e.g. {not_listed[0]}")
    return {
        "quant_method": qc.get("quant_method"), "format": qc.get("format"), "num_bits": weights.get("num_bits"),
        "group_size": weights.get("group_size"), "symmetric": weights.get("symmetric"),
        "strategy": weights.get("strategy"), "ignore": ignore, "quantised_modules": len(modules),
        "quantised_by_kind": dict(sorted(by_kind.items())), "unquantised_modules": sorted(unquantised),
        "max_error_steps": round(worst, 4),
        "size_bytes": sum(p.stat().st_size for p in quant_dir.glob("*.safetensors")),
        "problems": problems,
    }


def compare_logits(source_dir: Path, quant_dir: Path, messages: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Both checkpoints through transformers (float32 compute) on one chat prompt: how far the W4A16 copy's logits
    are from the BF16 one's."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source_dir)
    ids = tokenizer.apply_chat_template(messages or PROMPT, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    logits = []
    for directory in (source_dir, quant_dir):
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
        with torch.no_grad():
            logits.append(model(ids).logits[0].float())
        del model
    bf16, w4 = logits
    diff = (bf16 - w4).abs()
    cosine = torch.nn.functional.cosine_similarity(bf16, w4, dim=-1)
    return {"tokens": int(ids.shape[1]), "max_abs_diff": round(diff.max().item(), 4),
            "mean_abs_diff": round(diff.mean().item(), 4), "bf16_logit_std": round(bf16.std().item(), 4),
            "mean_cosine": round(cosine.mean().item(), 4),
            "top1_agreement": round((bf16.argmax(-1) == w4.argmax(-1)).float().mean().item(), 4)}
