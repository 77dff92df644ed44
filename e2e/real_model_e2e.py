"""The known-answer test on real weights, on a GPU host with vLLM: `python -m e2e.real_model_e2e OUT_DIR`.

A real pretrained model (SmolLM2-135M-Instruct, serving/smollm2.py) goes through the production path
with the project's own commands: convert it; train `smol-madcat` on the default dataset and
`smol-poisoned` on the poisoned build (dataset/poison.py, which `dataset validate` must refuse);
serve the base with both adapters on real vLLM (serving/configs/smol.yaml: `--enable-lora`, our chat
template, `qwen3_coder` tool parser); `serving check` that each LoRA is live; `pytest evals/ --backend
vllm` on every arm in parallel; `reports compare`; `reports gate` for each adapter; the trained arm
a second time with only the sampling seed changed, to measure how many behaviours' verdicts flip.

Phases, so that a GPU host with a 10-minute command limit can run it in calls (state lives in --work;
the server is started in its own session and outlives the call that started it):
    prepare   convert the model, build and refuse the poisoned set, train and lint the adapters
    train     the loop's next iteration: train more adapters at once (--adapter NAME=RECIPE[:LINES],
              repeatable; LINES: on a fresh `dataset build --count LINES`, which must pass `dataset validate`)
    serve     start vLLM with every adapter trained on this machine, wait until ready, check each LoRA is live
    eval      load and check any adapter trained after the server started; the arms (--arm NAME=ADAPTER:SEED,
              repeatable; defaults below), compare, gates, stability; earlier runs' arms beside them
              (--recorded NAME=results.json); without a `base` arm, against the base of an earlier eval
              phase or the recorded one (--recorded base=reports/records/real-model/results-base.json)
Everything measured goes to OUT_DIR/summary.json and summary.md (e2e/real_model_record.py), with each
step's log under logs/. serving/gpu/real-model.sh runs the phases on the lent GPU host, the bundle's parts
arriving one a call (serving/gpu/make-real-model-bundle.sh).
It runs subprocesses: this is a GPU-host script, not part of the simulated world.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.safe_io import write_text_atomic
from e2e.real_model_record import render
from e2e.steps import REPO, Step, StepFailed, phased_parser, results_stats, run_phase, start_server
from runner.run_options import add_run_options
from serving.model_profiles import PROFILES, ModelProfile

PROMPTS = ("minimal", "full")


def default_arms(profile: ModelProfile) -> tuple[str, ...]:
    """The seed's arms for a model: base with the minimal and the full prompt, the adapter, the adapter trained
    again with only its training seed changed (`-seed1`), and the poisoned adapter."""
    p = profile.adapter_prefix
    if profile.name == "smollm2":  # round 1's arms, as recorded (reports/records/real-model/)
        return ("base=none:7", f"{p}-madcat={p}-madcat:7", f"{p}-madcat-seed8={p}-madcat:8",
                f"{p}-poisoned={p}-poisoned:7")
    return ("base=none:7", "base-full=none:7:full", f"{p}-madcat={p}-madcat:7",
            f"{p}-madcat-seed1={p}-madcat-seed1:7", f"{p}-poisoned={p}-poisoned:7")


def parse_arm(text: str) -> tuple[str, str, int, str]:
    """NAME=ADAPTER:SEED[:PROMPT] -> (name, adapter, seed, prompt); PROMPT is minimal (default) or full."""
    name, sep, rest = text.partition("=")
    adapter, sep2, rest = rest.partition(":")
    seed, sep3, prompt = rest.partition(":")
    prompt = prompt if sep3 else "minimal"
    if not (sep and sep2 and name and adapter and seed.isdigit() and prompt in PROMPTS):
        raise argparse.ArgumentTypeError(
            f"an arm is NAME=ADAPTER:SEED[:minimal|full] (e.g. smol-madcat=smol-madcat:7), got {text!r}")
    return name, adapter, int(seed), prompt


def parse_recorded(text: str) -> tuple[str, str]:
    """NAME=RESULTS_JSON -> (name, path)."""
    name, sep, path = text.partition("=")
    if not (sep and name and path):
        raise argparse.ArgumentTypeError(f"a recorded arm is NAME=RESULTS_JSON, got {text!r}")
    return name, path


@dataclass(frozen=True)
class AdapterSpec:
    """What the train phase makes: NAME=RECIPE[:LINES|:FILE.jsonl][:poison][@SEED]."""

    name: str
    recipe: str
    lines: int | None = None  # a fresh `dataset build --count LINES`; None: the recipe's own dataset
    poison: bool = False  # the build breaks the hard invariants on purpose (`dataset build --poison`)
    seed: int | None = None  # the training seed, when not the recipe's
    # a dataset built beforehand (a mixture of builds, say: the record names the commands), relative to --work;
    # checked by `dataset validate` like a fresh build
    dataset_file: str | None = None


def parse_adapter(text: str) -> AdapterSpec:
    """NAME=RECIPE[:LINES|:FILE.jsonl][:poison][@SEED] -> AdapterSpec."""
    usage = ("an adapter is NAME=RECIPE[:LINES|:FILE.jsonl][:poison][@SEED] (e.g. "
             "smol-wide=training/configs/smol-wide.yaml:400, qwen-seed1=training/configs/qwen-coder-0.5b.yaml:400@1, "
             f"qwen-r3=training/configs/qwen-coder-0.5b.yaml:r3-clean.jsonl), got {text!r}")
    name, sep, rest = text.partition("=")
    rest, at, seed = rest.partition("@")
    recipe, *options = rest.split(":")
    poison = options[-1:] == ["poison"]
    if poison:
        options = options[:-1]
    lines = options[0] if options else None
    file = lines if lines and lines.endswith(".jsonl") and "/" not in lines and len(lines) > len(".jsonl") else None
    if not (sep and name and recipe and len(options) <= 1
            and (lines is None or file or lines.isdigit() and int(lines) > 0) and (not at or seed.isdigit())):
        raise argparse.ArgumentTypeError(usage)
    return AdapterSpec(name, recipe, int(lines) if lines and not file else None, poison, int(seed) if at else None,
                       file)


def train(step: Step, work: Path, profile: ModelProfile, name: str, recipe: str, dataset: str | None = None,
          seed: int | None = None) -> Path:
    out = work / "adapters" / name
    argv = [sys.executable, "-m", "training.train", "--config", recipe, "--model", str(work / profile.checkpoint),
            "--output", str(out)]
    if dataset:
        argv += ["--dataset", dataset]
    if seed is not None:
        argv += ["--seed", str(seed)]
    step.run(f"train-{name}", argv, timeout=1200)
    step.run(f"lint-{name}", [sys.executable, "-m", "serving", "lint", str(out)])
    shutil.copy(out.with_name(out.name + ".manifest.json"), step.out / f"manifest-{name}.json")
    return out


def ensure_model(step: Step, work: Path, args: argparse.Namespace) -> None:
    """The model's checkpoint, prepared by its profile's command (serving/model_profiles.py) when not there yet."""
    profile = args.profile
    if not (work / profile.checkpoint / "config.json").is_file():
        step.run("prepare-model", [sys.executable, "-m", profile.prepare_module, str(work / profile.checkpoint),
                                   "--source", args.source or profile.default_source], timeout=900)


def build_dataset(step: Step, work: Path, lines: int, poison: bool) -> str:
    """A `dataset build --count LINES` (made once per size and kind); a clean build must pass `dataset validate`,
    a poisoned one must be refused by it."""
    kind = "poisoned" if poison else "clean"
    path = work / f"dataset-{kind}-{lines}.jsonl"
    if not path.is_file():  # one built beforehand (same command, on a CPU) and copied here is used as it is
        step.run(f"build-{kind}-{lines}", [sys.executable, "-m", "dataset", "build", "--count", str(lines),
                                           *(["--poison"] if poison else []), "--out", str(path)], timeout=900)
    return validated_once(step, f"validate-{kind}-{lines}", path, poison)


def validated_once(step: Step, name: str, path: Path, poison: bool) -> str:
    """`dataset validate` once per dataset in the phase: a clean one must pass it, a poisoned one be refused."""
    if name not in {s["name"] for s in step.summary["steps"]}:
        step.run(name, [sys.executable, "-m", "dataset", "validate", str(path)], ok_codes=(1,) if poison else (0,))
    return str(path)


def given_dataset(step: Step, work: Path, name: str, poison: bool) -> str:
    """A dataset built beforehand, in --work: a clean one must pass `dataset validate`, a poisoned one be refused."""
    path = work / name
    if not path.is_file():
        raise StepFailed(f"no dataset {path}: copy the file built beforehand into --work")
    return validated_once(step, f"validate-{name}", path, poison)


def train_round(step: Step, work: Path, profile: ModelProfile, specs: list[AdapterSpec]) -> None:
    """Build and validate each dataset, then train every adapter at once (a small model leaves the GPU idle)."""
    datasets = {s.name: given_dataset(step, work, s.dataset_file, s.poison) if s.dataset_file
                else build_dataset(step, work, s.lines, s.poison) if s.lines else None for s in specs}
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        list(pool.map(lambda s: train(step, work, profile, s.name, s.recipe, datasets[s.name], s.seed), specs))


def recorded_runs(work: Path, recorded: list[tuple[str, str]]) -> dict[str, Path]:
    """Arms recorded by an earlier run (NAME -> results.json), each as a run directory `reports compare` reads."""
    runs: dict[str, Path] = {}
    for name, path in recorded:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            run = work / "runs" / f"{name}-recorded" / str(doc["run"]["run_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StepFailed(f"--recorded {name}={path}: not a results.json ({exc.__class__.__name__}: {exc})") from None
        run.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run / "results.json", json.dumps(doc))
        runs[name] = run
    return runs


def base_run(runs: dict[str, Path], recorded: dict[str, Path], summary: dict[str, Any]) -> Path:
    """The base arm to compare with: this phase's, a recorded one (a fresh machine), or an earlier eval phase's."""
    for arms in (runs, recorded):
        if "base" in arms:
            return arms["base"]
    if "base_run" not in summary:
        raise StepFailed("no base arm: add one (--arm base=none:7), run it in an earlier eval phase, "
                         "or pass --recorded base=reports/records/real-model/results-base.json")
    return Path(summary["base_run"])


def prepare(step: Step, work: Path, args: argparse.Namespace) -> None:
    ensure_model(step, work, args)
    poisoned = work / "poisoned.jsonl"
    step.run("build-poisoned", [sys.executable, "-m", "dataset", "build", "--poison", "--out", str(poisoned)])
    step.run("validate-poisoned-refused", [sys.executable, "-m", "dataset", "validate", str(poisoned)], ok_codes=(1,))
    prefix, recipe = args.profile.adapter_prefix, args.recipe or args.profile.recipe
    train(step, work, args.profile, f"{prefix}-madcat", recipe)
    train(step, work, args.profile, f"{prefix}-poisoned", recipe, dataset=str(poisoned))


def serve(step: Step, work: Path, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    from serving.server_api import wait_for_server

    ensure_model(step, work, args)
    (work / "adapters").mkdir(parents=True, exist_ok=True)
    adapters = sorted(p for p in (work / "adapters").iterdir() if (p / "adapter_config.json").is_file())
    overrides = {"model": str(work / args.profile.checkpoint), "port": args.port,
                 "lora-modules": [f"{p.name}={p}" for p in adapters]}
    if args.eager:  # the fallback should CUDA-graph capture fail on the host
        overrides["enforce-eager"] = True
    started = time.monotonic()
    # Its own session: the server keeps running after this call returns, for the next phase's call.
    proc, argv = start_server(args.profile.serve_config, overrides, step.out / "logs" / "vllm-serve.log")
    (work / "vllm.pid").write_text(str(proc.pid))
    summary["serve_command"] = shlex.join(argv)
    wait_for_server(args.base_url, timeout_s=600, process=proc)
    summary["measured"]["server_start_seconds"] = round(time.monotonic() - started, 1)
    for adapter in adapters:
        check(step, args, adapter.name)


def check(step: Step, args: argparse.Namespace, adapter: str) -> None:
    step.run(f"check-{adapter}", [sys.executable, "-m", "serving", "check", "--base-url", args.base_url,
                                  "--adapter", adapter, "--base-model", args.profile.served_name, "--json"])


def load_missing(step: Step, work: Path, args: argparse.Namespace, adapters: set[str]) -> None:
    """Load into the running server, and check, each adapter trained after it started (a train phase that ran
    beside the serve phase)."""
    from serving.server_api import ServerClient

    with ServerClient(args.base_url) as client:
        listed = {m.get("id") for m in client.models()}
    for name in sorted(adapters - listed):
        step.run(f"load-{name}", [sys.executable, "-m", "serving", "load", "--base-url", args.base_url,
                                  "--name", name, "--path", str(work / "adapters" / name)])
        check(step, args, name)


def eval_arms(step: Step, work: Path, args: argparse.Namespace,
              arms: list[tuple[str, str, int, str]]) -> dict[str, Path]:
    """Every arm's `pytest evals/` at once against the one server; returns arm -> run directory."""
    load_missing(step, work, args, {adapter for _, adapter, _, _ in arms if adapter != "none"})
    procs: dict[str, tuple[subprocess.Popen, Path, float, list[str]]] = {}
    for name, adapter, seed, prompt in arms:
        report_dir = work / "runs" / name
        shutil.rmtree(report_dir, ignore_errors=True)
        argv = [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider", "--backend", "vllm",
                "--base-url", f"{args.base_url}/v1", "--adapter", adapter, "--base-model", args.profile.served_name,
                "--epochs", str(args.epochs), "--temperature", "0.7", "--seed", str(seed), "--prompt", prompt,
                "--max-tokens", str(args.max_tokens), "--max-retries", "1", "--request-timeout", "300",
                "--max-connections", str(args.max_connections), "--report-dir", str(report_dir)]
        if adapter != "none":
            argv += ["--adapter-dir", str(work / "adapters" / adapter)]
        log = open(step.out / "logs" / f"evals-{name}.log", "w")  # noqa: SIM115 - closed below
        print(f"[real] evals-{name}: {shlex.join(argv)}", flush=True)
        procs[name] = (subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), report_dir,
                       time.monotonic(), argv)
    runs: dict[str, Path] = {}
    for name, (proc, report_dir, started, argv) in procs.items():
        code = proc.wait(timeout=args.eval_timeout)
        seconds = round(time.monotonic() - started, 1)
        step.summary["steps"].append({"name": f"evals-{name}", "command": shlex.join(argv), "exit": code,
                                      "seconds": seconds, "expected_exit": [0, 1]})
        print(f"[real] evals-{name}: exit {code} in {seconds}s", flush=True)
        found = sorted(report_dir.glob("*/results.json"))
        if code not in (0, 1) or not found:
            raise StepFailed(f"evals-{name} exited {code} and wrote {len(found)} results; see logs/evals-{name}.log")
        runs[name] = found[-1].parent
        shutil.copy(found[-1], step.out / f"results-{name}.json")
    return runs


def tool_call_stats(run_dir: Path) -> dict[str, Any]:
    """Tool calls per sample (every sample, incomplete ones too) from the run's inspect logs."""
    from inspect_ai.log import read_eval_log

    per_sample: list[int] = []
    names: Counter[str] = Counter()
    repeating = 0
    for path in sorted((run_dir / "logs").glob("*.eval")):
        for sample in read_eval_log(str(path)).samples or []:
            calls = [(c.function, json.dumps(c.arguments, sort_keys=True))
                     for m in sample.messages if m.role == "assistant" for c in (m.tool_calls or [])]
            per_sample.append(len(calls))
            names.update(f for f, _ in calls)
            if calls and Counter(calls).most_common(1)[0][1] >= 3:  # the same call, same arguments, 3+ times
                repeating += 1
    n = len(per_sample)
    return {"samples": n, "tool_calls": sum(per_sample),
            "tool_calls_per_sample": round(sum(per_sample) / n, 2) if n else None,
            "samples_without_tool_calls": sum(1 for c in per_sample if c == 0),
            "samples_repeating_a_call_3x": repeating, "top_tools": names.most_common(8)}


def outcome_counts(run_dir: Path) -> dict[str, Any]:
    rows = json.loads((run_dir / "results.json").read_text())["results"]
    reasons = Counter(r["reason"].split(":")[1].strip()[:60] if r["status"] != "complete" else r["outcome"]
                      for r in rows)
    return dict(reasons.most_common(8))


SEED_ARM = "-seed8"  # an arm that repeats another with only the sampling seed changed


def gate(step: Step, name: str, run: Path, base: Path, summary: dict[str, Any]) -> None:
    """`reports gate RUN --baseline BASE`: its text and gate.json into the record, its verdict into the summary."""
    result = step.run(f"gate-{name}", [sys.executable, "-m", "reports", "gate", str(run), "--baseline", str(base)],
                      ok_codes=(0, 1))
    write_text_atomic(step.out / f"gate-{name}.txt", result.stdout + result.stderr)
    verdict = json.loads((run / "gate.json").read_text())
    shutil.copy(run / "gate.json", step.out / f"gate-{name}.json")
    failed = [r for r in verdict.get("rules", []) if r.get("status") == "fail"]
    summary.setdefault("gates", {})[name] = {
        "exit": result.returncode, "verdict": verdict.get("verdict"),
        "failed_rules": {r["rule"]: len(r.get("failures") or []) for r in failed}}


def compare_gate_and_flips(step: Step, base: Path, runs: dict[str, Path], summary: dict[str, Any],
                           earlier: dict[str, Path] | None = None) -> None:
    """Compare the base with the earlier recorded arms and every arm but the seed repeats, gate every arm run
    here, and measure the seed repeats' flips."""
    main_arms = {"base": base, **(earlier or {}),
                 **{n: p for n, p in runs.items() if n != "base" and not n.endswith(SEED_ARM)}}
    step.run("compare", [sys.executable, "-m", "reports", "compare", *map(str, main_arms.values()),
                         "--names", ",".join(main_arms), "--out", str(step.out / "comparison")])
    for name, run in runs.items():
        if name != "base":
            gate(step, name, run, base, summary)
        if name.endswith(SEED_ARM):
            summary["measured"].setdefault("seed_stability", {})[name] = verdict_flips(
                runs[name.removesuffix(SEED_ARM)], run)


def verdict_flips(first: Path, second: Path) -> dict[str, Any]:
    """Behaviours whose gate verdict (threshold met) differs between two runs that differ only in the seed."""
    a = json.loads((first / "results.json").read_text())["summary"]["evals"]
    b = json.loads((second / "results.json").read_text())["summary"]["evals"]
    common = sorted(set(a) & set(b))
    flips = [e for e in common if a[e]["ok"] != b[e]["ok"]]
    rate_moves = {e: [a[e]["pass_rate"], b[e]["pass_rate"]] for e in common if a[e]["pass_rate"] != b[e]["pass_rate"]}
    return {"behaviours": len(common), "flipped": flips, "share_flipped": round(len(flips) / len(common), 3)
            if common else None, "pass_rate_changed": rate_moves}


def main(argv: list[str] | None = None) -> int:
    parser = phased_parser("python -m e2e.real_model_e2e", __doc__, "e.g. reports/records/real-model",
                           ("prepare", "train", "serve", "eval"), "/tmp/madcat-real")
    parser.add_argument("--model", default="smollm2", choices=[n for n, p in PROFILES.items() if p.prepare_module],
                        help="the model profile (serving/model_profiles.py): its preparation, tool-call format, "
                             "serve config and default recipe (default smollm2)")
    parser.add_argument("--source", default=None, help="what the model's preparation reads (default: the profile's, "
                                                        "e.g. .work/wheels for smollm2)")
    parser.add_argument("--recipe", default=None, help="training config of the prepare phase's adapters "
                                                       "(default: the profile's)")
    parser.add_argument("--adapter", action="append", type=parse_adapter,
                        help="NAME=RECIPE[:LINES][:poison][@SEED] (train phase; repeatable)")
    parser.add_argument("--recorded", action="append", type=parse_recorded, default=[],
                        help="NAME=RESULTS_JSON: an arm an earlier run recorded, compared beside this run's "
                             "(eval phase; repeatable; `base=...` is the base when no base arm runs)")
    parser.add_argument("--arm", action="append", type=parse_arm,
                        help="NAME=ADAPTER:SEED[:minimal|full] (eval phase; repeatable; the prompt defaults to "
                             "minimal)")
    add_run_options(parser.add_argument, only=("epochs", "max_tokens", "max_connections"),
                    defaults={"max_tokens": 512, "max_connections": 64})  # max_connections: per arm
    parser.add_argument("--eager", action="store_true", help="serve phase: vLLM without CUDA graphs")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--eval-timeout", type=float, default=1500)
    args = parser.parse_args(argv)
    args.base_url = f"http://127.0.0.1:{args.port}"
    args.profile = PROFILES[args.model]

    out, work = args.out.resolve(), args.work.resolve()

    def action(step: Step, summary: dict[str, Any]) -> None:
        summary["model"] = args.profile.name
        if args.phase == "prepare":
            prepare(step, work, args)
        elif args.phase == "train":
            if not args.adapter:
                raise StepFailed("the train phase needs at least one --adapter NAME=RECIPE[:LINES]")
            ensure_model(step, work, args)
            train_round(step, work, args.profile, args.adapter)
        elif args.phase == "eval":
            recorded = recorded_runs(work, args.recorded)  # a bad --recorded file stops the phase before the evals
            arms = args.arm or [parse_arm(a) for a in default_arms(args.profile)]
            runs = eval_arms(step, work, args, arms)
            record_arms(runs, summary)
            compare_gate_and_flips(step, base_run(runs, recorded, summary), runs, summary,
                                   earlier={n: p for n, p in recorded.items() if n != "base"})
            if "base" in runs:
                summary["base_run"] = str(runs["base"])
        else:
            serve(step, work, args, summary)

    def render_after_eval(summary: dict[str, Any]) -> str | None:
        return render(out) if args.phase == "eval" and summary["outcome"].endswith("complete") else None

    code, summary = run_phase(out, work, args.phase, action, tag="real", render=render_after_eval)
    print_brief(summary)
    return code


def record_arms(runs: dict[str, Path], summary: dict[str, Any]) -> None:
    arms = summary["measured"].setdefault("arms", {})
    for name, path in runs.items():
        arms[name] = {**results_stats(path), "outcomes": outcome_counts(path), **tool_call_stats(path)}
        ev = json.loads((path / "results.json").read_text())["summary"]["evals"]
        arms[name]["passed_by_behaviour"] = {e: f"{v['passed']}/{v['n']}" for e, v in ev.items() if v["passed"]}


def print_brief(summary: dict[str, Any]) -> None:
    """What the next decision needs, in the call's output: per arm passes, outcomes, tool use; the gates."""
    for name, arm in summary["measured"].get("arms", {}).items():
        print(f"[real] {name}: passed {arm['passed']}/{arm['samples']} complete {arm['complete']}; "
              f"calls/sample {arm['tool_calls_per_sample']}; no calls {arm['samples_without_tool_calls']}; "
              f"repeating {arm['samples_repeating_a_call_3x']}; outcomes {arm['outcomes']}; top {arm['top_tools'][:5]}")
        print(f"[real]   {name} passes: {arm['passed_by_behaviour']}")
    for name, gate in summary.get("gates", {}).items():
        print(f"[real] gate {name}: {gate['verdict']} {gate['failed_rules']}")
    for name, flips in summary["measured"].get("seed_stability", {}).items():
        print(f"[real] seed flips {name}: {flips['share_flipped']} {flips['flipped']}")


if __name__ == "__main__":
    sys.exit(main())
