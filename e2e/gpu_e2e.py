"""The production path for real, on a GPU host with vLLM installed: `python -m e2e.gpu_e2e OUT_DIR`.

With the project's own commands and nothing else: make the tiny twin, train its adapter through the
real QLoRA path (bitsandbytes nf4 experts, LoRA on attention, linear attention and the shared
expert), lint it, start `vllm serve` from serving/configs/tiny-twin.yaml, `python -m serving check`,
run `pytest evals/ --backend vllm` for the adapter, the base model and the base model with the full
madcat prompt, compare, gate, then load and unload a second adapter at run time, and show that the
peft-rewritten adapter (routed-expert `target_parameters`) is refused by `serving lint` and that the
server's HTTP 500 for it, sent anyway, becomes one clear line.

Everything it measured and produced goes to OUT_DIR (summary.json, summary.md, the logs of every
step, the arms' results.json, the comparison and the gate verdict). It runs subprocesses: this is a
GPU-host script, not part of the simulated world.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.safe_io import write_text_atomic
from e2e.steps import Step, StepFailed, results_stats, start_server, stop, versions
from runner.run_options import add_run_options, run_flags

# the eval's settings this driver takes (runner/run_options.py), with its own defaults
RUN_OPTIONS = ("epochs", "max_tokens", "max_turns")
RUN_DEFAULTS = {"epochs": 2, "max_tokens": 384, "max_turns": 8}
SERVE_LOG_KEEP = re.compile(
    r"lora|madcat|error|warning|exception|traceback|started server|application startup|avail|kv cache|"
    r"model loading|tool|qwen3_coder|gdn|mamba|version", re.I)


def start_vllm(work: Path, out: Path, twin: Path, adapter: Path, port: int, max_model_len: int) -> tuple[subprocess.Popen, float, list[str]]:
    """`vllm serve` from the project's tiny-twin config, the twin and adapter paths swapped in."""
    overrides = {"model": str(twin), "lora-modules": [f"madcat={adapter}"], "port": port,
                 "max-model-len": max_model_len}
    started = time.monotonic()
    proc, argv = start_server("tiny-twin", overrides, out / "logs" / "vllm-serve.full.log")
    return proc, started, argv


def wait_ready(proc: subprocess.Popen, base_url: str, timeout_s: float) -> None:
    from serving.server_api import wait_for_server

    wait_for_server(base_url, timeout_s=timeout_s, process=proc)


def make_rewritten_adapter(twin: Path, out_dir: Path) -> dict[str, Any]:
    """What peft 0.21 on transformers 5.x makes of shared-expert targets when left alone."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(twin, dtype=torch.bfloat16)
    config = LoraConfig(r=8, lora_alpha=8, target_modules=["q_proj", "shared_expert.gate_proj",
                                                           "shared_expert.up_proj", "shared_expert.down_proj"])
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(out_dir)
    saved = json.loads((out_dir / "adapter_config.json").read_text())
    return {"target_modules": saved.get("target_modules"), "target_parameters": saved.get("target_parameters")}


def strict_tools_probe(base_url: str, model: str) -> dict[str, Any]:
    """One scenario's first request, with the tools as inspect sends them by default (`strict: true`)
    and as an agent client sends them: the status vLLM answers each with."""
    import httpx

    from evals.scenarios import load_scenarios
    from evals.world import load_tool_specs

    scenario = load_scenarios()[0]
    out: dict[str, Any] = {}
    for strict in (True, False):
        tools = load_tool_specs()
        for tool in tools:
            tool["function"]["strict"] = strict
        body = {"model": model, "messages": scenario.initial_messages(), "tools": tools, "max_tokens": 32}
        reply = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)
        out[f"strict_{str(strict).lower()}"] = {"status": reply.status_code, "body": reply.text[:300]}
    return out


def eval_arm(step: Step, name: str, runs: Path, base_url: str, args: argparse.Namespace, adapter: str,
             prompt: str = "minimal", adapter_dir: Path | None = None) -> Path:
    argv = [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
            *run_flags({"backend": "vllm", "base_url": f"{base_url}/v1", "adapter": adapter, "base_model": "tiny-base",
                        **{name: getattr(args, name) for name in RUN_OPTIONS}, "temperature": 0.7, "seed": 7,
                        "max_retries": 1, "max_connections": 32, "report_dir": runs, "prompt": prompt,
                        "adapter_dir": adapter_dir})]
    before = set(runs.glob("*")) if runs.exists() else set()
    # the random twin fails the behaviours: pytest exits 1 and that is the expected, recorded outcome
    step.run(f"evals-{name}", argv, ok_codes=(0, 1), timeout=args.eval_timeout)
    new = sorted(set(runs.glob("*")) - before)
    if not new:
        raise StepFailed(f"evals-{name} wrote no run directory under {runs}")
    return new[-1]


def _terminated(signum: int, frame: Any) -> None:
    raise StepFailed(f"terminated by signal {signum} (the command's time limit?)")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminated)  # `timeout` ends the run: still write the summary
    parser = argparse.ArgumentParser(prog="python -m e2e.gpu_e2e", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where the record goes (e.g. reports/records/gpu-e2e)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/madcat-e2e"), help="scratch dir")
    parser.add_argument("--dataset", default="dataset/madcat-system.jsonl")
    parser.add_argument("--train-steps", type=int, default=200)
    add_run_options(parser.add_argument, only=RUN_OPTIONS, defaults=RUN_DEFAULTS)
    parser.add_argument("--reuse", action="store_true", help="keep a twin/adapters already in --work")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--eval-timeout", type=float, default=900)
    parser.add_argument("--stop-after-training", action="store_true",
                        help="make the twin and the adapters only (a first call on a GPU with a short time limit)")
    parser.add_argument("--device", default="cuda", help="where training runs (cpu only to rehearse the script)")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    work: Path = args.work.resolve()
    for path in (out, work):
        path.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    summary: dict[str, Any] = {"versions": versions(), "steps": [], "measured": {}, "outcome": "running"}
    earlier = out / "summary.json"
    if args.reuse and earlier.exists():  # a second call on the same machine continues the first one's record
        before = json.loads(earlier.read_text())
        summary["steps"], summary["measured"] = before.get("steps", []), before.get("measured", {})
    step = Step(out, summary)
    twin, adapter, adapter2, bad = work / "twin", work / "adapter", work / "adapter2", work / "rewritten"
    runs = work / "runs"
    base_url = f"http://127.0.0.1:{args.port}"
    server = None
    try:
        if not (args.reuse and (twin / "config.json").exists()):
            step.run("twin", [sys.executable, "-m", "serving.tiny_twin", str(twin)])
        train = [sys.executable, "-m", "training.train", "--config", "training/configs/tiny.yaml", "--model", str(twin),
                 "--dataset", args.dataset, "--device", args.device, "--dtype",
                 "bfloat16" if args.device == "cuda" else "float32", "--experts", "nf4-grouped",
                 "--set", f"gradient_checkpointing={'true' if args.device == 'cuda' else 'false'}"]
        if not (args.reuse and (adapter / "adapter_config.json").exists()):
            step.run("train", [*train, "--output", str(adapter), "--max-steps", str(args.train_steps)])
        if not (args.reuse and (adapter2 / "adapter_config.json").exists()):
            step.run("train-second", [*train, "--output", str(adapter2), "--max-steps", "10", "--seed", "1"])
        step.run("lint", [sys.executable, "-m", "serving", "lint", str(adapter)])
        summary["measured"]["rewritten_adapter"] = make_rewritten_adapter(twin, bad)
        step.run("lint-rewritten", [sys.executable, "-m", "serving", "lint", str(bad)], ok_codes=(1,))
        if args.stop_after_training:
            summary["outcome"] = "complete (stopped after training, as asked)"
            return 0

        server, started, serve_argv = start_vllm(work, out, twin, adapter, args.port, args.max_model_len)
        summary["serve_command"] = shlex.join(serve_argv)
        wait_ready(server, base_url, timeout_s=600)
        summary["measured"]["server_start_seconds"] = round(time.monotonic() - started, 1)
        print(f"[e2e] vLLM ready after {summary['measured']['server_start_seconds']} s", flush=True)

        step.run("check", [sys.executable, "-m", "serving", "check", "--base-url", base_url, "--adapter", "madcat",
                           "--base-model", "tiny-base", "--json"])
        summary["measured"]["strict_tools_probe"] = strict_tools_probe(base_url, "madcat")
        arms = {
            "madcat": eval_arm(step, "madcat", runs, base_url, args, "madcat", adapter_dir=adapter),
            "base": eval_arm(step, "base", runs, base_url, args, "none"),
            "base-full-prompt": eval_arm(step, "base-full-prompt", runs, base_url, args, "none", prompt="full"),
        }
        summary["measured"]["arms"] = {name: results_stats(path) for name, path in arms.items()}
        for name, path in arms.items():
            shutil.copy(path / "results.json", out / f"results-{name}.json")
        step.run("compare", [sys.executable, "-m", "reports", "compare", str(arms["base"]), str(arms["madcat"]),
                             str(arms["base-full-prompt"]), "--names", "base,madcat,base-full-prompt",
                             "--out", str(out / "comparison")])
        gate = step.run("gate", [sys.executable, "-m", "reports", "gate", str(arms["madcat"]), "--baseline",
                                 str(arms["base"])], ok_codes=(0, 1))
        write_text_atomic(out / "gate.txt", gate.stdout + gate.stderr)
        summary["gate_exit"] = gate.returncode

        step.run("load-second", [sys.executable, "-m", "serving", "load", "--base-url", base_url, "--name",
                                 "madcat-candidate", "--path", str(adapter2)])
        step.run("check-second", [sys.executable, "-m", "serving", "check", "--base-url", base_url, "--adapter",
                                  "madcat-candidate", "--base-model", "tiny-base", "--json"])
        step.run("unload-second", [sys.executable, "-m", "serving", "unload", "--base-url", base_url, "--name",
                                   "madcat-candidate"])
        step.run("load-rewritten-refused-by-lint", [sys.executable, "-m", "serving", "load", "--base-url", base_url,
                                                    "--name", "rewritten", "--path", str(bad)], ok_codes=(1, 2))
        sent = step.run("load-rewritten-sent-anyway", [sys.executable, "-m", "serving", "load", "--base-url", base_url,
                                                       "--name", "rewritten", "--path", str(bad), "--no-lint"],
                        ok_codes=(0, 1, 2))
        summary["measured"]["rewritten_sent_anyway"] = {"exit": sent.returncode,
                                                        "message": (sent.stderr or sent.stdout).strip()[-400:]}
        step.run("check-after-500", [sys.executable, "-m", "serving", "check", "--base-url", base_url, "--adapter",
                                     "madcat", "--base-model", "tiny-base"], ok_codes=(0, 1, 2))
        summary["outcome"] = "complete"
    except (StepFailed, subprocess.TimeoutExpired, OSError) as exc:
        summary["outcome"] = f"stopped: {exc}"
        print(f"[e2e] {summary['outcome']}", flush=True)
    except Exception as exc:  # noqa: BLE001 - record whatever stopped the run, then still write the summary
        summary["outcome"] = f"stopped: {exc.__class__.__name__}: {exc}"
        print(f"[e2e] {summary['outcome']}", flush=True)
    finally:
        if server is not None:
            stop(server)
            full = (out / "logs" / "vllm-serve.full.log").read_text(errors="replace").splitlines()
            kept = [ln for ln in full if SERVE_LOG_KEEP.search(ln)]
            write_text_atomic(out / "logs" / "vllm-serve.relevant.log", "\n".join(kept[-400:]) + "\n")
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        write_text_atomic(out / "summary.md", render_summary(summary))
    return 0 if summary["outcome"].startswith("complete") else 1


def render_summary(summary: dict[str, Any]) -> str:
    v, m = summary["versions"], summary["measured"]
    lines = ["# GPU end-to-end run (tiny twin, real vLLM)", "",
             f"- outcome: **{summary['outcome']}**", f"- date: {v.get('date')}", f"- GPU: {v.get('gpu')}",
             "- versions: " + ", ".join(f"{k} {v[k]}" for k in ("vllm", "torch", "transformers", "peft", "trl",
                                                                 "bitsandbytes", "inspect_ai", "triton") if k in v),
             f"- vLLM start to ready: {m.get('server_start_seconds', '-')} s", ""]
    if m.get("arms"):
        lines += ["| arm | samples | complete | passed | requests | prompt tokens / request | requests / s |",
                  "|---|---|---|---|---|---|---|"]
        for name, a in m["arms"].items():
            lines.append(f"| {name} | {a['samples']} | {a['complete']} | {a['passed']} | {a['requests']} | "
                         f"{a['prompt_tokens_per_request']} | {a['requests_per_second']} |")
        lines.append("")
    if "rewritten_adapter" in m:
        lines.append(f"- peft's rewrite of the shared-expert targets: {m['rewritten_adapter']}")
    if "rewritten_sent_anyway" in m:
        lines.append(f"- the rewritten adapter sent with --no-lint: exit {m['rewritten_sent_anyway']['exit']}: "
                     f"`{m['rewritten_sent_anyway']['message']}`")
    lines += ["", "| step | exit | seconds |", "|---|---|---|"]
    lines += [f"| {s['name']} | {s['exit']} | {s['seconds']} |" for s in summary["steps"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
