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
import json
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from doubles.openai_http import StubHandler, StubServer
from doubles.openai_responses import (
    error_body,
    last_user_text,
    unit,
)

Responder = Callable[[str, dict[str, Any]], dict[str, Any]]
# (lora_name, lora_path) -> None to accept, or (status, message) to fail the way vLLM would.
LoadHook = Callable[[str, str], "tuple[int, str] | None"]

@dataclass
class _Card:
    id: str
    parent: str | None
    root: str


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
        handler = type("_BoundHandler", (StubHandler,), {"stub": self})
        server = StubServer(("127.0.0.1", self._port), handler)
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
    def record(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append((method, path, body))

    def _card(self, model: str) -> _Card | None:
        with self._lock:
            return self._cards.get(model)

    def serves(self, model: str) -> bool:
        return self._card(model) is not None

    def default_model(self) -> str:
        """The model a request without one gets: the first base model."""
        return self._base_names[0] if self._base_names else ""

    def behaves_as(self, model: str) -> str:
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
        prompt = last_user_text(request.get("messages") or [])
        who = self.behaves_as(model)
        words = ["ok", "sin", "fuji", "junkpile", "cart", "memory", "checked", "done", "the", "host"]
        n = 3 + int(unit(who, prompt, "n") * 4)
        text = " ".join(words[int(unit(who, prompt, str(i)) * len(words))] for i in range(n))
        return {"content": text, "finish_reason": "stop"}

    def load_adapter(self, name: str, path: str) -> tuple[int, Any]:
        if not name or not path:
            return 400, error_body(
                "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400
            )
        if self._card(name) is not None:
            return 400, error_body(
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
                return status, error_body(message, err_type, status)
        config_file = Path(path) / "adapter_config.json"
        if not config_file.is_file():
            return 404, error_body(
                f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError", 404
            )
        try:
            rank = int(json.loads(config_file.read_text()).get("r", 0))
        except (ValueError, OSError, AttributeError) as exc:
            return 500, error_body(f"Loading lora {path} failed: {exc}", "InternalServerError", 500)
        if rank > self.max_lora_rank:
            return 500, error_body(
                f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.",
                "InternalServerError",
                500,
            )
        self.add_adapter(name, self._base_names[0] if self._base_names else None, path)
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def unload_adapter(self, name: str) -> tuple[int, Any]:
        if not name:
            return 400, error_body(
                "'lora_name' needs to be provided to unload a LoRA adapter.", "InvalidUserInput", 400
            )
        card = self._card(name)
        if card is None or card.parent is None:
            return 404, error_body(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
        self.remove_model(name)
        return 200, f"Success: LoRA adapter '{name}' removed successfully."


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
