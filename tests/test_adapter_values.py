"""A diverged training's NaN or infinite adapter weights are found and refused before the adapter is served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from training.adapter_values import non_finite_problem, non_finite_values
from training.train import LintFailed, check_saved_adapter

MODULE = "base_model.model.model.layers.0.self_attn.q_proj"


def _adapter(tmp_path: Path, a: torch.Tensor) -> Path:
    save_file({f"{MODULE}.lora_A.weight": a, f"{MODULE}.lora_B.weight": torch.zeros(8, 4)},
              str(tmp_path / "adapter_model.safetensors"))
    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "base_model_name_or_path": "x"}))
    return tmp_path


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_nan_and_infinite_values_are_counted_per_tensor(tmp_path: Path, dtype: torch.dtype) -> None:
    a = torch.ones(4, 8, dtype=dtype)
    a[0, 0], a[1, 1], a[2, 2] = float("nan"), float("inf"), float("-inf")
    directory = _adapter(tmp_path, a)
    assert non_finite_values(directory) == {f"{MODULE}.lora_A.weight": 3}
    assert "3 NaN or infinite values in 1 of its tensors" in non_finite_problem(directory)


def test_a_finite_adapter_has_no_problem(tmp_path: Path) -> None:
    assert non_finite_problem(_adapter(tmp_path, torch.randn(4, 8))) is None


def test_the_trainer_refuses_to_keep_a_diverged_adapter(tmp_path: Path) -> None:
    a = torch.randn(4, 8)
    a[0, 0] = float("nan")
    directory = _adapter(tmp_path, a)
    with pytest.raises(LintFailed, match="the training diverged; it must not be served"):
        check_saved_adapter(directory, {"model.layers.0.self_attn.q_proj"}, max_rank=16)
