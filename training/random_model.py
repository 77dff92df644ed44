"""The model's full shape with random weights, built on the GPU the way a checkpoint load would build it
(experts quantised layer by layer): what the dry run (training/dryrun.py) trains a few steps of."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from training.config import TrainConfig


def model_config(model: str) -> Any:
    """The transformers config of `model`: its config.json, or the built-in architecture (preflight)."""
    from transformers import AutoConfig

    from training.preflight import read_model_config

    raw, _source = read_model_config(model)
    raw = dict(raw)
    model_type = raw.pop("model_type", None) or "qwen3_next"
    for key in ("architectures", "transformers_version", "torch_dtype", "dtype", "quantization_config"):
        raw.pop(key, None)
    return AutoConfig.for_model(model_type, **raw)


@dataclass
class BuildReport:
    seconds: float  # the whole build: dense weights, random experts, quantisation
    quantize_seconds: float  # the part spent in Nf4GroupedExperts.quantize_ (a checkpoint load does the same)
    expert_layers: int
    expert_bytes: int  # as held: 4-bit codes and statistics
    dense_bytes: int
    checkpoint_bytes: int  # what the bf16 checkpoint of this shape would hold (read from disk by a real load)
    gpu_allocated_after: int | None
    gpu_peak_during: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_random_model(config: Any, cfg: TrainConfig, device: Any, seed: int = 0) -> tuple[Any, BuildReport]:
    """The model of `config` with random weights, routed experts quantised, built layer by layer on `device`.

    Dense weights: created on the device and initialised by the model's ``_init_weights`` (norms,
    A_log and dt_bias as a fresh model has them). Routed experts: for one layer at a time, normal
    weights (std = initializer_range) in the compute dtype on the device, quantised by the config's
    experts module (``Nf4GroupedExperts.quantize_``, or its int8 sibling) and freed before the next
    layer, as ``load_nf4_grouped`` does with a checkpoint's layer. The peak is one layer's experts in the compute dtype above the 4-bit model.
    """
    import torch

    from training.loading import empty_quantized_model, finish_quantized_model, torch_dtype

    start = time.perf_counter()
    dtype = torch_dtype(cfg.dtype)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(seed)
    model, experts = empty_quantized_model(config, cfg)
    dense_bytes = 0
    for module in model.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            if param.device.type == "meta":
                value = torch.empty(param.shape, device=device, dtype=param.dtype)
                module._parameters[name] = torch.nn.Parameter(value, requires_grad=False)
                dense_bytes += value.numel() * value.element_size()
    with torch.no_grad():
        for module in model.modules():
            model._init_weights(module)
    std = float(getattr(config, "initializer_range", 0.02) or 0.02)
    quantize_seconds = 0.0
    expert_bytes = 0
    for module in experts.values():
        e, i, h = module.num_experts, module.intermediate_dim, module.hidden_dim
        gate_up = torch.empty((e, 2 * i, h), device=device, dtype=dtype).normal_(0.0, std)
        down = torch.empty((e, h, i), device=device, dtype=dtype).normal_(0.0, std)
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        module.quantize_(gate_up, down)
        if cuda:
            torch.cuda.synchronize(device)
        quantize_seconds += time.perf_counter() - t0
        del gate_up, down
        expert_bytes += module.storage_bytes()
    missing = finish_quantized_model(model, config, device)
    if missing:  # pragma: no cover - every parameter was created above
        raise RuntimeError(f"the dry-run model lacks {len(missing)} weight(s), e.g. {', '.join(missing[:3])}")
    for p in model.parameters():
        p.requires_grad_(False)
    expert_params = sum(3 * m.num_experts * m.hidden_dim * m.intermediate_dim for m in experts.values())
    element = 2  # a bf16 checkpoint
    report = BuildReport(
        seconds=0.0, quantize_seconds=round(quantize_seconds, 2), expert_layers=len(experts),
        expert_bytes=expert_bytes, dense_bytes=dense_bytes,
        checkpoint_bytes=expert_params * element + dense_bytes // dtype.itemsize * element,
        gpu_allocated_after=None, gpu_peak_during=None,
    )
    if cuda:
        torch.cuda.synchronize(device)
        report.gpu_allocated_after = torch.cuda.memory_allocated(device)
        report.gpu_peak_during = torch.cuda.max_memory_allocated(device)
    report.seconds = round(time.perf_counter() - start, 2)
    return model, report
