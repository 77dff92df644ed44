"""A builder of Claude Code session files (JSONL entries linked by parentUuid) for the samples and the tests."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------
# Claude Code: JSONL entries linked by parentUuid
# --------------------------------------------------------------------------------------------


@dataclass
class ClaudeLog:
    """Builds the entries of one Claude Code session file. Each add returns the entry's uuid and
    links it to the previous entry unless `parent` says otherwise (for branches)."""

    session_id: str = "5f0c9a2e-1111-4a4a-9b9b-000000000001"
    cwd: str = "/home/alice/proj"
    sidechain: bool = False
    agent_id: str | None = None
    entries: list[dict] = field(default_factory=list)
    last: str | None = None
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _add(self, entry: dict, parent: str | None | bool = False) -> str:
        n = next(self._n)
        prefix = self.agent_id or self.session_id[:8]
        uuid = f"{prefix}-{n:04d}"
        entry = {"parentUuid": self.last if parent is False else parent, "isSidechain": self.sidechain,
                 "userType": "external", "cwd": self.cwd, "sessionId": self.session_id, "version": "1.0.80",
                 **entry, "uuid": uuid, "timestamp": f"2025-08-01T10:{n // 60:02d}:{n % 60:02d}.000Z"}
        if self.agent_id:
            entry["agentId"] = self.agent_id
        self.entries.append(entry)
        self.last = uuid
        return uuid

    def user(self, content: str | list, parent: str | None | bool = False, **extra: Any) -> str:
        return self._add({"type": "user", "message": {"role": "user", "content": content}, **extra}, parent)

    def assistant(self, *blocks: dict | str, msg_id: str | None = None, model: str = "claude-sonnet-4-20250514",
                  parent: str | None | bool = False, **extra: Any) -> str:
        """One API response: one line per content block, all sharing message.id."""
        msg_id = msg_id or f"msg_{len(self.entries):04d}"
        uuid = ""
        for i, block in enumerate(blocks):
            block = {"type": "text", "text": block} if isinstance(block, str) else block
            message = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [block],
                       "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 5}}
            uuid = self._add({"type": "assistant", "message": message, "requestId": f"req_{msg_id}", **extra},
                             parent if i == 0 else False)
        return uuid

    def results(self, *results: tuple[str, str | list] | tuple[str, str | list, bool]) -> str:
        """Tool results, one user line each: (tool_use_id, content[, is_error])."""
        uuid = ""
        for result in results:
            block = {"type": "tool_result", "tool_use_id": result[0], "content": result[1]}
            if len(result) > 2 and result[2]:
                block["is_error"] = True
            uuid = self.user([block], toolUseResult={"stdout": "the UI's full copy, not what the model saw"})
        return uuid

    def compact(self, summary: str) -> str:
        boundary = self._add({"type": "system", "subtype": "compact_boundary", "content": "Conversation compacted",
                              "logicalParentUuid": self.last, "compactMetadata": {"trigger": "auto", "preTokens": 155000}},
                             None)
        self.user(summary, isCompactSummary=True, isVisibleInTranscriptOnly=True)
        return boundary

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(e) + "\n" for e in self.entries))
        return path


def tool_use(call_id: str, name: str, args: dict) -> dict:
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def thinking(value: str) -> dict:
    return {"type": "thinking", "thinking": value, "signature": "RXF1aXZhbGVudA=="}
