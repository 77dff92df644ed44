"""The few vLLM server endpoints serving/ talks to, with every failure phrased as one line.

vLLM answers errors as {"error": {"message", "type", "code"}} (>= 0.11), as {"message", ...}
(older), or FastAPI's {"detail": "Not Found"} when a route does not exist at all (e.g.
/v1/load_lora_adapter without VLLM_ALLOW_RUNTIME_LORA_UPDATING). `Reply.message` reads all three.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.redact import redact_text, redact_url

DEFAULT_TIMEOUT_S = 60.0
START_HINT = (
    "start it with `vllm serve --config serving/configs/sin-awq-lora.yaml` (see serving/configs/README.md)"
)


class ServerError(Exception):
    """Talking to the server failed; `str(exc)` is the one line for the user."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Reply:
    status: int
    body: Any  # parsed JSON, or the text when the body is not JSON
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def route_missing(self) -> bool:
        """FastAPI's own 404: the server has no such route (not an application-level 404)."""
        return self.status == 404 and isinstance(self.body, dict) and self.body.get("detail") == "Not Found"

    @property
    def message(self) -> str:
        body = self.body
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                # an engine-side AssertionError arrives with an empty message
                return str(
                    error.get("message") or f"{error.get('type') or 'error'} (the server gave no message)"
                )
            if isinstance(error, str) and error:
                return error
            if body.get("message"):
                return str(body["message"])
            detail = body.get("detail")
            if isinstance(detail, str):
                return detail
            if detail is not None:
                return str(detail)
        return self.text.strip() or f"HTTP {self.status}"


def normalize_base_url(url: str) -> str:
    """'http://host:8000/v1/' -> 'http://host:8000'; raises ServerError for anything not http(s)."""
    url = (url or "").strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, not inside httpx
    except ValueError:
        raise ServerError(f"serving: --base-url must look like http://HOST:PORT (got {redact_url(url)!r})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerError(f"serving: --base-url must look like http://HOST:PORT (got {redact_url(url)!r})")
    return url


def is_loopback(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.startswith("127.")


def default_api_key() -> str | None:
    return os.environ.get("VLLM_API_KEY") or None


class ServerClient:
    """A thin httpx client for one server; use as a context manager.

    `base_url` is the URL to show (credentials in it hidden: core/redact.py); the connection keeps them."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        url = normalize_base_url(base_url)
        self.base_url = redact_url(url) or url
        if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
            raise ServerError("serving: the API key (--api-key or $VLLM_API_KEY) holds characters an HTTP header "
                              "cannot carry; give the key the server was started with")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, json_body: Any = None) -> Reply:
        try:
            response = self._http.request(method, path, json=json_body)
        except httpx.TimeoutException:
            raise ServerError(
                f"serving: {self.base_url} did not answer {method} {path} within {self.timeout:g} s "
                "(the server may be starting or overloaded; try --timeout)"
            ) from None
        except httpx.ConnectError as exc:
            raise ServerError(
                f"serving: cannot reach {self.base_url} ({_why(exc)}) — is vLLM running? {START_HINT}"
            ) from None
        except httpx.HTTPError as exc:
            raise ServerError(f"serving: {method} {self.base_url}{path} failed: {redact_text(str(exc))}") from None
        text = response.text
        try:
            body: Any = response.json()
        except ValueError:
            body = text
        return Reply(response.status_code, body, text)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, json_body: Any) -> Reply:
        return self.request("POST", path, json_body)

    def models(self) -> list[dict[str, Any]]:
        """GET /v1/models -> the model cards; a non-200 or odd body is a ServerError."""
        reply = self.get("/v1/models")
        if reply.status == 401:
            raise ServerError(
                f"serving: {self.base_url} wants an API key (HTTP 401) — pass --api-key or set VLLM_API_KEY"
            )
        if not reply.ok:
            raise ServerError(
                f"serving: GET {self.base_url}/v1/models answered HTTP {reply.status}: {reply.message}"
            )
        data = reply.body.get("data") if isinstance(reply.body, dict) else None
        if not isinstance(data, list):
            raise ServerError(
                f"serving: GET {self.base_url}/v1/models did not return a model list — is this an OpenAI-compatible server?"
            )
        return [card for card in data if isinstance(card, dict) and "id" in card]

    def version(self) -> str | None:
        """vLLM's /version, or None when the server has none."""
        try:
            reply = self.get("/version")
        except ServerError:
            return None
        if reply.ok and isinstance(reply.body, dict) and reply.body.get("version"):
            return str(reply.body["version"])
        return None


def _why(exc: httpx.ConnectError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "getaddrinfo" in lowered
    ):
        return "host not found"
    if "timed out" in lowered:
        return "connect timed out"
    return text or "connection failed"


def wait_for_server(
    base_url: str,
    timeout_s: float = 600.0,
    process: subprocess.Popen | None = None,
    api_key: str | None = None,
    poll_s: float = 2.0,
) -> list[str]:
    """Poll GET /v1/models until the server lists its models; returns their ids.

    Raises ServerError when `timeout_s` passes, or at once when `process` (the server being
    started) has exited -- a vLLM that failed to start never opens its port.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with ServerClient(base_url, api_key=api_key, timeout=min(30.0, max(poll_s, 1.0))) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise ServerError(
                    f"serving: the server process exited with code {process.returncode} before {client.base_url} "
                    "was ready (see its log)"
                )
            try:
                return [str(card["id"]) for card in client.models()]
            except ServerError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"serving: {client.base_url} was not ready after {timeout_s:g} s (last: {last})"
                )
            time.sleep(poll_s)
