"""serving.tiny_twin: the tiny Qwen3-Next twin, its (real Qwen3) tokenizer and chat template."""

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

from core.chat_format import ADDED_TOKENS, SPECIAL_TOKENS, normalise_messages
from core.chat_parse import parse_assistant_output
from core.qwen_tokenizer import KNOWN_IDS, PADDED_VOCAB_SIZE, TOKENIZER_SIZE, tokenizer_files_dir
from serving.tiny_twin import (
    STAMP_FILE,
    TEMPLATE_PATH,
    TwinSizes,
    default_twin_dir,
    dir_size_bytes,
    main,
    make_tiny_twin,
)

SMALL = dict(
    layers=2,
    full_attention_interval=2,
    hidden_size=16,
    intermediate_size=64,
    num_experts=4,
    moe_intermediate_size=32,
    shared_expert_intermediate_size=32,
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
    assert (cfg.hidden_size, cfg.head_dim, cfg.num_experts, cfg.num_experts_per_tok) == (
        TwinSizes().hidden_size, 64, 8, 2)
    layers = model.model.layers
    assert hasattr(layers[0], "linear_attn") and hasattr(layers[3], "self_attn")
    for layer in layers:
        assert hasattr(layer.mlp, "experts") and hasattr(layer.mlp, "shared_expert")
    assert model.dtype == torch.bfloat16
    # Qwen3-Coder-Next's padded vocabulary, untied like the real model (vLLM loads a separate lm_head)
    assert cfg.vocab_size == PADDED_VOCAB_SIZE == 151936 and not cfg.tie_word_embeddings
    assert model.get_input_embeddings().weight.shape == (151936, cfg.hidden_size)
    assert model.get_output_embeddings().weight.shape == (151936, cfg.hidden_size)


def test_twin_ids_are_the_real_models(twin: Path, tokenizer) -> None:
    cfg = json.loads((twin / "config.json").read_text())
    assert (cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]) == (151643, 151645, 151643)
    gen = json.loads((twin / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [151645, 151643] and gen["pad_token_id"] == 151643
    assert len(tokenizer) == TOKENIZER_SIZE == 151669
    for token, token_id in KNOWN_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id, token
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"


def test_twin_ships_the_packages_tokenizer_files_byte_for_byte(twin: Path) -> None:
    source = tokenizer_files_dir()
    for name in ("tokenizer.json", "vocab.json", "merges.txt"):
        assert (twin / name).read_bytes() == (source / name).read_bytes(), name
    ours = json.loads((twin / "tokenizer_config.json").read_text())
    theirs = json.loads((source / "tokenizer_config.json").read_text())
    assert ours["chat_template"] == TEMPLATE_PATH.read_text(encoding="utf-8")
    assert {k: v for k, v in ours.items() if k not in ("chat_template", "model_max_length")} == {
        k: v for k, v in theirs.items() if k not in ("chat_template", "model_max_length")}


def test_twin_stays_small(twin: Path) -> None:
    assert (twin / "model.safetensors").is_file()
    assert not list(twin.glob("*.bin"))
    # 2 x 151936 x 64 bf16 embedding rows (39 MB), a few MB of layers, 16 MB of tokenizer files
    assert 40_000_000 < dir_size_bytes(twin) < 70_000_000


def test_special_and_tool_tokens_are_single_tokens(tokenizer) -> None:
    for token in (*SPECIAL_TOKENS, *ADDED_TOKENS):
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1, token
    ids = tokenizer.encode("<|im_start|>a<tool_call>b</tool_call><|im_end|>", add_special_tokens=False)
    # The parser needs the tool-call tags after decoding; the turn markers go away.
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a<tool_call>b</tool_call>"


# --------------------------------------------------------------------------- the real Qwen3 tokenizer


def _reference_from_tokenizer_json():
    """The package's tokenizer.json read by the tokenizers library directly (no transformers)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_files_dir() / "tokenizer.json"))


def _reference_from_vocab_and_merges():
    """Qwen3's pipeline assembled from the other two files: vocab.json + merges.txt BPE, NFC, Qwen's split
    rule, byte level, the added tokens of tokenizer_config.json."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    d = tokenizer_files_dir()
    tok = Tokenizer(models.BPE.from_file(str(d / "vocab.json"), str(d / "merges.txt")))
    tok.normalizer = normalizers.NFC()
    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    added = json.loads((d / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    for token_id, spec in sorted(added.items(), key=lambda kv: int(kv[0])):
        token = AddedToken(spec["content"], special=spec["special"], normalized=spec["normalized"],
                           lstrip=spec["lstrip"], rstrip=spec["rstrip"], single_word=spec["single_word"])
        tok.add_special_tokens([token]) if spec["special"] else tok.add_tokens([token])
        assert tok.token_to_id(spec["content"]) == int(token_id)
    return tok


_SPECIALS = sorted(KNOWN_IDS) + ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|file_sep|>",
                                 "<|vision_pad|>", "<function=", "</parameter>"]
_PIECES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(_SPECIALS),
    st.sampled_from([" ", "  ", "\n", "\r\n", "\t", "\n\n  ", "'s", "'LL", "1234567", "ü", "e\u0301", "日本語",
                     "def f(x):\n    return x", '{"key": [1, 2.5, null]}', "ssh madcat@sin", "🙂"]),
)
_TEXT = st.lists(_PIECES, max_size=12).map("".join)


@pytest.fixture(scope="module")
def references():
    return _reference_from_tokenizer_json(), _reference_from_vocab_and_merges()


@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_twin_encodes_any_text_exactly_as_qwen3(tokenizer, references, text: str) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    for reference in references:
        assert ids == reference.encode(text, add_special_tokens=False).ids
    assert tokenizer.decode(ids) == references[0].decode(ids, skip_special_tokens=False)
    assert tokenizer.decode(ids, skip_special_tokens=True) == references[0].decode(ids, skip_special_tokens=True)


@settings(max_examples=100, deadline=None)
@given(text=_TEXT)
def test_tokenizer_round_trips_any_text_up_to_nfc(tokenizer, text: str) -> None:
    import unicodedata

    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == unicodedata.normalize("NFC", text)


def test_a_chat_renders_to_the_same_ids_as_qwen3(tokenizer, references) -> None:
    messages = [{"role": "system", "content": "You are BT-7274."}, {"role": "user", "content": "Say hi."}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False)
    assert ids == references[0].encode(text, add_special_tokens=False).ids
    assert ids[0] == 151644 and ids.count(151645) == 2  # <|im_start|> ... <|im_end|> x 2


def test_every_token_count_is_the_twins(tokenizer) -> None:
    """dataset validate/stats, training and the twin (hence the local backend) count a line alike."""
    from dataset.tokens import load_counter
    from evals.world import load_tool_specs
    from training.data import encode_transcript

    line = json.loads(Path("dataset/madcat-system.jsonl").read_text(encoding="utf-8").splitlines()[0])
    counter = load_counter(None)
    rendered = tokenizer.apply_chat_template(normalise_messages(line["messages"]), tools=line["tools"],
                                             tokenize=True, return_dict=False)
    trained = encode_transcript(tokenizer, line, load_tool_specs())
    assert counter.name == "Qwen3"
    assert counter.count(line) == len(rendered) == len(trained.input_ids)


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
    assert int(out.max()) < PADDED_VOCAB_SIZE
    tokenizer.decode(out[0], skip_special_tokens=True)  # ids in the padding rows decode to nothing, never raise


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


def test_w4a16_preset_builds_the_quantisable_widths_and_sizes_override_it(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "q"), "--preset", "w4a16", "--layers", "2", "--full-attention-interval", "2"]) == 0
    assert "parameters" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "q" / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["linear_num_value_heads"], cfg["moe_intermediate_size"]) == (128, 64, 256)
    assert cfg["layer_types"] == ["linear_attention", "full_attention"]
    with pytest.raises(SystemExit):
        main([str(tmp_path / "r"), "--preset", "w8"])
    assert "invalid choice: 'w8'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown twin preset 'w8'"):
        make_tiny_twin(tmp_path / "r", preset="w8")
