"""Where a LoRA may go: the modules vLLM serves LoRA on for Qwen3-Next, and peft's rule for which
module a target names. The trainer (training/targets.py, training/config.py) and the adapter lint
(core/adapter/lint.py) both use these, so what is trained is what is served.
"""

from __future__ import annotations

import re

# What vLLM can put LoRA on in Qwen3NextForCausalLM (its packed modules: qkv_proj <- q/k/v_proj,
# gate_up_proj <- gate/up_proj, in_proj_qkvz, in_proj_ba; plus o_proj, out_proj, down_proj and
# the shared-expert gate).
SUPPORTED_TARGETS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "in_proj_qkvz",
    "in_proj_ba",
    "out_proj",
    "shared_expert.gate_proj",
    "shared_expert.up_proj",
    "shared_expert.down_proj",
    "shared_expert_gate",
)
# Dense Llama-family models (SmolLM2 and Qwen2.5-Coder, the known-answer test's real models; Qwen2 is Llama's
# layout with biased q/k/v): vLLM packs q/k/v_proj into qkv_proj and gate/up_proj into gate_up_proj, and serves
# LoRA on those and on o_proj and down_proj.
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# The LoRA targets vLLM serves, by the model's architecture (config.json `architectures[0]`).
SERVABLE_TARGETS: dict[str, tuple[str, ...]] = {
    "Qwen3NextForCausalLM": SUPPORTED_TARGETS,
    "LlamaForCausalLM": LLAMA_TARGETS,
    "Qwen2ForCausalLM": LLAMA_TARGETS,
}
# vLLM's --max-lora-rank accepts only these values.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("supported", re.compile(r"^self_attn\.(q_proj|k_proj|v_proj|o_proj)$")),
    ("supported", re.compile(r"^linear_attn\.(in_proj_qkvz|in_proj_ba|out_proj)$")),
    ("supported", re.compile(r"^mlp\.shared_expert\.(gate_proj|up_proj|down_proj)$")),
    ("supported", re.compile(r"^mlp\.shared_expert_gate$")),
    ("supported", re.compile(r"^mlp\.(gate_proj|up_proj|down_proj)$")),  # dense MLP layers, if any
    ("router", re.compile(r"^mlp\.gate$")),
    ("experts_fused", re.compile(r"^mlp\.experts(\.base_layer)*$")),
    ("experts", re.compile(r"^mlp\.experts\.\d+\.(gate_proj|up_proj|down_proj|w1|w2|w3)$")),
]


def categorise(rel: str, name: str, kind: str) -> str:
    if kind.startswith("lora_embedding") or re.search(r"(^|\.)(embed_tokens|lm_head|wte)$", name):
        return "embedding"
    for category, pattern in CATEGORIES:
        if pattern.match(rel):
            return category
    return "unsupported"


def target_matches(target: str, name: str) -> bool:
    """peft's rule for a target_modules list entry: the module name equals it or ends with '.' + it."""
    return name == target or name.endswith("." + target)
