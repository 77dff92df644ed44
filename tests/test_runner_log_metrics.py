"""The inspect log's metrics count samples the way results.json does: an incomplete sample (a cut generation, a
server error) and a not-exercised one are in the denominator as not passed, so `inspect view`'s headline accuracy
and its per-behaviour accuracy are the report's pass rates (issue 27, item 6). Run against the local stub server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log

from doubles.openai_stub import OpenAIStub
from doubles.scripted import good_agent
from doubles.scripted_model import stub_responder
from evals.scenarios import Scenario, load_scenarios
from runner.runner import RunConfig, run

EVALS = ["persona.loads_identity_from_cart", "tts.respects_tts_disabled"]


def _opening(messages: list[dict[str, Any]]) -> str:
    return json.dumps([(m["role"], m.get("content")) for m in messages if m["role"] in ("system", "user")][:2])


def _responder(scenarios: list[Scenario]) -> tuple[Any, dict[str, str]]:
    """Per scenario, by its opening: the scripted good agent, a cut generation, a server error, or a reply that
    does nothing (not exercised or failed)."""
    kinds = ("good", "cut", "error", "idle")
    plan = {s.id: kinds[i % len(kinds)] for i, s in enumerate(scenarios)}
    by_opening = {_opening(s.initial_messages()): plan[s.id] for s in scenarios}
    assert len(by_opening) == len(scenarios), "the chosen scenarios must open differently"
    good = stub_responder([good_agent(s) for s in scenarios if plan[s.id] == "good"])

    def respond(model: str, request: dict[str, Any]) -> dict[str, Any]:
        kind = by_opening.get(_opening(request["messages"]), "idle")
        if kind == "cut":
            return {"content": "Let me read the settings and then", "finish_reason": "length"}
        if kind == "error":
            return {"error": "CUDA error: an illegal memory access", "status": 500}
        if kind == "idle":
            return {"content": "Sure.", "finish_reason": "stop"}
        return good(model, request)

    return respond, plan


def test_the_logs_accuracy_is_the_reports_pass_rate(tmp_path: Path) -> None:
    scenarios = load_scenarios(evals=EVALS)
    respond, plan = _responder(scenarios)
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"}, responder=respond) as server:
        config = RunConfig(backend="vllm", base_url=server.base_url + "/v1", adapter="madcat", epochs=2, evals=EVALS,
                           report_dir=str(tmp_path), max_retries=0, retry_on_error=0, temperature=0.0)
        outcome = run(config)
    summary = outcome.document["summary"]
    # every kind of sample is there, so the counts can disagree if the log counted them differently
    assert summary["passed"] > 0 and summary["not_exercised"] + summary["failed"] > 0
    assert summary["incomplete"] == 2 * sum(kind in ("cut", "error") for kind in plan.values())
    assert {r["reason"].split(":")[0] for r in outcome.rows if r["status"] == "incomplete"} == {"incomplete", "error"}

    (log_path,) = (tmp_path / outcome.document["run"]["run_id"] / "logs").glob("*.eval")
    log = read_eval_log(str(log_path), header_only=True)
    assert log.results is not None and log.results.total_samples == summary["samples"]
    headline = log.results.scores[0]
    assert headline.reducer == "mean"
    assert headline.metrics["accuracy"].value == pytest.approx(summary["passed"] / summary["samples"])
    for eval_id in EVALS:
        assert headline.metrics[eval_id].value == pytest.approx(summary["evals"][eval_id]["pass_rate"]), eval_id
