"""The local OpenAI-compatible stub answers like vLLM, is scriptable, and does not serialise requests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from doubles.openai_responses import count_tokens, split_tokens
from doubles.openai_stub import OpenAIStub


@pytest.fixture
def stub():
    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}) as running:
        yield running


def _client(stub: OpenAIStub) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url + "/v1", api_key="none", max_retries=0)


def test_models_lists_adapter_with_parent(stub):
    models = {m.id: m for m in _client(stub).models.list().data}
    assert set(models) == {"tiny-base", "madcat"}
    assert models["madcat"].model_extra["parent"] == "tiny-base"
    assert models["tiny-base"].model_extra["parent"] is None


def test_version_and_health(stub):
    assert httpx.get(stub.base_url + "/version").json() == {"version": "0.25.1"}
    assert httpx.get(stub.base_url + "/health").status_code == 200


def test_queued_tool_call_reaches_the_openai_client_as_tool_calls(stub):
    stub.enqueue(
        "madcat", {"content": None, "tool_calls": [{"name": "ssh_exec", "arguments": {"host": "sin"}}]}
    )
    response = _client(stub).chat.completions.create(
        model="madcat", messages=[{"role": "user", "content": "check sin"}]
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "ssh_exec"
    assert json.loads(call.function.arguments) == {"host": "sin"}
    assert response.usage.prompt_tokens > 0
    # the queue is used once; the next request gets the default text answer
    again = _client(stub).chat.completions.create(
        model="madcat", messages=[{"role": "user", "content": "hi"}]
    )
    assert again.choices[0].message.tool_calls in (None, [])
    assert again.choices[0].message.content


def test_responder_hook_sees_model_and_request():
    seen = []

    def responder(model, request):
        seen.append((model, request["messages"][-1]["content"], request.get("temperature")))
        return {"content": f"hello from {model}"}

    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}, responder=responder) as stub:
        out = _client(stub).chat.completions.create(
            model="tiny-base", messages=[{"role": "user", "content": "ping"}], temperature=0.5
        )
    assert out.choices[0].message.content == "hello from tiny-base"
    assert seen == [("tiny-base", "ping", 0.5)]


def test_logprobs_differ_between_adapter_and_base_only_when_lora_is_live():
    def logprobs(stub, model):
        out = _client(stub).chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "q"}],
            logprobs=True,
            top_logprobs=3,
            max_tokens=4,
        )
        return [(t.token, t.logprob, len(t.top_logprobs)) for t in out.choices[0].logprobs.content]

    with OpenAIStub(["b"], {"a": "b"}) as live:
        assert logprobs(live, "a") != logprobs(live, "b")
        assert all(n == 3 for _, _, n in logprobs(live, "a"))
    with OpenAIStub(["b"], {"a": "b"}, lora_live=False) as dead:
        assert logprobs(dead, "a") == logprobs(dead, "b")


def test_max_tokens_truncates_and_reports_length(stub):
    stub.enqueue("tiny-base", {"content": "one two three four five six"})
    out = _client(stub).chat.completions.create(
        model="tiny-base", messages=[{"role": "user", "content": "q"}], max_tokens=2
    )
    assert out.choices[0].message.content == "one two"
    assert out.choices[0].finish_reason == "length"
    assert out.usage.completion_tokens == 2


def test_streaming_yields_content_tool_calls_and_usage(stub):
    stub.enqueue(
        "madcat", {"content": "on it", "tool_calls": [{"name": "memory_recall", "arguments": {"q": "x"}}]}
    )
    chunks = list(
        _client(stub).chat.completions.create(
            model="madcat",
            messages=[{"role": "user", "content": "q"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert text == "on it"
    assert calls[0].function.name == "memory_recall"
    assert chunks[-1].usage.completion_tokens > 0


def test_unknown_model_is_a_vllm_style_404(stub):
    with pytest.raises(openai.NotFoundError) as info:
        _client(stub).chat.completions.create(model="nope", messages=[{"role": "user", "content": "q"}])
    assert "does not exist" in str(info.value)


def test_scripted_server_error_becomes_http_status(stub):
    stub.enqueue("madcat", {"error": "engine died", "status": 503})
    reply = httpx.post(
        stub.base_url + "/v1/chat/completions",
        json={"model": "madcat", "messages": [{"role": "user", "content": "q"}]},
    )
    assert reply.status_code == 503
    assert reply.json()["error"]["message"] == "engine died"


def test_completions_prompt_logprobs_like_vllm(stub):
    reply = httpx.post(
        stub.base_url + "/v1/completions",
        json={"model": "madcat", "prompt": "hello there sin", "max_tokens": 1, "prompt_logprobs": 0},
    ).json()
    entries = reply["choices"][0]["prompt_logprobs"]
    assert entries[0] is None
    assert len(entries) == 3
    ((token_id, info),) = entries[1].items()
    assert token_id.isdigit() and info["logprob"] < 0 and info["decoded_token"] == " there"


def test_load_and_unload_change_the_model_list(stub, tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 8}))
    assert (
        httpx.post(
            stub.base_url + "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": str(tmp_path)}
        ).status_code
        == 200
    )
    assert "x" in stub.model_ids()
    assert httpx.post(stub.base_url + "/v1/unload_lora_adapter", json={"lora_name": "x"}).status_code == 200
    assert "x" not in stub.model_ids()
    assert stub.calls("/v1/unload_lora_adapter") == [{"lora_name": "x"}]


def test_runtime_updating_off_gives_fastapi_404():
    with OpenAIStub(["b"], runtime_lora_updating=False) as stub:
        reply = httpx.post(
            stub.base_url + "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": "/x"}
        )
    assert reply.status_code == 404 and reply.json() == {"detail": "Not Found"}


def test_latency_does_not_serialise_concurrent_requests():
    latency_s = 0.2
    with OpenAIStub(["b"], latency_ms=latency_s * 1000) as stub:
        client = _client(stub)

        def one(i: int) -> str:
            out = client.chat.completions.create(model="b", messages=[{"role": "user", "content": f"q{i}"}])
            return out.choices[0].message.content

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(one, range(32)))
        elapsed = time.perf_counter() - start
    assert len(answers) == 32 and all(answers)
    # serialised, 32 requests would take 6.4 s; concurrent, a little over one latency (the bound
    # leaves room for a loaded CI machine)
    assert elapsed < 32 * latency_s / 3, elapsed


def test_cli_refuses_a_bad_port_with_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "doubles.openai_stub", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--port must be 0..65535" in proc.stderr
    assert "Traceback" not in proc.stderr


@given(st.text(max_size=200))
def test_split_tokens_rejoin_to_the_text(text):
    assert "".join(split_tokens(text)) == text
    assert count_tokens(text) == sum(1 for t in split_tokens(text) if t.strip())
