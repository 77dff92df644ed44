"""Which adapter a vllm/openai run evaluated, as its results.json `meta` records it, and whether the served
adapter is tied to the hashed files. Read by the runner (which records it) and by `reports promote` (which
refuses an untied run), so it lives here, below both.

The run-meta fields:
- `adapter_sha256`: the sha256 of the files of `--adapter-dir` (hashed on the client's side);
- `served_adapter`: the adapter's card in GET /v1/models (`name`, `parent`, `root`: the directory vLLM
  loaded it from) and `sha256`, the hash of `root` now when it was readable where the eval ran;
- `lora_fingerprint`: `serving check`'s LoRA-is-live probes (`live`, `message`, `probes`, `digest`);
- `adapter_identity`: TIED, or the reason it is not (`identity_problem`).

Tied means: the server reports the directory it loaded, that directory's bytes hash to the evaluated
adapter_sha256, and the probes show the LoRA changes the base model's answers.
"""

from __future__ import annotations

from typing import Any

TIED = "tied"
SERVED_BACKENDS = ("vllm", "openai")

ADAPTER_SHA256 = "adapter_sha256"
SERVED_ADAPTER = "served_adapter"
LORA_FINGERPRINT = "lora_fingerprint"
ADAPTER_IDENTITY = "adapter_identity"


def identity_problem(meta: dict[str, Any]) -> str | None:
    """Why the adapter a run's server served cannot be tied to the directory whose sha256 the run recorded;
    None when it can (or when no server was involved: `local` loads the hashed directory itself)."""
    if meta.get("backend") not in SERVED_BACKENDS:
        return None
    served = meta.get(SERVED_ADAPTER)
    if not isinstance(served, dict):
        return ("the run recorded nothing about the adapter the server served (it predates this check); "
                "evaluate the adapter again")
    name = served.get("name") or meta.get("adapter")
    root = served.get("root")
    if not root:
        return (f"the server did not say which directory it loaded '{name}' from (no root in /v1/models), so "
                "the hashed files cannot be tied to it; evaluate against a vLLM server")
    if not served.get("sha256"):
        return (f"the server loaded '{name}' from {root}, which was not readable where the eval ran; run the "
                "eval where that directory is readable (the server's host or a shared mount)")
    if served.get("sha256") != meta.get(ADAPTER_SHA256):
        return (f"the server serves '{name}' from {root} (sha256 {str(served['sha256'])[:12]}…), not the "
                f"evaluated adapter {meta.get('adapter_dir')} ({str(meta.get(ADAPTER_SHA256))[:12]}…); serve "
                "the directory you evaluate, or pass that one as --adapter-dir")
    fingerprint = meta.get(LORA_FINGERPRINT)
    if not isinstance(fingerprint, dict) or not fingerprint.get("live"):
        why = fingerprint.get("message") if isinstance(fingerprint, dict) else "no probes were recorded"
        return f"the LoRA-is-live probes did not show '{name}' changing the base model's answers ({why})"
    return None
