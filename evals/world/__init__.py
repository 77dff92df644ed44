"""The simulated madcat world: tool surface, state, simulator. Nothing here touches a real host."""

from evals.world.simulator import Simulator, ToolResult
from evals.world.state import Faults, World
from evals.world.tools import load_tool_specs, mcp_server_of, tool_names

__all__ = ["Faults", "Simulator", "ToolResult", "World", "load_tool_specs", "mcp_server_of", "tool_names"]
