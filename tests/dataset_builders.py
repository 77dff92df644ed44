"""Shared helpers for the dataset tests: small valid lines to break, a cheap token counter."""

from __future__ import annotations

import copy
import json
import random
from functools import lru_cache
from typing import Any

from dataset.build import build
from dataset.generators import mesh, tts
from dataset.tokens import TokenCounter


@lru_cache(maxsize=1)
def _small_build() -> tuple[str, ...]:
    return tuple(json.dumps(line) for line in build(seed=3, count=8).lines)


def small_dataset() -> list[dict[str, Any]]:
    """Eight valid generated lines (fresh copies)."""
    return [json.loads(line) for line in _small_build()]


def speak_line() -> dict[str, Any]:
    """A valid line: settings read, tts_speak in the cart's voice, an answer (no follow-up); behaviours claimed."""
    draft = next(d for seed in range(50) if len((d := tts.speak(random.Random(seed))).transcript["messages"]) == 7)
    line = draft.transcript
    line["meta"]["behaviours"] = list(draft.targets)
    return copy.deepcopy(line)


def sin_line() -> dict[str, Any]:
    """A valid line with an ssh to sin (gpu-on-sin), claiming both mesh behaviours."""
    draft = mesh.gpu_sin(random.Random(2))
    line = draft.transcript
    line["meta"]["behaviours"] = list(draft.targets)
    return copy.deepcopy(line)


def first_call(line: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in line["messages"] if m.get("tool_calls"))["tool_calls"][0]


def call_named(line: dict[str, Any], name: str) -> dict[str, Any]:
    for msg in line["messages"]:
        for call in msg.get("tool_calls") or []:
            if call["function"]["name"] == name:
                return call
    raise KeyError(name)


class CharCounter(TokenCounter):
    """A stand-in tokenizer: one token per character of the messages' JSON (fast, deterministic)."""

    def __init__(self) -> None:
        super().__init__(None, "char")

    def count(self, line: dict[str, Any]) -> int:
        return len(json.dumps(line["messages"]))
