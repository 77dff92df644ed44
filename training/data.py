"""Transcripts -> token ids + assistant masks, rendered with the model's own chat template.

The loss covers what the model writes: every assistant turn's text, its tool-call XML and its
``<|im_end|>``. System, user and tool-result tokens, and the ``<|im_start|>assistant\\n`` header the
server writes, are masked. The masks come from rendering prefixes of the conversation (any chat
template works, with or without ``{% generation %}`` markers; Qwen3-Coder-Next's own template has
none): assistant message i spans from the end of ``render(messages[:i], add_generation_prompt=True)``
to the end of ``render(messages[:i+1])``, less the template's trailing newline. A template that
renders an earlier turn differently once later messages follow is refused, because the model would
then be trained on a context it never sees at inference.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.chat_format import normalise_messages
from core.safe_io import JSON_ERRORS, InputError, json_reason, read_text


class DataError(ValueError):
    """A dataset that cannot be trained on; the message names the file and line."""


@dataclass
class Example:
    input_ids: list[int]
    assistant_masks: list[int]
    spans: list[tuple[int, int]]  # character spans of the assistant output in `text`
    text: str
    source: str  # "file:line"

    @property
    def assistant_tokens(self) -> int:
        return sum(self.assistant_masks)


def load_transcripts(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """(source "file:line", transcript) for each non-blank line of a JSONL file."""
    p = Path(path)
    try:
        lines = read_text(p, "dataset").splitlines()
    except InputError as exc:
        raise DataError(str(exc)) from None
    out: list[tuple[str, dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{p}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc.msg})") from None
        except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
            raise DataError(f"{where}: {json_reason(exc)}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list) or not obj["messages"]:
            raise DataError(f"{where}: a transcript needs a non-empty `messages` list")
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in obj["messages"]):
            raise DataError(f"{where}: no assistant message, nothing to train on")
        tools = obj.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise DataError(f"{where}: `tools` must be a list of tool specs")
        out.append((where, obj))
    if not out:
        raise DataError(f"dataset {p} has no transcripts")
    return out


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
            add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def assistant_spans(tokenizer: Any, messages: list[dict[str, Any]],
                    tools: list[dict[str, Any]] | None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of each assistant message's output."""
    full = _render(tokenizer, messages, tools, False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        before = _render(tokenizer, messages[:i], tools, True) if i else _render_generation_prompt(tokenizer, tools)
        upto = _render(tokenizer, messages[: i + 1], tools, False)
        if not full.startswith(before) or not full.startswith(upto) or not upto.startswith(before):
            raise DataError(
                f"the chat template renders message {i} differently once later messages follow; "
                "assistant masks cannot be derived from it"
            )
        text = upto[len(before):]
        # The template's newline after <|im_end|> is formatting the model never writes.
        end = len(before) + len(text.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return full, spans


def _render_generation_prompt(tokenizer: Any, tools: list[dict[str, Any]] | None) -> str:
    """What precedes a first-message assistant turn (a conversation that opens with the assistant)."""
    try:
        return _render(tokenizer, [], tools, True)
    except Exception:  # noqa: BLE001 - some templates refuse an empty conversation
        return ""


def mask_from_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """1 for each token whose characters overlap an assistant span."""
    merged: list[list[int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    ends = [e for _, e in merged]
    mask = []
    for start, end in offsets:
        j = bisect.bisect_right(ends, start)  # first span ending after the token starts
        mask.append(1 if j < len(merged) and end > start and merged[j][0] < end else 0)
    return mask


def _strip_extensions(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tool specs as a client sends them to the server: our `x-...` keys (x-mcp-server) removed."""
    if not tools:
        return None
    return [{k: v for k, v in t.items() if not str(k).startswith("x-")} if isinstance(t, dict) else t for t in tools]


def encode_transcript(tokenizer: Any, transcript: dict[str, Any], default_tools: list[dict[str, Any]] | None,
                      source: str = "") -> Example:
    try:
        messages = normalise_messages(transcript["messages"])
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{source}: {exc}") from None
    tools = _strip_extensions(transcript.get("tools")) or default_tools or None
    try:
        text, spans = assistant_spans(tokenizer, messages, tools)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    except Exception as exc:  # jinja errors from the model's template
        raise DataError(f"{source}: the chat template failed: {str(exc).splitlines()[0]}") from None
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    masks = mask_from_spans(enc["offset_mapping"], spans)
    if not any(masks):
        raise DataError(f"{source}: no assistant tokens after rendering")
    return Example(input_ids=list(enc["input_ids"]), assistant_masks=masks, spans=spans, text=text, source=source)


def encode_dataset(tokenizer: Any, path: str | Path, tools_when_missing: str = "world") -> list[Example]:
    default_tools = None
    if tools_when_missing == "world":
        from evals.world import load_tool_specs

        default_tools = load_tool_specs()
    return [encode_transcript(tokenizer, t, default_tools, where) for where, t in load_transcripts(path)]


def length_stats(examples: Sequence[Example], max_length: int) -> dict[str, Any]:
    lengths = sorted(len(e.input_ids) for e in examples)
    n = len(lengths)
    return {
        "examples": n,
        "tokens_total": sum(lengths),
        "assistant_tokens_total": sum(e.assistant_tokens for e in examples),
        "tokens_min": lengths[0],
        "tokens_median": lengths[n // 2],
        "tokens_max": lengths[-1],
        "over_max_length": sum(1 for x in lengths if x > max_length),
        "max_length": max_length,
        "lengths": lengths,
    }


def to_hf_dataset(examples: Sequence[Example]) -> Any:
    """A `datasets.Dataset` that trl's SFTTrainer takes as already tokenized (input_ids + assistant_masks)."""
    from datasets import Dataset

    return Dataset.from_dict(
        {"input_ids": [e.input_ids for e in examples], "assistant_masks": [e.assistant_masks for e in examples]}
    )
