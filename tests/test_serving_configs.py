"""The vLLM configs in serving/configs/ parse, carry the madcat settings, and render the right command."""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.model_profiles import PROFILES, profile
from serving.serve_config import (
    CONFIG_DIR,
    ConfigError,
    load_serve_config,
    parse_set,
    serve_command,
    shell_command,
    to_cli_args,
    validate_serve_config,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ["sin-awq-lora", "bf16-lora", "tiny-twin", "tiny-twin-w4a16"]


def test_the_configs_exist():
    # the madcat configs (the twin's W4A16 arm for e2e/awq_vs_bf16.py), and the known-answer test's real model
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted([*CONFIGS, "smol", "qwen-coder-0.5b"])


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_model_profile_serves_its_own_tool_call_format(name):
    profile = PROFILES[name]
    config = load_serve_config(profile.serve_config)
    dense = name != "qwen3-coder-next"
    adapter = "madcat" if not dense else f"{profile.adapter_prefix}-madcat"
    assert validate_serve_config(config, adapter=adapter, qwen3_next=not dense,
                                 tool_call_format=profile.tool_call_format) == []
    # the model's own template (Qwen2.5's Hermes calls) is the checkpoint's: the config must not replace it
    assert ("chat-template" in config.args) == (profile.chat_template == "project")
    other = next(f for f in ("qwen3_coder", "hermes") if f != profile.tool_call_format)
    assert f"tool-call-parser must be {other}, the model's tool-call format" in validate_serve_config(
        config, adapter=adapter, qwen3_next=not dense, tool_call_format=other)


def test_a_profile_with_an_unknown_format_or_template_is_refused():
    with pytest.raises(ValueError, match="unknown tool-call format 'xml'"):
        replace(PROFILES["smollm2"], tool_call_format="xml")
    with pytest.raises(ValueError, match="'project' or 'own'"):
        replace(PROFILES["smollm2"], chat_template="mine")
    with pytest.raises(ValueError, match="known: qwen3-coder-next, smollm2, qwen2.5-coder-0.5b"):
        profile("qwen9")


def test_the_known_answer_config_serves_both_adapters_with_our_template():
    config = load_serve_config("smol")
    assert validate_serve_config(config, adapter="smol-madcat", qwen3_next=False) == []
    assert set(config.lora_modules) == {"smol-madcat", "smol-poisoned"}
    assert (REPO / config.args["chat-template"]).read_text() == (REPO / "core/chat_template.jinja").read_text()
    # a madcat check on it names what is missing rather than passing it
    assert "lora-modules must load the adapter as 'madcat' (madcat=DIR)" in validate_serve_config(config)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_has_the_madcat_settings(name):
    config = load_serve_config(name)
    assert validate_serve_config(config) == []
    assert config.args["max-lora-rank"] == 16 and config.args["max-loras"] == 1
    assert "madcat" in config.lora_modules
    assert "speculative-config" not in config.args
    assert config.env.get("VLLM_ALLOW_RUNTIME_LORA_UPDATING") == "True"


def test_sin_config_is_the_awq_base_on_a_shared_gpu():
    config = load_serve_config("sin-awq-lora")
    assert config.model == "cyankiwi/qwen3-coder-next:awq"
    assert config.served_name == "qwen3-coder-next"
    assert config.lora_modules == {"madcat": "/opt/lora/madcat-system-lora"}
    assert config.args["gpu-memory-utilization"] <= 0.6
    assert config.args["mamba-ssm-cache-dtype"] == "float32"


def test_bf16_config_keeps_tensor_parallel_at_one():
    config = load_serve_config("bf16-lora")
    assert config.model == "Qwen/Qwen3-Coder-Next"
    assert config.args["tensor-parallel-size"] == 1


def test_tiny_twin_config_is_what_worked_on_the_lent_gpu():
    config = load_serve_config("tiny-twin")
    assert config.served_name == "tiny-base"
    assert config.args["enforce-eager"] is True
    assert config.args["gdn-prefill-backend"] == "triton"
    assert config.args["max-model-len"] == 4096
    assert config.args["gpu-memory-utilization"] == 0.3
    assert config.env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"


def test_the_twins_w4a16_arm_differs_from_the_bf16_arm_only_in_the_weights():
    bf16, w4a16 = load_serve_config("tiny-twin"), load_serve_config("tiny-twin-w4a16")
    assert w4a16.args["quantization"] == "compressed-tensors"
    differ = {k for k in {*bf16.args, *w4a16.args} if bf16.args.get(k) != w4a16.args.get(k)}
    assert differ == {"model", "port", "quantization"}
    assert w4a16.env == bf16.env and w4a16.served_name == bf16.served_name == "tiny-base"


def test_command_for_the_twin_with_overrides():
    config = load_serve_config("tiny-twin")
    argv = serve_command(
        config,
        {"model": "/w/model", "lora-modules": ["madcat=/w/adapter"], "enforce-eager": False, "port": 8123},
    )
    assert argv[:3] == ["vllm", "serve", "/w/model"]
    assert argv[argv.index("--lora-modules") + 1] == "madcat=/w/adapter"
    assert "--enforce-eager" not in argv
    assert argv[argv.index("--port") + 1] == "8123"
    assert "--enable-lora" in argv and "true" not in [a.lower() for a in argv]
    line = shell_command(config, {"model": "/w/model"})
    assert line.startswith("VLLM_USE_FLASHINFER_SAMPLER=0 ")
    assert shlex.split(line)[2:5] == ["vllm", "serve", "/w/model"]


def test_cli_arguments_follow_vllms_config_expansion():
    assert to_cli_args(
        {
            "enable-lora": True,
            "enforce-eager": False,
            "lora-modules": ["a=/x", "b=/y"],
            "max-loras": 2,
            "compilation-config": {"level": 0},
            "skip": None,
        }
    ) == [
        "--enable-lora",
        "--lora-modules",
        "a=/x",
        "b=/y",
        "--max-loras",
        "2",
        "--compilation-config",
        '{"level": 0}',
    ]


def test_bad_configs_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no vLLM config nope"):
        load_serve_config("nope")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_serve_config(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("model: x\nmax_lora_rank: 24\nspeculative-config: {method: mtp}\n")
    problems = validate_serve_config(load_serve_config(wrong))
    assert any("spelled with '-'" in p for p in problems)
    assert any("speculative-config" in p for p in problems)
    assert any("enable-lora must be true" in p for p in problems)


def test_command_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "serving", "command", "sin-awq-lora"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith(
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve cyankiwi/qwen3-coder-next:awq --served-model-name"
    )
    bad = subprocess.run(
        [sys.executable, "-m", "serving", "command", "tiny-twin", "--set", "oops"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.strip() == "serving: --set wants KEY=VALUE (got 'oops')"


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z-]{0,15}", fullmatch=True),
        st.integers(-5, 5) | st.booleans() | st.text(alphabet="abc/=", min_size=1, max_size=5),
        max_size=6,
    )
)
def test_set_overrides_round_trip_through_the_command(values):
    pairs = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items() if k != "model"]
    overrides = parse_set(pairs)
    argv = to_cli_args(overrides)
    for key, value in overrides.items():
        if key == "lora-modules":
            continue
        if value is False:
            assert f"--{key}" not in argv
        else:
            assert f"--{key}" in argv
