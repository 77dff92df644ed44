"""The dry run's full-shape builder: Qwen3-Coder-Next's exact shape on meta, random layer-by-layer build on CPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")

from training.config import TrainConfig  # noqa: E402
from training.data import Example  # noqa: E402
from training.dryrun import (  # noqa: E402
    by_length,
    fit_line,
    run_estimate,
    spread_by_length,
    synthetic_example,
)
from training.experts4bit import Int8GroupedExperts, Nf4GroupedExperts  # noqa: E402
from training.loading import empty_quantized_model, load_nf4_grouped  # noqa: E402
from training.memory import KNOWN_CONFIGS, Architecture  # noqa: E402
from training.random_model import build_random_model, model_config  # noqa: E402


@pytest.fixture(scope="module")
def twin_dir() -> Path:
    from serving.tiny_twin import default_twin_dir

    return default_twin_dir()


def test_the_built_in_config_is_qwen3_coder_next_at_full_shape():
    config = model_config("Qwen/Qwen3-Coder-Next")
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (48, 2048, 151936)
    assert (config.num_experts, config.num_experts_per_tok, config.moe_intermediate_size) == (512, 10, 512)
    assert config.shared_expert_intermediate_size == 512
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (16, 2, 256)
    assert (config.linear_num_key_heads, config.linear_num_value_heads) == (16, 32)
    assert (config.linear_key_head_dim, config.linear_value_head_dim, config.linear_conv_kernel_dim) == (128, 128, 4)
    assert config.layer_types == ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(48)]
    assert config.rope_parameters["partial_rotary_factor"] == 0.25 and not config.tie_word_embeddings
    # the whole model on meta: every parameter, 48 layers of 4-bit experts in place of the fused bf16 ones
    model, experts = empty_quantized_model(config, TrainConfig())
    arch = Architecture.from_config(KNOWN_CONFIGS["Qwen/Qwen3-Coder-Next"])
    counts = arch.parameter_counts()
    expert_params = sum(3 * m.num_experts * m.hidden_dim * m.intermediate_dim for m in experts.values())
    assert expert_params == counts["routed_experts"] == 77_309_411_328
    assert sum(p.numel() for p in model.parameters()) + expert_params == sum(counts.values())
    assert len(experts) == 48 and all(type(m) is Nf4GroupedExperts for m in experts.values())
    assert {(m.num_experts, m.hidden_dim, m.intermediate_dim) for m in experts.values()} == {(512, 2048, 512)}
    assert model.model.layers[3].self_attn.q_proj.out_features == 16 * 256 * 2
    assert model.model.layers[0].linear_attn.in_proj_qkvz.out_features == 2 * 16 * 128 + 2 * 32 * 128


def test_random_build_holds_experts_as_the_checkpoint_loader_does(twin_dir: Path):
    from transformers import AutoConfig

    cfg = TrainConfig(model=str(twin_dir), dtype="float32", device="cpu")
    config = AutoConfig.from_pretrained(twin_dir)
    model, report = build_random_model(config, cfg, torch.device("cpu"), seed=0)
    loaded, load_report = load_nf4_grouped(twin_dir, cfg, torch.device("cpu"))
    assert report.expert_layers == load_report.expert_layers == 4
    assert report.expert_bytes == load_report.expert_bytes
    assert report.dense_bytes == load_report.dense_bytes
    for built, ref in zip(model.model.layers, loaded.model.layers, strict=True):
        a, b = built.mlp.experts, ref.mlp.experts
        assert type(a) is type(b) is Nf4GroupedExperts and a.quantized
        assert (a.gate_up_q.shape, a.down_q.shape) == (b.gate_up_q.shape, b.down_q.shape)
        assert a.gate_up_state.quant_type == b.gate_up_state.quant_type == "nf4"
        assert a.gate_up_state.nested == b.gate_up_state.nested
        gate_up, _down = a.dequantized()
        assert 0.015 < float(gate_up.std()) < 0.025  # normal(0, initializer_range) through nf4
    assert not any(p.device.type == "meta" or p.requires_grad for p in model.parameters())
    # the model's own initialisation: RMSNorms zero-centred, A_log finite, linear weights ~ N(0, 0.02)
    assert float(model.model.norm.weight.abs().max()) == 0.0
    assert torch.isfinite(model.model.layers[0].linear_attn.A_log).all()
    assert 0.015 < float(model.model.layers[0].linear_attn.in_proj_qkvz.weight.std()) < 0.025
    with torch.no_grad():
        logits = model(torch.randint(0, 4000, (1, 32))).logits
    assert torch.isfinite(logits).all()
    assert report.checkpoint_bytes == (report.dense_bytes // 4 + sum(
        3 * m.num_experts * m.hidden_dim * m.intermediate_dim for m in (layer.mlp.experts for layer in model.model.layers)
    )) * 2


def test_random_build_with_int8_experts(twin_dir: Path):
    from transformers import AutoConfig

    cfg = TrainConfig(model=str(twin_dir), dtype="float32", device="cpu", experts="int8-grouped")
    model, report = build_random_model(AutoConfig.from_pretrained(twin_dir), cfg, torch.device("cpu"))
    experts = [layer.mlp.experts for layer in model.model.layers]
    assert all(type(e) is Int8GroupedExperts and e.gate_up_q.dtype == torch.int8 for e in experts)
    weights = sum(3 * e.num_experts * e.hidden_dim * e.intermediate_dim for e in experts)
    # an int8 code a weight and one float32 scale a row (rows of hidden_dim in gate_up, of intermediate_dim in down)
    scales = sum(4 * e.num_experts * (2 * e.intermediate_dim + e.hidden_dim) for e in experts)
    assert report.expert_bytes == weights + scales


def _example(n: int, loss_from: int = 0) -> Example:
    return Example(input_ids=list(range(n)), assistant_masks=[0] * loss_from + [1] * (n - loss_from), spans=[],
                   text="", source=f"t:{n}")


def test_examples_spread_over_the_length_range():
    examples = [_example(n) for n in (50, 10, 40, 30, 20, 60, 70)]
    picked = [len(e.input_ids) for e in spread_by_length(examples, 3)]
    assert picked == [10, 40, 70]
    assert len(spread_by_length(examples, 10)) == 7
    assert [len(e.input_ids) for e in spread_by_length(examples, 1)] == [70]
    long = synthetic_example(25, _example(10, loss_from=8))
    assert len(long.input_ids) == len(long.assistant_masks) == 25 and sum(long.assistant_masks) == 4


def test_step_line_buckets_and_the_run_estimate():
    a, b = fit_line([(1000, 2.0), (2000, 3.0), (3000, 4.0)])
    assert a == pytest.approx(1.0) and b == pytest.approx(0.001)
    assert fit_line([(1000, 2.0), (1000, 4.0)]) == (0.0, pytest.approx(0.003))
    buckets = by_length([{"tokens": 1024, "seconds": 1.0}, {"tokens": 1025, "seconds": 2.0},
                         {"tokens": 2048, "seconds": 4.0}, {"tokens": 3000, "seconds": 5.0}])
    assert buckets["0k-1k"]["steps"] == 1 and buckets["1k-2k"] == {"steps": 2, "tokens_median": 1536,
                                                                   "seconds_median": 3.0}
    cfg = dataclasses.replace(TrainConfig(), epochs=3.0, gradient_accumulation_steps=8, max_length=4096)
    est = run_estimate([1000] * 99 + [5000], cfg, a=1.0, b=0.001, optimizer_seconds=0.5, step_overhead_seconds=0.5)
    # 13 optimizer steps an epoch; the 5000-token example is cut to max_length
    assert est["optimizer_steps"] == 39 and est["tokens_per_epoch"] == 99 * 1000 + 4096
    per_epoch = 99 * 2.0 + (1.0 + 4.096)
    assert est["minutes"] == pytest.approx((3 * per_epoch + 39 * 1.0) / 60, abs=0.01)
