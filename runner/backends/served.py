"""Which adapter a vllm/openai run evaluated: what the server serves, tied (or not) to the hashed files.

`--adapter-dir DIR` hashes files on the client's side; the server answers from whatever it loaded under
the adapter's name. A run records both sides so that `reports promote` can refuse a run whose served
adapter cannot be tied to the hashed directory:

- `served_adapter`: the adapter's card in GET /v1/models (`name`, `parent`, and `root`, the directory
  vLLM loaded it from) and, when that directory is readable here, the sha256 of its files now;
- `lora_fingerprint`: `serving check`'s LoRA-is-live probes (the adapter's greedy answers against the
  base's, with their logprob differences) and a digest of the adapter's answers;
- `adapter_identity`: "tied", or the reason it is not (core/adapter/identity.py, where the rule and the
  field names live so that `reports promote` reads them without importing the runner).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from core.redact import redact_text
from runner.backends import BackendError, adapter_sha256


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
