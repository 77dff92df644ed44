"""Token lengths of dataset lines, rendered the way training sees them: the chat template with tools.

The default tokenizer is the tiny twin's (serving.tiny_twin.default_twin_dir(): our byte-level BPE
and serving/chat_template.jinja); `--tokenizer DIR` points at another one, e.g. the real
Qwen3-Coder-Next tokenizer directory. The twin's 4k vocabulary splits text into more tokens than
Qwen's 150k one, so a line under the limit with the twin is under it with Qwen too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

MAX_TOKENS = 4096  # the training MAX_SEQ


class TokenizerUnavailable(RuntimeError):
    """No tokenizer could be loaded; the message says why in one line."""


class TokenCounter:
    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name

    def count(self, line: dict[str, Any]) -> int:
        """Tokens of the whole conversation with its tool specs, as the chat template renders it."""
        from evals.world import load_tool_specs
        from serving.chat_format import normalise_messages

        tools = line.get("tools") or load_tool_specs()
        ids = self.tokenizer.apply_chat_template(normalise_messages(line["messages"]), tools=tools, tokenize=True,
                                                 return_dict=False)
        return len(ids)


@lru_cache(maxsize=4)
def load_counter(tokenizer_dir: str | None = None) -> TokenCounter:
    """The tokenizer in `tokenizer_dir`, or the tiny twin's when None. Raises TokenizerUnavailable."""
    if tokenizer_dir is not None and not Path(tokenizer_dir).is_dir():
        raise TokenizerUnavailable(f"tokenizer directory {tokenizer_dir} does not exist")
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a train/serve dependency
        raise TokenizerUnavailable(f"transformers is not installed ({exc})") from exc
    if tokenizer_dir is None:
        try:
            from serving.tiny_twin import default_twin_dir
        except ImportError as exc:
            raise TokenizerUnavailable(f"the tiny twin (serving.tiny_twin) is unavailable: {exc}") from exc
        try:
            path = default_twin_dir()
        except Exception as exc:  # noqa: BLE001 - any failure to build the twin means: no tokenizer
            raise TokenizerUnavailable(f"could not build the tiny twin: {exc.__class__.__name__}: {exc}") from exc
        name = "tiny twin"
    else:
        path = Path(tokenizer_dir)
        name = str(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a bad directory
        raise TokenizerUnavailable(f"cannot load a tokenizer from {path}: {exc.__class__.__name__}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise TokenizerUnavailable(f"the tokenizer in {path} has no chat template")
    return TokenCounter(tokenizer, name)
