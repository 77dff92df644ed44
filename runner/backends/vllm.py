"""The `vllm` and `openai` backends: an existing OpenAI-compatible server, checked before the run.

vllm: GET /v1/models must answer and list the adapter as a LoRA card whose `parent` is the base model
(vLLM's `--lora-modules madcat=...`); the run goes through inspect-ai's `vllm` provider pointed at the
server (`vllm/<base>:<adapter>` with base_url: it never starts a server when given one, and sends the
adapter's name as the request's model). The baseline (`--adapter none`) asks for the base model by name.
openai: any OpenAI-compatible endpoint through inspect-ai's `openai-api` provider; the model must be
listed when the endpoint lists models.
"""

from __future__ import annotations

import os
from typing import Any

from inspect_ai.model import get_model

from core.adapter.identity import (
    ADAPTER_IDENTITY,
    ADAPTER_SHA256,
    LORA_FINGERPRINT,
    SERVED_ADAPTER,
    TIED,
    identity_problem,
)
from core.redact import has_userinfo, redact_url
from runner.backends import BackendError, ModelPlan, adapter_files_info, is_baseline
from runner.backends.served import lora_fingerprint, served_adapter
from serving.server_api import ServerClient, ServerError

DEFAULT_BASE_URL = "http://sin:8000/v1"
PREFLIGHT_TIMEOUT_S = 10.0
SERVE_HINT = "serve it with `--enable-lora --lora-modules {name}=/path/to/adapter` (serving/configs/)"


def base_url_or_default(base_url: str | None) -> str:
    url = (base_url or os.environ.get("VLLM_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _server(base_url: str, api_key: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """The model cards and the server version; any failure is one BackendError line."""
    try:
        with ServerClient(base_url, api_key=api_key, timeout=PREFLIGHT_TIMEOUT_S) as client:
            return client.models(), client.version()
    except ServerError as exc:
        raise BackendError(str(exc).removeprefix("serving: ")) from None


def _names(cards: list[dict[str, Any]]) -> str:
    return ", ".join(str(c["id"]) for c in cards) or "none"


def _hide_credentials(model: Any, url: str) -> Any:
    """inspect writes the model's base URL into every log (`model_base_url`); the connection keeps the
    credentials of `http://user:secret@host/...`, the log gets `http://***@host/...`."""
    if has_userinfo(url) and hasattr(model, "_explicit_base_url"):
        model._explicit_base_url = redact_url(url)
    return model


def _identity(url: str, name: str, base: str | None, api_key: str | None,
              info: dict[str, Any]) -> dict[str, Any]:
    """What the server serves under `name` and whether it is the hashed adapter (core/adapter/identity.py)."""
    try:
        with ServerClient(url, api_key=api_key, timeout=PREFLIGHT_TIMEOUT_S) as client:
            card = next((c for c in client.models() if str(c["id"]) == name), {"id": name})
    except ServerError as exc:
        raise BackendError(str(exc).removeprefix("serving: ")) from None
    out: dict[str, Any] = {SERVED_ADAPTER: served_adapter(card),
                           LORA_FINGERPRINT: lora_fingerprint(url, name, base, api_key)}
    if info.get(ADAPTER_SHA256):
        out[ADAPTER_IDENTITY] = identity_problem({**info, **out}) or TIED
    return out


def _identity_notes(info: dict[str, Any]) -> list[str]:
    identity = info.get(ADAPTER_IDENTITY)
    if identity in (None, TIED):
        return []
    return [f"the served adapter is not tied to --adapter-dir ({identity}); "
            "`reports promote` will refuse this run"]


def check_vllm(base_url: str, adapter: str | None, base_model: str | None,
               api_key: str | None = None) -> tuple[str, str | None, str | None]:
    """Preflight for vllm: returns (base model, adapter or None, server version)."""
    cards, version = _server(base_url, api_key)
    shown = redact_url(base_url)
    by_id = {str(c["id"]): c for c in cards}
    bases = [c for c in cards if not c.get("parent")]
    if is_baseline(adapter):
        if base_model is None:
            if len(bases) != 1:
                raise BackendError(f"--adapter none needs --base-model: {shown} serves {_names(bases)}")
            base_model = str(bases[0]["id"])
        if base_model not in by_id:
            raise BackendError(f"base model {base_model!r} is not served by {shown} (it serves {_names(cards)})")
        return base_model, None, version
    assert adapter is not None
    card = by_id.get(adapter)
    if card is None:
        raise BackendError(f"adapter {adapter!r} is not served by {shown} (it serves {_names(cards)}); "
                           + SERVE_HINT.format(name=adapter))
    parent = card.get("parent")
    if not parent:
        raise BackendError(f"{adapter!r} is served by {shown} without a parent base model, so it is not a LoRA "
                           f"adapter; {SERVE_HINT.format(name=adapter)}")
    if base_model is not None and parent != base_model:
        raise BackendError(f"adapter {adapter!r} is served on {parent!r}, not on --base-model {base_model!r}")
    return str(parent), adapter, version


def _forget_stale_server(base: str, url: str) -> None:
    """inspect's vllm provider keeps one shared server entry per base model for the whole process; a
    second run in the same process against another URL would otherwise reuse the first URL."""
    try:
        from inspect_ai.model._providers._vllm_lora import _vllm_servers
    except ImportError:  # a later inspect-ai without the shared table
        return
    entry = _vllm_servers.get(base)
    if entry is not None and entry.process is None and entry.base_url not in (None, url):
        del _vllm_servers[base]


# Tools go out as an agent client sends them, without `strict: true`. inspect's OpenAI-compatible
# providers mark every tool strict by default; vLLM then compiles a grammar for the tool arguments,
# which opencode never asks for and which failed every request with HTTP 500 on the tiny twin in the
# GPU end-to-end run. The model must see what it sees in production.
_PLAIN_TOOLS: dict[str, Any] = {"strict_tools": False}


def plan_vllm(base_url: str | None, adapter: str | None, base_model: str | None, adapter_dir: str | None = None,
              api_key: str | None = None) -> ModelPlan:
    url = base_url_or_default(base_url)
    api_key = api_key or os.environ.get("VLLM_API_KEY")
    base, lora, version = check_vllm(url, adapter, base_model, api_key)
    # inspect's OpenAI-compatible provider against the running server; not its `vllm` provider, which
    # (re)initialises lazily and would put `strict: true` back on every tool (see _PLAIN_TOOLS)
    model = get_model(f"openai-api/vllm/{lora or base}", base_url=url, api_key=api_key or "EMPTY", memoize=False,
                      **_PLAIN_TOOLS)
    info = {"backend": "vllm", "model": lora or base, "adapter": lora, "base_model": base,
            "base_url": redact_url(url), "server_version": version, **(adapter_files_info(adapter_dir) if adapter_dir and lora else {})}
    if lora:
        info.update(_identity(url, lora, base, api_key, info))
    return ModelPlan(model=_hide_credentials(model, url), info=info, notes=_identity_notes(info))


def plan_openai(base_url: str | None, adapter: str | None, base_model: str | None, adapter_dir: str | None = None,
                api_key: str | None = None) -> ModelPlan:
    """Any OpenAI-compatible endpoint: the adapter's served name, else --base-model."""
    if not base_url:
        raise BackendError("--backend openai needs --base-url (the endpoint, e.g. http://host:8000/v1)")
    url = base_url_or_default(base_url)
    name = base_model if is_baseline(adapter) else adapter
    if not name:
        raise BackendError("--backend openai with --adapter none needs --base-model (the served model name)")
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
    cards, version = _server(url, api_key)
    ids = {str(c["id"]) for c in cards}
    if ids and name not in ids:
        raise BackendError(f"model {name!r} is not served by {redact_url(url)} (it serves {_names(cards)})")
    info = {"backend": "openai", "model": name, "adapter": None if is_baseline(adapter) else adapter,
            "base_model": base_model, "base_url": redact_url(url), "server_version": version,
            **(adapter_files_info(adapter_dir) if adapter_dir and not is_baseline(adapter) else {})}
    if not is_baseline(adapter):
        info.update(_identity(url, name, base_model, api_key, info))
    model = get_model(f"openai-api/madcat/{name}", base_url=url, api_key=api_key, memoize=False, **_PLAIN_TOOLS)
    return ModelPlan(model=_hide_credentials(model, url), info=info, notes=_identity_notes(info))
