"""The generator's recipes, by category, with the seed's default counts."""

from __future__ import annotations

from dataset.generators import agent, errors, memory, mesh, persona, tools, tts
from dataset.generators.base import Draft, Recipe

CATEGORIES: tuple[str, ...] = ("tts", "memory", "persona", "mesh", "tools", "agent", "errors")
# The design document's table: TTS 15, EEMS/memory 20, persona 10, mesh/infra 15, tool discipline 15,
# agent behaviour 15, error patterns 10.
DEFAULT_COUNTS: dict[str, int] = {"tts": 15, "memory": 20, "persona": 10, "mesh": 15, "tools": 15, "agent": 15,
                                  "errors": 10}
RECIPES: dict[str, tuple[Recipe, ...]] = {
    "tts": tts.RECIPES, "memory": memory.RECIPES, "persona": persona.RECIPES, "mesh": mesh.RECIPES,
    "tools": tools.RECIPES, "agent": agent.RECIPES, "errors": errors.RECIPES,
}

__all__ = ["CATEGORIES", "DEFAULT_COUNTS", "RECIPES", "Draft", "Recipe"]
