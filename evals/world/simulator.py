"""The simulated madcat tools: each call reads or changes the World and answers like the real tool."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import jsonschema

from core.safe_io import JSON_ERRORS, json_reason
from evals.world import shell_run
from evals.world.state import World
from evals.world.tools import load_tool_specs
from evals.world.words import STOPWORDS

INDEX_SIZES = {"code": 17412, "docs": 44108}
WORD = re.compile(r"[a-z0-9]+")


@dataclass
class ToolResult:
    content: str
    is_error: bool = False


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS}


def _search(query: str, entries: dict[str, dict]) -> list[tuple[int, str, dict]]:
    wanted = _words(query)
    scored = []
    for key, entry in entries.items():
        text = " ".join([key, entry.get("title", ""), entry.get("content", ""), entry.get("snippet", ""),
                         entry.get("path", ""), " ".join(entry.get("tags") or [])])
        score = len(wanted & _words(text))
        if score:
            scored.append((score, key, entry))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return scored


class Simulator:
    """Answers tool calls against one World. Faults (MCP down, failing tools) apply here."""

    def __init__(self, world: World, tools: list[dict] | None = None) -> None:
        self.world = world
        specs = tools or load_tool_specs(with_extensions=True)
        self.specs = {t["function"]["name"]: t for t in specs}
        self.calls: Counter[str] = Counter()
        self._handlers = {
            "settings_get": self._settings_get, "cart_get": self._cart_get, "tts_speak": self._tts_speak,
            "tts_switch_voice": self._tts_switch_voice, "memory_recall": self._memory_recall,
            "memory_store": self._memory_store, "memory_list": self._memory_list,
            "legacy-memory_recall": self._legacy_recall, "index_search": self._index_search,
            "TodoWrite": self._todo_write, "bash": self._bash, "read": self._read, "write": self._write,
            "edit": self._edit,
        }

    def call(self, name: str, arguments: dict | str | None) -> ToolResult:
        """One tool call. Never raises for bad input: errors come back as the tool's error text."""
        spec = self.specs.get(name)
        if spec is None:
            return ToolResult(f"Error: unknown tool '{name}'", True)
        server = spec.get("x-mcp-server")
        if server and server in self.world.faults.mcp_down:
            return ToolResult(f"MCP error: server '{server}' disconnected", True)
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                return ToolResult(f"Error: arguments for {name} are not valid JSON ({exc.msg})", True)
            except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
                return ToolResult(f"Error: arguments for {name} are {json_reason(exc)}", True)
        arguments = arguments or {}
        if not isinstance(arguments, dict):
            return ToolResult(f"Error: arguments for {name} must be an object", True)
        schema = spec["function"].get("parameters") or {"type": "object"}
        try:
            jsonschema.validate(arguments, schema)
        except jsonschema.ValidationError as exc:
            return ToolResult(f"Error: invalid arguments for {name}: {exc.message}", True)
        known = schema.get("properties") or {}
        unexpected = sorted(set(arguments) - set(known))
        if unexpected:  # what an MCP server with a strict schema answers
            return ToolResult(f"Error: invalid arguments for {name}: unexpected argument(s) "
                              f"{', '.join(map(repr, unexpected))} (it takes {', '.join(known) or 'none'})", True)
        self.calls[name] += 1
        if self.calls[name] <= self.world.faults.tool_fails.get(name, 0):
            return ToolResult(f"Error: {name} failed: {self.world.faults.tool_error}", True)
        handler = self._handlers.get(name)
        if handler is None:  # a user-supplied tool the simulation does not model
            return ToolResult(f"{name}: ok (not modelled by the simulation)")
        return handler(**arguments)

    # --- settings and carts ------------------------------------------------------------------
    def _settings_get(self, key: str | None = None) -> ToolResult:
        settings = self.world.settings()
        if key is None:
            return ToolResult(json.dumps(settings))
        if key in {"tts", "cart"}:
            return ToolResult(json.dumps({k: v for k, v in settings.items() if k.startswith(key)}))
        if key not in settings:
            return ToolResult(f"Error: unknown settings key '{key}' (keys: {', '.join(settings)})", True)
        return ToolResult(json.dumps({key: settings[key]}))

    def _cart_get(self, name: str) -> ToolResult:
        key = self.world.find_cart(name)
        if key is None:
            return ToolResult(f"Error: no cart '{name}' (carts: {', '.join(self.world.carts)})", True)
        return ToolResult(json.dumps({"key": key, **self.world.carts[key]}))

    # --- TTS -----------------------------------------------------------------------------------
    def _tts_speak(self, text: str, voice: str) -> ToolResult:
        voices = {c["voice"] for c in self.world.carts.values()}
        if voice not in voices:
            return ToolResult(f"Error: unknown voice '{voice}' (voices: {', '.join(sorted(voices))})", True)
        spoken = self.world.tts_enabled
        self.world.tts_log.append({"text": text, "voice": voice, "spoken": spoken})
        if not spoken:
            return ToolResult("TTS is disabled in settings; nothing was spoken.")
        return ToolResult(f"Spoke {len(text.split())} words in voice '{voice}'.")

    def _tts_switch_voice(self, cart_tag: str) -> ToolResult:
        key = self.world.cart_by_tag(cart_tag)
        if key is None:
            tags = ", ".join(c["tag"] for c in self.world.carts.values())
            return ToolResult(f"Error: unknown cart tag '{cart_tag}' (tags: {tags})", True)
        self.world.data["tts_voice"] = self.world.carts[key]["voice"]
        self.world.record_change("voice_switch", f"the TTS voice to {key}")
        return ToolResult(f"TTS voice switched to '{self.world.carts[key]['voice']}' (cart {key}).")

    # --- memory ----------------------------------------------------------------------------------
    def _memory_recall(self, query: str, limit: int = 5) -> ToolResult:
        hits = _search(query, self.world.data["memories"])[:limit]
        if not hits:
            return ToolResult(f"No memories match '{query}'.")
        return ToolResult(json.dumps([{"key": k, "kind": e.get("kind"), "title": e.get("title"),
                                       "content": e.get("content")} for _, k, e in hits]))

    def _memory_store(self, kind: str, title: str, content: str, tags: list[str] | None = None) -> ToolResult:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "untitled"
        key = f"{kind}.{slug}"
        self.world.data["memories"][key] = {"kind": kind, "title": title, "content": content, "tags": tags or []}
        self.world.record_change("memory_store", key)
        return ToolResult(f"Stored {key}.")

    def _memory_list(self, prefix: str = "") -> ToolResult:
        keys = sorted(k for k in self.world.data["memories"] if k.startswith(prefix))
        return ToolResult("\n".join(keys) if keys else f"No memory keys start with '{prefix}'.")

    def _legacy_recall(self, query: str) -> ToolResult:
        hits = _search(query, self.world.data["legacy_memories"])[:5]
        if not hits:
            return ToolResult(f"No legacy memories match '{query}'.")
        return ToolResult(json.dumps([{"key": k, "title": e.get("title"), "content": e.get("content")}
                                      for _, k, e in hits]))

    # --- index -----------------------------------------------------------------------------------
    def _index_search(self, query: str, kind: str) -> ToolResult:
        entries = {f"{kind}:{i}": e for i, e in enumerate(self.world.data["index"][kind])}
        hits = _search(query, entries)[:5]
        header = f"{len(hits)} results from {INDEX_SIZES[kind]:,} {kind} chunks"
        return ToolResult(json.dumps({"summary": header, "results": [{"path": e["path"], "snippet": e["snippet"]}
                                                                     for _, _, e in hits]}))

    # --- todo ------------------------------------------------------------------------------------
    def _todo_write(self, todos: list[dict[str, Any]]) -> ToolResult:
        self.world.data["todos"] = [dict(t) for t in todos]
        counts = Counter(t["status"] for t in todos)
        return ToolResult(f"Todo list updated: {len(todos)} items ({counts['completed']} completed, "
                          f"{counts['in_progress']} in progress, {counts['pending']} pending).")

    # --- shell and files -----------------------------------------------------------------------
    def _bash(self, command: str, host: str | None = None) -> ToolResult:
        result = shell_run.run_command(self.world, command, host)
        text = result.output if result.exit_code == 0 else f"{result.output}\n(exit code {result.exit_code})".strip()
        return ToolResult(text, result.exit_code != 0)

    def _read(self, path: str) -> ToolResult:
        if path not in self.world.files:
            return ToolResult(f"Error: ENOENT: no such file '{path}'", True)
        return ToolResult(self.world.files[path])

    def _write(self, path: str, content: str) -> ToolResult:
        self.world.files[path] = content
        self.world.record_change("file_edit", path)
        return ToolResult(f"Wrote {len(content.encode())} bytes to {path}.")

    def _edit(self, path: str, old: str, new: str) -> ToolResult:
        text = self.world.files.get(path)
        if text is None:
            return ToolResult(f"Error: ENOENT: no such file '{path}'", True)
        if old not in text:
            return ToolResult(f"Error: old text not found in {path}", True)
        self.world.files[path] = text.replace(old, new, 1)
        self.world.record_change("file_edit", path)
        return ToolResult(f"Edited {path}.")
