"""`python -m serving check` against a local stub of vLLM: every verdict, its line and its exit code."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from doubles.openai_stub import OpenAIStub
from serving.check import PROBES, compare_choices, run_check


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serving", "check", *args], capture_output=True, text=True, timeout=120
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_adapter_passes():
    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}) as stub:
        result = run_check(stub.base_url, "madcat", base_model="tiny-base", probes=3)
        chat_models = [body["model"] for body in stub.calls("/v1/chat/completions")]
    assert result.exit_code == 0, result.message
    assert result.parent == "tiny-base"
    assert len(result.probes) == 3 and all(p.differs for p in result.probes)
    # every probe asked both the adapter and the base, greedily with logprobs
    assert chat_models.count("madcat") == 3 and chat_models.count("tiny-base") >= 3


def test_probe_requests_are_greedy_short_and_ask_for_logprobs():
    with OpenAIStub(["b"], {"madcat": "b"}) as stub:
        run_check(stub.base_url, "madcat", probes=1)
        bodies = stub.calls("/v1/chat/completions")
    assert bodies and all(
        b["temperature"] == 0 and b["logprobs"] is True and b["top_logprobs"] >= 1 and b["max_tokens"] <= 16
        for b in bodies
    )


def test_dead_lora_fails_with_not_live():
    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}, lora_live=False) as stub:
        result = run_check(stub.base_url, "madcat", probes=2)
    assert result.exit_code == 1
    assert result.message.startswith("serving: LoRA is not live")
    assert all(not p.differs and p.max_abs_logprob_diff == 0 for p in result.probes)


def test_same_text_but_different_logprobs_counts_as_live():
    def responder(model, request):
        return {
            "content": "sin",
            "logprobs": [
                {"token": "sin", "logprob": -0.5 if model == "madcat" else -0.9, "top_logprobs": []}
            ],
        }

    with OpenAIStub(["b"], {"madcat": "b"}, responder=responder) as stub:
        result = run_check(stub.base_url, "madcat", probes=1)
    assert result.exit_code == 0
    assert result.probes[0].adapter_text == result.probes[0].base_text
    assert result.probes[0].max_abs_logprob_diff == pytest.approx(0.4)


def test_missing_adapter_names_the_models_and_the_fix():
    with OpenAIStub(["tiny-base"], {"other": "tiny-base"}) as stub:
        result = run_check(stub.base_url, "madcat")
    assert result.exit_code == 1
    assert "adapter 'madcat' is not loaded on the server (models: tiny-base, other)" in result.message
    assert "--lora-modules madcat=DIR" in result.message and "python -m serving load" in result.message


def test_adapter_without_parent_is_not_a_lora():
    with OpenAIStub(["tiny-base", "madcat"]) as stub:  # a merged model served under the adapter's name
        result = run_check(stub.base_url, "madcat")
    assert result.exit_code == 1
    assert "listed without a parent" in result.message


def test_wrong_base_is_reported():
    with OpenAIStub(["a", "b"], {"madcat": "a"}) as stub:
        result = run_check(stub.base_url, "madcat", base_model="b")
    assert result.exit_code == 1
    assert "sits on 'a', not on the expected base 'b'" in result.message


def test_refused_probe_request_is_a_clear_failure():
    with OpenAIStub(["b"], {"madcat": "b"}) as stub:
        stub.enqueue("madcat", {"error": "LoRA weights could not be applied", "status": 500})
        result = run_check(stub.base_url, "madcat", probes=1)
    assert result.exit_code == 1
    assert (
        "probe chat completion for 'madcat' failed with HTTP 500: LoRA weights could not be applied"
        in result.message
    )


def test_server_down_cli_prints_one_line_and_exits_2():
    url = f"http://127.0.0.1:{_free_port()}"
    proc = _run_cli("--base-url", url, "--adapter", "madcat")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"serving: cannot reach {url} (connection refused) — is vLLM running? start it with "
        "`vllm serve --config serving/configs/sin-awq-lora.yaml` (see serving/configs/README.md)"
    )
    assert proc.stdout == ""


def test_cli_report_and_json():
    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}) as stub:
        human = _run_cli("--base-url", stub.base_url + "/v1", "--adapter", "madcat", "--probes", "2")
        as_json = _run_cli("--base-url", stub.base_url, "--adapter", "madcat", "--json")
    assert human.returncode == 0, human.stderr
    assert "madcat -> parent tiny-base" in human.stdout
    assert "OK: the LoRA 'madcat' is loaded on 'tiny-base' and live" in human.stdout
    data = json.loads(as_json.stdout)
    assert data["ok"] is True and data["exit_code"] == 0 and data["parent"] == "tiny-base"
    assert len(data["probes"]) == 3


def test_cli_dead_lora_exit_1_with_report_on_stdout():
    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}, lora_live=False) as stub:
        proc = _run_cli("--base-url", stub.base_url, "--adapter", "madcat")
    assert proc.returncode == 1
    assert "probes   0/3 differ" in proc.stdout
    assert proc.stderr.startswith("serving: LoRA is not live")


def test_cli_rejects_bad_arguments_without_traceback():
    proc = _run_cli("--base-url", "sin:8000", "--adapter", "madcat")
    assert proc.returncode == 2 and "must look like http://HOST:PORT" in proc.stderr
    proc = _run_cli("--base-url", "http://x", "--probes", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_compare_stops_at_the_first_differing_token():
    def choice(tokens):
        return {
            "message": {"content": "".join(t for t, _ in tokens)},
            "logprobs": {"content": [{"token": t, "logprob": lp, "top_logprobs": []} for t, lp in tokens]},
        }

    same = compare_choices("p", choice([("a", -1.0), ("b", -2.0)]), choice([("a", -1.0), ("b", -2.0)]), 1e-4)
    assert not same.differs and same.compared_tokens == 2
    fork = compare_choices(
        "p",
        choice([("a", -1.0), ("x", -0.1), ("y", -9.0)]),
        choice([("a", -1.0), ("b", -2.0), ("c", -3.0)]),
        1e-4,
    )
    assert fork.differs and fork.first_difference == 1 and fork.compared_tokens == 2
    # the chosen tokens differ at index 1, so their logprobs are not compared with each other
    assert fork.max_abs_logprob_diff == 0.0
    assert len(PROBES) >= 3
