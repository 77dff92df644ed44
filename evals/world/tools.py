"""The tool surface: OpenAI tool specs loaded from one data file.

The default file is `tools.json` beside this module; set MADCAT_TOOLS to a file of the same shape
(`{"tools": [...]}` or a bare list) to use your real MCP servers' schemas instead.
"""

from __future__ import annotations

import copy
import json
import os
from functools import lru_cache
from pathlib import Path

DEFAULT_TOOLS_FILE = Path(__file__).with_name("tools.json")


def tools_file() -> Path:
    return Path(os.environ.get("MADCAT_TOOLS") or DEFAULT_TOOLS_FILE)


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[dict, ...]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read tool specs from {path}: {exc}") from exc
    tools = data.get("tools") if isinstance(data, dict) else data
    if not isinstance(tools, list) or not all(
        isinstance(t, dict) and isinstance(t.get("function"), dict) and t["function"].get("name") for t in tools
    ):
        raise ValueError(f"{path}: expected a list of OpenAI tool specs ({{'type': 'function', 'function': {{...}}}})")
    return tuple(tools)


def load_tool_specs(*, with_extensions: bool = False) -> list[dict]:
    """The tool specs, as OpenAI `tools` entries (a fresh copy each call).

    Keys starting with `x-` (e.g. `x-mcp-server`) are ours; they are stripped unless asked for, so
    the specs can go to an OpenAI-compatible server as they are.
    """
    tools = copy.deepcopy(list(_load(str(tools_file()))))
    if not with_extensions:
        for tool in tools:
            for key in [k for k in tool if k.startswith("x-")]:
                del tool[key]
    return tools


def tool_names() -> list[str]:
    return [t["function"]["name"] for t in load_tool_specs()]


def tool_spec(name: str) -> dict | None:
    for tool in load_tool_specs():
        if tool["function"]["name"] == name:
            return tool
    return None


def mcp_server_of(name: str) -> str | None:
    """The MCP server a tool belongs to (None for built-ins)."""
    for tool in load_tool_specs(with_extensions=True):
        if tool["function"]["name"] == name:
            return tool.get("x-mcp-server")
    return None
