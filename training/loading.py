"""Load the base model for training, one way per `experts` mode.

nf4-grouped: the model is built without storage (accelerate's init_empty_weights), its fused expert
modules are replaced by Nf4GroupedExperts, and the checkpoint is streamed tensor by tensor: dense
weights go straight to the device in the compute dtype; each layer's experts are assembled on the
device in the compute dtype (~3 GB for a full-width layer), quantised, and the bf16 copy dropped
before the next layer. Neither the GPU nor the host ever holds the whole model in bf16. Both
checkpoint layouts load: per-expert tensors (``mlp.experts.N.gate_proj.weight``, what the Hugging
Face checkpoint and transformers' save_pretrained write) and fused ones (``mlp.experts.gate_up_proj``).

int8-grouped: the same streaming load, experts held as row-wise int8 (Int8GroupedExperts): twice
nf4's memory (~78 GB for Qwen3-Coder-Next), closer to bf16.

bf16-grouped: transformers' own from_pretrained, experts in bf16 (the benchmark's baseline).

bnb-per-expert: transformers 4.57.x with a BitsAndBytesConfig; refused on transformers 5.x, where
bitsandbytes leaves the fused experts in bf16.

none: a dense model (no routed experts, e.g. SmolLM2): transformers' own from_pretrained in the
compute dtype; refused for a model that has routed experts.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from training.config import ConfigError, TrainConfig
from training.experts4bit import GROUPED_EXPERTS, Nf4GroupedExperts, is_fused_experts

_EXPERT_KEY = re.compile(r"^(?P<prefix>.+\.experts)\.(?P<expert>\d+)\.(?P<proj>gate_proj|up_proj|down_proj)\.weight$")
_FUSED_KEY = re.compile(r"^(?P<prefix>.+\.experts)\.(?P<proj>gate_up_proj|down_proj)$")


class LoadError(RuntimeError):
    """The model directory cannot be loaded as asked; the message says why."""


@dataclass
class LoadReport:
    mode: str
    device: str
    seconds: float = 0.0
    expert_layers: int = 0
    expert_bytes: int = 0  # bytes of the experts as held (4-bit + stats, or bf16)
    dense_bytes: int = 0
    gpu_allocated_after_load: int | None = None
    gpu_peak_during_load: int | None = None
    ignored_keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cpu":
        return torch.device("cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda, but no CUDA GPU is visible (set device: cpu for the tiny twin)")
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def torch_dtype(name: str) -> torch.dtype:
    return {"bfloat16": torch.bfloat16, "float32": torch.float32}[name]


def model_dir(name: str) -> Path:
    """A local model directory; hub ids are not fetched here (download first, then pass the directory)."""
    p = Path(name).expanduser()
    if (p / "config.json").is_file():
        return p
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any hub failure means: not available locally
        raise LoadError(
            f"model {name!r} is not a directory with config.json and is not in the local Hugging Face cache; "
            f"download it first (huggingface-cli download {name}) or pass --model DIR"
        ) from None


def _weight_map(directory: Path) -> dict[str, Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        return {k: directory / v for k, v in data["weight_map"].items()}
    single = directory / "model.safetensors"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as f:
            return dict.fromkeys(f.keys(), single)
    raise LoadError(f"{directory} has no model.safetensors or model.safetensors.index.json")


class _Shards:
    """Open safetensors files lazily and keep them open (they are memory-mapped)."""

    def __init__(self) -> None:
        self._open: dict[Path, Any] = {}

    def get(self, path: Path, key: str) -> torch.Tensor:
        from safetensors import safe_open

        if path not in self._open:
            self._open[path] = safe_open(str(path), framework="pt", device="cpu")
        return self._open[path].get_tensor(key)

    def close(self) -> None:
        self._open.clear()


def _set_tensor(model: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if leaf in module._parameters:
        module._parameters[leaf] = torch.nn.Parameter(value, requires_grad=False)
    elif leaf in module._buffers:
        module._buffers[leaf] = value
    else:
        raise KeyError(name)


def load_nf4_grouped(directory: Path, cfg: TrainConfig, device: torch.device) -> tuple[Any, LoadReport]:
    """Stream the checkpoint into a model whose routed experts are held 4-bit (Nf4GroupedExperts) or 8-bit
    (Int8GroupedExperts, ``experts: int8-grouped``), as the config says (see module docstring)."""
    from transformers import AutoConfig

    start = time.time()
    dtype = torch_dtype(cfg.dtype)
    report = LoadReport(mode=cfg.experts, device=str(device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    config = AutoConfig.from_pretrained(directory)
    try:
        model, experts = empty_quantized_model(config, cfg)
    except LoadError as exc:
        raise LoadError(f"{directory}: {exc}") from None

    state_names = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    ignore = [re.compile(p) for p in (getattr(model, "_keys_to_ignore_on_load_unexpected", None) or [])]
    weight_map = _weight_map(directory)
    per_layer: dict[str, dict[tuple[str, int], str]] = defaultdict(dict)
    fused: dict[str, dict[str, str]] = defaultdict(dict)
    dense: list[str] = []
    for key in weight_map:
        if (m := _EXPERT_KEY.match(key)) and m.group("prefix") in experts:
            per_layer[m.group("prefix")][(m.group("proj"), int(m.group("expert")))] = key
        elif (m := _FUSED_KEY.match(key)) and m.group("prefix") in experts:
            fused[m.group("prefix")][m.group("proj")] = key
        elif key in state_names:
            dense.append(key)
        elif any(p.search(key) for p in ignore):
            report.ignored_keys.append(key)
        else:
            raise LoadError(f"{directory}: checkpoint tensor {key} has no place in {type(model).__name__}")

    shards = _Shards()
    try:
        for key in dense:
            value = shards.get(weight_map[key], key)
            value = value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
            _set_tensor(model, key, value)
            report.dense_bytes += value.numel() * value.element_size()
        for prefix, module in experts.items():
            gate_up, down = _assemble_experts(prefix, module, per_layer.get(prefix, {}), fused.get(prefix, {}),
                                              weight_map, shards, device, dtype)
            module.quantize_(gate_up, down)
            del gate_up, down
            report.expert_layers += 1
            report.expert_bytes += module.storage_bytes()
    finally:
        shards.close()

    missing = finish_quantized_model(model, config, device)
    if missing:
        raise LoadError(f"{directory}: the checkpoint lacks {len(missing)} weight(s), e.g. {', '.join(missing[:3])}")
    report.seconds = round(time.time() - start, 2)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        report.gpu_allocated_after_load = torch.cuda.memory_allocated(device)
        report.gpu_peak_during_load = torch.cuda.max_memory_allocated(device)
    return model, report


def empty_quantized_model(config: Any, cfg: TrainConfig) -> tuple[Any, dict[str, Nf4GroupedExperts]]:
    """The model of `config` without storage, its fused experts replaced by empty quantised modules
    (Nf4GroupedExperts, or Int8GroupedExperts for ``experts: int8-grouped``).

    Returns (model, {experts module name: its Nf4GroupedExperts}); each one's weights come from
    ``quantize_`` (a checkpoint layer in load_nf4_grouped, random weights in training/dryrun.py).
    """
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    dtype = torch_dtype(cfg.dtype)
    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    quant = {
        "quant_type": cfg.bnb_4bit_quant_type,
        "double_quant": cfg.bnb_4bit_use_double_quant,
        "blocksize": cfg.bnb_4bit_blocksize,
    }
    cls = GROUPED_EXPERTS[cfg.experts]
    experts: dict[str, Nf4GroupedExperts] = {}
    for name, module in list(model.named_modules()):
        if is_fused_experts(module):
            parent_name, _, child = name.rpartition(".")
            new = cls.like(module, dtype, **quant)
            setattr(model.get_submodule(parent_name), child, new)
            experts[name] = new
    if not experts:
        raise LoadError(f"no fused experts modules found; experts: {cfg.experts} needs transformers 5.x MoE")
    return model, experts


def finish_quantized_model(model: Any, config: Any, device: torch.device) -> list[str]:
    """After every weight is in place: tie, move construction-time buffers over, eval mode.

    Returns the names of parameters still without storage (an empty list when the model is complete).
    """
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    missing = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if missing:
        return missing
    # Buffers computed at construction (rotary inv_freq) were built on the CPU; move them over.
    for name, buf in list(model.named_buffers()):
        if buf is not None and buf.device != device:
            _set_tensor(model, name, buf.to(device))
    model.eval()
    return []


def _assemble_experts(
    prefix: str,
    module: Nf4GroupedExperts,
    keys: dict[tuple[str, int], str],
    fused_keys: dict[str, str],
    weight_map: dict[str, Path],
    shards: _Shards,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's experts as [E, 2I, H] (gate rows then up rows, as transformers fuses them) and [E, H, I]."""
    e, i, h = module.num_experts, module.intermediate_dim, module.hidden_dim
    if fused_keys:
        if set(fused_keys) != {"gate_up_proj", "down_proj"}:
            raise LoadError(f"{prefix}: the checkpoint has only {sorted(fused_keys)} of the fused expert weights")
        gate_up = shards.get(weight_map[fused_keys["gate_up_proj"]], fused_keys["gate_up_proj"]).to(device, dtype)
        down = shards.get(weight_map[fused_keys["down_proj"]], fused_keys["down_proj"]).to(device, dtype)
        return gate_up, down
    want = {(proj, n) for proj in ("gate_proj", "up_proj", "down_proj") for n in range(e)}
    if set(keys) != want:
        missing = sorted(want - set(keys))[:3]
        raise LoadError(f"{prefix}: the checkpoint lacks expert weights, e.g. {missing}")
    gate_up = torch.empty((e, 2 * i, h), device=device, dtype=dtype)
    down = torch.empty((e, h, i), device=device, dtype=dtype)
    for n in range(e):
        gate_up[n, :i].copy_(shards.get(weight_map[keys[("gate_proj", n)]], keys[("gate_proj", n)]))
        gate_up[n, i:].copy_(shards.get(weight_map[keys[("up_proj", n)]], keys[("up_proj", n)]))
        down[n].copy_(shards.get(weight_map[keys[("down_proj", n)]], keys[("down_proj", n)]))
    return gate_up, down


def load_unquantised(directory: Path, cfg: TrainConfig, device: torch.device) -> tuple[Any, LoadReport]:
    """transformers' own from_pretrained in the compute dtype: bf16-grouped experts, or a dense model (none)."""
    from transformers import AutoModelForCausalLM

    start = time.time()
    if device.type == "cuda":
        torch.empty(0, device=device)  # the allocator must exist before its statistics can be reset
        torch.cuda.reset_peak_memory_stats(device)
    model = AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch_dtype(cfg.dtype), device_map={"": str(device)} if device.type == "cuda" else None
    )
    report = LoadReport(mode=cfg.experts, device=str(device))
    for module in model.modules():
        if is_fused_experts(module):
            report.expert_layers += 1
            report.expert_bytes += sum(p.numel() * p.element_size() for p in module.parameters())
    if cfg.experts == "none" and report.expert_layers:
        raise LoadError(f"{directory} has routed experts ({report.expert_layers} layers); experts: none is for "
                        "dense models (use nf4-grouped or int8-grouped)")
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    report.dense_bytes = total - report.expert_bytes
    report.seconds = round(time.time() - start, 2)
    if device.type == "cuda":
        report.gpu_allocated_after_load = torch.cuda.memory_allocated(device)
        report.gpu_peak_during_load = torch.cuda.max_memory_allocated(device)
    return model, report


def load_bnb_per_expert(directory: Path, cfg: TrainConfig, device: torch.device) -> tuple[Any, LoadReport]:
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__) >= Version("5.0.0"):
        raise ConfigError(
            f"experts: bnb-per-expert needs transformers 4.57.x (its experts are 512 nn.Linear per layer, which "
            f"bitsandbytes quantises); transformers {transformers.__version__} fuses them into 3-D weights that "
            "bitsandbytes leaves in bf16 (~156 GB for Qwen3-Coder-Next). Use experts: nf4-grouped, or install "
            "transformers==4.57.6 for this fallback"
        )
    if device.type != "cuda":
        raise ConfigError("experts: bnb-per-expert runs on a CUDA GPU only")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    start = time.time()
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=cfg.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=cfg.bnb_4bit_use_double_quant,
        bnb_4bit_compute_dtype=torch_dtype(cfg.dtype),
        # the router and the LoRA-carrying dense modules stay in the compute dtype
        llm_int8_skip_modules=["lm_head", "mlp.gate", "shared_expert_gate", "self_attn", "linear_attn", "shared_expert"],
    )
    model = AutoModelForCausalLM.from_pretrained(
        directory, quantization_config=quant, dtype=torch_dtype(cfg.dtype), device_map={"": str(device)}
    )
    report = LoadReport(mode="bnb-per-expert", device=str(device), seconds=round(time.time() - start, 2))
    report.gpu_allocated_after_load = torch.cuda.memory_allocated(device)
    return model, report


def load_tokenizer(cfg: TrainConfig) -> Any:
    from transformers import AutoTokenizer

    directory = model_dir(cfg.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise LoadError(f"cannot load the tokenizer of {directory}: {str(exc).splitlines()[0]}") from None
    if not tokenizer.chat_template:
        raise LoadError(f"{directory} has no chat template; the loss masks are derived from it")
    return tokenizer


def load_base_model(cfg: TrainConfig, device: torch.device | None = None) -> tuple[Any, LoadReport]:
    """(frozen model, report) for the config's model and experts mode."""
    directory = model_dir(cfg.model)
    device = device or resolve_device(cfg)
    loader = {"nf4-grouped": load_nf4_grouped, "int8-grouped": load_nf4_grouped, "bf16-grouped": load_unquantised,
              "none": load_unquantised, "bnb-per-expert": load_bnb_per_expert}[cfg.experts]
    model, report = loader(directory, cfg, device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, report
