"""`serving lint` on adapters saved for real by peft on a tiny Qwen3-Next, and on broken ones.

The tiny model is the real transformers architecture (linear- and full-attention layers, MoE with a
shared expert), so the module and tensor names are the ones peft writes for Qwen3-Coder-Next.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from core.adapter.lint import lint_adapter
from core.adapter.report import _ranges, format_report
from core.adapter.targets import SUPPORTED_TARGETS

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

SERVABLE = [t for t in SUPPORTED_TARGETS if t != "shared_expert_gate"]


def _tiny_model():
    config = transformers.Qwen3NextConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=32,
        num_experts=4,
        num_experts_per_tok=2,
        layer_types=["linear_attention", "full_attention"],
    )
    return transformers.Qwen3NextForCausalLM(config)


def _save(out: Path, *, keep_targets: bool = False, **lora_kwargs) -> Path:
    """Wrap a fresh tiny model with peft and save the adapter.

    keep_targets=True stops peft's transformers-5 rewrite of the MoE targets, which is what the
    trainer must achieve for the shared expert to carry LoRA.
    """
    lora = peft.LoraConfig(**{"r": 8, "lora_alpha": 16, **lora_kwargs})
    if keep_targets:
        import peft.utils.transformers_weight_conversion as conversion

        with mock.patch.object(conversion, "convert_peft_config_for_transformers", lambda *a, **k: None):
            model = peft.get_peft_model(_tiny_model(), lora)
    else:
        model = peft.get_peft_model(_tiny_model(), lora)
    model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def adapters(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "good": _save(root / "good", target_modules=SERVABLE, keep_targets=True),
        "rewritten": _save(root / "rewritten", target_modules=SERVABLE),
        "dora": _save(root / "dora", target_modules=["q_proj", "v_proj"], use_dora=True),
        "modules_to_save": _save(root / "mts", target_modules=["q_proj"], modules_to_save=["lm_head"]),
        "rank32": _save(root / "rank32", target_modules=["q_proj", "in_proj_qkvz"], r=32, lora_alpha=32),
        "router": _save(root / "router", target_modules=["q_proj", "shared_expert_gate", "gate"]),
        "embeddings": _save(root / "emb", target_modules=["q_proj", "embed_tokens"]),
    }


def test_servable_targets_pass_and_modules_are_listed(adapters):
    report = lint_adapter(adapters["good"])
    assert report.ok and report.exit_code == 0, report.errors
    assert report.modules["mlp.shared_expert.gate_proj"] == [0, 1]
    assert report.modules["linear_attn.in_proj_qkvz"] == [0]
    assert report.modules["self_attn.q_proj"] == [1]
    assert report.rank == 8
    text = format_report(report)
    assert re.search(r"mlp\.shared_expert\.down_proj +2 layer\(s\): 0-1\n", text)
    assert text.endswith("OK: vLLM can serve this adapter (0 warning(s))")


def test_peft_rewrite_to_routed_experts_is_rejected_with_the_reason(adapters):
    saved = json.loads((adapters["rewritten"] / "adapter_config.json").read_text())
    # what peft 0.21 + transformers 5.x really saved: the shared expert targets became target_parameters
    assert sorted(saved["target_parameters"]) == ["down_proj", "gate_up_proj"]
    assert not any("shared_expert" in t for t in saved["target_modules"])
    report = lint_adapter(adapters["rewritten"])
    assert report.exit_code == 1
    assert "mlp.shared_expert.gate_proj" not in report.modules and "mlp.experts" in report.modules
    message = report.errors[0]
    assert "target_parameters" in message and "routed experts' fused gate_up_proj/down_proj" in message
    assert "vLLM 0.25.1 fails with HTTP 500 loading it" in message


def test_config_naming_shared_expert_over_routed_expert_tensors_disagrees(adapters, tmp_path):
    # a hand-written config that claims the shared expert, over the rewritten adapter's tensors
    bad = tmp_path / "disagree"
    bad.mkdir()
    config = json.loads((adapters["rewritten"] / "adapter_config.json").read_text())
    config["target_modules"] = SERVABLE
    config["target_parameters"] = None
    config["rank_pattern"] = config["alpha_pattern"] = {}
    (bad / "adapter_config.json").write_text(json.dumps(config))
    (bad / "adapter_model.safetensors").write_bytes(
        (adapters["rewritten"] / "adapter_model.safetensors").read_bytes()
    )
    report = lint_adapter(bad)
    assert report.exit_code == 1
    assert any(
        "the config targets 'shared_expert.gate_proj' but the tensors carry LoRA on mlp.experts" in e
        for e in report.errors
    )


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("dora", "vLLM does not support DoRA"),
        ("modules_to_save", "modules_to_save"),
        ("rank32", "LoRA rank 32 is greater than max-lora-rank 16"),
        ("router", "LoRA on the MoE router"),
        ("embeddings", "embeddings / lm_head"),
    ],
)
def test_unservable_adapters_are_rejected(adapters, name, needle):
    report = lint_adapter(adapters[name])
    assert report.exit_code == 1
    assert any(needle in e for e in report.errors), report.errors


def test_rank32_passes_when_the_server_allows_it(adapters):
    assert lint_adapter(adapters["rank32"], max_rank=32).ok


def test_in_proj_qkvz_under_tensor_parallel_is_a_warning_only(adapters):
    report = lint_adapter(adapters["good"], tensor_parallel=2)
    assert report.exit_code == 0
    assert any("in_proj_qkvz under tensor parallel 2" in w for w in report.warnings)
    assert not lint_adapter(adapters["good"], tensor_parallel=1).warnings


def _write(directory: Path, config: dict, tensors: dict[str, tuple[int, ...]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_text(json.dumps(config))
    save_file(
        {k: np.zeros(shape, dtype=np.float32) for k, shape in tensors.items()},
        str(directory / "adapter_model.safetensors"),
    )
    return directory


def test_per_expert_lora_needs_allow_routed_experts(tmp_path):
    prefix = "base_model.model.model.layers.0.mlp.experts.3.gate_proj"
    path = _write(
        tmp_path / "a",
        {"peft_type": "LORA", "r": 8, "lora_alpha": 8, "target_modules": ["gate_proj"]},
        {f"{prefix}.lora_A.weight": (8, 64), f"{prefix}.lora_B.weight": (32, 8)},
    )
    refused = lint_adapter(path)
    assert refused.exit_code == 1 and any("routed experts" in e for e in refused.errors)
    allowed = lint_adapter(path, allow_routed_experts=True)
    assert allowed.ok and any("routed experts" in w for w in allowed.warnings)


def test_tensor_rank_must_match_config(tmp_path):
    prefix = "base_model.model.model.layers.1.self_attn.q_proj"
    path = _write(
        tmp_path / "a",
        {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]},
        {f"{prefix}.lora_A.weight": (16, 64), f"{prefix}.lora_B.weight": (128, 16)},
    )
    report = lint_adapter(path)
    assert any("tensor ranks disagree" in e for e in report.errors)


def test_missing_and_garbled_files_are_unreadable(tmp_path):
    assert lint_adapter(tmp_path / "nowhere").exit_code == 2
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "adapter_config.json").write_text("{not json")
    (garbage / "adapter_model.safetensors").write_bytes(b"\x00garbage")
    report = lint_adapter(garbage)
    assert report.exit_code == 2
    assert any("not valid JSON" in e for e in report.errors)
    (garbage / "adapter_config.json").write_text(
        json.dumps({"r": 8, "lora_alpha": 8, "target_modules": ["q_proj"]})
    )
    report = lint_adapter(garbage)
    assert report.exit_code == 2
    assert any("not a readable safetensors file" in e for e in report.errors)


def test_cli_exit_codes_and_lines(adapters, tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "serving", "lint", *args], capture_output=True, text=True, timeout=120
        )

    ok = run(str(adapters["good"]))
    assert ok.returncode == 0 and "OK: vLLM can serve this adapter" in ok.stdout
    bad = run(str(adapters["rewritten"]))
    assert bad.returncode == 1 and "error: adapter_config.json has target_parameters" in bad.stdout
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    missing = run(str(tmp_path / "junk"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"serving lint: cannot read the adapter: adapter_config.json is missing in {tmp_path / 'junk'}; "
        f"adapter_model.safetensors is missing in {tmp_path / 'junk'}"
    )
    as_json = json.loads(run(str(adapters["rank32"]), "--json").stdout)
    assert as_json["exit_code"] == 1 and as_json["rank"] == 32


def test_supported_target_list_matches_the_servable_set():
    assert set(SERVABLE) | {"shared_expert_gate"} == set(SUPPORTED_TARGETS)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
config_dicts = st.fixed_dictionaries(
    {},
    optional={
        "r": json_values,
        "lora_alpha": json_values,
        "target_modules": json_values,
        "target_parameters": json_values,
        "rank_pattern": st.dictionaries(
            st.sampled_from(["q_proj", ".*", "x"]), st.integers(1, 64), max_size=2
        ),
        "use_dora": json_values,
        "modules_to_save": json_values,
        "bias": json_values,
    },
)
key_names = st.sampled_from(
    [
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.0.mlp.experts.base_layer.lora_B.weight",
        "base_model.model.model.layers.2.mlp.gate.lora_A.weight",
        "base_model.model.lm_head.weight",
        "base_model.model.model.embed_tokens.lora_embedding_A",
        "something.else",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    config=st.one_of(config_dicts, json_values),
    keys=st.lists(key_names, max_size=4, unique=True),
    rank=st.integers(1, 40),
)
def test_lint_never_crashes_and_exit_code_matches_report(tmp_path_factory, config, keys, rank):
    path = (
        _write(tmp_path_factory.mktemp("h"), config, {k: (rank, 8) for k in keys})
        if isinstance(config, dict)
        else tmp_path_factory.mktemp("h")
    )
    if not isinstance(config, dict):
        (path / "adapter_config.json").write_text(json.dumps(config))
    report = lint_adapter(path)
    assert report.exit_code in (0, 1, 2)
    assert report.exit_code == (2 if report.unreadable else 1 if report.errors else 0)
    format_report(report)  # renders for any input


@given(st.lists(st.integers(0, 60), unique=True).map(sorted))
def test_layer_ranges_expand_back_to_the_layers(layers):
    text = _ranges(layers)
    expanded: list[int] = []
    if layers:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            expanded.extend(range(int(lo), int(hi or lo) + 1))
    assert expanded == layers
