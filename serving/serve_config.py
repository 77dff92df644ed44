"""The vLLM configs in serving/configs/: load one, check it, render its `vllm serve` command.

A config is a YAML file that `vllm serve --config FILE` reads as it is: its keys are vLLM's CLI
flags without the leading dashes. Environment variables vLLM needs are comment lines
`# env: NAME=VALUE`, which vLLM ignores and `serve_env()` reads.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.safe_io import InputError, loads_yaml, read_text

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
_ENV_RE = re.compile(r"^#\s*env:\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S*)\s*$")
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


class ConfigError(Exception):
    """A config that cannot be read or used; `str(exc)` is one line for the user."""


@dataclass
class ServeConfig:
    path: Path
    args: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.args.get("model", ""))

    @property
    def served_name(self) -> str:
        names = self.args.get("served-model-name")
        if isinstance(names, list):
            return str(names[0]) if names else self.model
        return str(names or self.model)

    @property
    def lora_modules(self) -> dict[str, str]:
        """LoRA name -> path from lora-modules ("name=path" strings or JSON objects)."""
        return parse_lora_modules(self.args.get("lora-modules") or [])

    @property
    def port(self) -> int:
        return int(self.args.get("port", 8000))

    @property
    def host(self) -> str:
        return str(self.args.get("host") or "127.0.0.1")

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path, or the name of a config in serving/configs/ ('sin-awq-lora' or 'sin-awq-lora.yaml')."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (CONFIG_DIR / str(name_or_path), CONFIG_DIR / f"{name_or_path}.yaml"):
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"serving: no vLLM config {name_or_path!s} (a YAML path, or one of: {known})")


def load_serve_config(name_or_path: str | Path) -> ServeConfig:
    path = resolve_config_path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"serving: {path} must end in .yaml or .yml (vLLM's --config insists)")
    try:
        text = read_text(path, "vLLM YAML config")
        args = loads_yaml(text, str(path))
    except InputError as exc:
        raise ConfigError(f"serving: {exc}") from None
    if not isinstance(args, dict) or not args:
        raise ConfigError(f"serving: {path} must be a YAML mapping of vLLM flags")
    env = {}
    for line in text.splitlines():
        match = _ENV_RE.match(line.strip())
        if match:
            env[match["name"]] = match["value"]
    return ServeConfig(path=path, args={str(k): v for k, v in args.items()}, env=env)


def parse_lora_modules(entries: Any) -> dict[str, str]:
    if isinstance(entries, str):
        entries = [entries]
    modules: dict[str, str] = {}
    for entry in entries or []:
        if isinstance(entry, dict):
            modules[str(entry.get("name"))] = str(entry.get("path"))
            continue
        text = str(entry).strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                raise ConfigError(f"serving: lora-modules entry {text[:60]!r} is not a JSON object") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"serving: lora-modules entry {text[:60]!r} is not a JSON object")
            modules[str(obj.get("name"))] = str(obj.get("path"))
        else:
            name, sep, path = text.partition("=")
            if not sep:
                raise ConfigError(f"serving: lora-modules entry {text!r} must be NAME=PATH")
            modules[name] = path
    return modules


def to_cli_args(args: dict[str, Any]) -> list[str]:
    """Flags exactly as vLLM expands a --config file: true -> --flag, false -> omitted, lists -> --flag a b,
    mappings -> --flag JSON."""
    argv: list[str] = []
    for key, value in args.items():
        flag = f"--{key}"
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif value is None:
            continue
        elif isinstance(value, list):
            if value:
                argv.append(flag)
                argv.extend(str(item) for item in value)
        elif isinstance(value, dict):
            argv.extend([flag, json.dumps(value)])
        else:
            argv.extend([flag, str(value)])
    return argv


def parse_set(pairs: list[str]) -> dict[str, Any]:
    """['max-model-len=4096', 'enforce-eager=true', 'lora-modules=madcat=/x'] -> overrides (YAML-typed values)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise ConfigError(f"serving: --set wants KEY=VALUE (got {pair!r})")
        if key == "lora-modules":
            overrides[key] = [item for item in raw.split(",") if item]
            continue
        try:
            overrides[key] = loads_yaml(raw, "--set") if raw else ""
        except InputError:  # not a YAML scalar: the text as written
            overrides[key] = raw
    return overrides


def serve_command(
    config: ServeConfig, overrides: dict[str, Any] | None = None, vllm: str = "vllm"
) -> list[str]:
    """`vllm serve MODEL --flag ...` with the config's values and the overrides merged (override wins;
    a None override drops the flag)."""
    merged = {**config.args, **(overrides or {})}
    model = merged.pop("model", None)
    if not model:
        raise ConfigError(f"serving: {config.path} has no model")
    merged = {k: v for k, v in merged.items() if v is not None}
    return [vllm, "serve", str(model), *to_cli_args(merged)]


def shell_command(config: ServeConfig, overrides: dict[str, Any] | None = None) -> str:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in config.env.items())
    command = shlex.join(serve_command(config, overrides))
    return f"{env} {command}" if env else command


def validate_serve_config(config: ServeConfig, adapter: str = "madcat", qwen3_next: bool = True,
                          tool_call_format: str = "qwen3_coder") -> list[str]:
    """Problems that would make the config serve something other than the madcat setup: `adapter` loaded as a
    LoRA on a Qwen3-Next base (qwen3_next=False for the known-answer test's dense models, smol.yaml and
    qwen-coder-0.5b.yaml), its tool calls parsed in the model's format (serving/model_profiles.py)."""
    args = config.args
    problems: list[str] = []
    bad_keys = [k for k in args if "_" in k or k.startswith("-")]
    if bad_keys:
        problems.append(
            f"keys must be vLLM flag names without dashes, spelled with '-': {', '.join(bad_keys)}"
        )
    if not args.get("model"):
        problems.append("model is missing")
    if not args.get("served-model-name"):
        problems.append("served-model-name is missing (clients and `serving check` need a fixed base name)")
    if args.get("enable-lora") is not True:
        problems.append("enable-lora must be true")
    rank = args.get("max-lora-rank")
    if rank not in VLLM_LORA_RANKS:
        problems.append(f"max-lora-rank must be one of {VLLM_LORA_RANKS} (got {rank!r})")
    try:
        modules = config.lora_modules
    except (ConfigError, ValueError) as exc:
        problems.append(f"lora-modules: {exc}")
        modules = {}
    if adapter not in modules:
        problems.append(f"lora-modules must load the adapter as '{adapter}' ({adapter}=DIR)")
    max_loras = args.get("max-loras", 1)
    if isinstance(max_loras, int) and len(modules) > max_loras:
        problems.append(f"{len(modules)} lora-modules but max-loras {max_loras}")
    if args.get("enable-auto-tool-choice") is not True:
        problems.append("enable-auto-tool-choice must be true (the agent calls tools)")
    if args.get("tool-call-parser") != tool_call_format:
        problems.append(f"tool-call-parser must be {tool_call_format}, the model's tool-call format")
    if qwen3_next and args.get("mamba-ssm-cache-dtype") != "float32":
        problems.append("mamba-ssm-cache-dtype should be float32 for Qwen3-Next's DeltaNet state")
    if "speculative-config" in args:
        problems.append("speculative-config is set: no speculative decoding together with LoRA")
    tp = args.get("tensor-parallel-size", 1)
    if isinstance(tp, int) and tp >= 2:
        problems.append(
            f"tensor-parallel-size {tp}: LoRA on in_proj_qkvz under TP >= 2 is suspected wrong in vLLM; "
            "use pipeline-parallel-size"
        )
    util = args.get("gpu-memory-utilization")
    if not isinstance(util, int | float) or not 0 < util <= 1:
        problems.append(f"gpu-memory-utilization must be in (0, 1] (got {util!r})")
    return problems
