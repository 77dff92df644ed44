"""World state: the default world (world.yaml) with a scenario's overrides and faults."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.safe_io import read_yaml

DEFAULT_WORLD_FILE = Path(__file__).with_name("world.yaml")


@lru_cache(maxsize=1)
def _default_world() -> dict[str, Any]:
    return read_yaml(DEFAULT_WORLD_FILE, "world file")


def default_world() -> dict[str, Any]:
    return copy.deepcopy(_default_world())


def _merge(base: dict, over: dict) -> dict:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


@dataclass
class Faults:
    """What goes wrong in a scenario.

    mcp_down: MCP servers that are disconnected (their tools answer `MCP error: ...`).
    host_unreachable: hosts that do not answer (ssh, ping, curl time out).
    tool_fails: tool name -> how many of its first calls fail.
    """

    mcp_down: set[str] = field(default_factory=set)
    host_unreachable: set[str] = field(default_factory=set)
    tool_fails: dict[str, int] = field(default_factory=dict)
    tool_error: str = "connection reset by peer"

    @classmethod
    def from_spec(cls, spec: dict | None) -> Faults:
        spec = spec or {}
        unknown = set(spec) - {"mcp_down", "host_unreachable", "tool_fails", "tool_error"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")

        def as_set(value: Any) -> set[str]:
            if value is None:
                return set()
            return {value} if isinstance(value, str) else {str(v) for v in value}

        fails = spec.get("tool_fails") or {}
        if isinstance(fails, str):
            fails = {fails: 1}
        return cls(
            mcp_down=as_set(spec.get("mcp_down")),
            host_unreachable=as_set(spec.get("host_unreachable")),
            tool_fails={str(k): int(v) for k, v in fails.items()},
            tool_error=str(spec.get("tool_error") or cls.tool_error),
        )

    def to_spec(self) -> dict:
        spec: dict[str, Any] = {}
        if self.mcp_down:
            spec["mcp_down"] = sorted(self.mcp_down)
        if self.host_unreachable:
            spec["host_unreachable"] = sorted(self.host_unreachable)
        if self.tool_fails:
            spec["tool_fails"] = dict(self.tool_fails)
        return spec


@dataclass
class World:
    """The mutable state of one simulated session."""

    data: dict[str, Any]
    faults: Faults = field(default_factory=Faults)
    tts_log: list[dict] = field(default_factory=list)
    shell_log: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)  # {kind, what}: evals/world/changes.py

    def record_change(self, kind: str, what: str) -> None:
        self.changes.append({"kind": kind, "what": what})

    @classmethod
    def build(cls, overrides: dict | None = None, faults: dict | Faults | None = None) -> World:
        data = _merge(default_world(), overrides or {})
        world = cls(data=data, faults=faults if isinstance(faults, Faults) else Faults.from_spec(faults))
        if world.active_cart not in world.carts:
            raise ValueError(f"active_cart {world.active_cart!r} is not a cart ({', '.join(world.carts)})")
        world.data.setdefault("tts_voice", world.carts[world.active_cart]["voice"])
        return world

    # --- views -------------------------------------------------------------------------------
    @property
    def carts(self) -> dict[str, dict]:
        return self.data["carts"]

    @property
    def hosts(self) -> dict[str, dict]:
        return self.data["hosts"]

    @property
    def active_cart(self) -> str:
        return self.data["active_cart"]

    @property
    def active_cart_config(self) -> dict:
        return {"key": self.active_cart, **self.carts[self.active_cart]}

    @property
    def tts_enabled(self) -> bool:
        return bool(self.data["tts_enabled"])

    @property
    def files(self) -> dict[str, str]:
        return self.data["files"]

    def cart_by_tag(self, tag: str) -> str | None:
        for key, cart in self.carts.items():
            if cart["tag"] == tag:
                return key
        return None

    def find_cart(self, name: str) -> str | None:
        """A cart's key from its key, tag or display name (case-insensitive)."""
        wanted = name.strip().lower()
        for key, cart in self.carts.items():
            if wanted in {key.lower(), cart["tag"].lower(), cart["name"].lower()}:
                return key
        return None

    def is_reachable(self, host: str) -> bool:
        return host not in self.faults.host_unreachable and host not in set(self.data.get("unreachable") or [])

    def settings(self) -> dict[str, Any]:
        return {
            "active_cart": self.active_cart,
            "tts.enabled": self.tts_enabled,
            "tts.voice": self.data["tts_voice"],
            "user": "madcat",
            "mesh.hosts": sorted(self.hosts),
            "local_host": self.data["local_host"],
        }
