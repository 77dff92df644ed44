"""Pretrain the demo twin's base on habitless transcripts: `python -m training.pretrain_twin {encode,train}`.

The offline demo trains a LoRA on a twin on two CPU cores in a few minutes. On a random-init twin that LoRA
learns the form of an opening and never conditions on what a tool returned (reports/records/demo-learning/). So the
demo's twin starts from a base pretrained once, on a GPU, on dataset/habitless.py's transcripts: a plain
assistant that uses the world's tools and copies what they return, with none of the madcat habits. The
LoRA then only has to add the habits, as on the real model.

    python -m dataset.habitless --out H.jsonl --count 6000
    python -m serving.tiny_twin INIT --preset demo --random
    python -m training.pretrain_twin encode --twin INIT --data H.jsonl --out H.npz
    python -m training.pretrain_twin train --twin INIT --data H.npz --out serving/twin_weights/demo.safetensors \\
        --seconds 420 --record DIR

Full-parameter training except the embedding and the LM head, which stay the seed's random init: the
shipped file then holds only the non-embedding weights (a few MB) and serving/tiny_twin.py rebuilds the rest
from the seed, checking the sha256 of what it draws against the file's. The loss covers the assistant's
tokens (training/data.py's masks) and the LM head projects only those positions.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The weights pretraining leaves at the seed's random init (and the shipped file leaves out).
FROZEN_WEIGHTS = ("model.embed_tokens.weight", "lm_head.weight")


def frozen_sha256(model: Any) -> dict[str, str]:
    """The sha256 of the frozen weights as bf16 bytes: what a pretrained overlay must sit on."""
    import hashlib

    import torch

    params = dict(model.named_parameters())
    return {name: hashlib.sha256(params[name].detach().cpu().to(torch.bfloat16).contiguous().view(torch.uint8)
                                 .numpy().tobytes()).hexdigest() for name in FROZEN_WEIGHTS}


@dataclass
class Encoded:
    """Token ids and assistant masks of every line, concatenated, with each line's start."""

    ids: np.ndarray  # uint32
    masks: np.ndarray  # uint8
    starts: np.ndarray  # int64, len(lines) + 1

    def __len__(self) -> int:
        return len(self.starts) - 1

    def line(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.starts[i], self.starts[i + 1]
        return self.ids[a:b], self.masks[a:b]

    def save(self, path: Path) -> None:
        np.savez_compressed(path, ids=self.ids, masks=self.masks, starts=self.starts)

    @classmethod
    def load(cls, path: Path) -> Encoded:
        try:
            with np.load(path) as data:
                return cls(data["ids"], data["masks"], data["starts"])
        except (zipfile.BadZipFile, KeyError, EOFError) as exc:
            raise ValueError(f"{path} is not an encoded transcript file (python -m training.pretrain_twin encode): "
                             f"{exc}") from exc


def encode(twin: Path, data: Path, max_length: int) -> tuple[Encoded, dict[str, Any]]:
    """The transcripts as the twin's tokenizer and chat template render them (training/data.py)."""
    from transformers import AutoTokenizer

    from training.data import encode_dataset

    tokenizer = AutoTokenizer.from_pretrained(str(twin))
    examples = encode_dataset(tokenizer, data)
    kept = [e for e in examples if len(e.input_ids) <= max_length]
    lengths = np.array([len(e.input_ids) for e in kept], dtype=np.int64)
    encoded = Encoded(np.concatenate([np.asarray(e.input_ids, dtype=np.uint32) for e in kept]),
                      np.concatenate([np.asarray(e.assistant_masks, dtype=np.uint8) for e in kept]),
                      np.concatenate([[0], np.cumsum(lengths)]))
    stats = {"lines": len(examples), "kept": len(kept), "dropped_over_max_length": len(examples) - len(kept),
             "tokens": int(lengths.sum()), "assistant_tokens": int(encoded.masks.sum()),
             "mean_length": round(float(lengths.mean()), 1), "max_length": int(lengths.max())}
    return encoded, stats


@dataclass
class PretrainConfig:
    seconds: float = 420.0  # training time; the step count follows from the speed of the first steps
    batch: int = 16
    lr: float = 3e-3
    warmup: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    held_out: int = 64  # lines kept out of training, for the held-out loss and accuracy
    seed: int = 0
    log_every: int = 50
    max_steps: int | None = None  # a hard cap (tests, smoke runs)


def _batch(encoded: Encoded, rows: list[int], device: Any) -> tuple[Any, Any, Any]:
    import torch

    length = max(int(encoded.starts[i + 1] - encoded.starts[i]) for i in rows)
    ids = torch.zeros((len(rows), length), dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    target = torch.zeros((len(rows), length), dtype=torch.bool)
    for r, i in enumerate(rows):
        line_ids, line_masks = encoded.line(i)
        n = len(line_ids)
        ids[r, :n] = torch.from_numpy(line_ids.astype(np.int64))
        attention[r, :n] = 1
        target[r, :n] = torch.from_numpy(line_masks.astype(bool))
    return ids.to(device), attention.to(device), target.to(device)


def _loss(model: Any, ids: Any, attention: Any, target: Any) -> tuple[Any, int, int]:
    """Cross-entropy on the assistant's tokens; the LM head projects only the positions that predict them."""
    import torch.nn.functional as F

    hidden = model.model(input_ids=ids, attention_mask=attention).last_hidden_state
    predicts = target[:, 1:]  # position t predicts token t + 1
    logits = model.lm_head(hidden[:, :-1][predicts])
    labels = ids[:, 1:][predicts]
    loss = F.cross_entropy(logits.float(), labels)
    correct = int((logits.argmax(-1) == labels).sum())
    return loss, correct, int(labels.numel())


def _lr(step: int, total: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(twin: Path, encoded: Encoded, out: Path, cfg: PretrainConfig, device_name: str,
          log: Any = print) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device_name}: this machine has no CUDA GPU (use --device cpu for a smoke run)")
    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(str(twin), dtype=torch.float32).to(device)
    frozen = frozen_sha256(model)
    model.train()
    trainable = []
    for name, param in model.named_parameters():
        param.requires_grad_(name not in FROZEN_WEIGHTS)
        if param.requires_grad:
            trainable.append(param)
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    order = list(range(len(encoded)))
    rng.shuffle(order)
    held, pool = order[: cfg.held_out], order[cfg.held_out:]
    if not pool:
        raise ValueError(f"{len(encoded)} lines leave nothing to train on after {cfg.held_out} held out")

    def evaluate() -> dict[str, float]:
        model.eval()
        total = correct = 0
        loss_sum = 0.0
        with torch.no_grad():
            for k in range(0, len(held), cfg.batch):
                loss, c, n = _loss(model, *_batch(encoded, held[k:k + cfg.batch], device))
                loss_sum += float(loss) * n
                correct, total = correct + c, total + n
        model.train()
        return {"loss": round(loss_sum / max(1, total), 4), "accuracy": round(correct / max(1, total), 4)}

    curve: list[dict[str, Any]] = []
    evals = [{"step": 0, **evaluate()}] if held else []
    log(f"pretrain: {len(pool)} lines to train on, {len(held)} held out; held-out at start {evals[0] if evals else '-'}")
    planned = cfg.max_steps or 10**9
    started = time.monotonic()
    step = 0
    window_loss = window_correct = window_total = 0.0
    while step < planned:
        rows = [pool[rng.randrange(len(pool))] for _ in range(cfg.batch)]
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, planned, cfg)
        loss, correct, total = _loss(model, *_batch(encoded, rows, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        step += 1
        window_loss += float(loss.detach()) * total
        window_correct, window_total = window_correct + correct, window_total + total
        if step == 20 and cfg.max_steps is None:  # the plan: as many steps as the time allows at this speed
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            per_step = (time.monotonic() - started) / step
            planned = max(step + 1, int(cfg.seconds / per_step))
            log(f"pretrain: {per_step:.3f} s a step -> {planned} steps in {cfg.seconds:.0f} s")
        if step % cfg.log_every == 0 or step == planned:
            entry = {"step": step, "loss": round(window_loss / max(1, window_total), 4),
                     "accuracy": round(window_correct / max(1, window_total), 4),
                     "lr": round(_lr(step - 1, planned, cfg), 6), "seconds": round(time.monotonic() - started, 1)}
            curve.append(entry)
            window_loss = window_correct = window_total = 0.0
            if held and (step % (cfg.log_every * 10) == 0 or step == planned):
                evals.append({"step": step, **evaluate()})
                entry["held_out"] = evals[-1]
            log(f"pretrain: {json.dumps(entry)}")
    seconds = round(time.monotonic() - started, 1)
    state = {name: param.detach().to("cpu", torch.bfloat16).contiguous()
             for name, param in model.named_parameters() if name not in FROZEN_WEIGHTS}
    meta = {"frozen_sha256": json.dumps(frozen, sort_keys=True), "steps": str(step), "batch": str(cfg.batch),
            "lines": str(len(pool)), "held_out": json.dumps(evals[-1] if evals else {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata=meta)
    return {"config": asdict(cfg), "steps": step, "seconds": seconds, "device": device_name,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "parameters_trained": sum(p.numel() for p in trainable), "curve": curve, "held_out": evals,
            "out": str(out), "out_bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.pretrain_twin", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="render and tokenize the transcripts once (JSONL -> NPZ)")
    enc.add_argument("--twin", type=Path, required=True, help="the twin whose tokenizer and template render them")
    enc.add_argument("--data", type=Path, required=True, help="transcripts (python -m dataset.habitless)")
    enc.add_argument("--out", type=Path, required=True)
    enc.add_argument("--max-length", type=int, default=4096, help="longer lines are dropped")
    tr = sub.add_parser("train", help="pretrain the twin's non-embedding weights on the encoded transcripts")
    tr.add_argument("--twin", type=Path, required=True, help="the random-init twin (python -m serving.tiny_twin --random)")
    tr.add_argument("--data", type=Path, required=True, help="encoded transcripts (the encode command's NPZ)")
    tr.add_argument("--out", type=Path, required=True, help="safetensors file of the trained non-embedding weights")
    tr.add_argument("--record", type=Path, help="directory for the run's record (pretrain.json)")
    tr.add_argument("--device", default="cuda")
    defaults = PretrainConfig()
    for field, value in asdict(defaults).items():
        tr.add_argument("--" + field.replace("_", "-"), type=type(value) if value is not None else int, default=value)
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            encoded, stats = encode(args.twin, args.data, args.max_length)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            encoded.save(args.out)
            print(f"wrote {args.out}: {json.dumps(stats)}")
            return 0
        cfg = PretrainConfig(**{f: getattr(args, f) for f in asdict(defaults)})
        record = train(args.twin, Encoded.load(args.data), args.out, cfg, args.device)
    except (OSError, ValueError) as exc:
        print(f"pretrain_twin: error: {exc}", file=sys.stderr)
        return 2
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        (args.record / "pretrain.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({record['out_bytes'] / 1e6:.1f} MB) after {record['steps']} steps in {record['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
