"""Whether a saved adapter's weights are numbers: a training that diverged saves NaN or infinite values, which
the lint (names and shapes only) cannot see and vLLM serves until a request fails (HTTP 400, "Out of range float
values are not JSON compliant: nan", as round 2 of reports/records/real-qwen/ found)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_FILE = "adapter_model.safetensors"


def non_finite_values(directory: Path) -> dict[str, int]:
    """Tensor name -> how many of its values are NaN or infinite, for every tensor that has any."""
    import torch
    from safetensors.torch import load_file

    found: dict[str, int] = {}
    for name, tensor in load_file(str(Path(directory) / WEIGHTS_FILE)).items():
        bad = int((~torch.isfinite(tensor.float())).sum())
        if bad:
            found[name] = bad
    return found


def non_finite_problem(directory: Path) -> str | None:
    """One line naming the non-finite values, or None when every value is a number."""
    found = non_finite_values(directory)
    if not found:
        return None
    total = sum(found.values())
    first = ", ".join(sorted(found)[:2])
    return (f"the adapter holds {total:,} NaN or infinite values in {len(found)} of its tensors (e.g. {first}): "
            "the training diverged; it must not be served")
