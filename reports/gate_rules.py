"""The gate's rules (gate_rules.yaml, with a --rules file merged over it), checked against their schema,
and the thresholds the thresholds rule compares with (evals/thresholds.py reads the file). Every problem
is one BadInput line."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import jsonschema

from core.errors import BadInput
from core.safe_io import InputError, read_yaml
from evals.catalog import HARD_INVARIANTS
from evals.thresholds import SCHEMA as THRESHOLDS_SCHEMA
from evals.thresholds import THRESHOLDS_FILE, file_rates, pass_rates, unknown_ids

DEFAULT_RULES = Path(__file__).with_name("gate_rules.yaml")

_RULES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "confidence": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "bootstrap": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"n": {"type": "integer", "minimum": 100}, "seed": {"type": "integer"}},
        },
        "hard_invariants": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "max_violations": {"type": "integer", "minimum": 0},
                "require_evaluated": {"type": "boolean"},
            },
        },
        "thresholds": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "file": {"type": ["string", "null"]},
                "measure": {"enum": ["wilson_low", "rate"]},
                "override": {
                    "type": "object",
                    "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
        "no_regression": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}},
        },
        "better_than_baseline": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "required": {"type": "boolean"},
            },
        },
        "complete": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "max_incomplete_fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "allow_interrupted": {"type": "boolean"},
            },
        },
    },
}

def _read_yaml(path: Path, what: str) -> Any:
    if not path.exists():
        raise BadInput(f"reports: {what} {path} does not exist")
    try:
        return read_yaml(path, what)
    except InputError as e:
        raise BadInput(f"reports: {e}") from None


def _non_finite(doc: Any, where: str = "") -> str | None:
    """The first NaN or infinity in a parsed document (JSON Schema's min/max let them through)."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return where or "top level"
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        found = _non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


# settings an older rules file may still carry, and what replaced them
_REPLACED = {("no_regression", "alpha"): "the top-level alpha",
             ("better_than_baseline", "min_ci_low"): "the exact test at the top-level alpha (the bootstrap "
                                                     "interval is the effect size, never the test)",
             ("thresholds", "default"): "thresholds.override.default (a missing thresholds file is an error, "
                                        "not a fallback)"}


def _check(doc: Any, schema: dict[str, Any], path: Path, what: str) -> None:
    bad = _non_finite(doc)
    if bad:
        raise BadInput(f"reports: {what} {path}: {bad}: must be a finite number")
    for (section, key), by in _REPLACED.items():
        if isinstance(doc, dict) and isinstance(doc.get(section), dict) and key in doc[section]:
            raise BadInput(f"reports: {what} {path}: {section}.{key} is gone: replaced by {by}")
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    if err is not None:
        where = ".".join(str(p) for p in err.absolute_path) or "top level"
        raise BadInput(f"reports: {what} {path}: {where}: {' '.join(err.message.split())[:160]}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _check_override_ids(rules: dict[str, Any], path: Path) -> None:
    """An override for a behaviour that does not exist would never apply: refuse it."""
    ids = [k for k in (rules.get("thresholds", {}).get("override") or {}) if k != "default"]
    unknown = unknown_ids(ids)
    if unknown:
        raise BadInput(f"reports: rules file {path}: thresholds.override: unknown behaviour id {unknown} "
                       "(see `python -m evals list`)")


def load_rules(path: Path | None = None) -> dict[str, Any]:
    """Defaults from gate_rules.yaml, with the keys of ``path`` (if given) merged over them."""
    rules = _read_yaml(DEFAULT_RULES, "rules file")
    _check(rules, _RULES_SCHEMA, DEFAULT_RULES, "rules file")
    _check_override_ids(rules, DEFAULT_RULES)
    if path is not None:
        user = _read_yaml(path, "rules file") or {}
        _check(user, _RULES_SCHEMA, path, "rules file")
        _check_override_ids(user, path)
        rules = _merge(rules, user)
    return rules


def hard_invariant_ids(rules: dict[str, Any]) -> list[str]:
    """The hard invariants (evals.catalog.HARD_INVARIANTS, the one list); `rules` only switches the rule on."""
    return sorted(HARD_INVARIANTS)


def thresholds_path(rules: dict[str, Any]) -> Path:
    given = rules["thresholds"].get("file")
    return Path(given) if given else THRESHOLDS_FILE


def thresholds_for(rules: dict[str, Any], behaviours: list[str]) -> tuple[dict[str, float], str]:
    """Threshold per behaviour and where they came from. A missing file, or one naming a behaviour that does
    not exist, is an error: a silent fallback would judge the run by other numbers than the ones written."""
    cfg = rules["thresholds"]
    path = thresholds_path(rules)
    doc = _read_yaml(path, "thresholds file") or {}
    _check(doc, THRESHOLDS_SCHEMA, path, "thresholds file")
    default, per_eval = file_rates(doc)
    unknown = unknown_ids(sorted(per_eval))
    if unknown:
        raise BadInput(f"reports: thresholds file {path}: evals: unknown behaviour id {unknown} "
                       "(see `python -m evals list`)")
    source = str(path)
    override = dict(cfg.get("override") or {})
    if "default" in override:
        default = float(override.pop("default"))
    per_eval.update(override)
    if cfg.get("override"):
        source += " + rules overrides"
    return pass_rates(default, per_eval, behaviours), source
