"""e2e.awq_qwen (`python -m e2e.awq_vs_bf16 --model qwen2.5-coder-0.5b`), the real model's AWQ/RTN vs BF16 driver,
on a CPU: its arguments, its plan (three bases, the same adapter, six arms run alike), the proof that every LoRA
target kind was wrapped (read from vLLM 0.25.1's log lines), a refusing server, and the record it renders."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from reports_builders import EVALS, grid, write_run

from e2e import awq_vs_bf16
from e2e.awq_qwen import (
    arm_names,
    divergence_rows,
    eval_argv,
    pairs,
    parse_args,
    render,
    server_overrides,
    server_plan,
    unwrapped_modules,
    wrap_check,
)
from reports.equivalence import equivalence
from reports.results import load_run
from serving.model_profiles import profile

TARGETS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
QWEN = profile("qwen2.5-coder-0.5b")
# The lines vLLM 0.25.1's LoRA manager (vllm/lora/model_manager.py) writes for a module it leaves without LoRA.
UNWRAPPED_LOG = """INFO 12-09 10:00:01 [model.py:100] Resolved architecture: Qwen2ForCausalLM
WARNING 12-09 10:00:05 [model_manager.py:404] Regarding Qwen2ForCausalLM, no matching PunicaWrapper is found; model.layers.3.self_attn.qkv_proj will be ignored.
ERROR 12-09 10:00:06 [core.py:700] ValueError: LoRA target module model.layers.0.mlp.down_proj (RowParallelLinear) matched the deployment configuration but could not be wrapped by any LoRA layer implementation. target_modules=['down_proj', 'q_proj']
"""


def test_arguments_defaults_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["out", "--phase", "eval"])
    assert (args.epochs, args.temperature, args.margin, args.alpha, args.port, args.gpu_share) == (5, 0.7, 0.10, 0.05,
                                                                                                   8031, 0.25)
    assert args.profile == QWEN and args.calibration == "dataset/madcat-system.jsonl"
    for bad, needle in ((["--gpu-share", "0.5"], "--gpu-share must be in (0, 0.33]"),
                        (["--margin", "1"], "--margin must be between 0 and 1"),
                        (["--alpha", "0.5"], "--alpha must be between 0 and 0.5"),
                        (["--port", "65534"], "--port must be in"), (["--epochs", "0"], "--epochs: expected a whole number between 1 and 1000"),
                        (["--adapter-dir", str(tmp_path)], "has no adapter_config.json"),
                        (["--model", "smollm2"], "invalid choice: 'smollm2'")):
        with pytest.raises(SystemExit) as exc:
            parse_args(["out", "--phase", "serve", *bad])
        assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_three_bases_serve_the_same_adapter_and_six_arms_run_the_same_suite(tmp_path: Path) -> None:
    plan = server_plan(tmp_path, QWEN, 8031)
    assert [plan[b]["port"] for b in ("bf16", "awq", "rtn")] == [8031, 8032, 8033]
    assert plan["bf16"]["model"] == str(tmp_path / "qwen2.5-coder-0.5b")
    assert plan["awq"]["model"] == str(tmp_path / "qwen2.5-coder-0.5b-awq")
    adapter = tmp_path / "adapters" / "qwen-madcat"
    over = {b: server_overrides(plan[b], "qwen-madcat", adapter, TARGETS, 0.25) for b in plan}
    assert {tuple(o["lora-modules"]) for o in over.values()} == {(f"qwen-madcat={adapter}",)}
    assert all(o["lora-target-modules"] == TARGETS and o["gpu-memory-utilization"] == 0.25 for o in over.values())
    assert "quantization" not in over["bf16"] and over["awq"]["quantization"] == over["rtn"]["quantization"] == \
        "compressed-tensors"
    args = parse_args(["out", "--phase", "eval", "--seed", "3"])
    argvs = {n: eval_argv(args, QWEN, plan[n.split("-")[0]], "qwen-madcat" if n.endswith("lora") else None, adapter,
                          tmp_path / n) for n in arm_names()}
    assert len(argvs) == 6
    for argv in argvs.values():
        for flag, value in (("--seed", "3"), ("--epochs", "5"), ("--temperature", "0.7"), ("--prompt", "minimal"),
                            ("--base-model", "qwen-coder-base")):
            assert argv[argv.index(flag) + 1] == value
    assert argvs["awq-lora"][argvs["awq-lora"].index("--adapter") + 1] == "qwen-madcat"
    assert argvs["awq-base"][argvs["awq-base"].index("--adapter") + 1] == "none" and "--adapter-dir" not in \
        argvs["awq-base"]
    assert pairs() == [("bf16-lora", "awq-lora"), ("bf16-lora", "rtn-lora"), ("bf16-base", "awq-base"),
                       ("bf16-base", "rtn-base")]


def test_the_log_names_each_target_kind_left_unwrapped_fused_layers_included() -> None:
    missing = unwrapped_modules(UNWRAPPED_LOG, TARGETS)
    assert missing == {"q_proj": ["model.layers.3.self_attn.qkv_proj"], "k_proj": ["model.layers.3.self_attn.qkv_proj"],
                       "v_proj": ["model.layers.3.self_attn.qkv_proj"], "down_proj": ["model.layers.0.mlp.down_proj"]}
    assert not wrap_check(UNWRAPPED_LOG, TARGETS)["every_target_wrapped"]
    assert unwrapped_modules(UNWRAPPED_LOG, ["o_proj"]) == {}  # a kind the adapter does not have is not its business
    clean = "INFO Resolved architecture: Qwen2ForCausalLM\nINFO Loaded new LoRA adapter: name 'qwen-madcat'\n"
    check = wrap_check(clean, TARGETS)
    assert check["every_target_wrapped"] and check["lora_log_lines"] == ["INFO Loaded new LoRA adapter: name 'qwen-madcat'"]
    assert not wrap_check(clean, [])["every_target_wrapped"]  # no targets: nothing was proven


def _fake_vllm(bin_dir: Path) -> None:
    bin_dir.mkdir()
    script = bin_dir / "vllm"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + UNWRAPPED_LOG + "EOF\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_a_server_that_cannot_wrap_a_target_fails_the_serve_phase(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_vllm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out, work = tmp_path / "record", tmp_path / "work"
    out.mkdir()
    (out / "lint.json").write_text(json.dumps({"modules": {f"self_attn.{k}": {} for k in TARGETS}}))
    argv = [str(out), "--work", str(work), "--model", "qwen2.5-coder-0.5b", "--serve-timeout", "60", "--port", "18031"]
    assert awq_vs_bf16.main([*argv, "--phase", "serve"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"].startswith("serve: stopped: StepFailed: not every base serves the adapter")
    assert "awq: refused (not wrapped: {'q_proj': ['model.layers.3.self_attn.qkv_proj']" in summary["outcome"]
    for base in ("bf16", "awq", "rtn"):
        assert summary["servers"][base]["state"] == "refused"
        assert "--lora-target-modules down_proj gate_proj" in summary["serve_commands"][base]
    assert "--quantization compressed-tensors" in summary["serve_commands"]["awq"]
    assert awq_vs_bf16.main([*argv, "--phase", "eval"]) == 1
    assert "not every server is live" in json.loads((out / "summary.json").read_text())["outcome"]
    assert awq_vs_bf16.main([*argv, "--phase", "stop"]) == 0 and not list(work.glob("vllm-*.pid"))


def _div(mean: float, top1_differs: float) -> dict:
    return {"trajectories": 60, "tokens": 90000, "mean_abs": mean, "median_abs": mean / 2, "p95_abs": mean * 4,
            "max_abs": mean * 20, "top1_differs": top1_differs}


def test_the_record_shows_verdicts_per_behaviour_and_each_divergence_beside_its_floor(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    a = load_run(write_run(root, "bf16-lora", grid(lambda e, s, k: (int(s[1:]) + k) % 3 != 0)))
    b = load_run(write_run(root, "awq-lora", grid(lambda e, s, k: e != EVALS[0] and (int(s[1:]) + k) % 3 != 0)))
    eq = equivalence((a, b), ("bf16-lora", "awq-lora"), 0.10, 0.05, n_boot=200).to_json()
    summary = {"outcome": "eval: complete", "steps": [], "measured": {
        "equivalence_awq-lora": eq, "divergence_awq-lora": _div(0.12, 0.05),
        "divergence_awq-lora_floor": _div(0.001, 0.0)},
        "servers": {"awq": {"state": "live", "start_seconds": 80.0, "check_exit": 0,
                            "wrap": {"targets": TARGETS, "unwrapped": {}}}},
        "arms": {"awq-lora": {"passed": 300, "samples": 505, "incomplete": 2}}}
    text = render(summary)
    assert "### awq-lora vs bf16-lora (margin ±0.1, alpha 0.05)" in text
    assert "Overall: **different**" in text and "4 equivalent, 1 different, 0 undecided" in text
    assert f"| {EVALS[0]} | different | 30 | -0.667 |" in text
    assert "| awq | live | 80.0 | down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj | — | 0 |" in text
    assert divergence_rows(summary["measured"]) == [
        "| awq-lora vs bf16-lora | 60 / 90000 | 0.1200 | 0.4800 | 95.0% | 0.0010 | 0.0040 | 100.0% |"]
    assert "| awq-lora | 300 / 505 | 2 |" in text
