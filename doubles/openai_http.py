"""The stub's HTTP side: a threading server and the request handler that routes /v1/models,
/v1/chat/completions, /v1/completions and the LoRA admin endpoints to an OpenAIStub."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from doubles.openai_responses import build_chat_completion, build_completion, error_body, stream_chunks


class StubApp(Protocol):
    """What the handler asks of the stub (doubles/openai_stub.py's OpenAIStub)."""

    latency_ms: float
    runtime_lora_updating: bool
    version: str

    def record(self, method: str, path: str, body: Any) -> None: ...

    def default_model(self) -> str: ...

    def serves(self, model: str) -> bool: ...

    def behaves_as(self, model: str) -> str: ...

    def models_body(self) -> dict[str, Any]: ...

    def chat_reply(self, model: str, request: dict[str, Any]) -> dict[str, Any]: ...

    def load_adapter(self, name: str, path: str) -> tuple[int, Any]: ...

    def unload_adapter(self, name: str) -> tuple[int, Any]: ...


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 stalls bursts of concurrent connects
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up mid-reply (Ctrl-C, a timeout) is normal for a test server: no traceback
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class StubHandler(BaseHTTPRequestHandler):
    stub: StubApp  # set on the bound subclass
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
        self.stub.record("GET", path, None)
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
            self.stub.record("POST", path, None)
            self._send(400, error_body("Request body is not valid JSON.", "BadRequestError", 400))
            return
        self.stub.record("POST", path, body)
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
                500, error_body(f"stub error: {type(exc).__name__}: {exc}", "InternalServerError", 500)
            )

    def _model_or_404(self, body: dict[str, Any]) -> str | None:
        model = body.get("model") or self.stub.default_model()
        if not self.stub.serves(model):
            self._send(
                404,
                error_body(f"The model `{model}` does not exist.", "NotFoundError", 404, param="model"),
            )
            return None
        return model

    def _chat(self, body: dict[str, Any]) -> None:
        model = self._model_or_404(body)
        if model is None:
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send(400, error_body("'messages' must be a non-empty list.", "BadRequestError", 400))
            return
        self._sleep()
        reply = self.stub.chat_reply(model, body)
        if "error" in reply and "choices" not in reply:  # a scripted server error
            status = int(reply.get("status", 500))
            body = error_body(str(reply["error"]), str(reply.get("type", "InternalServerError")), status)
            if reply.get("code"):  # OpenAI-style error codes, e.g. context_length_exceeded
                body["error"]["code"] = reply["code"]
            self._send(status, body)
            return
        completion = build_chat_completion(self.stub.behaves_as(model), model, body, reply)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(stream_chunks(completion, include_usage))
        else:
            self._send(200, completion)

    def _completion(self, body: dict[str, Any]) -> None:
        model = self._model_or_404(body)
        if model is None:
            return
        self._sleep()
        self._send(200, build_completion(self.stub.behaves_as(model), model, body))
