"""What the adapter lint found, and how `serving lint` prints it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LintReport:
    path: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    # module kind relative to its decoder layer (e.g. "self_attn.q_proj") -> layers carrying LoRA on it;
    # modules outside the layers (lm_head, embed_tokens) map to [].
    modules: dict[str, list[int]] = field(default_factory=dict)
    module_names: set[str] = field(default_factory=set)  # full module names carrying LoRA tensors
    rank: int | None = None  # the largest rank found (config, rank_pattern or tensors)
    unreadable: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unreadable

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return 2
        return 1 if self.errors else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "errors": self.errors,
            "warnings": self.warnings,
            "info": self.info,
            "modules": self.modules,
            "rank": self.rank,
        }


# ---- output ----------------------------------------------------------------------------------------


def _ranges(layers: list[int]) -> str:
    if not layers:
        return "-"
    parts: list[str] = []
    start = prev = layers[0]
    for layer in layers[1:] + [None]:  # type: ignore[list-item]
        if layer is not None and layer == prev + 1:
            prev = layer
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if layer is not None:
            start = prev = layer
    return ",".join(parts)


def format_report(report: LintReport) -> str:
    lines = [f"serving lint {report.path}"]
    for line in report.info:
        lines.append(f"  {line}")
    if report.modules:
        width = max(len(name) for name in report.modules)
        all_layers = sorted({layer for layers in report.modules.values() for layer in layers})
        lines.append(f"  LoRA on {len(report.modules)} module kind(s) across {len(all_layers)} layer(s):")
        for name in sorted(report.modules):
            layers = report.modules[name]
            lines.append(f"    {name:<{width}}  {len(layers):>3} layer(s): {_ranges(layers)}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    for error in report.errors:
        lines.append(f"  error: {error}")
    if report.unreadable:
        lines.append("UNREADABLE")
    elif report.errors:
        lines.append(f"FAILED: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    else:
        lines.append(f"OK: vLLM can serve this adapter ({len(report.warnings)} warning(s))")
    return "\n".join(lines)
