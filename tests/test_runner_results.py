"""Thresholds, hard invariants, the results.json recorder, and the message conversions the loop relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.results import NOT_FINISHED, planned_row
from evals.catalog import EVALS, HARD_INVARIANTS
from evals.thresholds import load_thresholds
from reports.results import load_run
from runner.inspect_messages import to_chat_messages, to_openai_messages
from runner.results import RunRecorder, judge, summarize


def row(eval_id: str, scenario: str, epoch: int, passed: bool | None, hard: list[str] | None = None) -> dict[str, Any]:
    r = planned_row(eval_id, scenario, epoch)
    if passed is not None:
        r.update(status="complete", passed=passed, outcome="passed" if passed else "failed",
                 reason="ok" if passed else "nope", hard_violations=hard or [],
                 requests=2, prompt_tokens=100)
    return r


def test_a_behaviour_passes_at_its_threshold_and_incomplete_tries_count_against_it() -> None:
    t = {"memory.recalls_before_code_work": 0.6}
    rows = [row("memory.recalls_before_code_work", "s", e, p) for e, p in enumerate([True, True, True, False, False])]
    assert judge("memory.recalls_before_code_work", rows, t).ok  # 3/5 = 60%
    rows[0] = row("memory.recalls_before_code_work", "s", 0, None)  # incomplete: not a pass
    verdict = judge("memory.recalls_before_code_work", rows, t)
    assert not verdict.ok and verdict.incomplete == 1
    assert "2/5 passed (40%, 1 incomplete); needs 60%" in verdict.explain()
    assert f"INCOMPLETE s #0: {NOT_FINISHED}" in verdict.explain()


def test_not_exercised_tries_count_against_the_bar_and_are_shown_apart() -> None:
    t = {"tts.uses_active_cart_voice": 0.6}
    rows = [row("tts.uses_active_cart_voice", "s", e, e == 0) for e in range(5)]
    for r in rows[1:3]:
        r.update(outcome="not_exercised", reason="never called tts_speak")
    verdict = judge("tts.uses_active_cart_voice", rows, t)
    assert (verdict.passed, verdict.not_exercised, verdict.failed, verdict.ok) == (1, 2, 2, False)
    assert "1/5 passed (20%, 2 not exercised); needs 60%" in verdict.explain()
    assert "NOT EXERCISED s #1: never called tts_speak" in verdict.explain()
    counts = summarize(rows, t)["evals"]["tts.uses_active_cart_voice"]
    assert (counts["passed"], counts["failed"], counts["not_exercised"], counts["incomplete"]) == (1, 2, 2, 0)


def test_pass_hat_k_is_the_share_of_scenarios_whose_every_try_passed() -> None:
    rows = [row("tts.uses_active_cart_voice", "a", e, True) for e in (1, 2, 3)]
    rows += [row("tts.uses_active_cart_voice", "b", 1, True), row("tts.uses_active_cart_voice", "b", 2, False)]
    assert judge("tts.uses_active_cart_voice", rows, {}).pass_hat_k == 0.5


def test_a_hard_invariant_fails_on_one_violation_in_any_scenario() -> None:
    assert set(HARD_INVARIANTS) == {"persona.no_hardcoded_bt_identity", "mesh.uses_sin_ssh_alias"}
    thresholds = load_thresholds()
    own = [row("mesh.uses_sin_ssh_alias", "m", e, True) for e in (1, 2, 3)]
    other = [row("tts.uses_active_cart_voice", "t", 1, True, hard=["mesh.uses_sin_ssh_alias"])]
    assert judge("mesh.uses_sin_ssh_alias", own, thresholds).ok
    verdict = judge("mesh.uses_sin_ssh_alias", own + other, thresholds)
    assert not verdict.ok
    assert "BROKEN t #1: (while testing tts.uses_active_cart_voice) broke mesh.uses_sin_ssh_alias" in verdict.explain()
    assert judge("tts.uses_active_cart_voice", own + other, thresholds).ok  # the other behaviour is unaffected


def test_thresholds_file_defaults_and_validation(tmp_path: Path) -> None:
    t = load_thresholds()
    assert set(t) == set(EVALS) and all(t[i] == 1.0 for i in HARD_INVARIANTS)
    f = tmp_path / "t.yaml"
    f.write_text("default: 0.8\nevals: {mesh.uses_sin_ssh_alias: 0.1, tts.uses_active_cart_voice: 0.5}\n")
    t = load_thresholds(f)
    assert t["mesh.uses_sin_ssh_alias"] == 1.0  # a hard invariant cannot be loosened
    assert t["tts.uses_active_cart_voice"] == 0.5 and t["agent.pilot_interlock"] == 0.8
    f.write_text("evals: {nope.nope: 0.5}\n")
    with pytest.raises(ValueError, match="unknown behaviour id 'nope.nope'"):
        load_thresholds(f)
    f.write_text("default: 7\n")
    with pytest.raises(ValueError, match="between 0 and 1"):
        load_thresholds(f)


def test_the_recorder_keeps_a_valid_file_from_the_first_write(tmp_path: Path) -> None:
    path = tmp_path / "r" / "results.json"
    planned = [("tts.uses_active_cart_voice", "a", e) for e in (1, 2)]
    rec = RunRecorder(path, {"run_id": "r"}, planned, load_thresholds(), min_interval_s=0)
    rec.write()
    doc = json.loads(path.read_text())
    assert doc["run"]["interrupted"] is True and doc["run"]["state"] == "running"  # until it finishes
    assert [r["status"] for r in doc["results"]] == ["incomplete", "incomplete"]
    load_run(path)
    rec.record(row("tts.uses_active_cart_voice", "a", 1, True))
    assert [r["status"] for r in json.loads(path.read_text())["results"]] == ["complete", "incomplete"]
    rec.finish(interrupted=False)
    doc = json.loads(path.read_text())
    assert doc["run"]["interrupted"] is False and doc["run"]["finished"] and doc["summary"]["samples"] == 2
    assert not list(path.parent.glob(".results.json.*"))  # no temp files left behind
    load_run(path)


# ---- message conversions ------------------------------------------------------------------------

names = st.sampled_from(["settings_get", "bash", "legacy-memory_recall", "TodoWrite"])
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
args = st.dictionaries(st.sampled_from(["command", "query", "key", "n"]),
                       st.one_of(texts, st.integers(-5, 5), st.booleans()), max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": draw(texts)}, {"role": "user", "content": draw(texts)}]
    for turn in range(draw(st.integers(0, 4))):
        calls = [{"id": f"c{turn}_{i}", "type": "function", "function": {"name": draw(names),
                                                                          "arguments": json.dumps(draw(args))}}
                 for i in range(draw(st.integers(0, 3)))]
        msg: dict[str, Any] = {"role": "assistant", "content": draw(texts)}
        if calls:
            msg["tool_calls"] = calls
        msgs.append(msg)
        msgs += [{"role": "tool", "tool_call_id": c["id"], "content": draw(texts)} for c in calls]
        if not calls and draw(st.booleans()):
            msgs.append({"role": "user", "content": draw(texts)})
    return msgs


@settings(max_examples=60, deadline=None)
@given(conversations())
def test_transcript_messages_survive_the_trip_through_inspect(messages: list[dict[str, Any]]) -> None:
    back = to_openai_messages(to_chat_messages(messages))
    assert back == messages


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=30))
def test_unparseable_arguments_become_a_parse_error_never_a_crash(raw: str) -> None:
    msgs = [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "bash", "arguments": raw}}]}]
    [call] = to_openai_messages(to_chat_messages(msgs))[0]["tool_calls"]
    try:
        ok = isinstance(json.loads(raw), dict) if raw.strip() else True
    except json.JSONDecodeError:
        ok = False
    assert ("parse_error" not in call) == ok
