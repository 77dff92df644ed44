"""Preflight: parameter counts from config.json, the fit verdict with its fix, the Gated DeltaNet report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from training.config import TrainConfig
from training.memory import GB, KNOWN_CONFIGS, Architecture, estimate_memory, nf4_bytes_per_param
from training.preflight import (
    block_unusable_fla,
    format_preflight,
    gdn_kernels,
    main,
    run_preflight,
)


def test_parameter_counts_match_the_real_model_exactly():
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from serving.tiny_twin import default_twin_dir

    twin = default_twin_dir()
    arch = Architecture.from_config(json.loads((twin / "config.json").read_text()))
    model = AutoModelForCausalLM.from_pretrained(twin, dtype=torch.float32)
    assert sum(arch.parameter_counts().values()) == sum(p.numel() for p in model.parameters())
    experts = sum(layer.mlp.experts.gate_up_proj.numel() + layer.mlp.experts.down_proj.numel()
                  for layer in model.model.layers)
    assert arch.parameter_counts()["routed_experts"] == experts


def test_qwen3_coder_next_is_80b_and_nf4_fits_an_h200_but_bf16_experts_do_not():
    arch = Architecture.from_config(KNOWN_CONFIGS["Qwen/Qwen3-Coder-Next"])
    total = sum(arch.parameter_counts().values())
    assert 79e9 < total < 81e9
    assert 76e9 < arch.parameter_counts()["routed_experts"] < 78e9
    budget = 141 * GB
    nf4 = estimate_memory(arch, TrainConfig(), budget)
    assert nf4.fits and 38 * GB < nf4.weights_experts < 42 * GB
    bf16 = estimate_memory(arch, TrainConfig(experts="bf16-grouped"), budget)
    assert not bf16.fits and bf16.weights_experts > 150 * GB
    # LoRA r=16 on the ten target kinds: tens of millions of parameters, Adam states included
    assert 10e6 < nf4.lora_parameters < 50e6


def test_nf4_storage_cost():
    assert nf4_bytes_per_param(64, True) == pytest.approx(0.5 + (1 + 4 / 256) / 64)
    assert nf4_bytes_per_param(64, False) == pytest.approx(0.5625)


def test_cli_stops_with_the_fix_when_it_will_not_fit(capsys):
    rc = main(["--config", "training/configs/madcat.yaml", "--experts", "bf16-grouped", "--gpu-memory-gb", "141"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "STOP: will not fit" in out and "experts: nf4-grouped" in out
    rc = main(["--config", "training/configs/madcat.yaml", "--gpu-memory-gb", "141"])
    assert rc == 0 and "OK: fits" in capsys.readouterr().out


def test_small_gpu_gets_a_shorter_max_length_or_bigger_gpu(capsys):
    rc = main(["--config", "training/configs/madcat.yaml", "--gpu-memory-gb", "48"])
    out = capsys.readouterr().out
    assert rc == 1 and "fix:" in out


def test_bad_input_exits_2_with_one_line(capsys, tmp_path: Path):
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("preflight: error: no such config") and err.count("\n") == 1
    assert main(["--config", "training/configs/madcat.yaml", "--model", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_hopper_with_triton_36_and_no_tilelang_is_slow_and_loud(monkeypatch):
    versions = {"fla-core": "0.6.0", "triton": "3.6.0", "tilelang": None, "causal-conv1d": None}
    monkeypatch.setattr("training.preflight._version", lambda d: versions.get(d))
    report = gdn_kernels((9, 0), "NVIDIA H100")
    assert not report.gdn_fast and "3.7.1" in report.reason
    versions["tilelang"] = "0.1.15"
    assert gdn_kernels((9, 0), "NVIDIA H100").gdn_fast
    versions.update(tilelang=None, triton="3.7.1")
    assert gdn_kernels((9, 0), "NVIDIA H200").gdn_fast
    versions["triton"] = "3.6.0"
    assert gdn_kernels((8, 0), "NVIDIA A100").gdn_fast  # the Triton bug is Hopper-only
    versions["fla-core"] = None
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    slow = gdn_kernels((9, 0), "NVIDIA H100")
    assert not slow.gdn_fast and "not installed" in slow.reason


def test_unusable_fla_is_kept_out_of_transformers(monkeypatch):
    versions = {"fla-core": "0.6.0", "triton": "3.6.0"}
    monkeypatch.setattr("training.preflight._version", lambda d: versions.get(d))
    report = gdn_kernels((9, 0), "NVIDIA H100")
    saved = {k: sys.modules.get(k) for k in ("fla", "fla.ops", "fla.ops.gated_delta_rule",
                                              "transformers.models.qwen3_next.modeling_qwen3_next")}
    try:
        sys.modules.pop("transformers.models.qwen3_next.modeling_qwen3_next", None)
        assert block_unusable_fla(report) and report.blocked_fla
        with pytest.raises(ImportError):
            import fla  # noqa: F401
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_report_says_slow_path_loudly():
    result = run_preflight(TrainConfig(gpu_memory_gb=141), block_fla=False)
    text = format_preflight(result)
    if not result.kernels.gdn_fast:
        assert "SLOW torch reference path" in text
    assert "routed experts" in text


def test_estimate_covers_the_measured_replica_without_gross_overshoot():
    """The calibrated estimate stays above the H100 replica's measured peaks, within 35%."""
    bench = json.loads(Path("reports/records/benchmarks/qlora.json").read_text())
    arch = Architecture.from_config({**KNOWN_CONFIGS["Qwen/Qwen3-Coder-Next"], "num_hidden_layers": bench["layers"]})
    checked = 0
    for worker in bench["workers"]:
        for run in worker.get("runs", []):
            est = estimate_memory(arch, TrainConfig(experts=worker["experts"]), float("inf"), tokens=run["tokens"],
                                  gdn_fast=worker["gdn"] == "fla")
            measured = run["peak_allocated_bytes"]
            assert measured <= est.total <= 1.35 * measured, (worker["experts"], worker["gdn"], run["tokens"])
            checked += 1
    assert checked >= 4
    # the weights part is exact
    nf4 = next(w for w in bench["workers"] if w["experts"] == "nf4-grouped")
    est = estimate_memory(arch, TrainConfig(), float("inf"))
    assert abs(est.weights_dense + est.weights_experts - nf4["load"]["gpu_allocated_after_load"]) < 0.01 * GB


def test_int8_experts_fit_an_h200_and_nf4_is_the_fix_for_smaller_gpus(capsys):
    arch = Architecture.from_config(KNOWN_CONFIGS["Qwen/Qwen3-Coder-Next"])
    int8 = estimate_memory(arch, TrainConfig(experts="int8-grouped"), 141 * GB)
    nf4 = estimate_memory(arch, TrainConfig(experts="nf4-grouped"), 141 * GB)
    assert int8.fits and 76 * GB < int8.weights_experts < 79 * GB and int8.total > nf4.total
    rc = main(["--config", "training/configs/madcat.yaml", "--experts", "int8-grouped", "--gpu-memory-gb", "80"])
    out = capsys.readouterr().out
    assert rc == 1 and "experts: nf4-grouped" in out


def test_estimate_is_at_the_longest_line_in_qwen3_tokens(capsys, tmp_path: Path):
    from dataset.tokens import load_counter
    from training.data import load_transcripts

    longest = max(load_counter(None).count(t) for _, t in load_transcripts("dataset/madcat-system.jsonl"))
    assert main(["--config", "training/configs/madcat.yaml", "--gpu-memory-gb", "141"]) == 0
    out = capsys.readouterr().out
    assert (f"dataset dataset/madcat-system.jsonl: 100 examples, longest {longest} tokens (Qwen3 tokenizer); "
            f"estimate at {longest} tokens") in out
    at_longest = run_preflight(TrainConfig(gpu_memory_gb=141))
    at_limit = run_preflight(TrainConfig(gpu_memory_gb=141), count_dataset=False)
    assert at_longest.tokens == longest < 4096 == at_limit.tokens
    assert at_longest.estimate.total < at_limit.estimate.total
    assert main(["--config", "training/configs/madcat.yaml", "--gpu-memory-gb", "141", "--max-length", "2048"]) == 0
    assert "longer than max_length (truncated); estimate at 2048 tokens" in capsys.readouterr().out


def test_a_model_directory_counts_with_its_own_tokenizer_and_a_missing_dataset_is_said(capsys, tmp_path: Path):
    from serving.tiny_twin import default_twin_dir

    twin = default_twin_dir()
    assert main(["--config", "training/configs/tiny.yaml", "--model", str(twin)]) == 0
    assert f"({twin} tokenizer)" in capsys.readouterr().out
    missing = tmp_path / "none.jsonl"
    assert main(["--config", "training/configs/madcat.yaml", "--gpu-memory-gb", "141", "--dataset", str(missing)]) == 0
    out = capsys.readouterr().out
    assert f"dataset {missing}: not counted (no such file); estimate at max_length 4096" in out
