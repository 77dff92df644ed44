"""4-bit routed experts with the grouped kernel, and the layer-by-layer loader (bitsandbytes on CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")

from training.config import TrainConfig  # noqa: E402
from training.experts4bit import Int8GroupedExperts, Nf4GroupedExperts, is_fused_experts, swap_experts_to_nf4  # noqa: E402,E501
from training.loading import LoadError, load_nf4_grouped  # noqa: E402


@pytest.fixture(scope="module")
def twin_dir() -> Path:
    from serving.tiny_twin import default_twin_dir

    return default_twin_dir()


def _reference(twin_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(twin_dir, dtype=torch.float32)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(dtype="float32", device="cpu", **kw)


def test_forward_equals_the_grouped_kernel_on_the_dequantised_weights(twin_dir: Path):
    model = _reference(twin_dir)
    experts = model.model.layers[0].mlp.experts
    assert is_fused_experts(experts)
    nf4 = Nf4GroupedExperts.from_experts(experts, torch.float32)
    gate_up, down = nf4.dequantized()
    # 4-bit storage: close to the original weights, not equal
    rel = (gate_up - experts.gate_up_proj).norm() / experts.gate_up_proj.norm()
    assert 0.01 < rel < 0.2
    with torch.no_grad():
        experts.gate_up_proj.copy_(gate_up)
        experts.down_proj.copy_(down)
    hidden = torch.randn(37, experts.gate_up_proj.shape[-1], requires_grad=True)
    top_k = torch.stack([torch.randperm(nf4.num_experts)[:2] for _ in range(37)])
    weights = torch.softmax(torch.randn(37, 2), dim=-1)
    out = nf4(hidden, top_k, weights)
    ref = experts(hidden, top_k, weights)
    assert torch.allclose(out, ref, atol=1e-6)
    out.sum().backward()  # gradients reach the input; the 4-bit weights hold none
    assert hidden.grad is not None and torch.isfinite(hidden.grad).all()
    assert not any(p.requires_grad for p in nf4.parameters())
    assert nf4.storage_bytes() < (gate_up.numel() + down.numel()) * 0.6  # ~0.5 bytes a weight + stats


def test_int8_experts_are_closer_to_the_weights_and_run_the_same_kernel(twin_dir: Path):
    model = _reference(twin_dir)
    experts = model.model.layers[1].mlp.experts
    int8 = Int8GroupedExperts.from_experts(experts, torch.float32)
    nf4 = Nf4GroupedExperts.from_experts(experts, torch.float32)
    assert int8.gate_up_q.dtype == torch.int8 and int8.gate_up_q.shape == experts.gate_up_proj.shape
    gate_up, down = int8.dequantized()
    rel8 = (gate_up - experts.gate_up_proj).norm() / experts.gate_up_proj.norm()
    rel4 = (nf4.dequantized()[0] - experts.gate_up_proj).norm() / experts.gate_up_proj.norm()
    assert rel8 < 0.02 and rel8 < rel4 / 5
    weights = experts.gate_up_proj.numel() + experts.down_proj.numel()
    assert weights < int8.storage_bytes() < 1.1 * weights
    with torch.no_grad():
        experts.gate_up_proj.copy_(gate_up)
        experts.down_proj.copy_(down)
    hidden = torch.randn(23, experts.gate_up_proj.shape[-1])
    top_k = torch.stack([torch.randperm(int8.num_experts)[:2] for _ in range(23)])
    weights_k = torch.softmax(torch.randn(23, 2), dim=-1)
    assert torch.allclose(int8(hidden, top_k, weights_k), experts(hidden, top_k, weights_k), atol=1e-6)


def test_int8_mode_loads_through_the_streaming_loader(twin_dir: Path):
    loaded, report = load_nf4_grouped(twin_dir, _cfg(experts="int8-grouped"), torch.device("cpu"))
    assert report.mode == "int8-grouped" and report.expert_layers == 4
    assert all(type(layer.mlp.experts) is Int8GroupedExperts for layer in loaded.model.layers)
    nf4, _ = load_nf4_grouped(twin_dir, _cfg(), torch.device("cpu"))
    ref = _reference(twin_dir)
    ids = torch.randint(0, 4000, (1, 24))
    with torch.no_grad():
        a, b, c = loaded(ids).logits, ref(ids).logits, nf4(ids).logits
    # the random twin amplifies any perturbation; 8-bit still lands closer to the reference than 4-bit
    assert (a - b).norm() < 0.75 * (c - b).norm()


def test_streaming_loader_equals_swapping_after_a_full_load(twin_dir: Path):
    loaded, report = load_nf4_grouped(twin_dir, _cfg(), torch.device("cpu"))
    assert report.expert_layers == 4 and report.expert_bytes > 0 and not report.ignored_keys
    assert all(isinstance(layer.mlp.experts, Nf4GroupedExperts) for layer in loaded.model.layers)
    assert not any(p.device.type == "meta" for p in loaded.parameters())
    swapped = _reference(twin_dir)
    assert swap_experts_to_nf4(swapped, torch.float32) == 4
    ids = torch.randint(0, 4000, (1, 40))
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, swapped(ids).logits)


def _rewrite_checkpoint(twin_dir: Path, out: Path, edit) -> Path:
    from safetensors.torch import load_file, save_file

    out.mkdir()
    for f in twin_dir.iterdir():
        if f.name != "model.safetensors":
            shutil.copy(f, out / f.name)
    tensors = load_file(str(twin_dir / "model.safetensors"))
    save_file(edit(tensors), str(out / "model.safetensors"))
    return out


def test_fused_checkpoint_layout_loads_the_same(twin_dir: Path, tmp_path: Path):
    config = json.loads((twin_dir / "config.json").read_text())
    n_exp = config["num_experts"]

    def fuse(tensors):
        out = {}
        for layer in range(config["num_hidden_layers"]):
            p = f"model.layers.{layer}.mlp.experts"
            gate = torch.stack([tensors.pop(f"{p}.{e}.gate_proj.weight") for e in range(n_exp)])
            up = torch.stack([tensors.pop(f"{p}.{e}.up_proj.weight") for e in range(n_exp)])
            out[f"{p}.gate_up_proj"] = torch.cat([gate, up], dim=1).contiguous()
            out[f"{p}.down_proj"] = torch.stack([tensors.pop(f"{p}.{e}.down_proj.weight") for e in range(n_exp)])
        return {**tensors, **out}

    fused_dir = _rewrite_checkpoint(twin_dir, tmp_path / "fused", fuse)
    a, _ = load_nf4_grouped(twin_dir, _cfg(), torch.device("cpu"))
    b, _ = load_nf4_grouped(fused_dir, _cfg(), torch.device("cpu"))
    ids = torch.randint(0, 4000, (1, 16))
    with torch.no_grad():
        assert torch.equal(a(ids).logits, b(ids).logits)


def test_loader_names_a_missing_or_unknown_tensor(twin_dir: Path, tmp_path: Path):
    def drop(t):
        t.pop("model.layers.2.mlp.experts.5.up_proj.weight")
        return t

    with pytest.raises(LoadError, match=r"layers\.2\.mlp\.experts: the checkpoint lacks expert weights"):
        load_nf4_grouped(_rewrite_checkpoint(twin_dir, tmp_path / "a", drop), _cfg(), torch.device("cpu"))

    def extra(t):
        t["model.layers.0.mystery.weight"] = torch.zeros(2)
        return t

    with pytest.raises(LoadError, match="mystery.weight has no place"):
        load_nf4_grouped(_rewrite_checkpoint(twin_dir, tmp_path / "b", extra), _cfg(), torch.device("cpu"))

    def no_norm(t):
        t.pop("model.norm.weight")
        return t

    with pytest.raises(LoadError, match="lacks 1 weight"):
        load_nf4_grouped(_rewrite_checkpoint(twin_dir, tmp_path / "c", no_norm), _cfg(), torch.device("cpu"))


def test_gradient_checkpointing_recomputes_the_dequantised_layer(twin_dir: Path):
    """LoRA gradients are the same with checkpointing (re-dequantise in backward) as without."""
    from training.targets import apply_lora

    def grads(checkpointing: bool) -> dict[str, torch.Tensor]:
        model, _ = load_nf4_grouped(twin_dir, _cfg(), torch.device("cpu"))
        for p in model.parameters():
            p.requires_grad_(False)
        torch.manual_seed(0)
        peft_model = apply_lora(model, _cfg(lora_dropout=0.0))
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.1)
        if checkpointing:
            peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            peft_model.enable_input_require_grads()
        peft_model.train()
        ids = torch.arange(3, 70).unsqueeze(0)
        peft_model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
        return {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.requires_grad}

    plain, ckpt = grads(False), grads(True)
    assert plain.keys() == ckpt.keys() and plain
    for name in plain:
        assert torch.allclose(plain[name], ckpt[name], atol=1e-5, rtol=1e-4), name
