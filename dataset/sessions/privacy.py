"""Scan candidates for secrets and personal paths, redact them as `[REDACTED:<kind>]`, and check
again afterwards: a candidate in which a secret pattern remains is never written.

Kinds: private_key, bearer_token, jwt, api_key, github_token, aws_key, slack_token, password
(`DB_PASSWORD=...`, `password: ...`, `mysql -p...`, `sshpass -p`, URL credentials),
credential (`API_TOKEN=...`, `api_key: ...`), env_file (values of KEY=VALUE lines read from or written to a `.env` file) and
personal_path (`/home/<user>`, `/Users/<user>`, `C:\\Users\\<user>` become `~`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

Sub = Callable[[re.Match], str]


_TAG = re.compile(r"\[REDACTED:([a-z_]+)\]")


def _tag(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_PLACEHOLDER = re.compile(r"^(\$|<|\{\{|%\(|\*{3,}|\[REDACTED|x{4,}$|\.\.\.)", re.I)
_CODE_VALUE = re.compile(r"^[A-Za-z_][A-Za-z_.]*(\(|\[|$)")
_CODE_PREFIXES = ("self.", "os.", "process.env", "env.", "config.", "settings.", "args.", "kwargs", "getenv", "cls.")

_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<key>(?<![A-Za-z0-9])[A-Za-z0-9_.-]*?
        (?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key)
    )
    (?P<sep>["']?\s*[:=]\s*)
    (?P<quote>["']?)
    (?P<value>[^\s"'`,;&|)}\]]{3,})
    """
)


def _assignment_sub(m: re.Match) -> str:
    value, quoted, sep = m.group("value"), bool(m.group("quote")), m.group("sep")
    key = m.group("key").lower()
    if _PLACEHOLDER.match(value):
        return m.group(0)
    if not quoted and _CODE_VALUE.match(value) and not any(c.isdigit() for c in value):
        # `password: str`, `token=token`, `secret=os.environ[...]`: code, not a secret
        if ":" in sep or value.lower().startswith(_CODE_PREFIXES) or value.lower() == key.split("_")[-1]:
            return m.group(0)
    if value.lower() in ("true", "false", "null", "none", "required", "optional"):
        return m.group(0)
    kind = "password" if ("pass" in key or "secret" in key) else "credential"
    return f"{m.group('key')}{sep}{m.group('quote')}{_tag(kind)}"


# (kind, pattern, replacement). Order matters: the wider patterns run first.
PATTERNS: list[tuple[str, re.Pattern, str | Sub]] = [
    ("private_key", re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\Z)"
    ), _tag("private_key")),
    ("bearer_token", re.compile(r"(?i)\b(bearer)\s+(?!\[REDACTED)[A-Za-z0-9._~+/=-]{16,}"),
     lambda m: f"{m.group(1)} {_tag('bearer_token')}"),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), _tag("jwt")),
    ("api_key", re.compile(
        r"\b(?:sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
        r"|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,})"
    ), _tag("api_key")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), _tag("github_token")),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), _tag("aws_key")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), _tag("slack_token")),
    ("password", re.compile(r"(?i)\b(mysql|mysqldump|mysqladmin|mariadb(?:-dump)?)\b([^\n;&|]*?\s)-p(?!\[REDACTED)([^\s-][^\s]*)"),
     lambda m: f"{m.group(1)}{m.group(2)}-p{_tag('password')}"),
    ("password", re.compile(r"\b(sshpass\s+-p\s*)(?!\[REDACTED)(\S+)"), lambda m: f"{m.group(1)}{_tag('password')}"),
    ("password", re.compile(r"(--password\s+)(?!\[REDACTED|\$)(\S+)"), lambda m: f"{m.group(1)}{_tag('password')}"),
    ("password", re.compile(r"\b([a-z][a-z0-9+.-]*://(?!\[REDACTED)[^\s:/@'\"]+:)(?!\[REDACTED)([^\s@/'\"]+)(@)"),
     lambda m: f"{m.group(1)}{_tag('password')}{m.group(3)}"),
    ("password", _ASSIGNMENT, _assignment_sub),
]

# Text with none of these cannot match any pattern above: a cheap test before the full scan.
_TRIGGER = re.compile(
    r"(?i)sk-|[sr]k_|gh[pousr]_|github_pat_|AKIA|ASIA|xox|bearer|eyJ|PRIVATE KEY|://|mysql|mariadb|sshpass"
    r"|pass|secret|token|key|AIza|hf_"
)
_ENV_FILE = re.compile(r"(?:^|[\s/'\"=:])\.env(?:\.(?!example\b|sample\b|template\b|dist\b)[\w-]+)?(?=$|[\s'\";|&)<>])")
_ENV_LINE = re.compile(r"(?m)^(\s*(?:\d+\s*(?:→|\||:|\t)\s*)?(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*)(?!\[REDACTED)(\S.*)$")
_PERSONAL = re.compile(r"(?:/(?:home|Users)/|[A-Za-z]:\\Users\\)(?!Shared\b)[^/\\\s'\"`:;,)\]]+")


# Claude Code names project dirs after the cwd with `/` turned into `-`: -home-alice-proj.
_SLUG = re.compile(r"(^|[\s`'\"(/])-(?:home|Users)-[A-Za-z0-9]+(?=-|/|$)")


def redact_slug(text: str) -> str:
    """`-home-alice-proj/x.jsonl` -> `~-proj/x.jsonl` (a project dir name that carries a user name)."""
    return _SLUG.sub(lambda m: f"{m.group(1)}~", text)


def mentions_env_file(text: str) -> bool:
    return bool(_ENV_FILE.search(text))


class Redactor:
    """Redacts strings and counts what it redacted, by kind."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()

    def text(self, value: str, *, env: bool = False) -> str:
        if _TRIGGER.search(value):
            for _kind, pattern, repl in PATTERNS:
                value = pattern.sub(lambda m, r=repl: self._replace(m, r), value)
        if env:
            value, n = _ENV_LINE.subn(lambda m: f"{m.group(1)}{_tag('env_file')}", value)
            if n:
                self.counts["env_file"] += n
        value, n = _PERSONAL.subn("~", value)
        if n:
            self.counts["personal_path"] += n
        return value

    def _replace(self, m: re.Match, repl: str | Sub) -> str:
        out = repl if isinstance(repl, str) else repl(m)
        if out != m.group(0):
            for kind in _TAG.findall(out):
                self.counts[kind] += 1
        return out

    def walk(self, value: Any, *, env: bool = False) -> Any:
        if isinstance(value, str):
            return self.text(value, env=env)
        if isinstance(value, list):
            return [self.walk(v, env=env) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.walk(v, env=env) for k, v in value.items()}
        return value


def find_secrets(value: Any) -> list[str]:
    """Kinds of secret pattern still present anywhere in `value` (strings, keys, nested JSON)."""
    found: list[str] = []

    def scan(text: str) -> None:
        if not _TRIGGER.search(text):
            return
        for kind, pattern, repl in PATTERNS:
            for m in pattern.finditer(text):
                if callable(repl) and repl(m) == m.group(0):
                    continue  # declined: a placeholder or code, not a secret
                found.append(kind)

    def visit(v: Any) -> None:
        if isinstance(v, str):
            scan(v)
            if v[:1] in "{[":
                try:
                    visit(json.loads(v))
                except (ValueError, RecursionError):
                    pass
        elif isinstance(v, list):
            for item in v:
                visit(item)
        elif isinstance(v, dict):
            for k, item in v.items():
                visit(k)
                visit(item)

    visit(value)
    return found


def redact_transcript(transcript: dict) -> tuple[dict, Counter]:
    """Redact a candidate transcript; returns the new transcript and counts by kind."""
    red = Redactor()
    env_calls: set[str] = set()
    messages = []
    for msg in transcript.get("messages", []):
        msg = dict(msg)
        if msg.get("role") == "tool":
            env = str(msg.get("tool_call_id")) in env_calls
            msg["content"] = red.walk(msg.get("content"), env=env)
        elif msg.get("role") == "assistant" and msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                call = json.loads(json.dumps(call))
                fn = call.get("function") or {}
                raw = fn.get("arguments")
                try:
                    args = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    args = raw
                env = mentions_env_file(json.dumps(args))
                if env:
                    env_calls.add(str(call.get("id")))
                # A write/edit to a .env file carries its values: redact them as env lines.
                args = red.walk(args, env=env and fn.get("name") in ("write", "edit", "Write", "Edit"))
                fn["arguments"] = json.dumps(args, ensure_ascii=False) if isinstance(raw, str) else args
                calls.append(call)
            msg["tool_calls"] = calls
            msg["content"] = red.walk(msg.get("content"))
        else:
            msg["content"] = red.walk(msg.get("content"))
        messages.append(msg)
    out = {**transcript, "messages": messages}
    if "meta" in out:
        out["meta"] = red.walk(out["meta"])
    return out, Counter({k: v for k, v in red.counts.items() if v})
