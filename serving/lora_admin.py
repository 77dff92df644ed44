"""`python -m serving load|unload`: add or drop a LoRA on a running vLLM server.

Uses vLLM's POST /v1/load_lora_adapter {"lora_name", "lora_path"} and POST
/v1/unload_lora_adapter {"lora_name"}, which exist only when the server was started with
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True. The path is read on the server's host.

Exit codes: 0 done; 1 refused (by lint or by the server); 2 the server could not be reached or
the arguments were wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.adapter.lint import lint_adapter
from serving.server_api import Reply, ServerClient, ServerError, is_loopback

RUNTIME_HINT = (
    "runtime LoRA updating is off — restart vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True in its environment "
    "(see serving/configs/README.md)"
)


@dataclass
class AdminResult:
    exit_code: int
    message: str
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _rank_hint(message: str) -> str:
    if "max_lora_rank" in message or "max-lora-rank" in message:
        return " — restart vLLM with a larger --max-lora-rank, or train with a smaller r"
    return ""


def explain_load_failure(reply: Reply, name: str, path: str) -> str:
    """One line for a failed POST /v1/load_lora_adapter."""
    message = reply.message
    if reply.route_missing:
        return f"serving: the server has no /v1/load_lora_adapter: {RUNTIME_HINT}"
    if reply.status == 404:
        return (
            f"serving: the server found no adapter at {path} (paths are read on the server's host): {message}"
        )
    if reply.status == 400:
        hint = _rank_hint(message)
        if "already been loaded" in message:
            hint = f" — unload it first: python -m serving unload --name {name}"
        return f"serving: the server refused to load '{name}' (HTTP 400): {message}{hint}"
    if reply.status == 401:
        return "serving: the server wants an API key (HTTP 401) — pass --api-key or set VLLM_API_KEY"
    if reply.status >= 500:
        hint = _rank_hint(message) or f" — run `python -m serving lint {path}` to see why"
        return (
            f"serving: the server failed to load the adapter '{name}' (HTTP {reply.status}): {message}{hint}"
        )
    return f"serving: unexpected HTTP {reply.status} loading '{name}': {message}"


def explain_unload_failure(reply: Reply, name: str, models: list[str] | None) -> str:
    if reply.route_missing:
        return f"serving: the server has no /v1/unload_lora_adapter: {RUNTIME_HINT}"
    if reply.status == 404:
        listed = f" (models: {', '.join(models)})" if models else ""
        return f"serving: adapter '{name}' is not loaded on the server{listed}"
    if reply.status == 401:
        return "serving: the server wants an API key (HTTP 401) — pass --api-key or set VLLM_API_KEY"
    return f"serving: the server failed to unload '{name}' (HTTP {reply.status}): {reply.message}"


def load_adapter(
    base_url: str,
    name: str,
    path: str,
    *,
    lint: bool = True,
    max_rank: int = 16,
    tensor_parallel: int = 1,
    allow_routed_experts: bool = False,
    api_key: str | None = None,
    timeout: float = 120.0,
) -> AdminResult:
    notes: list[str] = []
    try:
        client = ServerClient(base_url, api_key=api_key, timeout=timeout)
    except ServerError as exc:
        return AdminResult(exc.exit_code, str(exc), notes)
    with client:
        local = Path(path).expanduser()
        server_path = path
        if local.exists():
            if is_loopback(client.base_url):
                server_path = str(local.resolve())  # the server's cwd is not ours
            if lint:
                report = lint_adapter(
                    local,
                    max_rank=max_rank,
                    tensor_parallel=tensor_parallel,
                    allow_routed_experts=allow_routed_experts,
                )
                if report.unreadable:
                    return AdminResult(
                        2, f"serving: cannot read the adapter in {path}: {report.errors[0]}", notes
                    )
                if report.errors:
                    more = f" (+{len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
                    return AdminResult(
                        1,
                        f"serving: refusing to load '{name}': lint found {len(report.errors)} error(s) in {path}: "
                        f"{report.errors[0]}{more} — `python -m serving lint {path}` shows all; --no-lint sends it anyway",
                        notes,
                    )
                notes.extend(f"lint warning: {w}" for w in report.warnings)
        elif lint:
            if is_loopback(client.base_url):
                return AdminResult(2, f"serving: no adapter directory at {path}", notes)
            notes.append(
                f"note: {path} is not on this machine, so lint was skipped — run `python -m serving lint {path}` "
                "on the server's host"
            )
        try:
            reply = client.post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": server_path})
        except ServerError as exc:
            return AdminResult(exc.exit_code, str(exc), notes)
        if not reply.ok:
            return AdminResult(1, explain_load_failure(reply, name, server_path), notes)
        return AdminResult(0, f"loaded adapter '{name}' from {server_path} on {client.base_url}", notes)


def unload_adapter(
    base_url: str, name: str, *, api_key: str | None = None, timeout: float = 60.0
) -> AdminResult:
    try:
        with ServerClient(base_url, api_key=api_key, timeout=timeout) as client:
            reply = client.post("/v1/unload_lora_adapter", {"lora_name": name})
            if reply.ok:
                return AdminResult(0, f"unloaded adapter '{name}' from {client.base_url}", [])
            models = None
            if reply.status == 404 and not reply.route_missing:
                try:
                    models = [str(card["id"]) for card in client.models()]
                except ServerError:
                    models = None
            return AdminResult(1, explain_unload_failure(reply, name, models), [])
    except ServerError as exc:
        return AdminResult(exc.exit_code, str(exc), [])
