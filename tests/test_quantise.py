"""serving.quantise: the tiny twin's W4A16 copy (compressed-tensors, pack-quantized), its checks, its refusals.

The kernel-shape rules and the refusals run without llm-compressor; the copy itself needs the `quant` extra
(llmcompressor 0.14.0.1) and is made once per module from the `w4a16` twin (built once into .work/).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.quant_shapes import kernel_shape_problems
from serving.quantise import STAMP_FILE, main
from serving.tiny_twin import PRESETS, build_config


def _config(preset: str, **changes: int) -> dict:
    import dataclasses

    return build_config(dataclasses.replace(PRESETS[preset], **changes)).to_dict()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- the widths the 4-bit kernels take --------------------------------------------------------------------------

@pytest.mark.parametrize("tp", [1, 2])
def test_w4a16_preset_fits_the_4bit_kernels_at_tensor_parallel_1_and_2(tp: int) -> None:
    assert kernel_shape_problems(_config("w4a16"), 128, tp) == []


def test_default_twin_is_too_narrow_for_group_128_and_each_reason_names_the_layer() -> None:
    problems = kernel_shape_problems(_config("default"), 128, 1)
    assert any("linear_attn.in_proj_qkvz: in_features 64 is not a multiple of the group size 128" in p
               for p in problems)
    assert any(p.startswith("mlp.experts: hidden_size 64") for p in problems)


def test_misaligned_widths_at_tp_2_are_named() -> None:
    # 32 value heads: in_proj_ba has 64 outputs, 32 a rank at TP 2 (Marlin needs 64); 3 KV heads do not split in 2
    problems = kernel_shape_problems(_config("w4a16", linear_num_value_heads=32, num_key_value_heads=1,
                                             num_attention_heads=3), 128, 2)
    assert "linear_attn.in_proj_ba: 32 output columns a rank at tp 2, Marlin needs a multiple of 64" in problems
    assert "num_attention_heads 3 is not divisible by tensor parallel 2" in problems
    assert kernel_shape_problems({"hidden_size": 128}, 128, 1)[0].startswith("config.json lacks a Qwen3-Next size")


# ---- refusals, before any work -----------------------------------------------------------------------------------

def test_bad_sources_are_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, err = _run(capsys, str(tmp_path / "missing"), str(out))
    assert code == 2 and err.strip() == f"serving.quantise: error: no such directory: {tmp_path / 'missing'}"

    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    code, _, err = _run(capsys, str(llama), str(out))
    assert code == 2 and "is not a Qwen3-Next checkpoint (architectures: ['LlamaForCausalLM'])" in err
    assert len(err.strip().splitlines()) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(capsys, str(empty), str(out))
    assert code == 2 and "is not a Qwen3-Next checkpoint: no such config.json" in err

    quantised = tmp_path / "quantised"
    quantised.mkdir()
    (quantised / "config.json").write_text(json.dumps({"architectures": ["Qwen3NextForCausalLM"],
                                                       "quantization_config": {"quant_method": "awq"}}))
    code, _, err = _run(capsys, str(quantised), str(out))
    assert code == 2 and "is already quantised (awq); give the BF16 checkpoint" in err
    assert not out.exists()


@pytest.mark.parametrize("content", [bytes(range(256)), b"[]", b"[" * 100_000 + b"]" * 100_000, b"9" * 5000,
                                     b'{"architectures": ["Qwen3NextForCausalLM"]}'])
def test_a_garbled_config_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      content: bytes) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_bytes(content)
    (source / "model.safetensors").write_bytes(b"")
    code, _, err = _run(capsys, str(source), str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and err.startswith("serving.quantise: error: ")
    assert not (tmp_path / "out").exists()


def _fake_twin(directory: Path, preset: str) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(_config(preset) | {"architectures": ["Qwen3NextForCausalLM"]}))
    (directory / "model.safetensors").write_bytes(b"")
    return directory


def test_a_twin_too_narrow_for_the_kernels_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twin = _fake_twin(tmp_path / "twin", "default")
    code, _, err = _run(capsys, str(twin), str(tmp_path / "out"))
    assert code == 2
    assert "in_features 64 is not a multiple of the group size 128" in err
    assert "build the twin with --preset w4a16, or pass --allow-misaligned" in err
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_not_ours_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twin = _fake_twin(tmp_path / "twin", "w4a16")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code, _, err = _run(capsys, str(twin), str(precious))
    assert code == 2 and "exists and is not a W4A16 copy made here; refusing to overwrite it" in err
    assert (precious / "notes.txt").read_text() == "keep me"
    code, _, err = _run(capsys, str(twin), str(twin))
    assert code == 2 and "OUT_DIR is the source directory" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["a", "b", "--format", "autoawq"], ["a", "b", "--check-tp", "0"], ["a"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--check-tp sizes must be positive" in capsys.readouterr().err


# ---- the copy ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("llmcompressor")
    from serving.tiny_twin import default_twin_dir

    twin = default_twin_dir("w4a16")
    out = tmp_path_factory.mktemp("w4a16") / "twin-w4a16"
    assert main([str(twin), str(out)]) == 0
    return {"twin": twin, "out": out, "stamp": json.loads((out / STAMP_FILE).read_text())}


def test_config_says_w4a16_group_128_and_ignores_the_router_the_gate_and_the_head(copy: dict) -> None:
    qc = json.loads((copy["out"] / "config.json").read_text())["quantization_config"]
    assert qc["quant_method"] == "compressed-tensors" and qc["format"] == "pack-quantized"
    weights = qc["config_groups"]["group_0"]["weights"]
    assert (weights["num_bits"], weights["group_size"], weights["symmetric"], weights["type"]) == (4, 128, True, "int")
    assert qc["config_groups"]["group_0"]["input_activations"] is None
    layers = range(4)
    assert set(qc["ignore"]) == {"lm_head", *(f"model.layers.{i}.mlp.gate" for i in layers),
                                 *(f"model.layers.{i}.mlp.shared_expert_gate" for i in layers)}


def test_tensors_are_packed_int32_with_bf16_scales_and_the_ignored_ones_untouched(copy: dict) -> None:
    import torch
    from safetensors.torch import load_file

    quant = load_file(copy["out"] / "model.safetensors")
    source = load_file(copy["twin"] / "model.safetensors")
    for module in ("model.layers.0.linear_attn.in_proj_qkvz", "model.layers.0.linear_attn.in_proj_ba",
                   "model.layers.3.self_attn.q_proj", "model.layers.2.mlp.experts.7.down_proj",
                   "model.layers.1.mlp.shared_expert.up_proj"):
        out_f, in_f = source[f"{module}.weight"].shape
        assert f"{module}.weight" not in quant
        assert quant[f"{module}.weight_packed"].dtype == torch.int32
        assert tuple(quant[f"{module}.weight_packed"].shape) == (out_f, in_f // 8)
        assert quant[f"{module}.weight_scale"].dtype == torch.bfloat16
        assert tuple(quant[f"{module}.weight_scale"].shape) == (out_f, in_f // 128)
    for name in ("lm_head.weight", "model.embed_tokens.weight", "model.layers.0.mlp.gate.weight",
                 "model.layers.0.mlp.shared_expert_gate.weight", "model.layers.0.linear_attn.conv1d.weight",
                 "model.layers.0.linear_attn.A_log", "model.layers.0.linear_attn.dt_bias"):
        assert quant[name].dtype == torch.bfloat16 and torch.equal(quant[name], source[name]), name
    check = copy["stamp"]["check"]
    assert check["problems"] == [] and check["quantised_modules"] == 121 and check["max_error_steps"] <= 0.55
    assert check["quantised_by_kind"]["mlp.experts.N.gate_proj"] == 32
    # 4-bit weights: the copy is the BF16 embedding and head plus about a quarter of the rest
    assert check["size_bytes"] < 0.9 * (copy["twin"] / "model.safetensors").stat().st_size


def test_our_unpacking_is_compressed_tensors_own(copy: dict) -> None:
    from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32
    from safetensors.torch import load_file

    from serving.quant_verify import unpack_int4

    quant = load_file(copy["out"] / "model.safetensors")
    module = "model.layers.0.linear_attn.out_proj"
    shape = quant[f"{module}.weight_shape"].tolist()
    theirs = unpack_from_int32(quant[f"{module}.weight_packed"], 4, __import__("torch").Size(shape))
    assert (unpack_int4(quant[f"{module}.weight_packed"], shape[1]) == theirs).all()


def test_transformers_loads_it_and_its_logits_are_close_to_the_bf16_twins(copy: dict, tmp_path: Path) -> None:
    from serving.quant_verify import compare_logits
    from serving.tiny_twin import make_tiny_twin

    logits = copy["stamp"]["logits"]
    assert logits["tokens"] > 10
    assert 0 < logits["mean_abs_diff"] and logits["mean_cosine"] > 0.8  # close, not equal
    other = make_tiny_twin(tmp_path / "seed1", seed=1, preset="w4a16")  # what "not close" looks like
    null = compare_logits(copy["twin"], other)
    assert null["mean_cosine"] < 0.5 and null["mean_abs_diff"] > 1.5 * logits["mean_abs_diff"]


def test_a_tampered_copy_fails_the_check(copy: dict, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    from serving.quant_verify import inspect_checkpoint

    bad = tmp_path / "bad"
    shutil.copytree(copy["out"], bad)
    tensors = load_file(bad / "model.safetensors")
    tensors["model.layers.0.linear_attn.out_proj.weight_scale"] *= 3
    del tensors["model.layers.1.mlp.gate.weight"]
    save_file(tensors, bad / "model.safetensors", metadata={"format": "pt"})
    problems = inspect_checkpoint(bad, copy["twin"])["problems"]
    assert any(p.startswith("model.layers.0.linear_attn.out_proj: a weight is") for p in problems)
    assert any("source tensor(s) missing from the copy, e.g. model.layers.1.mlp.gate.weight" in p for p in problems)


def test_a_second_run_replaces_our_own_copy(copy: dict, capsys: pytest.CaptureFixture[str]) -> None:
    (copy["out"] / "stale.txt").write_text("from an earlier run")
    code, out, _ = _run(capsys, str(copy["twin"]), str(copy["out"]))
    assert code == 0 and "121 Linear layers W4A16 (group 128), 9 left BF16" in out
    assert not (copy["out"] / "stale.txt").exists()
