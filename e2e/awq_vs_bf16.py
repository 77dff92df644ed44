"""AWQ + LoRA vs BF16 + LoRA at small scale, on a GPU host with vLLM: `python -m e2e.awq_vs_bf16 OUT_DIR --phase P`.

Does vLLM 0.25.1 serve a LoRA on a 4-bit (W4A16) Qwen3-Next MoE, and how far is W4A16 + LoRA from BF16 + LoRA?
Settled on the tiny twin at widths the 4-bit kernels take (`serving.tiny_twin --preset w4a16`) and its W4A16
copy (`serving.quantise`: compressed-tensors pack-quantized, group 128, symmetric; lm_head, router and
shared-expert gate BF16), with one adapter trained on the BF16 twin and served on both.

Phases (state lives in --work; the servers run in their own sessions and outlive the call that started them,
so a host with a 10-minute command limit runs one phase a call; serving/gpu/awq-vs-bf16.sh drives them):
    prepare  1. build the BF16 twin (`python -m serving.tiny_twin WORK/twin-bf16 --preset w4a16`)
             2. its W4A16 copy (`python -m serving.quantise WORK/twin-bf16 WORK/twin-w4a16`; --quant-path puts
                llm-compressor's site first: it pins compressed-tensors 0.19, vLLM 0.25.1 pins 0.17)
             3. train `madcat` on the BF16 twin with the production LoRA targets (training/configs/tiny.yaml,
                bf16 experts, on the GPU), 4. `serving lint` it
    serve    5. start vLLM twice, one server an arm, the same adapter on both: `bf16` (serving/configs/
                tiny-twin.yaml, the BF16 twin) and `w4a16` (serving/configs/tiny-twin-w4a16.yaml, the copy)
                (`--lora-target-modules` = the adapter's module kinds, so a layer vLLM cannot wrap stops it)
             6. wait for each; a server that dies is recorded with the exception and the log lines that name
                LoRA, quantisation or the kernels (`refusals`), and the other arm goes on
             7. `serving check` on each live server: adapter listed on its parent, LoRA live
    eval     8. `pytest evals/ --backend vllm` on every checked arm at once: same seed, epochs, temperature,
                token and turn limits
             9. `reports compare` of the two arms (W4A16 first), 10. `serving logprobs` on the same reference
                transcripts against both, of the adapter and of the base, 11. `reports divergence` of each pair
                (what the adapter's divergence adds to the base's is the LoRA's own part)
    stop     12. stop the servers
Everything goes to OUT_DIR (reports/records/awq-vs-bf16/): summary.json, summary.md, logs/, each arm's results.json,
the comparison, logprobs and divergence, the W4A16 copy's w4a16.json and the adapter's lint.
With `--model qwen2.5-coder-0.5b` the same command runs the real model's comparison with verdicts (e2e/awq_qwen.py).
Run on the lent H200 on 2026-12-02: reports/records/awq-vs-bf16/ (README.md there). Added after that run, not run on a GPU yet:
the base's logprobs (the second divergence), the adapter's copy in the record, --lora-target-modules.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.safe_io import write_text_atomic
from e2e.arm_servers import recorded_targets, refusal, start_arm_server, stop_servers
from e2e.steps import (
    REPO,
    Step,
    StepFailed,
    phased_parser,
    results_stats,
    run_phase,
    step_lines,
)
from runner.run_options import add_run_options, run_flags

ARMS = ("bf16", "w4a16")
CONFIGS = {"bf16": "tiny-twin", "w4a16": "tiny-twin-w4a16"}
SERVED_BASE = "tiny-base"
ADAPTER = "madcat"
# the eval's settings this driver takes (runner/run_options.py), with its own defaults
RUN_OPTIONS = ("epochs", "seed", "temperature", "max_tokens", "max_turns", "max_connections")
RUN_DEFAULTS = {"seed": 7, "max_tokens": 256, "max_turns": 8, "max_connections": 32}
PHASES = ("prepare", "serve", "eval", "stop")


def arm_plan(work: Path, base_port: int) -> dict[str, dict[str, Any]]:
    """Each arm's server: config, model directory, port; the same adapter on both."""
    models = {"bf16": work / "twin-bf16", "w4a16": work / "twin-w4a16"}
    return {arm: {"config": CONFIGS[arm], "model": str(models[arm]), "port": base_port + i,
                  "base_url": f"http://127.0.0.1:{base_port + i}", "adapter_dir": str(work / "adapters" / ADAPTER)}
            for i, arm in enumerate(ARMS)}


def eval_argv(arm: dict[str, Any], args: argparse.Namespace, report_dir: Path) -> list[str]:
    """`pytest evals/` against one arm: everything but the server and the report directory is the same for both."""
    return [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
            *run_flags({"backend": "vllm", "base_url": f"{arm['base_url']}/v1", "adapter": ADAPTER,
                        "base_model": SERVED_BASE, "adapter_dir": arm["adapter_dir"],
                        **{name: getattr(args, name) for name in RUN_OPTIONS},
                        "max_retries": 1, "request_timeout": 300, "report_dir": report_dir})]


def logprobs_argv(arm: dict[str, Any], args: argparse.Namespace, out: Path, model: str = ADAPTER) -> list[str]:
    """Teacher-forced logprobs of the reference transcripts from one arm's server, of the adapter or of the base."""
    return [sys.executable, "-m", "serving", "logprobs", "--base-url", arm["base_url"], "--model", model,
            "--tokenizer", arm["model"], "--transcripts", args.transcripts, "--limit", str(args.logprob_limit),
            "--out", str(out)]


def prepare(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    twin, copy = work / "twin-bf16", work / "twin-w4a16"
    step.run("twin", [sys.executable, "-m", "serving.tiny_twin", str(twin), "--preset", "w4a16"])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [args.quant_path, os.environ.get("PYTHONPATH")]))}
    step.run("quantise", [sys.executable, "-m", "serving.quantise", str(twin), str(copy)], env=env, timeout=900)
    shutil.copy(copy / "w4a16.json", step.out / "w4a16.json")
    summary["measured"]["w4a16"] = json.loads((copy / "w4a16.json").read_text(encoding="utf-8"))
    train_adapter(step, twin, work / "adapters" / ADAPTER, args)


def train_adapter(step: Step, twin: Path, adapter: Path, args: argparse.Namespace) -> None:
    """`madcat` on the BF16 twin with the production targets, linted; its lint, manifest and files into the record."""
    device = args.train_device
    step.run("train", [sys.executable, "-m", "training.train", "--config", "training/configs/tiny.yaml",
                       "--model", str(twin), "--output", str(adapter), "--device", device,
                       "--dtype", "bfloat16" if device == "cuda" else "float32", "--experts", "bf16-grouped",
                       "--max-steps", str(args.train_steps)], timeout=1500)
    lint = step.run("lint", [sys.executable, "-m", "serving", "lint", str(adapter), "--json"], ok_codes=(0, 1))
    write_text_atomic(step.out / "lint.json", lint.stdout)
    shutil.copy(adapter.with_name(adapter.name + ".manifest.json"), step.out / "manifest-madcat.json")
    # Small at the twin's widths; kept so the served adapter can be checked against peft afterwards.
    shutil.copytree(adapter, step.out / "adapter", dirs_exist_ok=True)


def adapter_overrides(model: str, port: int, adapter_dir: str, targets: list[str]) -> dict[str, Any]:
    """A serving config's values for one server of the twin with `madcat` (and only its module kinds)."""
    return {"model": model, "port": port, "lora-modules": [f"{ADAPTER}={adapter_dir}"],
            "lora-target-modules": targets or None}


def check_live(step: Step, name: str, base_url: str) -> subprocess.CompletedProcess[str]:
    """`serving check`: the adapter is listed on its parent and changes the output (exit 0)."""
    return step.run(f"check-{name}", [sys.executable, "-m", "serving", "check", "--base-url", base_url, "--adapter",
                                      ADAPTER, "--base-model", SERVED_BASE, "--json"], ok_codes=(0, 1, 2))


def serve(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Both servers at once; each arm ends `live` (checked), `not live` (check refused) or `refused` (server died)."""
    from serving.server_api import ServerError, wait_for_server

    plan = arm_plan(work, args.port)
    started = time.monotonic()
    targets = recorded_targets(step.out) or []
    procs = {}
    for name, arm in plan.items():
        procs[name], command = start_arm_server(step, name, arm["config"], adapter_overrides(
            arm["model"], arm["port"], arm["adapter_dir"], targets))
        summary.setdefault("serve_commands", {})[name] = command
        (work / f"vllm-{name}.pid").write_text(str(procs[name].pid))
    status = summary.setdefault("arms", {})
    for name, proc in procs.items():
        remaining = max(10.0, args.serve_timeout - (time.monotonic() - started))
        try:
            wait_for_server(plan[name]["base_url"], timeout_s=remaining, process=proc)
        except ServerError as exc:
            status[name] = refusal(step, name, exc)
            summary.setdefault("refusals", {})[name] = status[name]
            continue
        status[name] = {"state": "ready", "start_seconds": round(time.monotonic() - started, 1)}
        check = check_live(step, name, plan[name]["base_url"])
        status[name]["check_exit"] = check.returncode
        status[name]["check"] = (check.stdout.strip() or check.stderr.strip())[-4000:]
        status[name]["state"] = "live" if check.returncode == 0 else "not live"
        if check.returncode:
            summary.setdefault("refusals", {})[name] = {"state": "not live", "why": check.stderr.strip()[-2000:]}
    if not any(s["state"] == "live" for s in status.values()):
        raise StepFailed("no arm is live: " + "; ".join(f"{n}: {s.get('exception') or s.get('why')}"
                                                        for n, s in status.items()))


def evaluate(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    plan = arm_plan(work, args.port)
    live = [n for n in ARMS if summary.get("arms", {}).get(n, {}).get("state") == "live"]
    if not live:
        raise StepFailed("no live arm to evaluate; run the serve phase (see summary.md's refusals)")
    procs = {}
    for name in live:
        report_dir = work / "runs" / name
        shutil.rmtree(report_dir, ignore_errors=True)
        argv = eval_argv(plan[name], args, report_dir)
        log = open(step.out / "logs" / f"evals-{name}.log", "w")  # noqa: SIM115 - closed when the process ends
        procs[name] = (subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), report_dir, argv)
    runs: dict[str, Path] = {}
    for name, (proc, report_dir, argv) in procs.items():
        code = proc.wait(timeout=args.eval_timeout)
        step.summary["steps"].append({"name": f"evals-{name}", "command": shlex.join(argv), "exit": code,
                                      "expected_exit": [0, 1]})
        found = sorted(report_dir.glob("*/results.json"))
        if code in (0, 1) and found:
            runs[name] = found[-1].parent
            shutil.copy(found[-1], step.out / f"results-{name}.json")
            summary["arms"][name]["results"] = results_stats(runs[name])
        else:
            summary["arms"][name]["eval_failed"] = f"pytest exited {code}, {len(found)} results; logs/evals-{name}.log"
    if len(runs) == 2:
        step.run("compare", [sys.executable, "-m", "reports", "compare", str(runs["w4a16"]), str(runs["bf16"]),
                             "--names", "w4a16,bf16", "--out", str(step.out / "comparison")], ok_codes=(0, 1))
    # The adapter's divergence and the base's: what the first adds to the second is the LoRA's own part.
    for model, tag in ((ADAPTER, ""), (SERVED_BASE, "-base")):
        logprobs = {}
        for name in live:
            out = step.out / f"logprobs{tag}-{name}.json"
            result = step.run(f"logprobs{tag}-{name}", logprobs_argv(plan[name], args, out, model), ok_codes=(0, 1, 2))
            if result.returncode == 0:
                logprobs[name] = out
        if len(logprobs) == 2:
            div = step.out / f"divergence{tag}.json"
            step.run(f"divergence{tag}", [sys.executable, "-m", "reports", "divergence", str(logprobs["w4a16"]),
                                          str(logprobs["bf16"]), "--names", "w4a16,bf16", "--out", str(div)],
                     ok_codes=(0, 1))
            summary["measured"][f"divergence{tag.replace('-', '_')}"] = json.loads(div.read_text(encoding="utf-8"))


def stop(work: Path, summary: dict[str, Any]) -> None:
    stop_servers(work, ARMS, summary)


def divergence_line(div: dict[str, Any]) -> str:
    return (f"{div['trajectories']} transcripts, {div['tokens']} tokens: mean |Δ logprob| {div['mean_abs']:.4f}, "
            f"median {div['median_abs']:.4f}, p95 {div['p95_abs']:.4f}, max {div['max_abs']:.4f}; "
            f"top-1 differs at {div['top1_differs']:.1%} of positions")


def lora_part_line(adapter: dict[str, Any], base: dict[str, Any]) -> str:
    """What a divergence of the adapter adds to the same divergence of the base: the LoRA's own part."""
    return (f"the LoRA's own part: mean |Δ logprob| {adapter['mean_abs'] - base['mean_abs']:+.4f}, max "
            f"{adapter['max_abs'] - base['max_abs']:+.4f}, top-1 differs "
            f"{adapter['top1_differs'] - base['top1_differs']:+.4f} (adapter minus base)")


def render(summary: dict[str, Any]) -> str:
    """summary.md: what ran, each arm's state (and exactly why a refused arm was refused), the numbers."""
    lines = ["# AWQ (W4A16) + LoRA vs BF16 + LoRA on the tiny twin", "", f"Outcome: {summary.get('outcome')}", ""]
    w4 = summary.get("measured", {}).get("w4a16")
    if w4:
        lines += [f"W4A16 copy: {w4['check']['quantised_modules']} Linear layers 4-bit (group {w4['group_size']}), "
                  f"ignored {w4['ignore']}; logits vs BF16 on CPU: max |diff| {w4['logits']['max_abs_diff']}, "
                  f"mean {w4['logits']['mean_abs_diff']}, top-1 agreement {w4['logits']['top1_agreement']}", ""]
    lines += ["| arm | state | start (s) | check | passed / samples |", "|---|---|---|---|---|"]
    for name, arm in summary.get("arms", {}).items():
        res = arm.get("results") or {}
        lines.append(f"| {name} | {arm['state']} | {arm.get('start_seconds', '')} | {arm.get('check_exit', '')} | "
                     f"{res.get('passed', '')} / {res.get('samples', '')} |")
    for name, why in summary.get("refusals", {}).items():
        lines += ["", f"## {name}: {why['state']}", "", f"- {why.get('why')}"]
        if why.get("exception"):
            lines.append(f"- exception: `{why['exception']}`")
        lines += [f"    {line}" for line in why.get("lines", [])]
    measured = summary.get("measured", {})
    for key, what in (("divergence", "the adapter on each"), ("divergence_base", "the base on each")):
        if measured.get(key):
            lines += ["", f"## Teacher-forced divergence, w4a16 vs bf16: {what}", "",
                      divergence_line(measured[key])]
    if measured.get("divergence") and measured.get("divergence_base"):
        lines += ["", "- " + lora_part_line(measured["divergence"], measured["divergence_base"])]
    return "\n".join(lines + step_lines(summary)) + "\n"


def add_adapter_and_logprob_args(p: argparse.ArgumentParser) -> None:
    """What train_adapter and the logprob steps read: shared by this driver and e2e.tensor_parallel."""
    p.add_argument("--train-device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--train-steps", type=int, default=40)
    p.add_argument("--transcripts", default="dataset/madcat-system.jsonl", help="reference transcripts for logprobs")
    p.add_argument("--logprob-limit", type=int, default=30)


def require_positive(parser: argparse.ArgumentParser, args: argparse.Namespace, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")


def build_parser() -> argparse.ArgumentParser:
    p = phased_parser("python -m e2e.awq_vs_bf16", __doc__, "reports/records/awq-vs-bf16", PHASES, "/tmp/madcat-awq")
    p.add_argument("--model", default="tiny-twin", choices=("tiny-twin",),
                   help="tiny-twin (this driver); --model qwen2.5-coder-0.5b runs e2e/awq_qwen.py (its own options)")
    p.add_argument("--quant-path", default=None, help="directory put first on PYTHONPATH for the quantise step "
                                                      "(llm-compressor with compressed-tensors 0.19)")
    add_adapter_and_logprob_args(p)
    p.add_argument("--port", type=int, default=8021, help="the BF16 arm's port; the W4A16 arm's is the next one")
    p.add_argument("--serve-timeout", type=float, default=540, help="seconds both servers get to become ready")
    add_run_options(p.add_argument, only=RUN_OPTIONS, defaults=RUN_DEFAULTS)
    p.add_argument("--eval-timeout", type=float, default=1500)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_positive(parser, args, ("train_steps", "logprob_limit"))
    if not 1024 <= args.port <= 65534:
        parser.error("--port must be in 1024..65534 (the W4A16 arm takes the next port)")
    return args


def main(argv: list[str] | None = None) -> int:
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", default="tiny-twin")
    chosen, _ = model.parse_known_args(argv)
    if chosen.model != "tiny-twin":  # the real model's comparison, with verdicts: e2e/awq_qwen.py
        from e2e.awq_qwen import main as qwen_main

        return qwen_main(argv)
    args = parse_args(argv)
    out, work = args.out.resolve(), args.work.resolve()
    phases = {"prepare": prepare, "serve": serve, "eval": evaluate}

    def action(step: Step, summary: dict[str, Any]) -> None:
        if args.phase == "stop":
            stop(work, summary)
        else:
            phases[args.phase](step, work, args, summary)

    return run_phase(out, work, args.phase, action, tag="awq", render=render)[0]


if __name__ == "__main__":
    sys.exit(main())
