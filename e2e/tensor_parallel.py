"""LoRA under tensor and pipeline parallelism on real vLLM, on a 2-GPU host: `python -m e2e.tensor_parallel OUT --phase P`.

serving/configs/bf16-lora.yaml keeps tensor parallel at 1 because LoRA on `linear_attn.in_proj_qkvz` under
TP >= 2 is suspected to be mis-sliced in vLLM 0.25.1 (the fused q/k/v/z projection is sharded per head group;
the LoRA's B slices may not follow). This settles it on the twin at widths that split over 2 GPUs
(`serving.tiny_twin --preset w4a16`, checked by serving/quant_shapes.py): the same adapter served whole (tp1),
split by tensor parallel (tp2) and by pipeline parallel (pp2), and the same reference transcripts
teacher-forced through each, with the adapter and without it. A split that changes the adapter's logprobs
more than it changes the base's is the LoRA being split wrong.

Phases (state in --work; one a call on a host with a 10-minute limit; serving/gpu/tensor-parallel.sh drives them):
    prepare          the BF16 twin and the adapter, as e2e.awq_vs_bf16 makes them (production targets, linted)
    measure --layout one layout's server (tp1: one GPU; tp2: --tensor-parallel-size 2; pp2: --pipeline-parallel-size
                     2), with --lora-target-modules = the adapter's module kinds: start it, `serving check`, the
                     transcripts' logprobs from the adapter and from the base, stop it. A layout vLLM refuses is
                     recorded with its exception and the log lines naming LoRA or the split
    compare          `reports divergence` of tp2 and pp2 against tp1, for the adapter and for the base: max and mean
                     |Δ logprob| and how many greedy (top-1) tokens differ; the adapter's minus the base's is the
                     LoRA's own part
Everything goes to OUT_DIR (reports/records/tensor-parallel/): summary.json, summary.md, logs/, logprobs and divergences.
NOT RUN YET: only the 1-GPU kind has been lent so far; tested on a CPU (arguments, plans, the summary).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from e2e.awq_vs_bf16 import (
    ADAPTER,
    SERVED_BASE,
    adapter_overrides,
    add_adapter_and_logprob_args,
    check_live,
    divergence_line,
    logprobs_argv,
    lora_part_line,
    require_positive,
    train_adapter,
)
from e2e.steps import (
    Step,
    StepFailed,
    phased_parser,
    recorded_targets,
    refusal,
    run_phase,
    start_arm_server,
    step_lines,
    stop,
)

LAYOUTS: dict[str, dict[str, int]] = {
    "tp1": {"tensor-parallel-size": 1, "pipeline-parallel-size": 1},
    "tp2": {"tensor-parallel-size": 2, "pipeline-parallel-size": 1},
    "pp2": {"tensor-parallel-size": 1, "pipeline-parallel-size": 2},
}
REFERENCE = "tp1"
PHASES = ("prepare", "measure", "compare")


def serve_overrides(work: Path, layout: str, port: int, targets: list[str]) -> dict[str, Any]:
    """serving/configs/tiny-twin.yaml with the twin, the adapter, the port and the layout's split."""
    return {**adapter_overrides(str(work / "twin-bf16"), port, str(work / "adapters" / ADAPTER), targets),
            **LAYOUTS[layout]}


def measure(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    from serving.server_api import ServerError, wait_for_server

    layout, base_url = args.layout, f"http://127.0.0.1:{args.port}"
    targets = recorded_targets(step.out)
    if targets is None:
        raise StepFailed("no adapter yet: run the prepare phase first")
    started = time.monotonic()
    proc, command = start_arm_server(step, layout, "tiny-twin", serve_overrides(work, layout, args.port, targets))
    state: dict[str, Any] = {"command": command}
    summary.setdefault("layouts", {})[layout] = state
    try:
        try:
            wait_for_server(base_url, timeout_s=args.serve_timeout, process=proc)
        except ServerError as exc:
            state.update(refusal(step, layout, exc))
            raise StepFailed(f"{layout}: vLLM did not serve it: {state.get('exception') or exc}") from None
        state["start_seconds"] = round(time.monotonic() - started, 1)
        state["check_exit"] = check_live(step, layout, base_url).returncode
        state["state"] = "live" if state["check_exit"] == 0 else "not live"
        arm = {"base_url": base_url, "model": str(work / "twin-bf16")}
        for model, tag in ((ADAPTER, ""), (SERVED_BASE, "-base")):
            out = step.out / f"logprobs{tag}-{layout}.json"
            step.run(f"logprobs{tag}-{layout}", logprobs_argv(arm, args, out, model), ok_codes=(0,))
    finally:
        stop(proc)


def compare(step: Step, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """Each measured split against tp1, adapter and base; a split with nothing to compare is said so."""
    out = summary["measured"].setdefault("divergence", {})
    for layout in LAYOUTS:
        if layout == REFERENCE:
            continue
        for tag in ("", "-base"):
            a, b = step.out / f"logprobs{tag}-{layout}.json", step.out / f"logprobs{tag}-{REFERENCE}.json"
            if not (a.is_file() and b.is_file()):
                out[f"{layout}{tag}"] = None
                continue
            div = step.out / f"divergence{tag}-{layout}.json"
            step.run(f"divergence{tag}-{layout}", [sys.executable, "-m", "reports", "divergence", str(a), str(b),
                                                   "--names", f"{layout},{REFERENCE}", "--out", str(div)],
                     ok_codes=(0, 1))
            out[f"{layout}{tag}"] = json.loads(div.read_text(encoding="utf-8"))
    if not any(out.values()):
        raise StepFailed("nothing to compare: measure tp1 and at least one of tp2, pp2 first")


def render(summary: dict[str, Any]) -> str:
    lines = ["# LoRA under tensor and pipeline parallelism on the tiny twin", "", f"Outcome: {summary.get('outcome')}",
             "", "| layout | state | start (s) | check |", "|---|---|---|---|"]
    for name, state in summary.get("layouts", {}).items():
        lines.append(f"| {name} | {state.get('state', 'started')} | {state.get('start_seconds', '')} | "
                     f"{state.get('check_exit', '')} |")
    for name, state in summary.get("layouts", {}).items():
        if state.get("state") == "refused":
            lines += ["", f"## {name}: refused", "", f"- {state.get('why')}"]
            if state.get("exception"):
                lines.append(f"- exception: `{state['exception']}`")
            lines += [f"    {line}" for line in state.get("lines", [])]
    divergence = summary.get("measured", {}).get("divergence", {})
    for layout in LAYOUTS:
        adapter, base = divergence.get(layout), divergence.get(f"{layout}-base")
        if layout == REFERENCE or (adapter is None and base is None):
            continue
        lines += ["", f"## {layout} against {REFERENCE}", ""]
        lines += [f"- {what}: {divergence_line(d)}" for what, d in (("adapter", adapter), ("base", base)) if d]
        if adapter and base:
            lines.append("- " + lora_part_line(adapter, base))
    return "\n".join(lines + step_lines(summary)) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = phased_parser("python -m e2e.tensor_parallel", __doc__, "reports/records/tensor-parallel", PHASES, "/tmp/madcat-tp")
    p.add_argument("--layout", choices=tuple(LAYOUTS), help="the split the measure phase serves")
    add_adapter_and_logprob_args(p)
    p.add_argument("--port", type=int, default=8031)
    p.add_argument("--serve-timeout", type=float, default=420, help="seconds the server gets to become ready")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.phase == "measure" and args.layout is None:
        parser.error("--phase measure needs --layout (tp1, tp2 or pp2)")
    require_positive(parser, args, ("train_steps", "logprob_limit"))
    if not 1024 <= args.port <= 65535:
        parser.error("--port must be in 1024..65535")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, work = args.out.resolve(), args.work.resolve()

    def action(step: Step, summary: dict[str, Any]) -> None:
        if args.phase == "prepare":
            step.run("twin", [sys.executable, "-m", "serving.tiny_twin", str(work / "twin-bf16"), "--preset", "w4a16"])
            train_adapter(step, work / "twin-bf16", work / "adapters" / ADAPTER, args)
        elif args.phase == "measure":
            measure(step, work, args, summary)
        else:
            compare(step, args, summary)

    phase = args.phase + (f" {args.layout}" if args.phase == "measure" else "")
    return run_phase(out, work, phase, action, tag="tp", render=render)[0]


if __name__ == "__main__":
    sys.exit(main())
