"""serving.tiny_twin: the tiny Qwen3-Next twin, its tokenizer and chat template."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils.chat_template_utils import render_jinja_template

from serving.chat_format import ADDED_TOKENS, SPECIAL_TOKENS, normalise_messages, parse_assistant_output
from serving.tiny_twin import (
    STAMP_FILE,
    TEMPLATE_PATH,
    default_twin_dir,
    dir_size_bytes,
    main,
    make_tiny_twin,
)

SMALL = dict(
    layers=2,
    full_attention_interval=2,
    hidden_size=64,
    intermediate_size=64,
    num_experts=4,
    moe_intermediate_size=32,
    shared_expert_intermediate_size=32,
    vocab_size=1024,
)


@pytest.fixture(scope="module")
def twin() -> Path:
    return default_twin_dir()


@pytest.fixture(scope="module")
def tokenizer(twin: Path):
    return AutoTokenizer.from_pretrained(twin)


def test_twin_has_the_real_architecture(twin: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(twin)
    assert type(model).__name__ == "Qwen3NextForCausalLM"
    cfg = model.config
    assert cfg.layer_types == ["linear_attention"] * 3 + ["full_attention"]
    assert (cfg.hidden_size, cfg.head_dim, cfg.num_experts, cfg.num_experts_per_tok) == (256, 64, 8, 2)
    layers = model.model.layers
    assert hasattr(layers[0], "linear_attn") and hasattr(layers[3], "self_attn")
    for layer in layers:
        assert hasattr(layer.mlp, "experts") and hasattr(layer.mlp, "shared_expert")
    assert model.dtype == torch.bfloat16


def test_twin_is_a_few_megabytes_of_safetensors(twin: Path) -> None:
    assert (twin / "model.safetensors").is_file()
    assert not list(twin.glob("*.bin"))
    assert 1_000_000 < dir_size_bytes(twin) < 25_000_000


def test_special_and_tool_tokens_are_single_tokens(tokenizer) -> None:
    for token in (*SPECIAL_TOKENS, *ADDED_TOKENS):
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1, token
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    ids = tokenizer.encode("<|im_start|>a<tool_call>b</tool_call><|im_end|>", add_special_tokens=False)
    # The parser needs the tool-call tags after decoding; the turn markers go away.
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a<tool_call>b</tool_call>"


def test_generation_config_stops_at_im_end(twin: Path, tokenizer) -> None:
    gen = json.loads((twin / "generation_config.json").read_text())
    assert gen["eos_token_id"] == tokenizer.convert_tokens_to_ids("<|im_end|>")


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=80))
def test_tokenizer_round_trips_any_text(tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_tokenizer_carries_our_chat_template(tokenizer) -> None:
    messages = [
        {"role": "user", "content": "Say hi."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "tts_speak", "arguments": '{"text": "hi", "voice": "nova"}'},
                }
            ],
        },
        {"role": "tool", "content": "ok"},
    ]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "tts_speak",
                "description": "Speak.",
                "parameters": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}, "voice": {"type": "string"}},
                },
            },
        }
    ]
    via_tokenizer = tokenizer.apply_chat_template(
        normalise_messages(messages), tools=tools, tokenize=False, add_generation_prompt=True
    )
    expected, _ = render_jinja_template(
        conversations=[normalise_messages(messages)],
        tools=tools,
        chat_template=TEMPLATE_PATH.read_text(encoding="utf-8"),
        add_generation_prompt=True,
    )
    assert via_tokenizer == expected[0]
    assert via_tokenizer.endswith("<|im_start|>assistant\n")
    turn = via_tokenizer.split("<|im_start|>assistant\n")[1].split("<|im_end|>")[0]
    assert parse_assistant_output(turn, tools).tool_calls[0].arguments == {"text": "hi", "voice": "nova"}


def test_twin_generates_token_ids_in_its_vocabulary(twin: Path, tokenizer) -> None:
    model = AutoModelForCausalLM.from_pretrained(twin, dtype=torch.float32)
    inputs = tokenizer("hello", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 4)
    assert int(out.max()) < len(tokenizer)


def _hashes(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    a = _hashes(make_tiny_twin(tmp_path / "a", seed=3, **SMALL))
    b = _hashes(make_tiny_twin(tmp_path / "b", seed=3, **SMALL))
    c = _hashes(make_tiny_twin(tmp_path / "c", seed=4, **SMALL))
    assert a == b
    assert c["model.safetensors"] != a["model.safetensors"]
    assert c["tokenizer.json"] == a["tokenizer.json"]


def test_cli_builds_fp32_and_rebuilds_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(tmp_path / "t"), "--fp32", "--seed", "1"] + [
        f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()
    ]
    assert main(args) == 0
    assert "parameters" in capsys.readouterr().out
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "t").dtype == torch.float32
    stamp = json.loads((tmp_path / "t" / STAMP_FILE).read_text())
    assert stamp["seed"] == 1 and stamp["dtype"] == "float32"
    assert main(args) == 0  # an earlier twin is replaced, not refused


def test_cli_refuses_bad_sizes_and_foreign_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "x"), "--layers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layers must be positive" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main([str(tmp_path / "mine")]) == 2
    assert "not a tiny twin" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="unknown twin size"):
        make_tiny_twin(tmp_path / "y", experts=3)


def test_default_twin_dir_is_cached_and_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = default_twin_dir()
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert default_twin_dir() == first
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime
    monkeypatch.setenv("MADCAT_TWIN_DIR", str(tmp_path / "elsewhere"))
    other = default_twin_dir()
    assert other == tmp_path / "elsewhere"
    assert _hashes(other)["model.safetensors"] == _hashes(first)["model.safetensors"]


def test_parallel_processes_share_one_default_build(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MADCAT_TWIN_DIR": str(tmp_path / "shared-twin")}
    code = "from serving.tiny_twin import default_twin_dir; print(default_twin_dir())"
    root = Path(__file__).resolve().parents[1]
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == [str(tmp_path / "shared-twin")] * 2
    # One build won; no half-written or leftover temporary directories remain.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["shared-twin"]
