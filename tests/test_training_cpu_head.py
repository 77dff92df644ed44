"""Training on a CPU scores only the positions that carry loss through the LM head (151,936 columns for Qwen3),
as trl does on CUDA, and gets the same loss as scoring every position."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
trl_utils = pytest.importorskip("trl.trainer.utils")


def _model():
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    torch.manual_seed(0)
    config = Qwen3NextConfig(vocab_size=3000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=1, head_dim=16, linear_key_head_dim=16,
                             linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=2,
                             moe_intermediate_size=16, shared_expert_intermediate_size=16, num_experts=2,
                             num_experts_per_tok=1, layer_types=["linear_attention", "full_attention"])
    return Qwen3NextForCausalLM(config)


def test_cpu_scores_only_loss_positions_with_the_same_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.train import _score_only_loss_positions_on_cpu

    if not hasattr(trl_utils, "_use_triton") or not hasattr(trl_utils, "add_fused_lm_head"):
        pytest.skip("this trl has no fused LM head switch")
    monkeypatch.setattr(trl_utils, "_use_triton", trl_utils._use_triton)  # restored after the test
    model = _model()
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    ids = torch.randint(0, 3000, (1, 64))
    labels = torch.full_like(ids, -100)
    labels[0, 40:52] = ids[0, 40:52]  # the loss on 12 of 64 tokens, like an assistant reply

    calls = []
    original_apply = trl_utils._ChunkedLogProbFunction.apply

    def counting_apply(hidden, *args):
        calls.append(hidden.shape[0])
        return original_apply(hidden, *args)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", counting_apply)
    with torch.no_grad():
        everywhere = model(input_ids=ids, labels=labels, fused_lm_head=True).loss
        _score_only_loss_positions_on_cpu()
        _score_only_loss_positions_on_cpu()  # idempotent
        compact = model(input_ids=ids, labels=labels, fused_lm_head=True).loss
    assert calls == [63, 12]  # every shifted position, then only the 12 with a label
    assert torch.allclose(everywhere, compact, rtol=1e-5, atol=1e-6)
    assert trl_utils._use_triton(torch.device("cpu"))
