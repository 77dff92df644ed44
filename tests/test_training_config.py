"""Configs and the train CLI's failure paths (no model is loaded here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import DEFAULT_TARGETS, ConfigError, TrainConfig, load_config
from training.train import main


def test_madcat_yaml_is_the_seed_config():
    cfg = load_config("training/configs/madcat.yaml")
    assert cfg.model == "Qwen/Qwen3-Coder-Next"
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (16, 16, 0.05)
    assert (cfg.optim, cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == ("adamw_torch", 1, 8)
    assert (cfg.epochs, cfg.learning_rate, cfg.max_length, cfg.dtype) == (3.0, 5e-5, 4096, "bfloat16")
    # int8 experts: the full-shape measurement (reports/records/benchmarks/qlora_full.md); nf4 stays set up for --experts
    assert cfg.experts == "int8-grouped" and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert tuple(cfg.target_modules) == DEFAULT_TARGETS


def test_tiny_yaml_runs_on_cpu():
    cfg = load_config("training/configs/tiny.yaml")
    assert cfg.device == "cpu" and cfg.max_steps > 0


def test_overrides_and_their_types():
    cfg = load_config("training/configs/madcat.yaml",
                      {"max_steps": "7", "lora_dropout": "0", "gradient_checkpointing": "true",
                       "target_modules": "q_proj,v_proj", "gpu_memory_gb": "none"})
    assert cfg.max_steps == 7 and cfg.lora_dropout == 0.0 and cfg.target_modules == ["q_proj", "v_proj"]
    assert cfg.gpu_memory_gb is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"experts": "int8"}, "experts must be one of"),
        ({"nonsense": 1}, "unknown config field"),
        ({"lora_r": 32}, "max_lora_rank"),
        ({"per_device_train_batch_size": 2}, "must be 1"),
        ({"gradient_checkpointing": "maybe"}, "true or false"),
        ({"gradient_checkpointing": False, "device": "cuda"}, "needs gradient_checkpointing"),
        ({"epochs": 0, "max_steps": -1}, "epochs > 0"),
    ],
)
def test_bad_values_are_refused_with_the_reason(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_print_config(capsys):
    assert main(["--config", "training/configs/madcat.yaml", "--max-steps", "3", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["max_steps"] == 3


def _one_line_error(capsys, code: int, argv: list[str], text: str) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1, err


def test_cli_failures_are_one_line(capsys, tmp_path: Path):
    from serving.tiny_twin import default_twin_dir

    twin = str(default_twin_dir())
    _one_line_error(capsys, 2, ["--config", str(tmp_path / "nope.yaml")], "train: error: no such config")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("model: [unclosed\n")
    _one_line_error(capsys, 2, ["--config", str(bad_yaml)], "is not valid YAML")
    _one_line_error(capsys, 2, ["--config", "training/configs/tiny.yaml", "--set", "lora_r"], "--set wants KEY=VALUE")
    common = ["--config", "training/configs/tiny.yaml", "--model", twin, "--set", "preflight=false"]
    _one_line_error(capsys, 2, [*common, "--dataset", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "o")],
                    "no such dataset")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    _one_line_error(capsys, 2, [*common, "--dataset", str(broken), "--output", str(tmp_path / "o")],
                    "broken.jsonl:1: no assistant message")
    not_adapter = tmp_path / "precious"
    not_adapter.mkdir()
    (not_adapter / "thesis.tex").write_text("x")
    _one_line_error(capsys, 2, [*common, "--dataset", str(broken), "--output", str(not_adapter)],
                    "is not an adapter directory")
    _one_line_error(capsys, 2, [*common, "--model", str(tmp_path / "nomodel"), "--dataset", str(broken),
                                "--output", str(tmp_path / "o")], "not a directory with config.json")
    _one_line_error(capsys, 2, ["--config", "training/configs/tiny.yaml", "--model", twin, "--experts",
                                "bnb-per-expert", "--set", "preflight=false", "--output", str(tmp_path / "o"),
                                "--dataset", str(broken)], "no assistant message")


def test_bnb_per_expert_says_it_needs_transformers_457():
    torch = pytest.importorskip("torch")
    from training.loading import load_bnb_per_expert

    with pytest.raises(ConfigError, match=r"needs transformers 4\.57"):
        load_bnb_per_expert(Path("."), TrainConfig(experts="bnb-per-expert"), torch.device("cpu"))
