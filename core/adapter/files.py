"""Reading an adapter directory for the lint: adapter_config.json and the safetensors header (names and
shapes only; no tensor is loaded). Every problem becomes a line of the LintReport, never an exception."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from core.adapter.report import LintReport
from core.safe_io import json_reason

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


def read_config(directory: Path, report: LintReport) -> dict[str, Any] | None:
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


def read_tensor_shapes(directory: Path, report: LintReport) -> dict[str, list[int]] | None:
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


def normalise_config(config: dict[str, Any], report: LintReport) -> dict[str, Any]:
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
