"""e2e.tensor_parallel, the 2-GPU driver, on a CPU: its arguments, each layout's serve command, what it records when
vLLM refuses a split (a stand-in `vllm`), and the comparison of measured splits through the real `reports divergence`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from e2e.tensor_parallel import main, parse_args, render, serve_overrides
from serving.serve_config import load_serve_config, serve_command

REFUSAL = """INFO 12-02 12:00:01 [model.py:100] Resolved architecture: Qwen3NextForCausalLM
Traceback (most recent call last):
  File "/site/vllm/lora/layers/column_parallel_linear.py", line 120, in slice_lora_b
AssertionError: in_proj_qkvz LoRA B does not divide over 2 ranks
RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""


def test_arguments_and_their_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["out", "--phase", "measure", "--layout", "tp2"])
    assert (args.layout, args.port, args.train_steps, args.logprob_limit) == ("tp2", 8031, 40, 30)
    for bad, needle in ((["--phase", "measure"], "needs --layout"), (["--phase", "measure", "--layout", "tp4"],
                        "invalid choice: 'tp4'"), (["--phase", "prepare", "--train-steps", "0"], "--train-steps must"),
                        (["--phase", "compare", "--port", "80"], "--port must be in")):
        with pytest.raises(SystemExit) as exc:
            parse_args(["out", *bad])
        assert exc.value.code == 2
        assert needle in capsys.readouterr().err


def test_each_layout_serves_the_same_twin_and_adapter_split_its_own_way(tmp_path: Path) -> None:
    config = load_serve_config("tiny-twin")
    commands = {layout: serve_command(config, serve_overrides(tmp_path, layout, 8031, ["in_proj_qkvz", "q_proj"]))
                for layout in ("tp1", "tp2", "pp2")}
    for argv in commands.values():
        assert argv[2] == str(tmp_path / "twin-bf16")
        assert f"madcat={tmp_path / 'adapters' / 'madcat'}" in argv
        i = argv.index("--lora-target-modules")
        assert argv[i + 1: i + 3] == ["in_proj_qkvz", "q_proj"]
    split = {layout: (argv[argv.index("--tensor-parallel-size") + 1], argv[argv.index("--pipeline-parallel-size") + 1])
             for layout, argv in commands.items()}
    assert split == {"tp1": ("1", "1"), "tp2": ("2", "1"), "pp2": ("1", "2")}
    # with no adapter kinds known the flag is left out rather than sent empty
    assert "--lora-target-modules" not in serve_command(config, serve_overrides(tmp_path, "tp1", 8031, []))


def _logprobs(path: Path, shift: float) -> None:
    rows = [{"id": "t1", "tokens": ["a", "b", "c"], "logprobs": [-1.0, -2.0 - shift, -0.5], "top1": ["a", "x", "c"]}]
    path.write_text(json.dumps({"model": "m", "base_url": "u", "trajectories": rows}))


def test_compare_pins_a_difference_on_the_lora_when_the_base_agrees(tmp_path: Path) -> None:
    out = tmp_path / "record"
    out.mkdir()
    _logprobs(out / "logprobs-tp1.json", 0.0)
    _logprobs(out / "logprobs-base-tp1.json", 0.0)
    _logprobs(out / "logprobs-tp2.json", 0.9)  # the split moves the adapter's logprobs ...
    _logprobs(out / "logprobs-base-tp2.json", 0.0)  # ... and not the base's
    assert main([str(out), "--phase", "compare", "--work", str(tmp_path / "work")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    div = summary["measured"]["divergence"]
    assert div["pp2"] is None and div["pp2-base"] is None
    assert div["tp2"]["max_abs"] == pytest.approx(0.9) and div["tp2-base"]["max_abs"] == 0
    text = (out / "summary.md").read_text()
    assert "## tp2 against tp1" in text and "pp2 against" not in text
    assert "the LoRA's own part: mean |Δ logprob| +0.3000, max +0.9000" in text


def test_a_refused_split_is_recorded_with_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vllm"
    fake.write_text("#!/bin/sh\ncat <<'EOF'\n" + REFUSAL + "EOF\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out, work = tmp_path / "record", tmp_path / "work"
    out.mkdir()
    assert main([str(out), "--phase", "measure", "--layout", "tp2", "--work", str(work)]) == 1
    assert "no adapter yet" in json.loads((out / "summary.json").read_text())["outcome"]
    (out / "lint.json").write_text(json.dumps({"modules": {"linear_attn.in_proj_qkvz": [0]}}))
    assert main([str(out), "--phase", "measure", "--layout", "tp2", "--work", str(work), "--port", "18031",
                 "--serve-timeout", "60"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    state = summary["layouts"]["tp2"]
    assert state["state"] == "refused" and state["exception"].startswith("RuntimeError: Engine core")
    assert "--tensor-parallel-size 2" in state["command"] and "--lora-target-modules in_proj_qkvz" in state["command"]
    assert any("slice_lora_b" in line for line in state["lines"])
    assert summary["outcome"].startswith("measure tp2: stopped: StepFailed: tp2: vLLM did not serve it")
    assert "## tp2: refused" in render(summary)
