"""The local backend on the tiny twin, offline, end to end: scenarios run, results.json is complete, and a
peft adapter directory is loaded and hashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.hashing import adapter_sha256
from reports.results import load_run
from runner.runner import RunConfig, UsageError, run

SCENARIOS = ["tts-off-bt-build-summary", "mesh-alias-bt-vllm-status"]


def _config(tmp_path: Path, **kwargs: object) -> RunConfig:
    base = {"backend": "local", "adapter": "none", "epochs": 1, "report_dir": str(tmp_path), "scenarios": SCENARIOS,
            "max_tokens": 24, "max_turns": 2, "seed": 1}
    base.update(kwargs)
    return RunConfig(**base)  # type: ignore[arg-type]


def test_the_twin_runs_scenarios_end_to_end(tmp_path: Path) -> None:
    outcome = run(_config(tmp_path))
    doc = outcome.document
    # a random twin rarely finishes on its own: cut by the token or turn limit is incomplete, never a verdict
    for r in doc["results"]:
        assert (r["status"], r["passed"]) == ("complete", r["outcome"] == "passed") or (
            r["status"] == "incomplete" and r["reason"].startswith("incomplete: ")), r
    assert all(r["requests"] >= 1 and r["prompt_tokens"] > 100 for r in doc["results"])  # the prompt holds the tools
    meta = doc["run"]
    assert meta["backend"] == "local" and meta["adapter"] is None and meta["base_model"]
    assert meta["server_version"].startswith("transformers ")
    load_run(outcome.results_path)


@pytest.fixture(scope="module")
def twin_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from serving.tiny_twin import default_twin_dir

    model = AutoModelForCausalLM.from_pretrained(default_twin_dir())
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    out = tmp_path_factory.mktemp("adapter")
    peft.save_pretrained(out)
    return out


def test_an_adapter_directory_is_loaded_and_its_sha256_recorded(tmp_path: Path, twin_adapter: Path) -> None:
    outcome = run(_config(tmp_path, adapter=str(twin_adapter), scenarios=SCENARIOS[:1]))
    meta = outcome.document["run"]
    assert meta["adapter_sha256"] == adapter_sha256(twin_adapter)
    assert outcome.rows[0]["requests"] >= 1 and not outcome.rows[0]["reason"].startswith("error")
    assert outcome.run_dir.name.endswith(f"-{twin_adapter.name}")


def test_a_directory_that_is_not_an_adapter_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="has no adapter_config.json"):
        run(_config(tmp_path, adapter=str(tmp_path)))
