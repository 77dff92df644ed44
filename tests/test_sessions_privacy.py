"""Privacy: each kind of secret and personal path is redacted and flagged; a candidate in which a
secret pattern survives is refused; secrets reach neither the candidates nor the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataset.sessions import samples as S
from dataset.sessions.cli import main
from dataset.sessions.pipeline import run_import
from dataset.sessions.privacy import Redactor, find_secrets, redact_transcript
from dataset.sessions.problems import Problems

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(("kind", "text", "secret"), [
    ("api_key", "export OPENAI_API_KEY=sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2", "sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"),
    ("api_key", "key: sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"),
    ("github_token", f"git remote set-url origin https://{GITHUB}@github.com/a/b", GITHUB),
    ("github_token", "GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
    ("aws_key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("slack_token", "SLACK=xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"),
    ("bearer_token", 'curl -H "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4"', "9f8e7d6c5b4a39281706f5e4"),
    ("private_key", f"cat ~/.ssh/id_ed25519\n{PEM}\n", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("jwt", f"token was {JWT}", JWT),
    ("password", "mysql -u root -pS3cretPass! appdb", "S3cretPass!"),
    ("password", "sshpass -p hunter22 ssh sin", "hunter22"),
    ("password", "psql postgres://app:pa55word@db:5432/app", "pa55word"),
    ("password", "DB_PASSWORD=correct-horse-battery", "correct-horse-battery"),
    ("password", 'config = {"password": "Tr0ub4dor&3"}', "Tr0ub4dor&3"),
    ("credential", "export DEPLOY_TOKEN=abc123xyz789", "abc123xyz789"),
])
def test_each_kind_of_secret_is_redacted_and_counted(kind: str, text: str, secret: str) -> None:
    red = Redactor()
    out = red.text(text)
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out
    assert red.counts[kind] >= 1
    assert find_secrets(out) == []


@pytest.mark.parametrize("text", [
    "mkdir -p build && ssh -p 22 sin uptime",
    "def login(password: str) -> Token:",
    "password=$DB_PASSWORD ./deploy.sh",
    "max_tokens=4096 and passwordless sudo",
    "task-runner --ask my-api-token",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    red = Redactor()
    assert red.text(text) == text
    assert not red.counts


def test_personal_paths_become_home_relative() -> None:
    red = Redactor()
    assert red.text("vim /home/alice/proj/a.ts /Users/bob/.zshrc C:\\Users\\carol\\x") == "vim ~/proj/a.ts ~/.zshrc ~\\x"
    assert red.counts["personal_path"] == 3


def _transcript(call: dict, result: str) -> dict:
    return {"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": call["name"], "arguments": json.dumps(call["args"])}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": result, "is_error": False},
    ], "meta": {}}


def test_values_read_from_a_dotenv_file_are_redacted() -> None:
    env = "00001| DEPLOY_HOST=sin\n00002| FEATURE_FLAG=on\n00003| export REGION=eu-west-1"
    out, counts = redact_transcript(_transcript({"name": "read", "args": {"path": "~/proj/.env"}}, env))
    assert out["messages"][2]["content"] == ("00001| DEPLOY_HOST=[REDACTED:env_file]\n00002| FEATURE_FLAG=[REDACTED:env_file]\n"
                                             "00003| export REGION=[REDACTED:env_file]")
    assert counts["env_file"] == 3
    # The same lines from a file that is not a .env are not secrets; .env.example is a template.
    for path in ("~/proj/settings.ini", "~/proj/.env.example"):
        kept, counts = redact_transcript(_transcript({"name": "read", "args": {"path": path}}, env))
        assert kept["messages"][2]["content"] == env and not counts
    # Writing a .env file carries its values in the arguments.
    out, counts = redact_transcript(_transcript({"name": "bash", "args": {"command": "cat .env"}}, "TOKEN_URL=https://x"))
    assert "https://x" not in json.dumps(out)
    written, _ = redact_transcript(_transcript({"name": "write", "args": {"path": ".env", "content": "A=1\nB=2"}}, "ok"))
    assert json.loads(written["messages"][1]["tool_calls"][0]["function"]["arguments"])["content"] == (
        "A=[REDACTED:env_file]\nB=[REDACTED:env_file]")


def test_a_candidate_in_which_a_secret_survives_redaction_is_refused(tmp_path: Path) -> None:
    # The key hides behind a JSON escape inside a tool output: the text scan cannot see it, the
    # re-scan (which decodes nested JSON) does, and the candidate is not written.
    hidden = '{"key": "sk\\u002dproj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"}'
    session = S.OcSession("ses_hidden", [
        S.user("show the config"),
        S.assistant(S.step_start(), S.tool("a", "bash", {"command": "cat config.json"}, hidden), S.step_finish()),
        S.assistant(S.step_start(), S.text("Here it is."), S.step_finish("stop")),
    ])
    outcome = run_import("opencode", S.write_json_storage(tmp_path, [session]), graders=None, problems=Problems())
    assert outcome.candidates == []
    assert outcome.rejected["secret pattern left after redaction (not written)"] == 1


def test_secrets_reach_neither_the_candidates_nor_the_report(tmp_path: Path) -> None:
    store = S.write_json_storage(tmp_path / "store", S.opencode_sessions())
    out, report = tmp_path / "c.jsonl", tmp_path / "c.md"
    assert main(["--from", "opencode", "--path", str(store), "--out", str(out), "--report", str(report)]) == 0
    text = out.read_text() + report.read_text()
    for secret in ("sk-proj-abcdefghijklmnopqrstuvwxyz0123", "hunter2hunter2", "eyJhbGciOiJIUzI1NiJ9abcdef", "/home/alice"):
        assert secret not in text
    env = next(json.loads(line) for line in out.read_text().splitlines() if '"ses_env0004"' in line)
    assert env["meta"]["redactions"] == {"api_key": 1, "bearer_token": 1, "env_file": 1, "password": 1, "personal_path": 1}
    assert "| api_key | 1 |" in report.read_text()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["sk-live-", "ghp_", "AKIA", "xoxp-", "Bearer ", "password="]),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=36, max_size=40))
def test_after_redaction_no_secret_pattern_is_found(prefix: str, marker: str, body: str) -> None:
    text = f"{prefix} {marker}{body.upper() if marker == 'AKIA' else body} tail"
    assert find_secrets(Redactor().text(text)) == []


def test_the_user_name_in_a_claude_project_dir_stays_out(tmp_path: Path) -> None:
    log, agent = S.claude_log()
    project = tmp_path / "store" / "-home-alice-proj"
    log.write(project / f"{log.session_id}.jsonl")
    agent.write(project / "agent-a1b2c3d4.jsonl")
    (project / "broken.jsonl").write_text("garbage\n")  # named in the report's problems
    out = tmp_path / "c.jsonl"
    assert main(["--from", "claude-code", "--path", str(tmp_path / "store"), "--out", str(out)]) == 0
    report = out.with_name("c.report.md").read_text()
    assert "alice" not in out.read_text() and "alice" not in report
    assert "~-proj/broken.jsonl" in report
    assert {json.loads(line)["meta"]["origin"] for line in out.read_text().splitlines()} == {
        f"~-proj/{log.session_id}.jsonl", "~-proj/agent-a1b2c3d4.jsonl"}
