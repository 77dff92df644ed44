"""End to end on the tiny twin (CPU): train, save, lint, then the adapter's greedy trajectories pass a
grader that the untrained base fails, through the local inspect backend (madcat-local).

Four transcripts of tools.settings_check_on_boot scenarios, each opening with a settings read, are
memorised with the tiny config (nf4 experts, the real LoRA targets, assistant-only loss). The
first step of each scenario is then generated greedily by the base and by base + adapter.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from evals.catalog import EVALS
from evals.transcript import load_transcript
from tests.training_examples import BOOT_EVAL, boot_scenarios, boot_transcript, write_jsonl

pytestmark = pytest.mark.slow
STEPS = 30


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    pytest.importorskip("trl")
    pytest.importorskip("bitsandbytes")
    from serving.tiny_twin import default_twin_dir
    from training.train import main

    work = tmp_path_factory.mktemp("twin-train")
    scenarios = boot_scenarios()
    dataset = write_jsonl(work / "boot.jsonl", [boot_transcript(s) for s in scenarios])
    adapter = work / "adapter"
    twin = default_twin_dir()
    rc = main(["--config", "training/configs/tiny.yaml", "--model", str(twin), "--dataset", str(dataset),
               "--output", str(adapter), "--max-steps", str(STEPS)])
    assert rc == 0
    return {"adapter": adapter, "twin": twin, "dataset": dataset, "scenarios": scenarios}


def test_adapter_and_manifest(trained: dict):
    from core.adapter.lint import lint_adapter
    from core.adapter.manifest import read_manifest
    from core.hashing import adapter_sha256, file_sha256

    adapter: Path = trained["adapter"]
    assert (adapter / "adapter_model.safetensors").is_file()
    manifest = read_manifest(adapter)
    assert manifest is not None
    assert manifest["adapter_sha256"] == adapter_sha256(adapter)
    assert manifest["dataset_sha256"] == file_sha256(trained["dataset"])
    assert manifest["config"]["experts"] == "nf4-grouped"
    assert manifest["versions"]["transformers"] and manifest["versions"]["peft"] and manifest["versions"]["trl"]
    assert manifest["lint"]["ok"] and not manifest["lint"]["errors"]
    assert "mlp.shared_expert.gate_proj" in manifest["lora_modules"]
    curve = manifest["loss_curve"]
    assert curve[-1]["step"] == STEPS and curve[-1]["loss"] < 0.6 * curve[0]["loss"]
    assert curve[-1]["mean_token_accuracy"] > 0.9
    assert manifest["data"]["examples"] == 4 and manifest["data"]["over_max_length"] == 0
    assert lint_adapter(adapter, max_rank=16).ok


def _first_steps(model_dir: Path, adapter: Path | None, scenarios) -> list[dict]:
    """Generate each scenario's first assistant step greedily with the madcat-local backend."""
    from inspect_ai.model import GenerateConfig, get_model

    import runner.backends.local_provider  # noqa: F401 - registers madcat-local
    from evals.world import load_tool_specs
    from runner.inspect_messages import to_chat_messages, to_openai_messages, tool_infos
    from training.targets import moe_target_conversion_disabled

    args = {"adapter": str(adapter)} if adapter else {}
    # The adapter must load with its target_modules as written (training/targets.py explains the peft trap).
    with moe_target_conversion_disabled():
        model = get_model(f"madcat-local/{model_dir}", **args)

    async def run() -> list[dict]:
        out = []
        tools = tool_infos(load_tool_specs())
        for scenario in scenarios:
            messages = scenario.initial_messages()
            reply = await model.generate(to_chat_messages(messages), tools=tools,
                                         config=GenerateConfig(temperature=0.0, max_tokens=48))
            out.append({"messages": messages + to_openai_messages([reply.message]), "tools": load_tool_specs(),
                        **scenario.transcript_stub()})
        return out

    return asyncio.run(run())


def test_adapter_passes_the_grader_the_base_fails(trained: dict):
    # The habit's grader alone, on each scenario's first step: the tiny twin learns to open with a settings
    # read, not to finish the task (the scenario's task check is for whole trajectories).
    grader = EVALS[BOOT_EVAL].grader
    scenarios = trained["scenarios"]
    base = [grader(load_transcript(t)) for t in _first_steps(trained["twin"], None, scenarios)]
    tuned = [grader(load_transcript(t)) for t in _first_steps(trained["twin"], trained["adapter"], scenarios)]
    assert not any(v.passed for v in base), [v.reason for v in base]
    assert all(v.passed for v in tuned), [v.reason for v in tuned]


def test_adapter_loads_whole_in_the_local_backend(trained: dict):
    """Every LoRA module that was trained is live after loading (the shared expert's too)."""
    from core.adapter.manifest import read_manifest
    from runner.backends.local_provider import load_model
    from training.targets import lora_placement, moe_target_conversion_disabled, summarise_modules

    with moe_target_conversion_disabled():
        loaded = load_model(Path(trained["twin"]), Path(trained["adapter"]), device="cpu", dtype="float32")
    placement = lora_placement(loaded.model)
    assert summarise_modules(placement.modules) == read_manifest(trained["adapter"])["lora_modules"]
    assert not placement.target_parameters
    config = json.loads((Path(trained["adapter"]) / "adapter_config.json").read_text())
    assert not config.get("target_parameters")
