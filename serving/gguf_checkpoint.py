"""A GGUF file -> a plain Hugging Face checkpoint (dequantised weights, the GGUF's tokenizer).

Shared by the real models of the known-answer test (serving/smollm2.py, serving/qwen_coder.py): transformers
reads the GGUF (it needs the `gguf` package), but the GGUF-loaded object refuses `save_pretrained`, so a model
built from the same config takes its weights and is the one saved.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


class GGUFUnreadable(RuntimeError):
    """The GGUF cannot be read into a checkpoint; the message is one line."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(a plain model of the GGUF's architecture with dequantised float32 weights, its tokenizer)."""
    try:
        import gguf as _gguf  # noqa: F401 - transformers needs it and reports its absence obscurely
    except ImportError:
        raise GGUFUnreadable("reading a GGUF needs the gguf package: pip install gguf") from None
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    directory, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name, clean_up_tokenization_spaces=False)
    config = AutoConfig.from_pretrained(directory, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise GGUFUnreadable(f"{gguf}: the weights do not fit {type(model).__name__} "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.config.architectures = [type(model).__name__]  # vLLM picks the model class from this
    return model, tokenizer
