"""Which adapter a vllm/openai run evaluated: what the server serves, tied (or not) to the hashed files.

`--adapter-dir DIR` hashes files on the client's side; the server answers from whatever it loaded under
the adapter's name. A run records both sides so that `reports promote` can refuse a run whose served
adapter cannot be tied to the hashed directory:

- `served_adapter`: the adapter's card in GET /v1/models (`name`, `parent`, and `root`, the directory
  vLLM loaded it from) and, when that directory is readable here, the sha256 of its files now;
- `lora_fingerprint`: `serving check`'s LoRA-is-live probes (the adapter's greedy answers against the
  base's, with their logprob differences) and a digest of the adapter's answers;
- `adapter_identity`: "tied", or the reason it is not.

Tied means: the server reports the directory it loaded, that directory's bytes hash to the evaluated
adapter_sha256, and the probes show the LoRA changes the base model's answers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from core.redact import redact_text
from runner.backends import BackendError, adapter_sha256

TIED = "tied"
SERVED_BACKENDS = ("vllm", "openai")


def served_adapter(card: dict[str, Any]) -> dict[str, Any]:
    """What the server says about the adapter (its /v1/models card), with the sha256 of `root` when this
    machine can read that directory (None when it cannot)."""
    root = card.get("root")
    info: dict[str, Any] = {"name": str(card.get("id")), "parent": card.get("parent"),
                            "root": str(root) if root else None, "sha256": None}
    if root and Path(str(root)).is_dir():
        try:
            info["sha256"] = adapter_sha256(str(root))
        except BackendError as exc:
            info["unreadable"] = str(exc)
    return info


def lora_fingerprint(base_url: str, adapter: str, base_model: str | None, api_key: str | None,
                     timeout: float = 60.0) -> dict[str, Any]:
    """`serving check`'s probes against the server: is the LoRA live, and a digest of its greedy answers."""
    from serving.check import run_check

    result = run_check(base_url, adapter, base_model=base_model, api_key=api_key, timeout=timeout)
    answers = "\x1e".join(p.adapter_text for p in result.probes)
    return {
        "live": result.ok,
        "message": redact_text(result.message),
        "noise": result.noise,
        "probes": [{"prompt": p.prompt, "adapter_text": p.adapter_text, "base_text": p.base_text,
                    "differs": p.differs, "first_difference": p.first_difference,
                    "max_abs_logprob_diff": p.max_abs_logprob_diff} for p in result.probes],
        "digest": hashlib.sha256(answers.encode("utf-8")).hexdigest() if result.probes else None,
    }


def identity_problem(meta: dict[str, Any]) -> str | None:
    """Why the adapter a run's server served cannot be tied to the directory whose sha256 the run recorded;
    None when it can (or when no server was involved: `local` loads the hashed directory itself)."""
    if meta.get("backend") not in SERVED_BACKENDS:
        return None
    served = meta.get("served_adapter")
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
    if served.get("sha256") != meta.get("adapter_sha256"):
        return (f"the server serves '{name}' from {root} (sha256 {str(served['sha256'])[:12]}…), not the "
                f"evaluated adapter {meta.get('adapter_dir')} ({str(meta.get('adapter_sha256'))[:12]}…); serve "
                "the directory you evaluate, or pass that one as --adapter-dir")
    fingerprint = meta.get("lora_fingerprint")
    if not isinstance(fingerprint, dict) or not fingerprint.get("live"):
        why = fingerprint.get("message") if isinstance(fingerprint, dict) else "no probes were recorded"
        return f"the LoRA-is-live probes did not show '{name}' changing the base model's answers ({why})"
    return None
