"""e2e.awq_vs_bf16, the GPU driver, on a CPU: its arguments, its plan for the two arms, how it reads a dead vLLM's
log, and what it records when vLLM refuses an arm (a stand-in `vllm` that dies as a refusing server would)."""

from __future__ import annotations

import importlib
import json
import os
import stat
from pathlib import Path

import pytest

from e2e.awq_vs_bf16 import (
    arm_plan,
    eval_argv,
    logprobs_argv,
    main,
    parse_args,
    render,
)
from e2e.steps import REPO, failure_excerpt, strict_targets

VLLM_LOG = """INFO 12-02 12:00:01 [model.py:100] Resolved architecture: Qwen3NextForCausalLM
INFO 12-02 12:00:02 [compressed_tensors.py:300] Using MarlinLinearKernel for CompressedTensorsWNA16
Traceback (most recent call last):
  File "/site/vllm/lora/layers/fused_moe.py", line 88, in __init__
    assert isinstance(base_layer.quant_method, UnquantizedFusedMoEMethod)
AssertionError
ERROR 12-02 12:00:09 [core.py:700] EngineCore failed to start.
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


def test_arguments_defaults_and_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["out", "--phase", "serve"])
    assert (args.port, args.epochs, args.seed, args.train_device, args.logprob_limit) == (8021, 3, 7, "cuda", 30)
    for bad, needle in ((["--phase", "fly"], "invalid choice: 'fly'"), (["--phase", "eval", "--epochs", "0"],
                        "--epochs: expected a whole number between 1 and 1000"), (["--phase", "serve", "--port", "65535"], "--port must be in"),
                        (["--phase", "eval", "--temperature", "nan"], "--temperature: expected a finite number"), ([], "--phase")):
        with pytest.raises(SystemExit) as exc:
            parse_args(["out", *bad])
        assert exc.value.code == 2
        assert needle in capsys.readouterr().err


def test_both_arms_serve_the_same_adapter_and_run_the_same_suite(tmp_path: Path) -> None:
    plan = arm_plan(tmp_path, 8021)
    assert plan["bf16"]["config"] == "tiny-twin" and plan["w4a16"]["config"] == "tiny-twin-w4a16"
    assert (plan["bf16"]["port"], plan["w4a16"]["port"]) == (8021, 8022)
    assert plan["bf16"]["adapter_dir"] == plan["w4a16"]["adapter_dir"] == str(tmp_path / "adapters" / "madcat")
    assert plan["w4a16"]["model"] == str(tmp_path / "twin-w4a16")
    args = parse_args(["out", "--phase", "eval", "--seed", "3", "--epochs", "5"])
    a, b = (eval_argv(plan[n], args, tmp_path / n) for n in ("bf16", "w4a16"))
    differ = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    assert differ == [("http://127.0.0.1:8021/v1", "http://127.0.0.1:8022/v1"), (str(tmp_path / "bf16"),
                                                                                  str(tmp_path / "w4a16"))]
    assert a[a.index("--seed") + 1] == "3" and a[a.index("--epochs") + 1] == "5"
    lp = logprobs_argv(plan["w4a16"], args, tmp_path / "lp.json")
    assert lp[lp.index("--tokenizer") + 1] == str(tmp_path / "twin-w4a16") and "--limit" in lp
    assert lp[lp.index("--model") + 1] == "madcat"
    base = logprobs_argv(plan["w4a16"], args, tmp_path / "lp.json", "tiny-base")
    assert base[base.index("--model") + 1] == "tiny-base" and len(base) == len(lp)


def test_a_dead_servers_log_gives_the_exception_and_the_lines_that_name_lora_and_quantisation() -> None:
    why = failure_excerpt(VLLM_LOG)
    assert why["exception"].startswith("RuntimeError: Engine core initialization failed")
    assert "assert isinstance(base_layer.quant_method, UnquantizedFusedMoEMethod)" in why["lines"]
    assert any("fused_moe.py" in line for line in why["lines"])
    assert any("CompressedTensorsWNA16" in line for line in why["lines"])
    assert not any("Resolved architecture" in line for line in why["lines"])
    assert failure_excerpt("")["exception"] is None


def test_the_summary_names_a_refused_arm_and_why() -> None:
    summary = {"outcome": "serve: complete", "steps": [{"name": "check-bf16", "exit": 0}], "measured": {},
               "arms": {"bf16": {"state": "live", "start_seconds": 95.0, "check_exit": 0},
                        "w4a16": {"state": "refused"}},
               "refusals": {"w4a16": {"state": "refused", "why": "the server process exited with code 1",
                                      **failure_excerpt(VLLM_LOG)}}}
    text = render(summary)
    assert "| bf16 | live | 95.0 | 0 |" in text and "| w4a16 | refused |" in text
    assert "## w4a16: refused" in text and "exception: `RuntimeError: Engine core initialization failed" in text
    assert "UnquantizedFusedMoEMethod" in text


def _fake_vllm(bin_dir: Path) -> None:
    """A `vllm` that prints what a server refusing LoRA on a quantised MoE prints, then exits 1."""
    bin_dir.mkdir()
    script = bin_dir / "vllm"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + VLLM_LOG + "EOF\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_serve_records_exactly_what_failed_when_vllm_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_vllm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out, work = tmp_path / "record", tmp_path / "work"
    code = main([str(out), "--phase", "serve", "--work", str(work), "--serve-timeout", "60", "--port", "18021"])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"].startswith("serve: stopped: StepFailed: no arm is live")
    for arm in ("bf16", "w4a16"):
        refusal = summary["refusals"][arm]
        assert refusal["state"] == "refused" and "exited with code 1" in refusal["why"]
        assert refusal["exception"].startswith("RuntimeError: Engine core initialization failed")
        assert "--lora-modules" in summary["serve_commands"][arm]
    assert "--quantization compressed-tensors" in summary["serve_commands"]["w4a16"]
    assert "## w4a16: refused" in (out / "summary.md").read_text()
    # the eval phase then says there is nothing to evaluate, and the stop phase cleans up
    assert main([str(out), "--phase", "eval", "--work", str(work)]) == 1
    assert "no live arm to evaluate" in json.loads((out / "summary.json").read_text())["outcome"]
    assert main([str(out), "--phase", "stop", "--work", str(work)]) == 0
    assert not list(work.glob("vllm-*.pid"))


def _divergence(mean: float, top1: float) -> dict[str, float]:
    return {"trajectories": 30, "tokens": 65309, "mean_abs": mean, "median_abs": mean / 2, "p95_abs": 3 * mean,
            "max_abs": 9.7, "top1_differs": top1}


def test_the_summary_separates_the_loras_part_from_the_bases_divergence() -> None:
    summary = {"outcome": "eval: complete", "steps": [], "arms": {},
               "measured": {"divergence": _divergence(0.7253, 0.3177), "divergence_base": _divergence(0.70, 0.30)}}
    text = render(summary)
    assert "w4a16 vs bf16: the adapter on each" in text and "w4a16 vs bf16: the base on each" in text
    assert "mean |Δ logprob| 0.7253" in text and "top-1 differs at 31.8% of positions" in text
    assert "the LoRA's own part: mean |Δ logprob| +0.0253, max +0.0000, top-1 differs +0.0177" in text
    only_adapter = render({**summary, "measured": {"divergence": _divergence(0.7253, 0.3177)}})
    assert "the adapter on each" in only_adapter and "LoRA's own part" not in only_adapter


def test_the_records_tool_call_count_pairs_the_arms_samples() -> None:
    module = importlib.import_module("reports.records.awq-vs-bf16.tool_calls")
    bf16 = {("a", 1): ["memory_recall", "memory_recall"], ("b", 1): ["settings_read"], ("c", 1): []}
    w4a16 = {("a", 1): ["memory_recall", "tts_speak"], ("b", 1): ["settings_read"], ("d", 1): ["memory_recall"]}
    out = module.summarise({"bf16": bf16, "w4a16": w4a16})
    assert out["bf16"]["first_call"] == {"memory_recall": 1, "settings_read": 1, "(none)": 1}
    assert out["bf16"]["calls_per_sample"] == 1.0 and out["w4a16"]["all_calls"]["memory_recall"] == 2
    assert out["paired"] == {"samples": 2, "same_first_call": 2, "same_sequence": 1}


def test_the_servers_are_told_the_adapters_targets_so_an_unwrappable_layer_stops_them() -> None:
    lint = json.loads((REPO / "reports" / "records" / "awq-vs-bf16" / "lint.json").read_text())
    assert strict_targets(lint) == ["down_proj", "gate_proj", "in_proj_ba", "in_proj_qkvz", "k_proj", "o_proj",
                                    "out_proj", "q_proj", "up_proj", "v_proj"]
    assert strict_targets({"modules": {}}) == [] and strict_targets({}) == []


def test_servers_start_with_vllms_logging_on_whatever_the_host_says(monkeypatch: pytest.MonkeyPatch) -> None:
    from e2e.steps import server_env, versions

    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "WARNING")
    monkeypatch.setenv("VLLM_CONFIGURE_LOGGING", "0")
    env = server_env({"VLLM_USE_FLASHINFER_SAMPLER": "0"})
    assert (env["VLLM_LOGGING_LEVEL"], env["VLLM_CONFIGURE_LOGGING"], env["VLLM_USE_FLASHINFER_SAMPLER"]) == ("INFO", "1", "0")
    assert server_env({"VLLM_LOGGING_LEVEL": "DEBUG"})["VLLM_LOGGING_LEVEL"] == "DEBUG"  # a config's own env wins
    assert versions()["vllm_env"]["VLLM_LOGGING_LEVEL"] == "WARNING"  # the record keeps what the host had
