"""`python -m serving check`: is the server up, is the adapter loaded on its base, is the LoRA live?

"Live" means the adapter changes what the model says: on a few fixed probe prompts (greedy,
a few tokens, with logprobs) the adapter's tokens or token logprobs differ from the base's. A
LoRA that is listed but changes nothing (zero lora_B from an untrained adapter, a server that
ignores it) fails here instead of silently producing baseline numbers under the adapter's name.

Exit codes: 0 all good; 1 a check failed (adapter missing, no parent, wrong base, not live, a
probe request refused); 2 the check could not run (server unreachable, bad arguments).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from core.redact import redact_url
from serving.server_api import ServerClient, ServerError

PROBES: tuple[str, ...] = (
    "Which host in the mesh serves the vLLM models, and how do you SSH to it?",
    "An MCP server just reported that it is disconnected. What do you do?",
    "Check how much GPU memory is free on sin.",
    "What does the active cart say about how you should answer?",
    "Before starting work on a task, what do you look up first?",
)
PROBE_MAX_TOKENS = 8
TOP_LOGPROBS = 5
DEFAULT_TOLERANCE = 1e-4


@dataclass
class ProbeResult:
    prompt: str
    adapter_text: str
    base_text: str
    compared_tokens: int  # positions compared (up to and including the first differing token)
    first_difference: int | None  # token index where the adapter's token differs, if any
    max_abs_logprob_diff: float | None  # None when the server returned no logprobs
    differs: bool = False


@dataclass
class CheckResult:
    base_url: str
    adapter: str
    exit_code: int = 0
    message: str = ""
    server_version: str | None = None
    models: list[str] = field(default_factory=list)
    parent: str | None = None
    noise: float | None = None  # |logprob| difference between two identical base requests
    tolerance: float = DEFAULT_TOLERANCE
    probes: list[ProbeResult] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the human report

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("lines")
        data["ok"] = self.ok
        return data


def _tokens(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    return content if isinstance(content, list) else None


def _text(choice: dict[str, Any]) -> str:
    message = choice.get("message") or {}
    text = message.get("content") or ""
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        text += f"<tool_call {function.get('name')} {function.get('arguments')}>"
    return text


def compare_choices(
    prompt: str, adapter: dict[str, Any], base: dict[str, Any], tolerance: float
) -> ProbeResult:
    """Compare two greedy answers to the same prompt token by token.

    Positions are comparable while the contexts agree: up to and including the first position where
    the chosen tokens differ. At each one we compare the chosen token's logprob and the top
    alternatives both sides report.
    """
    adapter_text, base_text = _text(adapter), _text(base)
    a_tokens, b_tokens = _tokens(adapter), _tokens(base)
    if a_tokens is None or b_tokens is None:
        return ProbeResult(prompt, adapter_text, base_text, 0, None, None, differs=adapter_text != base_text)
    max_diff = 0.0
    compared = 0
    first_difference = None
    for i, (a, b) in enumerate(zip(a_tokens, b_tokens, strict=False)):
        compared = i + 1
        if a.get("token") != b.get("token"):
            first_difference = i
        pairs = [(a.get("logprob"), b.get("logprob"))] if first_difference is None else []
        a_top = {t.get("token"): t.get("logprob") for t in a.get("top_logprobs") or []}
        b_top = {t.get("token"): t.get("logprob") for t in b.get("top_logprobs") or []}
        pairs += [(a_top[t], b_top[t]) for t in a_top.keys() & b_top.keys()]
        for x, y in pairs:
            if (
                isinstance(x, int | float)
                and isinstance(y, int | float)
                and math.isfinite(x)
                and math.isfinite(y)
            ):
                max_diff = max(max_diff, abs(x - y))
        if first_difference is not None:
            break
    if first_difference is None and len(a_tokens) != len(b_tokens):
        first_difference = min(len(a_tokens), len(b_tokens))
    differs = first_difference is not None or max_diff > tolerance or adapter_text != base_text
    return ProbeResult(prompt, adapter_text, base_text, compared, first_difference, max_diff, differs)


def _probe_request(model: str, prompt: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": PROBE_MAX_TOKENS,
        "logprobs": True,
        "top_logprobs": TOP_LOGPROBS,
        "seed": 0,
    }


def _complete(client: ServerClient, model: str, prompt: str) -> dict[str, Any]:
    reply = client.post("/v1/chat/completions", _probe_request(model, prompt))
    if not reply.ok:
        raise ServerError(
            f"serving: a probe chat completion for '{model}' failed with HTTP {reply.status}: {reply.message}",
            exit_code=1,
        )
    choices = reply.body.get("choices") if isinstance(reply.body, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise ServerError(
            f"serving: the probe chat completion for '{model}' returned no choices", exit_code=1
        )
    return choices[0]


def run_check(
    base_url: str,
    adapter: str,
    base_model: str | None = None,
    probes: int = 3,
    api_key: str | None = None,
    timeout: float = 60.0,
    tolerance: float = DEFAULT_TOLERANCE,
) -> CheckResult:
    result = CheckResult(base_url=redact_url(base_url) or "", adapter=adapter, tolerance=tolerance)
    try:
        with ServerClient(base_url, api_key=api_key, timeout=timeout) as client:
            result.base_url = client.base_url
            _check(client, result, base_model, probes)
    except ServerError as exc:
        result.exit_code = exc.exit_code
        result.message = str(exc)
    return result


def _check(client: ServerClient, result: CheckResult, base_model: str | None, n_probes: int) -> None:
    adapter = result.adapter
    cards = client.models()
    result.models = [str(card["id"]) for card in cards]
    result.server_version = client.version()
    version = f"vLLM {result.server_version}" if result.server_version else "version unknown"
    result.lines.append(
        f"  server   {client.base_url} is up ({version}); models: {', '.join(result.models) or '-'}"
    )

    card = next((c for c in cards if c.get("id") == adapter), None)
    if card is None:
        raise ServerError(
            f"serving: adapter '{adapter}' is not loaded on the server (models: {', '.join(result.models) or 'none'}) "
            f"— start vLLM with --lora-modules {adapter}=DIR or `python -m serving load --name {adapter} --path DIR`",
            exit_code=1,
        )
    parent = card.get("parent")
    if not parent:
        raise ServerError(
            f"serving: '{adapter}' is listed without a parent, so it is served as a base model, not as a LoRA "
            "(was a merged model started under that name?) — serve the base with --enable-lora and "
            f"--lora-modules {adapter}=DIR",
            exit_code=1,
        )
    result.parent = str(parent)
    if base_model and result.parent != base_model:
        raise ServerError(
            f"serving: adapter '{adapter}' sits on '{result.parent}', not on the expected base '{base_model}'",
            exit_code=1,
        )
    if result.parent not in result.models:
        result.lines.append(f"  warning  the parent '{result.parent}' is not in the model list")
    result.lines.append(f"  adapter  {adapter} -> parent {result.parent}")

    prompts = PROBES[: max(1, min(n_probes, len(PROBES)))]
    # Noise floor: the base asked the same thing twice. Greedy decoding on an idle server is
    # deterministic; when it is not, demand more than the noise before calling the LoRA live.
    first_base = _complete(client, result.parent, prompts[0])
    again = _complete(client, result.parent, prompts[0])
    noise = compare_choices(prompts[0], again, first_base, tolerance=math.inf)
    result.noise = noise.max_abs_logprob_diff
    threshold = max(result.tolerance, 2 * (result.noise or 0.0))
    for i, prompt in enumerate(prompts):
        base_choice = first_base if i == 0 else _complete(client, result.parent, prompt)
        adapter_choice = _complete(client, adapter, prompt)
        result.probes.append(compare_choices(prompt, adapter_choice, base_choice, threshold))

    differing = [p for p in result.probes if p.differs]
    diffs = [p.max_abs_logprob_diff for p in result.probes if p.max_abs_logprob_diff is not None]
    max_diff = max(diffs) if diffs else None
    diff_text = f"max |Δ logprob| {max_diff:.4g}" if max_diff is not None else "no logprobs returned"
    noise_text = f", base-vs-base noise {result.noise:.2g}" if result.noise is not None else ""
    result.lines.append(
        f"  probes   {len(differing)}/{len(result.probes)} differ from the base ({diff_text}{noise_text})"
    )
    for probe in result.probes:
        mark = "differs" if probe.differs else "same   "
        where = f" at token {probe.first_difference}" if probe.first_difference is not None else ""
        result.lines.append(f"    {mark}{where}: {probe.prompt[:60]!r} -> {probe.adapter_text[:40]!r}")
    if not differing:
        raise ServerError(
            f"serving: LoRA is not live: on all {len(result.probes)} probes '{adapter}' gives the same tokens and "
            f"logprobs as '{result.parent}' ({diff_text}) — the adapter changes nothing (untrained, zero lora_B, "
            "or not applied by the server)",
            exit_code=1,
        )
    result.message = f"OK: the LoRA '{adapter}' is loaded on '{result.parent}' and live"


def format_result(result: CheckResult) -> str:
    lines = [f"serving check {result.base_url} --adapter {result.adapter}", *result.lines]
    lines.append(result.message)
    return "\n".join(lines)


def result_json(result: CheckResult) -> str:
    return json.dumps(result.to_dict(), indent=2)
