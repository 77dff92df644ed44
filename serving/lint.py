"""Will vLLM serve this LoRA adapter on Qwen3-Next?  `python -m serving lint ADAPTER_DIR`.

Reads adapter_config.json *and* the tensor names in adapter_model.safetensors (names and shapes
only; no tensor is loaded), because what a trainer asked for and what peft saved can differ: with
transformers 5.x, peft 0.21 rewrites `shared_expert.gate_proj/up_proj/down_proj` into
`target_parameters=["gate_up_proj", "down_proj"]` on the *routed* experts' fused weights, and
vLLM 0.25.1 then fails to load the adapter with HTTP 500.

`lint_adapter(path, max_rank=16, tensor_parallel=1, allow_routed_experts=False) -> LintReport`
is the API the trainer and `serving load` call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.safe_io import json_reason

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"

# What vLLM can put LoRA on in Qwen3NextForCausalLM (its packed modules: qkv_proj <- q/k/v_proj,
# gate_up_proj <- gate/up_proj, in_proj_qkvz, in_proj_ba; plus o_proj, out_proj, down_proj and
# the shared-expert gate).
SUPPORTED_TARGETS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "in_proj_qkvz",
    "in_proj_ba",
    "out_proj",
    "shared_expert.gate_proj",
    "shared_expert.up_proj",
    "shared_expert.down_proj",
    "shared_expert_gate",
)
# Dense Llama-family models (SmolLM2, the known-answer test's real model): vLLM packs q/k/v_proj into
# qkv_proj and gate/up_proj into gate_up_proj, and serves LoRA on those and on o_proj and down_proj.
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# The LoRA targets vLLM serves, by the model's architecture (config.json `architectures[0]`).
SERVABLE_TARGETS: dict[str, tuple[str, ...]] = {
    "Qwen3NextForCausalLM": SUPPORTED_TARGETS,
    "LlamaForCausalLM": LLAMA_TARGETS,
}
# vLLM's --max-lora-rank accepts only these values.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

_KEY_RE = re.compile(
    r"^(?P<module>.+?)\.(?P<kind>lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)"
    r"(?:\.[^.]+){0,2}$"
)
_LAYER_RE = re.compile(r"(?:^|\.)layers\.(?P<layer>\d+)\.(?P<rel>.+)$")
_CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("supported", re.compile(r"^self_attn\.(q_proj|k_proj|v_proj|o_proj)$")),
    ("supported", re.compile(r"^linear_attn\.(in_proj_qkvz|in_proj_ba|out_proj)$")),
    ("supported", re.compile(r"^mlp\.shared_expert\.(gate_proj|up_proj|down_proj)$")),
    ("supported", re.compile(r"^mlp\.shared_expert_gate$")),
    ("supported", re.compile(r"^mlp\.(gate_proj|up_proj|down_proj)$")),  # dense MLP layers, if any
    ("router", re.compile(r"^mlp\.gate$")),
    ("experts_fused", re.compile(r"^mlp\.experts(\.base_layer)*$")),
    ("experts", re.compile(r"^mlp\.experts\.\d+\.(gate_proj|up_proj|down_proj|w1|w2|w3)$")),
]

TARGET_PARAMETERS_MESSAGE = (
    "adapter_config.json has target_parameters={params}: LoRA on the routed experts' fused "
    "gate_up_proj/down_proj weights, not on the shared expert. This is what peft 0.21 on transformers "
    "5.x saves when target_modules names shared_expert.gate_proj/up_proj/down_proj (it rewrites them to "
    "the routed experts; the shared expert gets no LoRA). vLLM 0.25.1 fails with HTTP 500 loading it "
    "(AssertionError in fused_moe set_lora). Train so that the saved adapter targets the shared expert's "
    "own gate_proj/up_proj/down_proj modules"
)


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


def lint_adapter(
    path: str | Path,
    max_rank: int = 16,
    tensor_parallel: int = 1,
    allow_routed_experts: bool = False,
) -> LintReport:
    """Check an adapter directory against what vLLM can serve for Qwen3-Next."""
    directory = Path(path)
    report = LintReport(path=str(directory))
    config = _read_config(directory, report)
    tensors = _read_tensor_shapes(directory, report)
    if config is None or tensors is None:
        report.unreadable = True
        return report
    config = _normalise(config, report)
    _check_config_features(config, report)
    modules = _collect_modules(tensors, report)
    _check_modules(config, modules, report, allow_routed_experts)
    _check_ranks(config, modules, report, max_rank)
    if tensor_parallel >= 2 and any(m.endswith(".in_proj_qkvz") for m in modules):
        report.warnings.append(
            f"LoRA on linear_attn.in_proj_qkvz under tensor parallel {tensor_parallel}: suspected wrong in vLLM "
            "(the fused q/k/v/z projection is sharded per head group); serve with tensor-parallel-size 1, or "
            "split with pipeline-parallel-size instead"
        )
    return report


# ---- reading ---------------------------------------------------------------------------------------


def _read_config(directory: Path, report: LintReport) -> dict[str, Any] | None:
    if not directory.exists():
        report.errors.append(f"{directory} does not exist")
        return None
    if not directory.is_dir():
        report.errors.append(f"{directory} is not a directory (an adapter is a directory with {CONFIG_FILE})")
        return None
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        report.errors.append(f"{CONFIG_FILE} is missing in {directory}")
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        report.errors.append(f"{CONFIG_FILE} is not UTF-8 text")
        return None
    except json.JSONDecodeError as exc:
        report.errors.append(
            f"{CONFIG_FILE} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        )
        return None
    except (ValueError, RecursionError) as exc:  # nested too deeply, a number of thousands of digits
        report.errors.append(f"{CONFIG_FILE} is {json_reason(exc)}")
        return None
    except OSError as exc:
        report.errors.append(f"cannot read {CONFIG_FILE}: {exc.strerror or exc}")
        return None
    if not isinstance(config, dict):
        report.errors.append(f"{CONFIG_FILE} is not a JSON object")
        return None
    return config


def _read_tensor_shapes(directory: Path, report: LintReport) -> dict[str, list[int]] | None:
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        if (directory / "adapter_model.bin").is_file():
            report.errors.append(
                f"{WEIGHTS_FILE} is missing (only adapter_model.bin): save with safe_serialization=True"
            )
        elif directory.is_dir():
            report.errors.append(f"{WEIGHTS_FILE} is missing in {directory}")
        return None
    from safetensors import safe_open  # imported here: lint of a missing dir should not need it

    try:
        with safe_open(str(weights), framework="numpy") as handle:
            return {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for garbled headers
        report.errors.append(f"{WEIGHTS_FILE} is not a readable safetensors file ({_first_line(exc)})")
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _normalise(config: dict[str, Any], report: LintReport) -> dict[str, Any]:
    """A copy whose fields have the types peft writes; wrong types are errors and get neutral values."""
    clean = dict(config)

    def bad(key: str, want: str, default: Any) -> None:
        report.errors.append(f"{CONFIG_FILE}: {key} must be {want} (got {json.dumps(config[key])[:60]})")
        clean[key] = default

    for key in ("target_parameters", "modules_to_save"):
        value = config.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            bad(key, "a list of names", None)
    targets = config.get("target_modules")
    if targets is not None and not isinstance(targets, str):
        if not (isinstance(targets, list) and all(isinstance(v, str) for v in targets)):
            bad("target_modules", "a list of names or a regex string", [])
    if isinstance(clean.get("target_modules"), str):
        try:
            re.compile(clean["target_modules"])
        except re.error:
            bad("target_modules", "a valid regex when it is a string", [])
    for key in ("rank_pattern", "alpha_pattern"):
        value = config.get(key)
        if value is None:
            continue
        valid = isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value.values()
        )
        if valid:
            try:
                for pattern in value:
                    re.compile(pattern)
            except re.error:
                valid = False
        if not valid:
            bad(key, "a mapping of module patterns to positive numbers", {})
    for key in ("r", "lora_alpha"):
        if isinstance(config.get(key), bool):
            bad(key, "a number", None)
    return clean


# ---- config features vLLM refuses ------------------------------------------------------------------


def _check_config_features(config: dict[str, Any], report: LintReport) -> None:
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        report.errors.append(f"peft_type is {peft_type}: vLLM serves only LoRA adapters")
    if config.get("use_dora"):
        report.errors.append("use_dora is true: vLLM does not support DoRA (retrain with use_dora=False)")
    if config.get("modules_to_save"):
        report.errors.append(
            f"modules_to_save={config['modules_to_save']}: vLLM only serves adapters without modules_to_save "
            "(full copies of modules cannot be applied per request)"
        )
    if str(config.get("bias", "none")) != "none" or config.get("lora_bias"):
        report.errors.append(
            f"bias={config.get('bias')!r}/lora_bias: vLLM does not load LoRA biases (use bias='none')"
        )
    if config.get("trainable_token_indices"):
        report.errors.append("trainable_token_indices is set: vLLM cannot serve trained embedding rows")
    if config.get("layer_replication"):
        report.errors.append("layer_replication is set: vLLM cannot serve replicated layers")
    r, alpha = config.get("r"), config.get("lora_alpha")
    if isinstance(r, int) and r > 0 and isinstance(alpha, int | float):
        rslora = bool(config.get("use_rslora"))
        scale = alpha / (r**0.5) if rslora else alpha / r
        how = "alpha/sqrt(r), rsLoRA" if rslora else "alpha/r"
        report.info.append(f"LoRA r={r}, lora_alpha={alpha}: scale {how} = {scale:g}")
        if scale > 8:
            report.warnings.append(f"LoRA scale {scale:g} is unusually large (alpha {alpha}, r {r})")
    else:
        report.errors.append(
            f"adapter_config.json has no valid r / lora_alpha (r={r!r}, lora_alpha={alpha!r})"
        )
    base = config.get("base_model_name_or_path")
    if base:
        report.info.append(f"base model: {base}")
    if config.get("peft_version"):
        report.info.append(f"saved by peft {config['peft_version']}")


# ---- modules ---------------------------------------------------------------------------------------


@dataclass
class _Module:
    name: str  # full module name without the peft prefix, e.g. model.layers.3.self_attn.q_proj
    rel: str  # relative to its decoder layer, e.g. self_attn.q_proj (or the full name outside layers)
    layer: int | None
    category: str
    shapes: dict[str, list[int]] = field(default_factory=dict)  # lora_A / lora_B / ... -> shape


def _collect_modules(tensors: dict[str, list[int]], report: LintReport) -> dict[str, _Module]:
    modules: dict[str, _Module] = {}
    stray: list[str] = []
    for key, shape in tensors.items():
        match = _KEY_RE.match(key)
        if match is None:
            stray.append(key)
            continue
        name = match["module"].removeprefix("base_model.model.")
        kind = match["kind"]
        module = modules.get(name)
        if module is None:
            layer_match = _LAYER_RE.search(name)
            layer = int(layer_match["layer"]) if layer_match else None
            rel = layer_match["rel"] if layer_match else name
            module = _Module(name, rel, layer, _categorise(rel, name, kind))
            modules[name] = module
        if kind.startswith("lora_embedding"):
            module.category = "embedding"
        module.shapes[kind] = shape
    if stray:
        report.errors.append(
            f"{len(stray)} tensor(s) in {WEIGHTS_FILE} are not LoRA weights (e.g. {stray[0]}): full module copies "
            "from modules_to_save or a merged model; vLLM serves only lora_A/lora_B"
        )
    if not modules and not stray:
        report.errors.append(f"{WEIGHTS_FILE} holds no LoRA tensors")
    for module in modules.values():
        report.module_names.add(module.name)
        layers = report.modules.setdefault(module.rel, [])
        if module.layer is not None and module.layer not in layers:
            layers.append(module.layer)
    for layers in report.modules.values():
        layers.sort()
    return modules


def _categorise(rel: str, name: str, kind: str) -> str:
    if kind.startswith("lora_embedding") or re.search(r"(^|\.)(embed_tokens|lm_head|wte)$", name):
        return "embedding"
    for category, pattern in _CATEGORIES:
        if pattern.match(rel):
            return category
    return "unsupported"


def _target_matches(target: str, name: str) -> bool:
    return name == target or name.endswith("." + target)


def _declared(config: dict[str, Any], module: _Module) -> bool:
    """Does adapter_config.json declare LoRA on this module (target_modules or target_parameters)?"""
    targets = config.get("target_modules")
    if isinstance(targets, str):
        if re.fullmatch(targets, module.name):
            return True
    elif isinstance(targets, list) and any(_target_matches(str(t), module.name) for t in targets):
        return True
    container = re.sub(r"(\.base_layer)+$", "", module.name)
    for param in config.get("target_parameters") or []:
        head, _, _leaf = str(param).rpartition(".")
        if head and _target_matches(head, container):
            return True
        if not head and module.category == "experts_fused":  # gate_up_proj / down_proj live on mlp.experts
            return True
    return False


def _is_expert_parameter(param: str) -> bool:
    head, _, leaf = param.rpartition(".")
    return "experts" in head or leaf in (
        "gate_up_proj",
        "down_proj",
        "gate_proj",
        "up_proj",
        "w1",
        "w2",
        "w3",
    )


def _is_router_parameter(param: str) -> bool:
    return param in ("gate.weight", "gate") or param.endswith("mlp.gate.weight")


def _check_modules(
    config: dict[str, Any], modules: dict[str, _Module], report: LintReport, allow_routed_experts: bool
) -> None:
    by_category: dict[str, list[_Module]] = {}
    for module in modules.values():
        by_category.setdefault(module.category, []).append(module)

    target_parameters = [str(p) for p in config.get("target_parameters") or []]
    expert_params = [p for p in target_parameters if _is_expert_parameter(p)]
    other_params = [p for p in target_parameters if p not in expert_params and not _is_router_parameter(p)]
    fused = by_category.get("experts_fused", [])
    if expert_params:
        report.errors.append(TARGET_PARAMETERS_MESSAGE.format(params=target_parameters))
    elif fused:
        report.errors.append(
            f"LoRA tensors on the routed experts' fused weights ({fused[0].name}, {len(fused)} in all): vLLM 0.25.1 "
            "fails with HTTP 500 loading LoRA on fused experts (the peft 0.21 + transformers 5.x target_parameters "
            "layout, here without target_parameters in the config)"
        )
    if other_params:
        report.errors.append(
            f"adapter_config.json has target_parameters={other_params}: LoRA on raw parameters, which vLLM does "
            "not serve for Qwen3-Next"
        )
    routed = by_category.get("experts", [])
    if routed:
        where = f"{routed[0].name}, {len(routed)} modules"
        if allow_routed_experts:
            report.warnings.append(f"LoRA on routed experts ({where}): allowed by --allow-routed-experts")
        else:
            report.errors.append(
                f"LoRA on routed experts ({where}): not served by default (pass --allow-routed-experts if "
                "intended); name the shared expert instead: shared_expert.gate_proj/up_proj/down_proj"
            )
    if by_category.get("router"):
        report.errors.append(
            f"LoRA on the MoE router ({by_category['router'][0].name}): vLLM does not serve LoRA on mlp.gate "
            "(shared_expert_gate is fine)"
        )
    if by_category.get("embedding"):
        names = sorted({m.rel for m in by_category["embedding"]})
        report.errors.append(
            f"LoRA on embeddings / lm_head ({', '.join(names)}): not served for Qwen3-Next by vLLM"
        )
    if not config.get("use_dora") and any("lora_magnitude_vector" in m.shapes for m in modules.values()):
        report.errors.append("tensors include lora_magnitude_vector (DoRA): vLLM does not support DoRA")
    unsupported = sorted({m.rel for m in by_category.get("unsupported", [])})
    if unsupported:
        report.errors.append(
            f"LoRA on modules vLLM cannot serve for Qwen3-Next: {', '.join(unsupported)} "
            f"(supported: {', '.join(SUPPORTED_TARGETS)})"
        )

    _check_config_targets(config, modules, report)

    undeclared = sorted({m.rel for m in modules.values() if not _declared(config, m)})
    if undeclared:
        report.errors.append(
            f"adapter_config.json and the tensors disagree: LoRA tensors on {', '.join(undeclared)} are not "
            "declared in target_modules/target_parameters"
        )


def _check_config_targets(config: dict[str, Any], modules: dict[str, _Module], report: LintReport) -> None:
    targets = config.get("target_modules")
    if isinstance(targets, str):
        if targets.lower() == "all-linear":
            report.errors.append(
                "target_modules='all-linear' puts LoRA on the MoE router and every routed expert; list the supported "
                f"targets instead ({', '.join(SUPPORTED_TARGETS)})"
            )
        else:
            report.info.append("target_modules is a regex; judged from the tensor names")
        return
    if targets is None:
        targets = []
    if not isinstance(targets, list):
        report.errors.append(
            f"target_modules must be a list or a regex string (got {type(targets).__name__})"
        )
        return
    names = [m.name for m in modules.values()]
    experts_present = any(m.category in ("experts", "experts_fused") for m in modules.values())
    for target in map(str, targets):
        leaf = target.rsplit(".", 1)[-1]
        if leaf in ("embed_tokens", "lm_head"):
            continue  # reported from the tensors
        if target == "gate" or target.endswith("mlp.gate"):
            if not any(_target_matches(target, n) for n in names):
                report.errors.append(f"target '{target}' is the MoE router: vLLM does not serve LoRA on it")
            continue
        if leaf in ("conv1d", "norm", "A_log", "dt_bias"):
            report.errors.append(f"target '{target}': vLLM cannot serve LoRA on linear_attn.{leaf}")
            continue
        if not any(_target_matches(target, n) for n in names):
            if "shared_expert" in target and experts_present:
                report.errors.append(
                    f"adapter_config.json and the tensors disagree: the config targets '{target}' but the tensors "
                    "carry LoRA on mlp.experts (the routed experts), none on the shared expert"
                )
            else:
                report.errors.append(
                    f"adapter_config.json targets '{target}' but {WEIGHTS_FILE} has no LoRA tensors on it"
                )
    if not targets and not config.get("target_parameters"):
        report.errors.append("adapter_config.json has no target_modules")


# ---- ranks -----------------------------------------------------------------------------------------


def _pattern_value(patterns: dict[str, Any], name: str) -> Any:
    """peft's rank_pattern / alpha_pattern lookup: the first key that matches the end of the name."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return None


def _check_ranks(
    config: dict[str, Any], modules: dict[str, _Module], report: LintReport, max_rank: int
) -> None:
    r = config.get("r")
    alpha = config.get("lora_alpha")
    if not isinstance(r, int) or r <= 0:
        return
    rank_pattern = config.get("rank_pattern") or {}
    alpha_pattern = config.get("alpha_pattern") or {}
    ranks = [r]  # plus every tensor's rank below (rank_pattern values show up there)
    mismatched: list[str] = []
    scale_off: list[str] = []
    for module in modules.values():
        shape = module.shapes.get("lora_A")
        if module.category in ("experts_fused",) or not shape or len(shape) != 2:
            continue
        tensor_rank = shape[0]
        ranks.append(tensor_rank)
        expected = _pattern_value(rank_pattern, module.name) or r
        if tensor_rank != expected:
            mismatched.append(f"{module.rel} has rank {tensor_rank}, config says {expected}")
        module_alpha = _pattern_value(alpha_pattern, module.name) or alpha
        if isinstance(alpha, int | float) and isinstance(module_alpha, int | float):
            if abs(module_alpha / tensor_rank - alpha / r) > 1e-9 and not config.get("use_rslora"):
                scale_off.append(module.rel)
    report.rank = max(ranks)
    if mismatched:
        report.errors.append(f"tensor ranks disagree with adapter_config.json: {sorted(set(mismatched))[0]}")
    if scale_off:
        report.errors.append(
            f"vLLM ignores rank_pattern/alpha_pattern and scales every module by lora_alpha/r = {alpha}/{r}; "
            f"{', '.join(sorted(set(scale_off)))} would be served with the wrong scale"
        )
    elif rank_pattern or alpha_pattern:
        report.warnings.append(
            "adapter_config.json has rank_pattern/alpha_pattern, which vLLM ignores (ranks come from the tensors, "
            "the scale from lora_alpha/r)"
        )
    if report.rank > max_rank:
        allowed = [x for x in VLLM_LORA_RANKS if x >= report.rank]
        report.errors.append(
            f"LoRA rank {report.rank} is greater than max-lora-rank {max_rank}: vLLM refuses it; start vLLM with "
            f"--max-lora-rank {allowed[0] if allowed else report.rank} or train with r <= {max_rank}"
        )


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
