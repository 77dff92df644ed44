"""A small local stand-in for a vLLM OpenAI-compatible server, for tests and benchmarks.

It answers the endpoints the harness uses -- /v1/models, /v1/chat/completions (plain or streamed,
with tool calls and token logprobs), /v1/completions (with vLLM's prompt_logprobs),
/v1/load_lora_adapter, /v1/unload_lora_adapter, /version, /health -- the way vLLM does, including
vLLM's error bodies and status codes, and lets a test script each answer.

    with OpenAIStub(base_models=["tiny-base"], adapters={"madcat": "tiny-base"}) as stub:
        client = openai.OpenAI(base_url=stub.base_url + "/v1", api_key="x")

Scripting chat completions, from the most to the least specific:
  * ``stub.enqueue(model, reply)``: FIFO replies for one model, used first;
  * ``responder(model, request_json) -> reply``: a hook called for every other request;
  * the default answer: a deterministic short text that depends on the model and the prompt.
A reply is either a whole chat.completion dict (it has "choices") or a short form
``{"content": str | None, "tool_calls": [{"name", "arguments"}], "finish_reason": str}``.

It binds 127.0.0.1 only. Each connection runs in its own thread, so a fixed latency
(``latency_ms``) delays requests without serialising them.

CLI (for the runner benchmark): ``python -m doubles.openai_stub --port 0 --latency-ms 100``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from core.chat_format import content_text

Responder = Callable[[str, dict[str, Any]], dict[str, Any]]
# (lora_name, lora_path) -> None to accept, or (status, message) to fail the way vLLM would.
LoadHook = Callable[[str, str], "tuple[int, str] | None"]

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


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from the given strings."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _fake_logprob(*parts: str) -> float:
    return -round(0.01 + 4.0 * _unit(*parts), 6)


@dataclass
class _Card:
    id: str
    parent: str | None
    root: str


def _error_body(message: str, err_type: str, code: int, param: str | None = None) -> dict[str, Any]:
    # vLLM >= 0.11 wraps errors as {"error": {...}}.
    return {"error": {"message": message, "type": err_type, "param": param, "code": code}}


class OpenAIStub:
    """A threaded local OpenAI-compatible server; use it as a context manager."""

    def __init__(
        self,
        base_models: Iterable[str] = ("tiny-base",),
        adapters: dict[str, str | None] | None = None,
        *,
        responder: Responder | None = None,
        latency_ms: float = 0.0,
        lora_live: bool = True,
        runtime_lora_updating: bool = True,
        max_lora_rank: int = 16,
        load_hook: LoadHook | None = None,
        version: str = "0.25.1",
        max_model_len: int = 2048,
        port: int = 0,
    ) -> None:
        """
        base_models: served base model names.
        adapters: LoRA name -> parent base name (None: listed without a parent, like a merged model).
        lora_live: False makes every adapter answer exactly like its parent (a dead LoRA).
        runtime_lora_updating: False makes /v1/load_lora_adapter and /v1/unload_lora_adapter
            404 as vLLM does without VLLM_ALLOW_RUNTIME_LORA_UPDATING.
        max_lora_rank: loading an adapter whose adapter_config.json has r above it fails with
            HTTP 500 and vLLM's message.
        """
        self._lock = threading.Lock()
        self._cards: dict[str, _Card] = {}
        for name in base_models:
            self._cards[name] = _Card(name, None, name)
        for name, parent in (adapters or {}).items():
            self._cards[name] = _Card(name, parent, f"/stub/lora/{name}")
        self._base_names = list(base_models)
        self._queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self.responder = responder
        self.latency_ms = latency_ms
        self.lora_live = lora_live
        self.runtime_lora_updating = runtime_lora_updating
        self.max_lora_rank = max_lora_rank
        self.load_hook = load_hook
        self.version = version
        self.max_model_len = max_model_len
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, json body or None)
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> OpenAIStub:
        handler = type("_BoundHandler", (_Handler,), {"stub": self})
        server = _Server(("127.0.0.1", self._port), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The server root, e.g. http://127.0.0.1:PORT (the OpenAI client wants base_url + '/v1')."""
        return f"http://127.0.0.1:{self.port}"

    # ---- scripting -----------------------------------------------------------------------------
    def enqueue(self, model: str, *replies: dict[str, Any]) -> None:
        """Queue replies for `model`; each chat completion for it takes the next one."""
        with self._lock:
            self._queues[model].extend(replies)

    def add_adapter(self, name: str, parent: str | None, root: str = "") -> None:
        with self._lock:
            self._cards[name] = _Card(name, parent, root or f"/stub/lora/{name}")

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._cards.pop(name, None)

    def model_ids(self) -> list[str]:
        with self._lock:
            return list(self._cards)

    def calls(self, path: str) -> list[Any]:
        """The JSON bodies received on `path`, in order."""
        with self._lock:
            return [body for _method, p, body in self.requests if p == path]

    # ---- behaviour (called from handler threads) -------------------------------------------------
    def _record(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append((method, path, body))

    def _card(self, model: str) -> _Card | None:
        with self._lock:
            return self._cards.get(model)

    def _behaves_as(self, model: str) -> str:
        """The name whose answers `model` gives: its parent when LoRAs are dead."""
        card = self._card(model)
        if card is not None and card.parent and not self.lora_live:
            return card.parent
        return model

    def models_body(self) -> dict[str, Any]:
        with self._lock:
            cards = list(self._cards.values())
        data = []
        for card in cards:
            entry: dict[str, Any] = {
                "id": card.id,
                "object": "model",
                "created": 0,
                "owned_by": "vllm",
                "root": card.root,
                "parent": card.parent,
                "permission": [],
            }
            if card.parent is None:
                entry["max_model_len"] = self.max_model_len
            data.append(entry)
        return {"object": "list", "data": data}

    def chat_reply(self, model: str, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            queue = self._queues.get(model)
            queued = queue.popleft() if queue else None
        if queued is not None:
            return queued
        if self.responder is not None:
            return self.responder(model, request)
        return self.default_chat_reply(model, request)

    def default_chat_reply(self, model: str, request: dict[str, Any]) -> dict[str, Any]:
        prompt = _last_user_text(request.get("messages") or [])
        who = self._behaves_as(model)
        words = ["ok", "sin", "fuji", "junkpile", "cart", "memory", "checked", "done", "the", "host"]
        n = 3 + int(_unit(who, prompt, "n") * 4)
        text = " ".join(words[int(_unit(who, prompt, str(i)) * len(words))] for i in range(n))
        return {"content": text, "finish_reason": "stop"}

    def load_adapter(self, name: str, path: str) -> tuple[int, Any]:
        if not name or not path:
            return 400, _error_body(
                "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400
            )
        if self._card(name) is not None:
            return 400, _error_body(
                f"The lora adapter '{name}' has already been loaded. If you want to load the adapter "
                "in place, set 'load_inplace' to True.",
                "InvalidUserInput",
                400,
            )
        if self.load_hook is not None:
            failure = self.load_hook(name, path)
            if failure is not None:
                status, message = failure
                err_type = {400: "BadRequestError", 404: "NotFoundError"}.get(status, "InternalServerError")
                return status, _error_body(message, err_type, status)
        config_file = Path(path) / "adapter_config.json"
        if not config_file.is_file():
            return 404, _error_body(
                f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError", 404
            )
        try:
            rank = int(json.loads(config_file.read_text()).get("r", 0))
        except (ValueError, OSError, AttributeError) as exc:
            return 500, _error_body(f"Loading lora {path} failed: {exc}", "InternalServerError", 500)
        if rank > self.max_lora_rank:
            return 500, _error_body(
                f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.",
                "InternalServerError",
                500,
            )
        self.add_adapter(name, self._base_names[0] if self._base_names else None, path)
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def unload_adapter(self, name: str) -> tuple[int, Any]:
        if not name:
            return 400, _error_body(
                "'lora_name' needs to be provided to unload a LoRA adapter.", "InvalidUserInput", 400
            )
        card = self._card(name)
        if card is None or card.parent is None:
            return 404, _error_body(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
        self.remove_model(name)
        return 200, f"Success: LoRA adapter '{name}' removed successfully."


def _last_user_text(messages: list[dict[str, Any]]) -> str:
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
            alt_logprob = logprob - j - round(_unit(model, prompt, str(i), alt), 6)
            top.append({"token": alt, "logprob": alt_logprob, "bytes": list(alt.encode())})
        entries.append(
            {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top[:top_n]}
        )
    return entries


def build_chat_completion(
    stub: OpenAIStub, model: str, request: dict[str, Any], reply: dict[str, Any]
) -> dict[str, Any]:
    """Turn a short-form reply into a chat.completion (whole completions pass through)."""
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
            who = stub._behaves_as(model)
            prompt = _last_user_text(request.get("messages") or [])
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


def _stream_chunks(completion: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
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


def build_completion(stub: OpenAIStub, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """/v1/completions with vLLM's prompt_logprobs: [None, {token_id: {logprob, rank, decoded_token}}, ...]."""
    prompt = request.get("prompt", "")
    if isinstance(prompt, list):
        prompt = "".join(str(p) for p in prompt)
    who = stub._behaves_as(model)
    prompt_tokens = split_tokens(prompt)
    max_tokens = int(request.get("max_tokens") or 16)
    text_tokens = split_tokens(" done")[:max_tokens] if max_tokens > 0 else []
    text = "".join(text_tokens)
    choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
    if request.get("prompt_logprobs") is not None:
        entries: list[Any] = [None]
        for i, token in enumerate(prompt_tokens[1:], start=1):
            token_id = str(int(_unit("id", token) * 150000))
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 stalls bursts of concurrent connects
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up mid-reply (Ctrl-C, a timeout) is normal for a test server: no traceback
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    stub: OpenAIStub  # set on the bound subclass
    protocol_version = "HTTP/1.1"  # keep-alive, as the OpenAI client expects
    # headers and body go out in separate writes; with Nagle on, the client's delayed ACK adds ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
        return

    # ---- plumbing ----
    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, events: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        return json.loads(raw)

    def _sleep(self) -> None:
        if self.stub.latency_ms > 0:
            time.sleep(self.stub.latency_ms / 1000.0)

    # ---- routes ----
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?", 1)[0]
        self.stub._record("GET", path, None)
        if path == "/v1/models":
            self._send(200, self.stub.models_body())
        elif path == "/version":
            self._send(200, {"version": self.stub.version})
        elif path in ("/health", "/ping"):
            self._send(200, "")
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?", 1)[0]
        try:
            body = self._read_json()
        except (ValueError, UnicodeDecodeError):
            self.stub._record("POST", path, None)
            self._send(400, _error_body("Request body is not valid JSON.", "BadRequestError", 400))
            return
        self.stub._record("POST", path, body)
        try:
            if path == "/v1/chat/completions":
                self._chat(body)
            elif path == "/v1/completions":
                self._completion(body)
            elif path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
                if not self.stub.runtime_lora_updating:
                    self._send(404, {"detail": "Not Found"})  # the route does not exist
                elif path == "/v1/load_lora_adapter":
                    self._send(*self.stub.load_adapter(body.get("lora_name", ""), body.get("lora_path", "")))
                else:
                    self._send(*self.stub.unload_adapter(body.get("lora_name", "")))
            else:
                self._send(404, {"detail": "Not Found"})
        except Exception as exc:  # a broken responder must not kill the connection thread silently
            self._send(
                500, _error_body(f"stub error: {type(exc).__name__}: {exc}", "InternalServerError", 500)
            )

    def _model_or_404(self, body: dict[str, Any]) -> str | None:
        model = body.get("model") or (self.stub._base_names[0] if self.stub._base_names else "")
        if self.stub._card(model) is None:
            self._send(
                404,
                _error_body(f"The model `{model}` does not exist.", "NotFoundError", 404, param="model"),
            )
            return None
        return model

    def _chat(self, body: dict[str, Any]) -> None:
        model = self._model_or_404(body)
        if model is None:
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send(400, _error_body("'messages' must be a non-empty list.", "BadRequestError", 400))
            return
        self._sleep()
        reply = self.stub.chat_reply(model, body)
        if "error" in reply and "choices" not in reply:  # a scripted server error
            status = int(reply.get("status", 500))
            body = _error_body(str(reply["error"]), str(reply.get("type", "InternalServerError")), status)
            if reply.get("code"):  # OpenAI-style error codes, e.g. context_length_exceeded
                body["error"]["code"] = reply["code"]
            self._send(status, body)
            return
        completion = build_chat_completion(self.stub, model, body, reply)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(_stream_chunks(completion, include_usage))
        else:
            self._send(200, completion)

    def _completion(self, body: dict[str, Any]) -> None:
        model = self._model_or_404(body)
        if model is None:
            return
        self._sleep()
        self._send(200, build_completion(self.stub, model, body))


def _parse_adapter(spec: str, default_parent: str) -> tuple[str, str | None]:
    name, _, parent = spec.partition("=")
    return name, (parent or default_parent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m doubles.openai_stub",
        description="A local OpenAI-compatible stub server (127.0.0.1 only) for tests and benchmarks.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port; printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay per completion")
    parser.add_argument("--model", action="append", default=None, help="base model name (repeatable)")
    parser.add_argument(
        "--adapter", action="append", default=[], help="LoRA name, optionally NAME=PARENT (repeatable)"
    )
    parser.add_argument("--dead-lora", action="store_true", help="adapters answer exactly like their base")
    parser.add_argument(
        "--no-runtime-lora", action="store_true", help="404 on load/unload, as vLLM by default"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535 (got {args.port})")
    models = args.model or ["tiny-base"]
    adapters = dict(_parse_adapter(spec, models[0]) for spec in args.adapter)
    stub = OpenAIStub(
        models,
        adapters,
        latency_ms=args.latency_ms,
        lora_live=not args.dead_lora,
        runtime_lora_updating=not args.no_runtime_lora,
        port=args.port,
    )
    try:
        stub.start()
    except OSError as exc:
        print(f"openai_stub: cannot bind 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"openai_stub listening on {stub.base_url} (models: {', '.join(stub.model_ids())})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
