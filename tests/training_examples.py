"""Small training transcripts for the training tests, played against the simulated world.

Each opens the way tools.settings_check_on_boot wants (a settings read as the first call) and ends
with a short reply; the tool results come from evals.world's simulator, so they are what an eval
run of the same scenario would see.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.episode import Episode, call
from evals.scenarios import load_scenarios

BOOT_EVAL = "tools.settings_check_on_boot"


def boot_scenarios(limit: int = 4) -> list[Any]:
    scenarios = load_scenarios(evals=[BOOT_EVAL])[:limit]
    if len(scenarios) < 2:
        raise RuntimeError(f"evals/scenarios has too few {BOOT_EVAL} scenarios for the training tests")
    return scenarios


def boot_transcript(scenario: Any) -> dict[str, Any]:
    """settings_get(active_cart) first, then one short answer in the active cart's name."""
    episode = Episode(scenario)
    result = episode.act(call("settings_get", key="active_cart"))[0]
    cart = json.loads(result).get("active_cart", "") if result.strip().startswith("{") else result.strip()
    episode.say(f"Settings read: {cart} is active. On it.")
    return episode.transcript()


def multi_turn_transcript(scenario: Any) -> dict[str, Any]:
    """Two tool turns (one with two parallel calls), text, a user reply and a final answer."""
    episode = Episode(scenario)
    episode.act(call("settings_get", key="active_cart"), call("memory_recall", query="vllm status", limit=3),
                content="Reading the settings and my notes first.")
    episode.act(call("bash", command="ssh sin 'systemctl status vllm --no-pager'"))
    episode.say("vLLM is running on sin.")
    episode.messages.append({"role": "user", "content": "thanks, anything else?"})
    episode.say("No, that's all.")
    return episode.transcript()


def write_jsonl(path: Path, transcripts: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in transcripts), encoding="utf-8")
    return path
