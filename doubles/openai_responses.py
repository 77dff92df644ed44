"""What the OpenAI-compatible stub (doubles/openai_stub.py) answers: chat and text completions built
from a scripted reply, streamed chunks, usage counted with a toy tokenizer, and deterministic fake
logprobs (the same prompt and model give the same numbers)."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

from core.chat_format import content_text

_TOKEN_RE = re.compile(r"\w+|[^\w\s]|\s+")


def count_tokens(text: str) -> int:
    """A crude, deterministic token count: words and punctuation marks."""
    return sum(1 for piece in _TOKEN_RE.findall(text) if not piece.isspace())


def split_tokens(text: str) -> list[str]:
    """Split text into 'tokens' that join back to the text (whitespace sticks to the next word)."""
    tokens: list[str] = []
    pending = ""
    for piece in _TOKEN_RE.findall(text):
        if piece.isspace():
            pending += piece
        else:
            tokens.append(pending + piece)
            pending = ""
    if pending:
        tokens.append(pending)
    return tokens


def unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from the given strings."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _fake_logprob(*parts: str) -> float:
    return -round(0.01 + 4.0 * unit(*parts), 6)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _prompt_tokens(request: dict[str, Any]) -> int:
    total = 0
    for message in request.get("messages") or []:
        total += 4 + count_tokens(content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            total += count_tokens(str(function.get("name", ""))) + count_tokens(
                str(function.get("arguments", ""))
            )
    if request.get("tools"):
        total += count_tokens(json.dumps(request["tools"]))
    return total


def _tool_calls(short: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls = []
    for i, call in enumerate(short):
        if "function" in call:  # already in OpenAI form
            calls.append(
                {"id": call.get("id", f"call_{i}"), "type": "function", "function": call["function"]}
            )
            continue
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(
            {
                "id": call.get("id") or f"chatcmpl-tool-{uuid.uuid4().hex[:16]}",
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments},
            }
        )
    return calls


def _token_logprobs(model: str, prompt: str, tokens: list[str], top_n: int) -> list[dict[str, Any]]:
    entries = []
    for i, token in enumerate(tokens):
        logprob = _fake_logprob(model, prompt, str(i), token)
        top = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        for j in range(1, top_n):
            alt = f"<alt{j}>"
            alt_logprob = logprob - j - round(unit(model, prompt, str(i), alt), 6)
            top.append({"token": alt, "logprob": alt_logprob, "bytes": list(alt.encode())})
        entries.append(
            {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top[:top_n]}
        )
    return entries


def build_chat_completion(
    who: str, model: str, request: dict[str, Any], reply: dict[str, Any]
) -> dict[str, Any]:
    """Turn a short-form reply into a chat.completion (whole completions pass through); `who` is the name
    whose fake logprobs `model` gives (its parent when LoRAs are dead)."""
    if "choices" in reply:
        return reply
    content = reply.get("content")
    tool_calls = _tool_calls(reply.get("tool_calls") or [])
    finish = reply.get("finish_reason") or ("tool_calls" if tool_calls else "stop")
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    tokens = split_tokens(content or "")
    if max_tokens is not None and content is not None and len(tokens) > int(max_tokens):
        tokens = tokens[: int(max_tokens)]
        content = "".join(tokens)
        finish = "length"
    message: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": tool_calls}
    if reply.get("reasoning_content"):
        message["reasoning_content"] = reply["reasoning_content"]
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    if request.get("logprobs"):
        if "logprobs" in reply:
            choice["logprobs"] = {"content": reply["logprobs"]}
        else:
            top_n = int(request.get("top_logprobs") or 0)
            prompt = last_user_text(request.get("messages") or [])
            choice["logprobs"] = {"content": _token_logprobs(who, prompt, tokens, max(top_n, 0))}
    completion_tokens = reply.get("completion_tokens")
    if completion_tokens is None:
        completion_tokens = len(tokens) + sum(
            count_tokens(c["function"]["name"]) + count_tokens(c["function"]["arguments"]) for c in tool_calls
        )
    prompt_tokens = reply.get("prompt_tokens", _prompt_tokens(request))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def stream_chunks(completion: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A whole completion as chat.completion.chunk events (role, content, tool calls, finish)."""
    base = {k: completion[k] for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    choice = completion["choices"][0]
    message = choice["message"]
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    if message.get("content"):
        delta: dict[str, Any] = {"index": 0, "delta": {"content": message["content"]}}
        if choice.get("logprobs"):
            delta["logprobs"] = choice["logprobs"]
        chunks.append({**base, "choices": [delta]})
    for i, call in enumerate(message.get("tool_calls") or []):
        chunks.append(
            {
                **base,
                "choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, **call}]}}],
            }
        )
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


def build_completion(who: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """/v1/completions with vLLM's prompt_logprobs: [None, {token_id: {logprob, rank, decoded_token}}, ...];
    `who` as in build_chat_completion."""
    prompt = request.get("prompt", "")
    if isinstance(prompt, list):
        prompt = "".join(str(p) for p in prompt)
    prompt_tokens = split_tokens(prompt)
    max_tokens = int(request.get("max_tokens") or 16)
    text_tokens = split_tokens(" done")[:max_tokens] if max_tokens > 0 else []
    text = "".join(text_tokens)
    choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
    if request.get("prompt_logprobs") is not None:
        entries: list[Any] = [None]
        for i, token in enumerate(prompt_tokens[1:], start=1):
            token_id = str(int(unit("id", token) * 150000))
            entries.append(
                {
                    token_id: {
                        "logprob": _fake_logprob(who, prompt, str(i), token),
                        "rank": 1,
                        "decoded_token": token,
                    }
                }
            )
        choice["prompt_logprobs"] = entries
    if request.get("logprobs") is not None:
        choice["logprobs"] = {
            "tokens": text_tokens,
            "token_logprobs": [_fake_logprob(who, prompt, "gen", str(i)) for i in range(len(text_tokens))],
            "top_logprobs": None,
            "text_offset": [],
        }
    if request.get("echo"):
        choice["text"] = prompt + text
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": len(prompt_tokens),
            "completion_tokens": len(text_tokens),
            "total_tokens": len(prompt_tokens) + len(text_tokens),
        },
    }


def error_body(message: str, err_type: str, code: int, param: str | None = None) -> dict[str, Any]:
    # vLLM >= 0.11 wraps errors as {"error": {...}}.
    return {"error": {"message": message, "type": err_type, "param": param, "code": code}}
