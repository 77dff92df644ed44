"""Claude Code logs: lines merged by message.id, the active branch, compaction, subagents, results."""

from __future__ import annotations

import json
from pathlib import Path

from dataset.sessions import samples as S
from dataset.sessions.pipeline import Outcome, run_import
from dataset.sessions.problems import Problems


def run(path: Path) -> Outcome:
    return run_import("claude-code", path, graders=None, problems=Problems())


def calls(candidate: dict) -> list[tuple[str, dict]]:
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for m in candidate["messages"] for c in m.get("tool_calls") or []]


def roles(candidate: dict) -> list[str]:
    return [m["role"] for m in candidate["messages"]]


def write(tmp_path: Path, log: S.ClaudeLog) -> Path:
    return log.write(tmp_path / "-home-alice-proj" / f"{log.session_id}.jsonl")


def test_lines_sharing_a_message_id_are_one_model_step(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("Check the settings and the cart.")
    log.assistant("Checking both.", S.tool_use("t1", "mcp__settings__settings_get", {}),
                  S.tool_use("t2", "mcp__settings__cart_get", {"name": "nova"}), msg_id="msg_1")
    log.results(("t1", "{}"), ("t2", '{"name": "Nova"}'))
    log.assistant("Done.", msg_id="msg_2")
    write(tmp_path, log)
    (candidate,) = run(tmp_path).candidates
    assert roles(candidate) == ["user", "assistant", "tool", "tool", "assistant"]
    assert candidate["messages"][1]["content"] == "Checking both."
    assert calls(candidate) == [("settings_get", {}), ("cart_get", {"name": "nova"})]
    assert [m["tool_call_id"] for m in candidate["messages"] if m["role"] == "tool"] == ["call_1", "call_2"]
    assert "the UI's full copy" not in json.dumps(candidate)  # toolUseResult is not what the model saw


def test_interleaved_results_still_join_the_step_they_answer(tmp_path: Path) -> None:
    # Some versions write a result between two tool_use lines of the same response.
    log = S.ClaudeLog()
    log.user("Two reads")
    log.assistant(S.tool_use("t1", "Read", {"file_path": "a.txt"}), msg_id="msg_1")
    log.results(("t1", "A"))
    log.assistant(S.tool_use("t2", "Read", {"file_path": "b.txt"}), msg_id="msg_1")
    log.results(("t2", "B"))
    log.assistant("A and B.", msg_id="msg_2")
    write(tmp_path, log)
    (candidate,) = run(tmp_path).candidates
    assert roles(candidate) == ["user", "assistant", "tool", "tool", "assistant"]
    assert [m["content"] for m in candidate["messages"] if m["role"] == "tool"] == ["A", "B"]


def test_the_active_branch_is_the_path_to_the_latest_leaf(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("Name a host.")
    fork = log.assistant("fuji")
    log.user("Another one?")
    log.assistant("junkpile (abandoned branch)")
    log.user("Which one serves vLLM?", parent=fork)  # the user edited their message later: a new branch
    log.assistant("sin")
    write(tmp_path, log)
    outcome = run(tmp_path)
    (candidate,) = outcome.candidates
    assert [m["content"] for m in candidate["messages"]] == ["Name a host.", "fuji", "Which one serves vLLM?", "sin"]
    assert outcome.dropped["entry on an abandoned branch"] == 2


def test_a_compaction_splits_and_the_summary_opens_the_next_transcript(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("Read the settings.")
    log.assistant(S.tool_use("t1", "mcp__settings__settings_get", {}))
    log.results(("t1", '{"active_cart": "sage"}'))
    log.assistant("The active cart is sage.")
    log.compact("Summary: the settings were read; the active cart is sage.")
    log.user("Speak a greeting.")
    log.assistant(S.tool_use("t2", "mcp__tts__speak", {"text": "Greetings.", "voice": "sage"}))
    log.results(("t2", "spoken"))
    log.assistant("Done.")
    write(tmp_path, log)
    first, second = run(tmp_path).candidates
    assert [n for n, _ in calls(first)] == ["settings_get"]
    assert [n for n, _ in calls(second)] == ["tts_speak"]
    assert second["messages"][0]["content"].startswith(
        "[Summary of the conversation so far]\nSummary: the settings were read; the active cart is sage.")
    assert (second["meta"]["segment"], second["meta"]["segments"]) == (2, 2)


def test_subagents_in_their_own_file_or_inline_become_their_own_transcripts(tmp_path: Path) -> None:
    log, agent = S.claude_log()
    project = tmp_path / "-home-alice-proj"
    log.write(project / f"{log.session_id}.jsonl")
    agent.write(project / log.session_id / "subagents" / "agent-a1b2c3d4.jsonl")
    # An older version's inline sidechain, without agentId, in the main file.
    inline = S.ClaudeLog(session_id=log.session_id, sidechain=True)
    inline.user("Inline subagent task", parent=None)
    inline.assistant("Inline subagent answer")
    with (project / f"{log.session_id}.jsonl").open("a") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in inline.entries))
    outcome = run(tmp_path)
    subs = {c["meta"]["session_id"]: c for c in outcome.candidates if "parent_session_id" in c["meta"]}
    assert set(subs) == {f"{log.session_id}:a1b2c3d4", f"{log.session_id}:sidechain-1"}
    assert subs[f"{log.session_id}:a1b2c3d4"]["messages"][0]["content"] == "Check that sin answers over the mesh."
    main = [c for c in outcome.candidates if c["meta"]["session_id"] == log.session_id]
    assert "Inline subagent" not in json.dumps(main)


def test_tool_errors_keep_their_flag_and_rejected_or_unanswered_calls_go(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("Restart the service")
    log.assistant(S.tool_use("t1", "Bash", {"command": "ssh sin systemctl status vllm"}))
    log.results(("t1", "ssh: connect to host sin port 22: Connection refused", True))
    log.assistant(S.tool_use("t2", "Bash", {"command": "ssh sin sudo systemctl restart vllm"}))
    log.results(("t2", "The user doesn't want to proceed with this tool use. The tool use was rejected.", True))
    log.user("[Request interrupted by user for tool use]")
    log.user("Just tell me what failed.")
    log.assistant("The first check could not connect to sin.", S.tool_use("t3", "Bash", {"command": "wg show"}))
    write(tmp_path, log)
    outcome = run(tmp_path)
    (candidate,) = outcome.candidates
    assert [a["command"] for _, a in calls(candidate)] == ["ssh sin systemctl status vllm"]
    tool_messages = [m for m in candidate["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["is_error"] is True
    assert "[Request interrupted" not in json.dumps(candidate)
    assert candidate["messages"][-1]["content"] == "The first check could not connect to sin."
    assert candidate["meta"]["dropped"]["interrupted, aborted or unanswered call"] == 2


def test_thinking_meta_lines_and_synthetic_messages_stay_out(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("Caveat: the messages below were generated by the user running local commands.", isMeta=True)
    log.user("<command-name>/model</command-name>")
    log.user("hello")
    log.assistant(S.thinking("private chain of thought"), "Hi.")
    log.assistant("API Error: overloaded", model="<synthetic>", isApiErrorMessage=True)
    write(tmp_path, log)
    outcome = run(tmp_path)
    (candidate,) = outcome.candidates
    assert [m["content"] for m in candidate["messages"]] == ["hello", "Hi."]
    assert "RXF1aXZhbGVudA==" not in json.dumps(candidate)
    assert outcome.dropped["injected meta line (isMeta)"] == 1
    assert outcome.dropped["synthetic assistant message (API error or no response)"] == 1


def test_images_in_prompts_and_results_become_placeholders(tmp_path: Path) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    log = S.ClaudeLog()
    log.user([{"type": "text", "text": "What is this?"}, image])
    log.assistant(S.tool_use("t1", "Read", {"file_path": "/tmp/shot.png"}))
    log.results(("t1", [image]))
    log.assistant("A screenshot.")
    write(tmp_path, log)
    (candidate,) = run(tmp_path).candidates
    assert candidate["messages"][0]["content"] == "What is this?\n\n[image]"
    assert candidate["messages"][2]["content"] == "[image]"
    assert "iVBORw0KGgo" not in json.dumps(candidate)


def test_a_single_file_can_be_given_and_resumed_copies_are_not_kept_twice(tmp_path: Path) -> None:
    log = S.ClaudeLog()
    log.user("hello")
    log.assistant("Hi.")
    path = write(tmp_path, log)
    assert len(run(path).candidates) == 1
    (tmp_path / "-home-alice-proj" / "copy.jsonl").write_text(path.read_text())  # `--resume` copies history
    outcome = run(tmp_path)
    assert len(outcome.candidates) == 1
    assert outcome.rejected["duplicate of another transcript"] == 1
