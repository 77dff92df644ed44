"""The intermediate form both readers produce: a session as user turns, model steps (each with
its tool calls and their results) and compaction markers. The converter turns it into transcripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dataset.sessions.problems import Tally

# Call status after reading. Only "completed" and "error" reach a transcript.
COMPLETED, ERROR, INTERRUPTED, INVALID = "completed", "error", "interrupted", "invalid"


@dataclass
class ToolCall:
    call_id: str
    name: str
    args: Any
    status: str = INTERRUPTED  # until a result is seen
    output: str = ""
    attachments: list[str] = field(default_factory=list)  # placeholders such as "[image: a.png]"

    @property
    def answered(self) -> bool:
        return self.status in (COMPLETED, ERROR)


@dataclass
class UserTurn:
    text: str


@dataclass
class Step:
    """One model step: what one model call produced (text and tool calls)."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    model: str | None = None


@dataclass
class Compaction:
    """The context was compacted here; `summary` is what the model saw in place of the history."""

    summary: str | None = None


Event = UserTurn | Step | Compaction


@dataclass
class Session:
    source: str  # "opencode" | "claude-code"
    session_id: str
    origin: str  # where it was read from, relative to the store
    events: list[Event] = field(default_factory=list)
    parent_id: str | None = None  # set for subagent sessions
    title: str | None = None
    models: list[str] = field(default_factory=list)  # one entry per step, for the majority model
    dropped: Tally = field(default_factory=Tally)  # what the reader dropped, by reason

    @property
    def model(self) -> str | None:
        if not self.models:
            return None
        counts: dict[str, int] = {}
        for m in self.models:
            counts[m] = counts.get(m, 0) + 1
        return max(counts, key=lambda m: (counts[m], -self.models.index(m)))


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
