"""Routed experts stored 4-bit, computed with transformers 5.x's grouped (fused) expert kernel.

Transformers 5.x keeps each MoE layer's experts as two fused 3-D weights (gate_up_proj
[E, 2I, H] and down_proj [E, H, I]) and runs them with one grouped matmul per projection. That is
~10x faster than transformers 4.57's loop over 512 nn.Linear experts, but bitsandbytes does not
quantise those fused parameters, so the full model would need ~156 GB of bf16 experts.

``Nf4GroupedExperts`` keeps both weights as bitsandbytes nf4 (with double quantisation: ~0.52
bytes a weight) and dequantises them for the duration of one layer's forward, then calls the same
grouped kernel. With gradient checkpointing the dequantised copy (~3 GB for a full-width layer)
lives only while that layer runs, and backward re-dequantises when it recomputes the layer. The
experts are frozen (no LoRA, no gradients), so nothing else changes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _bnb_functional() -> Any:
    try:
        import bitsandbytes.functional as bnbf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "experts: nf4-grouped needs bitsandbytes (pip install bitsandbytes>=0.46)"
        ) from exc
    return bnbf


def is_fused_experts(module: nn.Module) -> bool:
    """A transformers 5.x fused-experts module (Qwen3NextExperts and its kind)."""
    gate_up = getattr(module, "gate_up_proj", None)
    down = getattr(module, "down_proj", None)
    return (
        isinstance(gate_up, torch.Tensor)
        and isinstance(down, torch.Tensor)
        and gate_up.dim() == 3
        and down.dim() == 3
        and hasattr(module, "num_experts")
        and not getattr(module, "has_bias", False)
        and getattr(module, "has_gate", True)
        and not getattr(module, "is_transposed", False)
    )


class FusedView:
    """What transformers' grouped_mm_experts_forward reads from an experts module, with given weights."""

    has_gate = True
    has_bias = False
    is_transposed = False

    def __init__(self, num_experts: int, gate_up_proj: torch.Tensor, down_proj: torch.Tensor, act_fn: Any) -> None:
        self.num_experts = num_experts
        self.gate_up_proj = gate_up_proj
        self.down_proj = down_proj
        self.act_fn = act_fn

    def _apply_gate(self, gate_up_out: torch.Tensor) -> torch.Tensor:
        gate, up = gate_up_out.chunk(2, dim=-1)
        return self.act_fn(gate) * up


class Nf4GroupedExperts(nn.Module):
    """Fused routed experts held 4-bit; forward = dequantise this layer, then the grouped kernel."""

    def __init__(
        self,
        num_experts: int,
        hidden_dim: int,
        intermediate_dim: int,
        act_fn: Any,
        compute_dtype: torch.dtype = torch.bfloat16,
        quant_type: str = "nf4",
        double_quant: bool = True,
        blocksize: int = 64,
    ) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.act_fn = act_fn
        self.compute_dtype = compute_dtype
        self.quant_type = quant_type
        self.double_quant = double_quant
        self.blocksize = blocksize
        # Packed 4-bit data as buffers (moved by .to(), counted by memory tools, never trained or saved);
        # the bitsandbytes QuantStates (absmax, code, nested stats) live next to them on the same device.
        self.register_buffer("gate_up_q", None, persistent=False)
        self.register_buffer("down_q", None, persistent=False)
        self.gate_up_state: Any = None
        self.down_state: Any = None

    @classmethod
    def like(cls, experts: nn.Module, compute_dtype: torch.dtype, **quant: Any) -> Nf4GroupedExperts:
        """An empty 4-bit twin of a transformers fused-experts module (weights come from `quantize_`)."""
        if not is_fused_experts(experts):
            raise TypeError(f"{type(experts).__name__} is not a fused (gate_up_proj/down_proj) experts module")
        num_experts, two_i, hidden = experts.gate_up_proj.shape
        return cls(num_experts, hidden, two_i // 2, experts.act_fn, compute_dtype, **quant)

    @classmethod
    def from_experts(cls, experts: nn.Module, compute_dtype: torch.dtype, **quant: Any) -> Nf4GroupedExperts:
        new = cls.like(experts, compute_dtype, **quant)
        new.quantize_(experts.gate_up_proj.data, experts.down_proj.data)
        return new

    def _quantize(self, weight: torch.Tensor) -> tuple[torch.Tensor, Any]:
        bnbf = _bnb_functional()
        return bnbf.quantize_4bit(
            weight.to(self.compute_dtype).contiguous(),
            blocksize=self.blocksize,
            compress_statistics=self.double_quant,
            quant_type=self.quant_type,
            quant_storage=torch.uint8,
        )

    @torch.no_grad()
    def quantize_(self, gate_up: torch.Tensor, down: torch.Tensor) -> None:
        """Take this layer's full-precision expert weights (on the target device) and keep them 4-bit."""
        expected_gu = (self.num_experts, 2 * self.intermediate_dim, self.hidden_dim)
        expected_down = (self.num_experts, self.hidden_dim, self.intermediate_dim)
        if tuple(gate_up.shape) != expected_gu or tuple(down.shape) != expected_down:
            raise ValueError(
                f"expert weights of shape {tuple(gate_up.shape)}/{tuple(down.shape)}, expected {expected_gu}/{expected_down}"
            )
        self.gate_up_q, self.gate_up_state = self._quantize(gate_up)
        self.down_q, self.down_state = self._quantize(down)

    @property
    def quantized(self) -> bool:
        return self.gate_up_q is not None and self.down_q is not None

    def dequantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.quantized:
            raise RuntimeError("Nf4GroupedExperts has no weights yet (quantize_ was never called)")
        bnbf = _bnb_functional()
        gate_up = bnbf.dequantize_4bit(self.gate_up_q, self.gate_up_state, quant_type=self.quant_type)
        down = bnbf.dequantize_4bit(self.down_q, self.down_state, quant_type=self.quant_type)
        return gate_up.to(self.compute_dtype), down.to(self.compute_dtype)

    def storage_bytes(self) -> int:
        """Bytes held for the 4-bit weights and their statistics."""
        total = 0
        for q, state in ((self.gate_up_q, self.gate_up_state), (self.down_q, self.down_state)):
            if q is None:
                continue
            total += q.numel() * q.element_size()
            total += state.absmax.numel() * state.absmax.element_size()
            if getattr(state, "nested", False) and state.state2 is not None:
                total += state.state2.absmax.numel() * state.state2.absmax.element_size()
        return total

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor) -> torch.Tensor:
        from transformers.integrations.moe import grouped_mm_experts_forward

        gate_up, down = self.dequantized()
        view = FusedView(self.num_experts, gate_up, down, self.act_fn)
        return grouped_mm_experts_forward(view, hidden_states, top_k_index, top_k_weights)

    def extra_repr(self) -> str:
        return (
            f"num_experts={self.num_experts}, hidden={self.hidden_dim}, intermediate={self.intermediate_dim}, "
            f"{self.quant_type}{' double-quant' if self.double_quant else ''}, compute={self.compute_dtype}"
        )


class Int8GroupedExperts(Nf4GroupedExperts):
    """Fused routed experts held 8-bit: row-wise absmax int8 (bitsandbytes' ``int8_vectorwise_quant``).

    Every output row of every expert (a row of gate_up_proj [E, 2I, H] or of down_proj [E, H, I]) keeps
    int8 codes and one float32 scale (its absmax): ~1.002 bytes a weight, twice nf4's memory, with a
    rounding step of absmax/127 instead of nf4's 16 levels per block of 64. bitsandbytes' CUDA kernel
    takes float16 input, so the weights pass through float16 on their way in (exact for the
    magnitudes of trained weights next to that step). Forward: dequantise (float32, then the compute
    dtype) and the same grouped kernel as the 4-bit class.
    """

    def __init__(self, num_experts: int, hidden_dim: int, intermediate_dim: int, act_fn: Any,
                 compute_dtype: torch.dtype = torch.bfloat16, **_unused: Any) -> None:
        super().__init__(num_experts, hidden_dim, intermediate_dim, act_fn, compute_dtype, quant_type="int8",
                         double_quant=False, blocksize=0)

    def _quantize(self, weight: torch.Tensor) -> tuple[torch.Tensor, Any]:
        bnbf = _bnb_functional()
        rows = weight.to(torch.float16).reshape(-1, weight.shape[-1]).contiguous()
        codes, stats, _outliers = bnbf.int8_vectorwise_quant(rows, threshold=0.0)
        return codes.view(weight.shape), stats

    def dequantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.quantized:
            raise RuntimeError("Int8GroupedExperts has no weights yet (quantize_ was never called)")
        bnbf = _bnb_functional()
        out = []
        for codes, stats in ((self.gate_up_q, self.gate_up_state), (self.down_q, self.down_state)):
            rows = bnbf.int8_vectorwise_dequant(codes.reshape(-1, codes.shape[-1]), stats)
            out.append(rows.to(self.compute_dtype).view(codes.shape))
        return out[0], out[1]

    def storage_bytes(self) -> int:
        return sum(q.numel() * q.element_size() + s.numel() * s.element_size()
                   for q, s in ((self.gate_up_q, self.gate_up_state), (self.down_q, self.down_state)) if q is not None)

    def extra_repr(self) -> str:
        return (f"num_experts={self.num_experts}, hidden={self.hidden_dim}, intermediate={self.intermediate_dim}, "
                f"int8 row-wise, compute={self.compute_dtype}")


# How each quantised `experts` mode of the config holds the routed experts.
GROUPED_EXPERTS: dict[str, type[Nf4GroupedExperts]] = {"nf4-grouped": Nf4GroupedExperts,
                                                       "int8-grouped": Int8GroupedExperts}


def swap_experts_to_nf4(model: nn.Module, compute_dtype: torch.dtype, **quant: Any) -> int:
    """Replace every fused-experts module whose weights are loaded by a quantised Nf4GroupedExperts.

    For a model that is already in memory (the tiny twin, tests); the training loader quantises layer
    by layer while it reads the checkpoint instead (training/loading.py). Returns the number swapped.
    """
    swapped = 0
    for name, module in list(model.named_modules()):
        if is_fused_experts(module):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, Nf4GroupedExperts.from_experts(module, compute_dtype, **quant))
            swapped += 1
    return swapped
