"""Transcripts: OpenAI-format conversations, parsed into the calls and turns graders reason about.

A transcript is one JSON object with `messages` (OpenAI chat format), optional `tools`, `world`
(overrides of the simulated state), `faults`, `meta`. Tool-call arguments may be JSON strings or
dicts; a call whose arguments do not parse is kept, marked with `parse_error`, and counts as failed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from core.chat_format import content_text
from core.safe_io import JSON_ERRORS, json_reason
from evals.world import World

ROLES = {"system", "user", "assistant", "tool", "developer"}
ERROR_PATTERNS = re.compile(
    r"^(error\b|mcp error|traceback|exception\b)|\(exit code [1-9]\d*\)|exit (code|status) [1-9]|"
    r"operation timed out|connection timed out|permission denied|\benoent\b|no such file or directory|"
    r"command not found|could not resolve hostname|connection (refused|reset|closed)|packet loss, 100|"
    r"100(\.0)?% packet loss|^\s*\{\s*\"(error|isError)\"",
    re.I | re.M,
)
# What the tools answer when a recall or search found nothing: the simulator's wording and real servers'.
EMPTY_TEXT = re.compile(
    r"^\W*(no (memories|memory|results?|matches|matching \w+|entries|legacy memories|hits)\b|"
    r"nothing (found|matched|relevant)|found (0|no|nothing)\b|0 (results|memories|matches)\b|none found|"
    r"(null|none|empty)\W*$)", re.I)
EMPTY_KEYS = ("results", "memories", "items", "data", "hits", "matches", "entries")
# An MCP server that is down, however the client words it; group 1 names the server when the text does.
MCP_OUTAGE = re.compile(
    r"MCP error: server '([^']+)' disconnected|MCP server ['\"]?([\w.-]+)['\"]? (is )?(disconnected|not connected|"
    r"unavailable|not running)|^MCP error -?\d+: (connection closed|not connected|request timed out)|"
    r"^(Error: )?(not connected|connection closed)\b", re.I | re.M)

# A host that does not answer, as ssh, ping and curl say it.
UNREACHABLE = re.compile(r"operation timed out|connection timed out|100(\.0)?% packet loss|no route to host|"
                         r"host is down|(network|host) is unreachable|destination host unreachable|request timeout",
                         re.I)


class BadTranscript(ValueError):
    """The input is not a transcript (the message says why, in one line)."""


@dataclass
class Call:
    """One tool call, with where it sits and what came back."""

    id: str
    name: str
    args: dict[str, Any] | None  # None when the arguments did not parse
    raw_arguments: Any
    parse_error: str | None
    turn: int  # index of its assistant turn (0-based)
    position: int  # order among all calls
    message_index: int
    result: str | None = None
    result_is_error: bool = False

    @property
    def failed(self) -> bool:
        return self.parse_error is not None or self.result_is_error

    def arg(self, key: str, default: Any = None) -> Any:
        return (self.args or {}).get(key, default)

    @property
    def signature(self) -> str:
        """Name + normalised arguments: identical calls have identical signatures."""
        if self.args is None:
            return f"{self.name}:{self.raw_arguments!r}"
        norm = {k: (" ".join(v.split()) if isinstance(v, str) else v) for k, v in self.args.items()}
        return f"{self.name}:{json.dumps(norm, sort_keys=True)}"

    def describe(self) -> str:
        """Short human form: `bash \"ssh root@sin uptime\"`, `edit src/api.ts`."""
        if self.args is None:
            return f"{self.name} (unparseable arguments)"
        for key in ("command", "path", "query", "text", "cart_tag", "key", "name", "title"):
            if key in self.args:
                value = str(self.args[key]).replace("\n", " ")
                return f'{self.name} "{value[:60]}"' if key in {"command", "query", "text"} else f"{self.name} {value[:60]}"
        return self.name

    def where(self) -> str:
        return f"turn {self.turn + 1}"


@dataclass
class Turn:
    """One assistant message: its text and its calls."""

    index: int
    message_index: int
    content: str
    calls: list[Call] = field(default_factory=list)


@dataclass
class UserMessage:
    message_index: int
    content: str
    after_turn: int  # how many assistant turns came before it


def _parse_arguments(raw: Any) -> tuple[dict | None, str | None]:
    if isinstance(raw, dict):
        return raw, None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, f"arguments are not valid JSON ({exc.msg})"
        except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
            return None, f"arguments are {json_reason(exc)}"
        if not isinstance(value, dict):
            return None, "arguments are not a JSON object"
        return value, None
    return None, f"arguments have type {type(raw).__name__}"


def looks_like_error(text: str) -> bool:
    return bool(ERROR_PATTERNS.search(text or ""))


def is_empty_result(text: str | None) -> bool:
    """A recall or search that found nothing: "", [], {"results": []}, "No memories found", ..."""
    text = (text or "").strip()
    if not text or EMPTY_TEXT.search(text):
        return True
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    if value in ([], {}, None, ""):
        return True
    if isinstance(value, dict):
        lists = [value[k] for k in EMPTY_KEYS if isinstance(value.get(k), list)]
        return bool(lists) and all(not v for v in lists)
    return False


def mcp_outage(text: str | None) -> tuple[bool, str | None]:
    """Whether a tool result says its MCP server is down, and the server's name when the text gives it."""
    match = MCP_OUTAGE.search(text or "")
    if match is None:
        return False, None
    return True, match.group(1) or match.group(2)


class Transcript:
    """A parsed transcript. Build with `load_transcript`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.messages: list[dict] = data["messages"]
        self.tools: list[dict] | None = data.get("tools")
        self.world_overrides: dict = data.get("world") or {}
        self.faults_spec: dict = data.get("faults") or {}
        self.meta: dict = data.get("meta") or {}
        self.turns: list[Turn] = []
        self.calls: list[Call] = []
        self.user_messages: list[UserMessage] = []
        self._parse()

    def _parse(self) -> None:
        by_id: dict[str, Call] = {}
        for i, msg in enumerate(self.messages):
            role = msg["role"]
            if role == "assistant":
                turn = Turn(index=len(self.turns), message_index=i, content=content_text(msg.get("content")))
                for raw in msg.get("tool_calls") or []:
                    fn = raw.get("function") or {}
                    args, error = _parse_arguments(fn.get("arguments"))
                    if raw.get("parse_error"):
                        args, error = None, str(raw["parse_error"])
                    call = Call(
                        id=str(raw.get("id") or f"call_{len(self.calls)}"), name=str(fn.get("name") or ""),
                        args=args, raw_arguments=fn.get("arguments"), parse_error=error, turn=turn.index,
                        position=len(self.calls), message_index=i,
                    )
                    turn.calls.append(call)
                    self.calls.append(call)
                    by_id[call.id] = call
                self.turns.append(turn)
            elif role == "tool":
                call = by_id.get(str(msg.get("tool_call_id")))
                if call is not None and call.result is None:
                    call.result = content_text(msg.get("content"))
                    explicit = msg.get("is_error")
                    call.result_is_error = bool(explicit) if explicit is not None else looks_like_error(call.result)
            elif role == "user":
                self.user_messages.append(UserMessage(i, content_text(msg.get("content")), len(self.turns)))

    # --- world -----------------------------------------------------------------------------------
    @cached_property
    def world(self) -> World:
        """The world this transcript ran in (defaults + overrides), as it was at the start."""
        return World.build(self.world_overrides, self.faults_spec)

    def expect(self, key: str, default: Any = None) -> Any:
        """A scenario's expectation (meta.expect), e.g. the cart a voice switch should target."""
        return (self.meta.get("expect") or {}).get(key, default)

    # --- views -----------------------------------------------------------------------------------
    @property
    def system_prompt(self) -> str:
        return next((content_text(m.get("content")) for m in self.messages if m["role"] == "system"), "")

    def user_text(self) -> str:
        return "\n".join(u.content for u in self.user_messages)

    def calls_named(self, *names: str) -> list[Call]:
        return [c for c in self.calls if c.name in names]

    def texts(self) -> list[tuple[Turn, str]]:
        """Assistant turns with non-empty text, in order."""
        return [(t, t.content) for t in self.turns if t.content.strip()]

    @property
    def final_text(self) -> str:
        """The last assistant text (the answer the user reads)."""
        texts = self.texts()
        return texts[-1][1] if texts else ""

    def texts_after(self, position: int) -> str:
        """All assistant text in turns after the turn of the call at `position`."""
        turn = self.calls[position].turn if 0 <= position < len(self.calls) else -1
        return "\n".join(t.content for t in self.turns if t.index > turn)


def load_transcript(obj: Any) -> Transcript:
    """Validate the shape and parse. Raises BadTranscript with a one-line reason."""
    if isinstance(obj, Transcript):
        return obj
    if not isinstance(obj, dict):
        raise BadTranscript(f"a transcript is a JSON object, got {type(obj).__name__}")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadTranscript("a transcript needs a non-empty 'messages' list")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise BadTranscript(f"message {i} is not an object")
        if msg.get("role") not in ROLES:
            raise BadTranscript(f"message {i} has role {msg.get('role')!r}; expected one of {sorted(ROLES)}")
        calls = msg.get("tool_calls")
        if calls is not None:
            if msg["role"] != "assistant" or not isinstance(calls, list):
                raise BadTranscript(f"message {i}: tool_calls must be a list on an assistant message")
            for call in calls:
                if not isinstance(call, dict) or not isinstance(call.get("function"), dict) or not isinstance(
                    call["function"].get("name"), str
                ):
                    raise BadTranscript(f"message {i}: a tool call needs function.name")
    for key, kind in (("world", dict), ("meta", dict), ("faults", dict), ("tools", list)):
        if obj.get(key) is not None and not isinstance(obj[key], kind):
            raise BadTranscript(f"'{key}' must be a {kind.__name__}")
    transcript = Transcript(obj)
    try:
        transcript.world  # noqa: B018 - validate overrides and faults now, not inside a grader
    except (ValueError, KeyError, TypeError) as exc:
        raise BadTranscript(f"bad world or faults: {exc}") from exc
    return transcript
