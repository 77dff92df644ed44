"""serving.quantise_qwen2: W4A16 copies of a dense Qwen2 (real AWQ calibrated on the dataset, and RTN), the Marlin
shape preflight for Qwen2.5-Coder-0.5B's widths, the refusals. The copies are made of a tiny random Qwen2 (hidden
128: the least a group of 128 allows) with the twin's Qwen tokenizer; they need the `quant` extra."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serving.quant_shapes import dense_kernel_shape_problems
from serving.quantise import STAMP_FILE
from serving.quantise_qwen2 import main

# Qwen2.5-Coder-0.5B-Instruct's sizes (the prepared checkpoint's config.json)
QWEN_CODER_05B = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,
                  "num_attention_heads": 14, "num_key_value_heads": 2, "num_hidden_layers": 24}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_qwen_coder_05b_fits_marlin_at_tp_1_every_fused_part_included() -> None:
    """hidden 896 = 7 x 128, intermediate 4864 = 38 x 128; q 896, k and v 128 each, a multiple of 64."""
    assert dense_kernel_shape_problems(QWEN_CODER_05B, 128, 1) == []


def test_qwen_coder_05b_at_tp_2_is_refused_for_o_proj() -> None:
    assert dense_kernel_shape_problems(QWEN_CODER_05B, 128, 2) == [
        "self_attn.o_proj: 448 input rows a rank at tp 2, Marlin needs a multiple of 128"]


@pytest.mark.parametrize("changes,needle", [
    ({"hidden_size": 960}, "self_attn.qkv_proj: in_features 960 is not a multiple of the group size 128"),
    ({"intermediate_size": 4800}, "mlp.down_proj: 4800 input rows a rank at tp 1, Marlin needs a multiple of 128"),
    ({"num_key_value_heads": 1, "hidden_size": 896, "num_attention_heads": 28},
     "self_attn.qkv_proj: 32 output columns a rank at tp 1, Marlin needs a multiple of 64"),
    ({"intermediate_size": None}, "config.json lacks a Qwen2 size"),
])
def test_each_misaligned_width_is_named(changes: dict, needle: str) -> None:
    assert any(needle in p for p in dense_kernel_shape_problems(QWEN_CODER_05B | changes, 128, 1))


def _fake_qwen2(directory: Path, **changes: object) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(QWEN_CODER_05B | changes))
    (directory / "model.safetensors").write_bytes(b"")
    return directory


def test_refusals_are_one_line_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, err = _run(capsys, str(tmp_path / "missing"), str(out), "--method", "rtn")
    assert code == 2 and err.strip() == f"serving.quantise_qwen2: error: no such directory: {tmp_path / 'missing'}"
    nxt = _fake_qwen2(tmp_path / "next", architectures=["Qwen3NextForCausalLM"])
    code, _, err = _run(capsys, str(nxt), str(out), "--method", "rtn")
    assert code == 2 and "is not a Qwen2 checkpoint (architectures: ['Qwen3NextForCausalLM'])" in err
    done = _fake_qwen2(tmp_path / "done", quantization_config={"quant_method": "compressed-tensors"})
    code, _, err = _run(capsys, str(done), str(out), "--method", "awq")
    assert code == 2 and "already quantised (compressed-tensors)" in err
    qwen = _fake_qwen2(tmp_path / "qwen")
    code, _, err = _run(capsys, str(qwen), str(out), "--method", "rtn", "--check-tp", "1,2")
    assert code == 2 and "o_proj: 448 input rows a rank at tp 2" in err and "--allow-misaligned" in err
    code, _, err = _run(capsys, str(qwen), str(out), "--method", "awq", "--calibration", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no calibration file" in err
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code, _, err = _run(capsys, str(qwen), str(precious), "--method", "rtn")
    assert code == 2 and "refusing to overwrite it" in err and (precious / "notes.txt").read_text() == "keep me"
    assert not out.exists()
    for e in capsys.readouterr().err.splitlines():
        assert e.startswith("serving.quantise_qwen2: error: ")


@pytest.mark.parametrize("argv", [["a", "b"], ["a", "b", "--method", "gptq"], ["a", "b", "--method", "awq",
                                                                             "--samples", "0"],
                                  ["a", "b", "--method", "rtn", "--check-tp", "0"]])
def test_usage_errors_are_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1


# ---- the copies of a tiny Qwen2 ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen2 at the least widths a group of 128 takes, with the twin's Qwen tokenizer and chat template."""
    pytest.importorskip("llmcompressor")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from serving.tiny_twin import default_twin_dir

    twin = default_twin_dir()
    out = tmp_path_factory.mktemp("qwen2") / "tiny-qwen2"
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=151936, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=64, tie_word_embeddings=False,
                         max_position_embeddings=4096)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "chat_template.jinja"):
        if (twin / name).is_file():
            shutil.copyfile(twin / name, out / name)
    return out


@pytest.fixture(scope="module")
def copies(tiny_qwen2: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("copies")
    made = {}
    for method, extra in (("rtn", []), ("awq", ["--samples", "4", "--max-length", "96", "--device", "cpu"])):
        out = root / method
        assert main([str(tiny_qwen2), str(out), "--method", method, *extra]) == 0
        made[method] = {"out": out, "stamp": json.loads((out / STAMP_FILE).read_text())}
    return made


@pytest.mark.parametrize("method", ["rtn", "awq"])
def test_every_linear_but_lm_head_is_4bit_group_128_and_within_half_a_step(copies: dict, method: str) -> None:
    stamp = copies[method]["stamp"]
    check = stamp["check"]
    assert stamp["method"] == method and check["problems"] == []
    assert check["quantised_modules"] == 2 * 7 and check["unquantised_modules"] == ["lm_head"]
    assert (check["num_bits"], check["group_size"], check["symmetric"]) == (4, 128, True)
    assert 0 < check["max_error_steps"] <= 0.55
    qc = json.loads((copies[method]["out"] / "config.json").read_text())["quantization_config"]
    assert qc["format"] == "pack-quantized" and qc["ignore"] == ["lm_head"]


def test_awq_is_calibrated_on_dataset_lines_and_scales_only_the_norms(copies: dict) -> None:
    awq, rtn = copies["awq"]["stamp"], copies["rtn"]["stamp"]
    cal = awq["calibration"]
    assert cal["lines"] == 4 and cal["max_length"] == 96 and cal["tokens"] <= 4 * 96 and cal["cut"] == 4
    assert all(s.startswith("dataset/madcat-system.jsonl:") for s in cal["sources"]) and len(cal["sha256"]) == 64
    assert awq["recipe"] == ["AWQModifier", "QuantizationModifier"] and rtn["recipe"] == ["QuantizationModifier"]
    assert awq["smoothed_tensors"] > 0 and rtn["smoothed_tensors"] == 0 and rtn["calibration"] is None
