"""Where the LoRA goes, and proof that it went there.

vLLM 0.25.1 serves LoRA on Qwen3-Next's q/k/v/o_proj, in_proj_qkvz, in_proj_ba, out_proj and the
shared expert's gate/up/down_proj (plus shared_expert_gate); never the router, and the routed
experts only through its fused-MoE LoRA path, which the madcat adapter does not use. On a dense
Llama-family model (SmolLM2, the known-answer test) it serves q/k/v/o_proj and gate/up/down_proj;
the targets are checked against the model's own architecture (core/adapter/targets.py SERVABLE_TARGETS).

A trap: on transformers 5.x, peft 0.21 "converts" LoRA configs written for transformers 4.x MoE
models. Any target whose last name is gate_proj/up_proj/down_proj -- a list entry such as
``shared_expert.gate_proj`` and equally a regex string, which peft first resolves to leaf names --
is rewritten into ``target_parameters=["gate_up_proj", "down_proj"]`` on the *routed* experts'
fused weights, and the shared expert gets no LoRA (peft issue #3711; vLLM then fails to load the
adapter with HTTP 500). ``moe_target_conversion_disabled()`` switches that conversion off while the
adapter is created or loaded, and ``check_lora_placement`` stops the run if the modules that carry
LoRA differ in any way from what the config asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.adapter.targets import SERVABLE_TARGETS, target_matches
from training.config import ConfigError, TrainConfig

_PEFT_PREFIX = "base_model.model."


class TargetMismatch(RuntimeError):
    """The modules that carry LoRA are not the ones the config asked for."""


def validate_targets(targets: Iterable[str], architecture: str = "Qwen3NextForCausalLM") -> list[str]:
    """The config's targets, refused unless vLLM can serve each of them on this architecture."""
    servable = SERVABLE_TARGETS.get(architecture)
    if servable is None:
        raise ConfigError(
            f"the model's architecture {architecture!r} has no known vLLM LoRA targets; "
            f"known: {', '.join(SERVABLE_TARGETS)}"
        )
    qwen3_next = servable is SERVABLE_TARGETS["Qwen3NextForCausalLM"]
    out = []
    for target in targets:
        if target not in servable:
            hint = ""
            if qwen3_next and target in ("gate_proj", "up_proj", "down_proj"):
                hint = f" (write shared_expert.{target}: a bare {target} means the routed experts to peft)"
            elif target in ("gate", "mlp.gate", "experts", "mlp.experts", "lm_head", "embed_tokens"):
                hint = " (the router, the routed experts and the embeddings are never trained)"
            name = "Qwen3-Next" if qwen3_next else architecture
            raise ConfigError(
                f"target module {target!r} is not one vLLM serves for {name}{hint}; "
                f"supported: {', '.join(servable)}"
            )
        out.append(target)
    if len(set(out)) != len(out):
        raise ConfigError("target_modules lists a module twice")
    return out


def model_architecture(model: Any) -> str:
    """config.architectures[0] of an unwrapped transformers model, else its class name."""
    names = getattr(getattr(model, "config", None), "architectures", None) or []
    return str(names[0]) if names else type(model).__name__


def expected_lora_modules(model: Any, targets: Iterable[str]) -> set[str]:
    """Names of the nn.Linear modules of `model` (an unwrapped transformers model) the targets select."""
    import torch

    wanted = list(targets)
    return {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and any(target_matches(t, name) for t in wanted)
    }


@contextlib.contextmanager
def moe_target_conversion_disabled() -> Iterator[None]:
    """Inside this block peft leaves target_modules as written (see the module docstring).

    peft imports the converter from its module at call time, so replacing the module attribute is
    enough; on a peft without it (4.x-era or a fixed release) this does nothing.
    """
    try:
        from peft.utils import transformers_weight_conversion as conversion
    except ImportError:
        yield
        return
    original = getattr(conversion, "convert_peft_config_for_transformers", None)
    if original is None:
        yield
        return

    def keep_config(*_args: Any, **_kwargs: Any) -> None:
        return None

    conversion.convert_peft_config_for_transformers = keep_config
    try:
        yield
    finally:
        conversion.convert_peft_config_for_transformers = original


def lora_config(cfg: TrainConfig, architecture: str = "Qwen3NextForCausalLM") -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=validate_targets(cfg.target_modules, architecture),
        bias="none",
        task_type="CAUSAL_LM",
        use_dora=False,
        modules_to_save=None,
    )


def apply_lora(model: Any, cfg: TrainConfig) -> Any:
    """Wrap `model` with the config's LoRA; raises TargetMismatch unless it landed exactly as asked."""
    from peft import get_peft_model

    architecture = model_architecture(model)
    expected = expected_lora_modules(model, validate_targets(cfg.target_modules, architecture))
    with moe_target_conversion_disabled():
        peft_model = get_peft_model(model, lora_config(cfg, architecture))
    check_lora_placement(peft_model, expected)
    return peft_model


def load_adapter(model: Any, adapter_dir: str, is_trainable: bool = False) -> Any:
    """Load a saved adapter onto `model` with its target_modules taken as written (see module docstring)."""
    from peft import PeftModel

    with moe_target_conversion_disabled():
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=is_trainable)


@dataclass
class Placement:
    modules: set[str]  # module names (relative to the base model) with LoRA A/B
    parameters: set[str]  # parameter-targeted LoRA (peft ParamWrapper), e.g. routed experts' fused weights
    target_parameters: list[str]


def lora_placement(peft_model: Any) -> Placement:
    from peft.tuners.lora import LoraLayer

    modules: set[str] = set()
    params: set[str] = set()
    for name, module in peft_model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        short = name[len(_PEFT_PREFIX):] if name.startswith(_PEFT_PREFIX) else name
        if type(module).__name__ == "ParamWrapper":
            params.add(short)
        else:
            modules.add(short)
    config = next(iter(peft_model.peft_config.values()))
    target_parameters = sorted(config.target_parameters or [])
    return Placement(modules, params, target_parameters)


def check_lora_placement(peft_model: Any, expected: set[str]) -> Placement:
    placement = lora_placement(peft_model)
    problems = []
    if placement.target_parameters or placement.parameters:
        problems.append(
            f"peft put LoRA on parameters {sorted(placement.parameters) or placement.target_parameters} "
            f"(target_parameters={placement.target_parameters}): the routed experts' fused weights"
        )
    missing = sorted(expected - placement.modules)
    extra = sorted(placement.modules - expected)
    if missing:
        problems.append(f"{len(missing)} module(s) asked for carry no LoRA, e.g. {', '.join(missing[:4])}")
    if extra:
        problems.append(f"{len(extra)} module(s) carry LoRA that were not asked for, e.g. {', '.join(extra[:4])}")
    if not expected:
        problems.append("the target modules match no module of this model")
    if problems:
        raise TargetMismatch("LoRA placement differs from the config: " + "; ".join(problems))
    return placement


def summarise_modules(names: Iterable[str]) -> dict[str, list[int]]:
    """{"self_attn.q_proj": [3, 7, ...], ...}: module kind relative to its decoder layer -> layer numbers."""
    import re

    out: dict[str, list[int]] = {}
    for name in names:
        m = re.search(r"layers\.(\d+)\.(.+)$", name)
        if m:
            out.setdefault(m.group(2), []).append(int(m.group(1)))
        else:
            out.setdefault(name, [])
    return {k: sorted(v) for k, v in sorted(out.items())}
