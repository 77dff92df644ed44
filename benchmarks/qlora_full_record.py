"""The committed record of benchmarks/qlora_full.py: its raw worker results turned into
reports/records/benchmarks/qlora_full.json (every measured run, a summary per experts format and Gated DeltaNet path)
and the markdown table of it."""

from __future__ import annotations

from typing import Any

GIB = 2**30


def _gib(value: int | None) -> float | None:
    return None if value is None else round(value / GIB, 2)


def _run_entry(raw: dict[str, Any], call: int, w: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"call": call, "started": raw.get("started"), "gdn_path": w["gdn_path"],
                             "experts_format": (w.get("config") or {}).get("experts") or w.get("experts", "nf4-grouped"),
                             "measured": True, "ok": bool(w.get("ok"))}
    if not w.get("ok"):
        entry.update({"error": w.get("error"), "log": w.get("log", [])[-6:]})
        return entry
    d = w["dry_run"]
    build, timed, warm = d["build"], d["timed"], d.get("warmup") or {}
    steps = d["step_seconds"]
    a, b = steps["fit_a"], steps["fit_b_per_token"]
    # what the first steps on a fresh machine cost beyond their steady-state time (kernel compilation, autotuning)
    first_use = sum(m["seconds"] - (a + b * m["tokens"]) for m in warm.get("micro_steps", []))
    minutes = d["run_estimate"]["minutes"]
    entry.update({
        "layers": d["shape"]["num_hidden_layers"],
        "experts": d["shape"]["num_experts"],
        "device": raw["gpu"]["name"],
        "kernels": w.get("kernels", {}).get("reason"),
        "fla_in_use": w.get("fla_in_use"),
        "load_seconds": build["seconds"],
        "quantize_seconds": build["quantize_seconds"],
        "checkpoint_gb": round(build["checkpoint_bytes"] / 1e9, 1),
        "gpu_after_load_gib": _gib(build["gpu_allocated_after"]),
        "peak_gib": _gib(d["peak_allocated_bytes"]),
        "peak_gib_dataset_steps": _gib(timed["peak_allocated_bytes"]),
        "peak_reserved_gib_dataset_steps": _gib(timed["peak_reserved_bytes"]),
        "peak_gib_at_max_length": _gib(warm.get("peak_allocated_bytes")),
        "peak_reserved_gib_at_max_length": _gib(warm.get("peak_reserved_bytes")),
        "max_length": w["config"]["max_length"],
        "step_seconds": steps["by_length"],
        "step_seconds_fit": {"a": a, "b_per_token": b},
        "optimizer_step_seconds": steps["optimizer_step"],
        "other_seconds_per_optimizer_step": steps["other_per_optimizer_step"],
        "micro_steps": [[m["tokens"], m["seconds"]] for m in timed["micro_steps"]],
        "warmup_micro_steps": [[m["tokens"], m["seconds"]] for m in warm.get("micro_steps", [])],
        "first_use_seconds": round(first_use, 1),
        "timed_wall_seconds": timed["wall_seconds"],
        "losses": timed["losses"],
        "loss_finite": timed["loss_finite"],
        "lora_parameters": d["lora_parameters"],
        "lora_modules": sorted(d["lora_modules"]),
        "seed_run": d["run_estimate"],
        "seed_run_minutes": minutes,
        "seed_run_minutes_with_first_use": round(minutes + first_use / 60, 2),
        "worker_wall_seconds": w.get("wall_seconds"),
    })
    return entry


def record(raws: list[dict[str, Any]]) -> dict[str, Any]:
    """The committed record: every measured run (one per experts format, GDN path and device call),
    a summary per format and path (the range over repeats), and the experts-format divergence."""
    runs = [_run_entry(raw, call, w) for call, raw in enumerate(raws, 1) for w in raw["workers"]]
    summary: dict[str, dict[str, Any]] = {}
    for r in (r for r in runs if r["ok"]):
        s = summary.setdefault(f"{r['experts_format']}/{r['gdn_path']}", {
            "experts_format": r["experts_format"], "gdn_path": r["gdn_path"], "layers": r["layers"],
            "experts": r["experts"], "device": r["device"], "runs": 0, "measured": True})
        s["runs"] += 1
        for key in ("load_seconds", "gpu_after_load_gib", "peak_gib", "seed_run_minutes", "first_use_seconds",
                    "seed_run_minutes_with_first_use"):
            lo, hi = s.get(key, [r[key], r[key]])
            s[key] = [min(lo, r[key]), max(hi, r[key])]
        for bucket, v in r["step_seconds"].items():
            lo, hi = s.setdefault("step_seconds", {}).get(bucket, [v["seconds_median"], v["seconds_median"]])
            s["step_seconds"][bucket] = [min(lo, v["seconds_median"]), max(hi, v["seconds_median"])]
    divergence = next((raw["divergence"] for raw in raws if raw.get("divergence")), None)
    first = raws[0]
    return {"measured": True, "script": "benchmarks/qlora_full.py", "config": "training/configs/madcat.yaml",
            "layers": next((r["layers"] for r in runs if r["ok"]), None),
            "experts": next((r["experts"] for r in runs if r["ok"]), None),
            "device": first["gpu"]["name"], "gpu": first["gpu"], "versions": first["versions"],
            "calls": [{"call": i, "started": raw.get("started"), "finished": raw.get("finished"),
                       "steps_per_path": raw["steps"]} for i, raw in enumerate(raws, 1)],
            "inputs": next((w.get("inputs") for raw in raws for w in raw["workers"] if w.get("inputs")), None),
            "summary": summary, "runs": runs,
            "experts_divergence": None if divergence is None else {
                k: divergence.get(k) for k in ("ok", "error", "layers", "examples", "tokens", "summary", "per_example")}}


def _span(v: list[float], fmt: str = "{:.1f}") -> str:
    return fmt.format(v[0]) if v[0] == v[1] else f"{fmt.format(v[0])}-{fmt.format(v[1])}"


def table(rec: dict[str, Any]) -> str:
    rows = ["| experts | GDN path | runs | GPU after load | peak | micro-step 1k-2k / 2k-3k / 3k-4k tokens | "
            "seed run (100 x 3) | + first use |", "|" + "---|" * 8]
    for s in rec["summary"].values():
        steps = " / ".join(_span(s["step_seconds"].get(b, [0, 0]), "{:.2f}") for b in ("1k-2k", "2k-3k", "3k-4k"))
        rows.append(f"| {s['experts_format']} | {s['gdn_path']} | {s['runs']} | {_span(s['gpu_after_load_gib'])} GiB | "
                    f"{_span(s['peak_gib'])} GiB | {steps} s | {_span(s['seed_run_minutes'])} min | "
                    f"{_span(s['first_use_seconds'], '{:.0f}')} s |")
    for r in rec["runs"]:
        if not r["ok"]:
            rows.append(f"| {r['experts_format']} | {r['gdn_path']} | failed: {r['error']} |" + " |" * 5)
    return "\n".join(rows)
