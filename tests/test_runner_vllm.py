"""The vllm and openai backends against the local OpenAI stub: the checks before a run, and a run whose
tool calls go over HTTP and come back answered by the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.adapter.manifest import manifest_path
from core.hashing import adapter_sha256
from doubles.openai_stub import OpenAIStub
from doubles.scripted import good_agent
from doubles.scripted_model import DIVERGED, stub_responder
from evals.scenarios import load_scenarios
from reports.results import load_run
from runner.runner import RunConfig, UsageError, run

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ["tts-settings-nova-good-morning", "mesh-alias-bt-vllm-status", "err-retry-nova-docs-lora"]


def _scenarios() -> list:
    chosen = load_scenarios(ids=SCENARIOS)
    assert len(chosen) == len(SCENARIOS), "a scenario these tests use was renamed"
    return chosen


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    transcripts = [good_agent(s) for s in _scenarios()]
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"},
                    responder=stub_responder(transcripts), version="0.25.1") as server:
        yield server


def _eval_chats(stub: OpenAIStub) -> list[dict]:
    """The run's own chat requests (with tools), not the LoRA-is-live probes made before it starts."""
    return [c for c in stub.calls("/v1/chat/completions") if c.get("tools")]


def config(url: str, tmp_path: Path, **kwargs: object) -> RunConfig:
    base = {"backend": "vllm", "base_url": url, "adapter": "madcat", "epochs": 1, "report_dir": str(tmp_path),
            "scenarios": SCENARIOS, "max_turns": 30}
    base.update(kwargs)
    return RunConfig(**base)  # type: ignore[arg-type]


def test_a_run_against_the_served_adapter_answers_tool_calls_over_http(stub: OpenAIStub, tmp_path: Path) -> None:
    outcome = run(config(stub.base_url + "/v1", tmp_path))
    rows = outcome.rows
    assert [r["status"] for r in rows] == ["complete"] * len(SCENARIOS)
    assert all(r["passed"] for r in rows), [(r["scenario"], r["reason"]) for r in rows]
    assert not any(DIVERGED in step for r in rows for step in r["trajectory"])
    chats = _eval_chats(stub)
    assert {c["model"] for c in chats} == {"madcat"}  # the adapter by its served LoRA name
    assert sum(r["requests"] for r in rows) == len(chats)
    # the simulator's answers went back to the model as tool messages
    assert any(m["role"] == "tool" and "active_cart" in str(m.get("content")) for c in chats for m in c["messages"])
    assert all(c.get("tools") and c.get("temperature") == 0.7 for c in chats)
    meta = outcome.document["run"]
    assert (meta["backend"], meta["model"], meta["adapter"], meta["base_model"], meta["server_version"]) == (
        "vllm", "madcat", "madcat", "qwen3-coder-next", "0.25.1")
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] >= 0 for r in rows)
    load_run(outcome.results_path)


def test_the_baseline_asks_for_the_base_model_by_name(stub: OpenAIStub, tmp_path: Path) -> None:
    outcome = run(config(stub.base_url + "/v1", tmp_path, adapter="none", scenarios=SCENARIOS[:1]))
    assert {c["model"] for c in stub.calls("/v1/chat/completions")} == {"qwen3-coder-next"}
    assert outcome.document["run"]["adapter"] is None
    assert outcome.run_dir.name.endswith("-baseline")


def test_adapter_files_at_hand_are_hashed_into_the_results(stub: OpenAIStub, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8, "peft_type": "LORA"}')
    manifest = {"adapter_sha256": adapter_sha256(adapter), "dataset_sha256": "d" * 64}
    manifest_path(adapter).write_text(json.dumps(manifest))  # written by training beside the adapter
    outcome = run(config(stub.base_url + "/v1", tmp_path / "runs", adapter_dir=str(adapter), scenarios=SCENARIOS[:1]))
    meta = outcome.document["run"]
    assert meta["adapter_sha256"] == adapter_sha256(adapter)
    assert meta["dataset_sha256"] == "d" * 64 and "adapter_manifest_mismatch" not in meta
    (adapter / "adapter_config.json").write_text('{"r": 16, "peft_type": "LORA"}')  # changed after training
    meta = run(config(stub.base_url + "/v1", tmp_path / "runs", adapter_dir=str(adapter),
                      scenarios=SCENARIOS[:1])).document["run"]
    assert meta["adapter_manifest_mismatch"] is True


@pytest.mark.parametrize(
    ("adapters", "kwargs", "message"),
    [
        ({}, {}, r"adapter 'madcat' is not served by .* \(it serves qwen3-coder-next\); serve it with "
                 r"`--enable-lora --lora-modules madcat="),
        ({"madcat": None}, {}, r"'madcat' is served .* without a parent base model, so it is not a LoRA adapter"),
        ({"madcat": "qwen3-coder-next"}, {"base_model": "other"},
         r"adapter 'madcat' is served on 'qwen3-coder-next', not on --base-model 'other'"),
        ({}, {"adapter": "none", "base_model": "other"}, r"base model 'other' is not served by"),
    ],
)
def test_the_server_is_checked_before_anything_runs(tmp_path: Path, adapters: dict, kwargs: dict,
                                                    message: str) -> None:
    with OpenAIStub(["qwen3-coder-next"], adapters) as server:
        with pytest.raises(UsageError, match=message):
            run(config(server.base_url + "/v1", tmp_path, **kwargs))
        assert server.calls("/v1/chat/completions") == []
    assert not any(tmp_path.iterdir())  # nothing written for a run that never started


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    with OpenAIStub() as server:
        url = server.base_url + "/v1"
    with pytest.raises(UsageError, match=r"cannot reach http://127\.0\.0\.1:\d+ \(connection refused\) — is vLLM running"):
        run(config(url, tmp_path))


def test_the_openai_backend_needs_a_served_model_name(stub: OpenAIStub, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="model 'nope' is not served"):
        run(config(stub.base_url + "/v1", tmp_path, backend="openai", adapter="nope"))
    outcome = run(config(stub.base_url + "/v1", tmp_path, backend="openai", scenarios=SCENARIOS[:1]))
    assert outcome.rows[0]["passed"] is True
    assert {c["model"] for c in _eval_chats(stub)} == {"madcat"}


def _pytest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_pytest_reports_a_server_that_is_down_as_a_usage_error(tmp_path: Path) -> None:
    with OpenAIStub() as server:
        url = server.base_url + "/v1"
    result = _pytest("--base-url", url, "--report-dir", str(tmp_path))
    assert result.returncode == 4  # pytest's usage error
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "cannot reach" in errors[0] and "is vLLM running?" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_pytest_runs_the_selected_behaviours_once_against_the_server(tmp_path: Path) -> None:
    evals = ["mesh.uses_sin_ssh_alias", "tts.checks_settings_before_speaking"]
    transcripts = [good_agent(s) for s in load_scenarios(evals=evals)]
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"},
                    responder=stub_responder(transcripts)) as server:
        result = _pytest("--base-url", server.base_url + "/v1", "--report-dir", str(tmp_path), "--epochs", "1",
                         "--max-turns", "30", "-k", " or ".join(evals))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout[-2000:]
    # progress went past pytest's capture: one line per finished sample
    assert "mesh.uses_sin_ssh_alias  mesh-alias-bt-vllm-status #1" in result.stderr
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-madcat")
    evals_run = {r.eval for r in load_run(runs[0]).outcomes}
    assert evals_run == set(evals)
    assert f"results: {runs[0] / 'results.json'}" in result.stdout


def _failing(transcripts: list, broken: str, times: int | None) -> tuple:
    """A responder that fails requests of the scenario whose request text is `broken` (`times` of them, or all)."""
    replay = stub_responder(transcripts)
    failures: list[int] = []

    def respond(model: str, request: dict) -> dict:
        if any(m.get("role") == "user" and m.get("content") == broken for m in request["messages"]) and (
                times is None or len(failures) < times):
            failures.append(1)
            return {"error": "CUDA error: an illegal memory access was encountered (simulated)", "status": 500}
        return replay(model, request)

    return respond, failures


def test_a_request_that_fails_once_is_retried_and_its_sample_completes(tmp_path: Path) -> None:
    scenarios = _scenarios()
    respond, failures = _failing([good_agent(s) for s in scenarios], scenarios[0].messages[0]["content"], times=1)
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"}, responder=respond) as server:
        outcome = run(config(server.base_url + "/v1", tmp_path, scenarios=[scenarios[0].id]))
    assert failures == [1]
    assert outcome.rows[0]["status"] == "complete" and outcome.rows[0]["passed"] is True


def test_a_sample_that_keeps_failing_is_incomplete_and_the_rest_complete(tmp_path: Path) -> None:
    scenarios = _scenarios()
    broken = scenarios[0]
    respond, _ = _failing([good_agent(s) for s in scenarios], broken.messages[0]["content"], times=None)
    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"}, responder=respond) as server:
        outcome = run(config(server.base_url + "/v1", tmp_path, max_retries=0))
    rows = {r["scenario"]: r for r in outcome.rows}
    assert rows[broken.id]["status"] == "incomplete" and rows[broken.id]["passed"] is None
    assert rows[broken.id]["reason"].startswith("error: ") and "illegal memory access" in rows[broken.id]["reason"]
    assert all(r["status"] == "complete" and r["passed"] for sid, r in rows.items() if sid != broken.id)
    load_run(outcome.results_path)


def test_each_epoch_samples_with_its_own_seed(stub: OpenAIStub, tmp_path: Path) -> None:
    """One seed on every request made vLLM repeat a trajectory in every epoch (the real-Qwen record's round 1):
    each epoch's requests carry epoch_seed(seed, epoch), and results.json says so."""
    from runner.epoch_seeds import EPOCH_SEED_RULE, epoch_seed

    outcome = run(config(stub.base_url + "/v1", tmp_path, epochs=3, seed=7, scenarios=SCENARIOS[:1]))
    seeds = {c.get("seed") for c in _eval_chats(stub)}
    assert seeds == {epoch_seed(7, e) for e in (1, 2, 3)} and epoch_seed(7, 1) == 7 and len(seeds) == 3
    assert load_run(str(outcome.run_dir)).meta["epoch_seeds"] == EPOCH_SEED_RULE


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 1])
def test_epoch_seeds_are_distinct_and_in_range(seed: int) -> None:
    from runner.epoch_seeds import epoch_seed

    seeds = [epoch_seed(seed, e) for e in range(1, 1001)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**31 for s in seeds) and seeds[0] == seed % 2**31
