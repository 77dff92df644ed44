"""Sample session stores in every layout the importer reads, built from small descriptions.

The tests write their fixtures with these builders (samples_opencode.py, samples_claude.py, re-exported
here); `python -m dataset.sessions.samples DIR` writes realistic sample stores under DIR, to try the
importer without real sessions:

    python -m dataset.sessions.samples /tmp/samples
    python -m dataset.sessions --from opencode --path /tmp/samples/opencode-json --out /tmp/c.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

from dataset.sessions.samples_claude import ClaudeLog, thinking, tool_use
from dataset.sessions.samples_opencode import (
    MODEL,
    SCHEMA,
    OcMessage,
    OcSession,
    assistant,
    compaction,
    file_part,
    patch,
    reasoning,
    step_finish,
    step_start,
    text,
    to_2x_rows,
    tool,
    user,
    write_json_storage,
    write_legacy,
    write_sqlite,
    write_sqlite_2x,
)

__all__ = ['ClaudeLog', 'MODEL', 'OcMessage', 'OcSession', 'SCHEMA', 'SETTINGS', 'assistant', 'claude_log', 'compaction', 'file_part', 'main', 'opencode_sessions', 'patch', 'reasoning', 'step_finish', 'step_start', 'text', 'thinking', 'to_2x_rows', 'tool', 'tool_use', 'user', 'write_all', 'write_json_storage', 'write_legacy', 'write_sqlite', 'write_sqlite_2x']


# --------------------------------------------------------------------------------------------
# Realistic samples: sessions where the agent behaved well, plus the awkward parts of real logs
# --------------------------------------------------------------------------------------------

SETTINGS = '{"active_cart": "nova", "tts.enabled": true, "tts.voice": "nova", "user": "madcat"}'


def opencode_sessions() -> list[OcSession]:
    """A TTS session, a code-work session (with a subagent) and a session that reads a .env file."""
    tts = OcSession("ses_tts0001", [
        user("Say good morning to me out loud"),
        assistant(step_start(), reasoning("Check the active cart first."),
                  tool("toolu_01", "settings_get", {}, SETTINGS), step_finish()),
        assistant(step_start(), tool("toolu_02", "tts_speak", {"text": "Good morning!", "voice": "nova"},
                                     "spoken (voice nova, 1.2s)"), step_finish()),
        assistant(step_start(), text("Said good morning in Nova's voice."), step_finish("stop")),
    ], title="Good morning")
    code = OcSession("ses_code0002", [
        user("Fix the pagination bug in src/users.ts: list() skips the first item of each page."),
        assistant(step_start(), tool("toolu_11", "settings_get", {}, SETTINGS), step_finish()),
        assistant(step_start(), tool("toolu_12", "index_search", {"query": "users list pagination", "kind": "code"},
                                     "src/users.ts: export async function list(cursor?: string): Promise<User[]>"),
                  step_finish()),
        assistant(step_start(), tool("toolu_13", "memory_recall", {"query": "users pagination"}, "no memories match"),
                  step_finish()),
        assistant(step_start(), tool("toolu_14", "legacy-memory_recall", {"query": "users pagination"},
                                     "legacy.users-module: users.ts exports list, get, create; pagination via cursor."),
                  step_finish()),
        assistant(step_start(), tool("toolu_15", "read", {"filePath": "/home/alice/proj/src/users.ts"},
                                     "00041| const start = cursor ? index + 1 : 1\n00042| return rows.slice(start, start + 20)"),
                  step_finish()),
        assistant(step_start(), text("The first page starts at 1 instead of 0."),
                  tool("toolu_16", "edit", {"filePath": "/home/alice/proj/src/users.ts",
                                            "oldString": "cursor ? index + 1 : 1", "newString": "cursor ? index + 1 : 0"},
                       "Edit applied successfully."),
                  patch("src/users.ts"), step_finish()),
        assistant(step_start(), tool("toolu_17", "bash", {"command": "npm test", "description": "Run the tests"},
                                     "Tests: 42 passed, 42 total"), step_finish()),
        assistant(step_start(), tool("toolu_18", "memory_store", {
            "kind": "win", "title": "users list pagination", "content": "list() started the first page at 1; fixed to 0, tests pass.",
            "tags": ["users", "pagination"]}, "stored win.users-list-pagination"), step_finish()),
        assistant(step_start(), text("Fixed: the first page now starts at index 0, and the tests pass."),
                  step_finish("stop")),
    ], title="Users pagination")
    child = OcSession("ses_child0003", [
        user("Find where list() is called in src/ and report the call sites."),
        assistant(step_start(), tool("toolu_21", "index_search", {"query": "list( call sites users", "kind": "code"},
                                     "src/routes/users.ts:12 list(cursor)"), step_finish()),
        assistant(step_start(), text("One call site: src/routes/users.ts line 12."), step_finish("stop")),
    ], title="Call sites (subagent)", parent_id="ses_code0002")
    env = OcSession("ses_env0004", [
        user("Why does the deploy script fail to authenticate?"),
        assistant(step_start(), tool("toolu_31", "settings_get", {}, SETTINGS), step_finish()),
        assistant(step_start(), tool("toolu_32", "read", {"filePath": "/home/alice/proj/.env"},
                                     "00001| OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123\n"
                                     "00002| DEPLOY_HOST=sin\n00003| DB_PASSWORD=hunter2hunter2"), step_finish()),
        assistant(step_start(), tool("toolu_33", "bash", {"command": "ssh sin 'journalctl -u deploy -n 5'"},
                                     "deploy: 401 Unauthorized (Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcdef)"),
                  step_finish()),
        assistant(step_start(), text("The deploy service on sin gets a 401: its bearer token has expired. "
                                     "Rotate the token in ~/proj/.env and restart the service?"), step_finish("stop")),
    ], title="Deploy auth")
    return [tts, code, child, env]


def claude_log() -> tuple[ClaudeLog, ClaudeLog]:
    """A Claude Code session with an abandoned branch, a compaction and a subagent file."""
    log = ClaudeLog()
    log.user("Say hello out loud, then tell me which voice you used.")
    log.assistant(thinking("Settings first."), "Checking the settings.",
                  tool_use("toolu_a1", "mcp__settings__settings_get", {}))
    log.results(("toolu_a1", SETTINGS))
    log.assistant(tool_use("toolu_a2", "mcp__tts__speak", {"text": "Hello!", "voice": "nova"}))
    log.results(("toolu_a2", [{"type": "text", "text": "spoken (voice nova)"}]))
    fork = log.assistant("Said hello.")
    log.user("Now say it louder")
    log.assistant("Speaking louder is not supported.")
    # The user went back and edited their message: a second branch from the same point, the active one.
    log.user("Which voice did you use?", parent=fork)
    log.assistant("Nova's voice (nova), the active cart's.")
    log.compact("The user asked for a spoken greeting; it was spoken in the nova voice after a settings read.")
    log.user("Now list my memories about the mesh.")
    log.assistant(tool_use("toolu_b1", "mcp__eems__memory_list", {"prefix": "mesh"}))
    log.results(("toolu_b1", "legacy.mesh-setup"))
    log.assistant("One memory: legacy.mesh-setup.")
    agent = ClaudeLog(session_id=log.session_id, sidechain=True, agent_id="a1b2c3d4")
    agent.user("Check that sin answers over the mesh.", parent=None)
    agent.assistant(tool_use("toolu_c1", "Bash", {"command": "ssh sin uptime", "description": "uptime on sin"}))
    agent.results(("toolu_c1", " 10:00:01 up 12 days,  3:02,  1 user,  load average: 0.10, 0.12, 0.09"))
    agent.assistant("sin is up (12 days).")
    return log, agent


def write_all(target: Path) -> dict[str, Path]:
    """Write every layout's realistic sample under `target`; returns the store paths."""
    paths = {
        "opencode-json": write_json_storage(target / "opencode-json", opencode_sessions()),
        "opencode-legacy": write_legacy(target / "opencode-legacy", opencode_sessions()),
        "opencode-sqlite": target / "opencode-sqlite" / "opencode.db",
        "opencode-2x": write_sqlite_2x(target / "opencode-2x" / "opencode.db", opencode_sessions()),
    }
    write_sqlite(paths["opencode-sqlite"], opencode_sessions()).close()
    log, agent = claude_log()
    project = target / "claude" / "-home-alice-proj"
    log.write(project / f"{log.session_id}.jsonl")
    agent.write(project / log.session_id / "subagents" / "agent-a1b2c3d4.jsonl")
    paths["claude"] = target / "claude"
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dataset.sessions.samples DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    if target.exists() and any(target.iterdir()):
        print(f"samples: {target} is not empty; give a new or empty directory", file=sys.stderr)
        return 2
    for name, path in write_all(target).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
