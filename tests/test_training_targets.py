"""LoRA lands exactly on the vLLM-servable modules, survives save/load, and a wrong placement stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.adapter.lint import lint_adapter
from training.config import DEFAULT_TARGETS, ConfigError, TrainConfig
from training.targets import (
    TargetMismatch,
    apply_lora,
    check_lora_placement,
    expected_lora_modules,
    load_adapter,
    lora_config,
    lora_placement,
    summarise_modules,
    validate_targets,
)

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def twin_dir() -> Path:
    from serving.tiny_twin import default_twin_dir

    return default_twin_dir()


def _base(twin_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(twin_dir, dtype=torch.float32)


def test_lora_goes_exactly_where_vllm_can_serve_it(twin_dir: Path):
    model = _base(twin_dir)
    peft_model = apply_lora(model, TrainConfig())
    placement = lora_placement(peft_model)
    kinds = summarise_modules(placement.modules)
    assert set(kinds) == {
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "linear_attn.in_proj_qkvz", "linear_attn.in_proj_ba", "linear_attn.out_proj",
        "mlp.shared_expert.gate_proj", "mlp.shared_expert.up_proj", "mlp.shared_expert.down_proj",
    }
    assert kinds["self_attn.q_proj"] == [3] and kinds["linear_attn.out_proj"] == [0, 1, 2]
    assert kinds["mlp.shared_expert.up_proj"] == [0, 1, 2, 3]
    assert not placement.parameters and not placement.target_parameters
    # never the router, the routed experts, embeddings or the LM head
    assert not any(".mlp.gate" in n or ".experts" in n or "embed" in n or "lm_head" in n for n in placement.modules)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


def test_unguarded_peft_rewrite_is_caught(twin_dir: Path):
    """peft 0.21 on transformers 5.x moves shared_expert.* targets to the routed experts; the check sees it."""
    from peft import get_peft_model

    model = _base(twin_dir)
    expected = expected_lora_modules(model, DEFAULT_TARGETS)
    cfg = lora_config(TrainConfig(lora_dropout=0.0))
    peft_model = get_peft_model(model, cfg)  # what a plain trainer does
    placement = lora_placement(peft_model)
    if placement.target_parameters or placement.modules != expected:
        with pytest.raises(TargetMismatch, match="differs from the config"):
            check_lora_placement(peft_model, expected)
    else:  # a peft release with the fix (huggingface/peft#3711): then the plain path is right too
        assert check_lora_placement(peft_model, expected).modules == expected


def test_saved_adapter_round_trips_and_passes_the_lint(twin_dir: Path, tmp_path: Path):
    model = _base(twin_dir)
    peft_model = apply_lora(model, TrainConfig())
    peft_model.eval()
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    out = tmp_path / "adapter"
    peft_model.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == sorted(DEFAULT_TARGETS)
    assert not config.get("target_parameters") and not config.get("modules_to_save") and not config["use_dora"]
    report = lint_adapter(out, max_rank=16)
    assert report.ok, report.errors
    assert set(report.modules) == set(summarise_modules(lora_placement(peft_model).modules))

    loaded = load_adapter(_base(twin_dir), str(out))
    loaded.eval()
    assert lora_placement(loaded).modules == lora_placement(peft_model).modules
    ids = torch.randint(0, 1000, (1, 24))
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, peft_model(ids).logits, atol=1e-5)


@pytest.mark.parametrize("target", ["gate_proj", "mlp.gate", "experts", "lm_head", "gate_up_proj"])
def test_unservable_targets_are_refused(target: str):
    with pytest.raises(ConfigError, match="not one vLLM serves"):
        validate_targets([*DEFAULT_TARGETS, target])


def test_optional_shared_expert_gate_is_accepted(twin_dir: Path):
    model = _base(twin_dir)
    cfg = TrainConfig(target_modules=[*DEFAULT_TARGETS, "shared_expert_gate"])
    placement = lora_placement(apply_lora(model, cfg))
    assert "mlp.shared_expert_gate" in summarise_modules(placement.modules)


# --- a dense Llama (the known-answer test's SmolLM2): the targets come from the architecture -----------------

SMOL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, architectures=["LlamaForCausalLM"])
    return LlamaForCausalLM(config)


def test_llama_targets_land_on_every_servable_linear_and_pass_the_lint(tmp_path: Path):
    cfg = TrainConfig(experts="none", target_modules=SMOL_TARGETS, lora_dropout=0.0)
    placement = lora_placement(apply_lora(_tiny_llama(), cfg))
    assert summarise_modules(placement.modules) == {
        f"{kind}.{t}": [0, 1] for kind, names in (("self_attn", SMOL_TARGETS[:4]), ("mlp", SMOL_TARGETS[4:]))
        for t in names}
    assert placement.parameters == set() and placement.target_parameters == []


def test_a_llama_adapter_saved_passes_the_lint(tmp_path: Path):
    cfg = TrainConfig(experts="none", target_modules=SMOL_TARGETS, lora_dropout=0.0)
    apply_lora(_tiny_llama(), cfg).save_pretrained(tmp_path)
    report = lint_adapter(tmp_path)
    assert report.errors == [], report.errors


def test_qwen3_next_targets_are_refused_on_a_llama_naming_its_list():
    with pytest.raises(ConfigError, match="not one vLLM serves for LlamaForCausalLM.*supported: q_proj, k_proj"):
        validate_targets(["q_proj", "in_proj_qkvz"], "LlamaForCausalLM")
    with pytest.raises(ConfigError, match="has no known vLLM LoRA targets"):
        validate_targets(["q_proj"], "MistralForCausalLM")
    # on Qwen3-Next a bare gate_proj still means the routed experts to peft
    with pytest.raises(ConfigError, match="write shared_expert.gate_proj"):
        validate_targets(["gate_proj"])


def test_experts_none_refuses_a_model_with_routed_experts(twin_dir: Path):
    from training.loading import LoadError, load_base_model

    cfg = TrainConfig(model=str(twin_dir), experts="none", dtype="float32", device="cpu")
    with pytest.raises(LoadError, match="has routed experts .* experts: none is for dense models"):
        load_base_model(cfg)


def test_a_qwen2_adapter_lands_on_every_servable_linear_and_passes_the_lint(tmp_path: Path):
    """Qwen2.5-Coder (the real-Qwen loop's model): Llama's layout with biased q/k/v, the same servable targets."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    validate_targets(SMOL_TARGETS, "Qwen2ForCausalLM")
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, architectures=["Qwen2ForCausalLM"])
    cfg = TrainConfig(experts="none", target_modules=SMOL_TARGETS, lora_dropout=0.0)
    model = apply_lora(Qwen2ForCausalLM(config), cfg)
    assert summarise_modules(lora_placement(model).modules) == {
        f"{kind}.{t}": [0, 1] for kind, names in (("self_attn", SMOL_TARGETS[:4]), ("mlp", SMOL_TARGETS[4:]))
        for t in names}
    model.save_pretrained(tmp_path)
    assert lint_adapter(tmp_path).errors == []
