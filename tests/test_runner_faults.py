"""Server trouble is never a verdict: every kind of failed or cut generation leaves the sample incomplete,
with the reason, against the local stub server (400 context length, 429, 500, a hang, malformed tool-call
markup, a generation cut by the token limit)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from doubles.openai_stub import OpenAIStub
from runner.runner import RunConfig, run

SCENARIO = "tts-off-bt-build-summary"  # an agent that does nothing is "not exercised" here, never passed

Responder = Callable[[str, dict], dict]


def _hang(model: str, request: dict) -> dict:
    time.sleep(4)
    return {"content": "too late"}


FAULTS: dict[str, tuple[Responder, str]] = {  # responder, what the reason says
    "400 context length": (lambda m, r: {"error": "This model's maximum context length is 2048 tokens.", "status": 400,
                                         "type": "BadRequestError", "code": "context_length_exceeded"},
                           "hit the context length"),
    "400 vllm style": (lambda m, r: {"error": "This model's maximum context length is 2048 tokens.", "status": 400,
                                     "type": "BadRequestError"}, "maximum context length"),
    "429": (lambda m, r: {"error": "Too many requests", "status": 429, "type": "RateLimitError"}, "429"),
    "500": (lambda m, r: {"error": "CUDA error: an illegal memory access", "status": 500}, "500"),
    "hang": (_hang, "did not answer in time"),
    "malformed tool call": (lambda m, r: {"content": "<tool_call>\n<function=settings_get>\n<parameter=key>\n"},
                            "tool-call markup the server could not parse"),
    "cut by max tokens": (lambda m, r: {"content": "I will now read the settings and then", "finish_reason": "length"},
                          "cut by the token limit"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_server_fault_makes_the_sample_incomplete_never_a_verdict(fault: str, tmp_path: Path) -> None:
    responder, why = FAULTS[fault]
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"}, responder=responder) as server:
        config = RunConfig(backend="vllm", base_url=server.base_url + "/v1", adapter="madcat", epochs=1,
                           report_dir=str(tmp_path), scenarios=[SCENARIO], max_retries=0, retry_on_error=0,
                           request_timeout=1 if fault == "hang" else 60)
        outcome = run(config)
    row = outcome.rows[0]
    assert (row["status"], row["passed"], row["outcome"]) == ("incomplete", None, None), row
    assert why.lower() in row["reason"].lower(), row["reason"]
    summary = outcome.document["summary"]
    assert (summary["passed"], summary["incomplete"]) == (0, 1)
    assert summary["evals"]["tts.respects_tts_disabled"]["ok"] is False
