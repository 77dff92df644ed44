"""Mining real agent sessions (opencode, Claude Code) into training candidates, read-only.

See `dataset.sessions.cli` for the command and `dataset/session_tool_map.yaml` for the tool map.
"""
