"""Map session tool names and argument keys onto our tool surface (dataset/session_tool_map.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.safe_io import InputError, read_yaml

DEFAULT_MAP_FILE = Path(__file__).resolve().parent.parent / "session_tool_map.yaml"


class ToolMapError(ValueError):
    """The map file is unreadable or malformed (one-line message)."""


@dataclass(frozen=True)
class ToolRule:
    name: str
    args: dict[str, str] = field(default_factory=dict)
    drop_args: frozenset[str] = frozenset()
    item_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Mapped:
    name: str
    args: Any
    mapped: bool  # False: the tool matched no rule and is kept as it was
    unmapped_args: list[str] = field(default_factory=list)


@dataclass
class ToolMap:
    surface: dict[str, frozenset[str]]  # our tool names -> their argument names
    identity: bool = True
    rules: dict[str, ToolRule] = field(default_factory=dict)
    mcp_prefix: str | None = None
    mcp_separator: str = "__"
    mcp_candidates: tuple[str, ...] = ()

    def _rule_for(self, name: str) -> ToolRule | None:
        if name in self.rules:
            return self.rules[name]
        if self.identity and name in self.surface:
            return ToolRule(name)
        if self.mcp_prefix and name.startswith(self.mcp_prefix):
            server, sep, tool = name[len(self.mcp_prefix):].partition(self.mcp_separator)
            if sep and tool:
                for pattern in self.mcp_candidates:
                    candidate = pattern.format(server=server, tool=tool)
                    if candidate in self.rules:
                        return self.rules[candidate]
                    if candidate in self.surface:
                        return ToolRule(candidate)
        return None

    def map(self, name: str, args: Any) -> Mapped:
        rule = self._rule_for(name)
        if rule is None:
            return Mapped(name, args, mapped=False)
        if not isinstance(args, dict):
            return Mapped(rule.name, args, mapped=True)
        out: dict[str, Any] = {}
        unmapped: list[str] = []
        for key, value in args.items():
            if key in rule.drop_args:
                continue
            target = rule.args.get(key)
            if target is None:
                target = key
            known = self.surface.get(rule.name)
            if known is not None and target not in known:
                unmapped.append(f"{rule.name}.{target}")
            if target in rule.item_keys and isinstance(value, list):
                keep = rule.item_keys[target]
                value = [{k: v for k, v in item.items() if k in keep} if isinstance(item, dict) else item for item in value]
            out[target] = value
        return Mapped(rule.name, out, mapped=True, unmapped_args=unmapped)


def _rule(source: str, key: str, raw: Any) -> ToolRule:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ToolMapError(f"{source}.tools.{key}: needs a 'name'")
    args = raw.get("args") or {}
    drop = raw.get("drop_args") or []
    items = raw.get("item_keys") or {}
    if not isinstance(args, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in args.items()):
        raise ToolMapError(f"{source}.tools.{key}.args: expected a mapping of argument names")
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise ToolMapError(f"{source}.tools.{key}.drop_args: expected a list of argument names")
    if not isinstance(items, dict) or not all(isinstance(v, list) for v in items.values()):
        raise ToolMapError(f"{source}.tools.{key}.item_keys: expected lists of keys")
    return ToolRule(raw["name"], dict(args), frozenset(drop), {k: tuple(v) for k, v in items.items()})


def surface_from_specs(specs: list[dict]) -> dict[str, frozenset[str]]:
    """Our tool names and their argument names, from OpenAI tool specs."""
    surface: dict[str, frozenset[str]] = {}
    for spec in specs:
        fn = spec.get("function") if isinstance(spec, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            props = (fn.get("parameters") or {}).get("properties") or {}
            surface[fn["name"]] = frozenset(props)
    return surface


def load_tool_map(source: str, surface: dict[str, frozenset[str]], path: Path | None = None) -> ToolMap:
    path = path or DEFAULT_MAP_FILE
    try:
        data = read_yaml(path, "tool map")
    except InputError as exc:
        raise ToolMapError(f"cannot read tool map: {exc}") from None
    if not isinstance(data, dict):
        raise ToolMapError(f"tool map {path}: expected a mapping of sources")
    section = data.get(source) or {}
    if not isinstance(section, dict):
        raise ToolMapError(f"tool map {path}: '{source}' must be a mapping")
    tools = section.get("tools") or {}
    if not isinstance(tools, dict):
        raise ToolMapError(f"tool map {path}: '{source}.tools' must be a mapping")
    mcp = section.get("mcp") or {}
    if not isinstance(mcp, dict):
        raise ToolMapError(f"tool map {path}: '{source}.mcp' must be a mapping")
    return ToolMap(
        surface=dict(surface),
        identity=bool(section.get("surface_names_map_to_themselves", True)),
        rules={str(k): _rule(source, str(k), v) for k, v in tools.items()},
        mcp_prefix=mcp.get("prefix"),
        mcp_separator=str(mcp.get("separator") or "__"),
        mcp_candidates=tuple(str(c) for c in mcp.get("candidates") or ()),
    )
