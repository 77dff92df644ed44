"""Teacher-forced logprobs of reference trajectories from one deployment (vLLM's prompt_logprobs).

`python -m serving logprobs --base-url URL --model madcat --tokenizer MODEL_DIR --transcripts FILE --out F.json`

Each transcript is rendered with the model's own chat template (its tokenizer dir, the same on both
deployments of one base), sent to /v1/completions with `prompt_logprobs=1` and `max_tokens=1`, and
the log-probability the server gives each prompt token is written in the shape that
`python -m reports divergence A.json B.json` compares:
`{"model", "base_url", "trajectories": [{"id", "tokens", "logprobs", "top1"}]}`.
Run it against the AWQ+LoRA server and the BF16+LoRA server on the same file, then compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serving.server_api import ServerClient, ServerError


class LogprobError(Exception):
    """str() is one line for the user."""


def _position(entry: dict[str, Any] | None) -> tuple[str | None, float | None, str | None]:
    """(token, its logprob, the top-1 token) of one prompt position. With prompt_logprobs=1 vLLM lists
    the prompt's own token and, when it is not the most likely one, the rank-1 token too."""
    if not entry:
        return None, None, None
    items = list(entry.values())
    top1 = next((i for i in items if i.get("rank") == 1), items[0])
    own = next((i for i in items if i.get("rank") != 1), top1) if len(items) > 1 else items[0]
    return own.get("decoded_token"), own.get("logprob"), top1.get("decoded_token")


def trajectory_logprobs(client: ServerClient, model: str, prompt: str) -> dict[str, list[Any]]:
    body = {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 1}
    reply = client.post("/v1/completions", body)
    if not reply.ok:
        raise LogprobError(f"{client.base_url} answered HTTP {reply.status} for {model}: {reply.message}")
    data = reply.body if isinstance(reply.body, dict) else {}
    choices = data.get("choices") or [{}]
    entries = choices[0].get("prompt_logprobs") or data.get("prompt_logprobs")
    if not isinstance(entries, list):
        raise LogprobError(f"{client.base_url} returned no prompt_logprobs (is it vLLM?)")
    tokens, logprobs, top1 = [], [], []
    for entry in entries[1:]:  # the first token has no context and no logprob
        token, logprob, best = _position(entry)
        tokens.append(token)
        logprobs.append(logprob)
        top1.append(best)
    return {"tokens": tokens, "logprobs": logprobs, "top1": top1}


def render(tokenizer: Any, transcript: dict[str, Any]) -> str:
    from serving.chat_format import normalise_messages

    return tokenizer.apply_chat_template(normalise_messages(transcript["messages"]), tools=transcript.get("tools"),
                                         tokenize=False)


def collect(base_url: str, model: str, tokenizer_dir: str, transcripts: Path, limit: int | None = None,
            api_key: str | None = None) -> dict[str, Any]:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    except (OSError, ValueError) as exc:
        raise LogprobError(f"cannot load a tokenizer from {tokenizer_dir}: {exc}") from None
    try:
        lines = [ln for ln in transcripts.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise LogprobError(f"cannot read {transcripts}: {exc.strerror}") from None
    out: list[dict[str, Any]] = []
    with ServerClient(base_url, api_key=api_key, timeout=120.0) as client:
        for number, line in enumerate(lines[:limit] if limit else lines, start=1):
            try:
                transcript = json.loads(line)
                prompt = render(tokenizer, transcript)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise LogprobError(f"{transcripts} line {number}: not a transcript ({exc})") from None
            meta = transcript.get("meta") or {}
            ident = str(meta.get("id") or meta.get("scenario") or number)
            out.append({"id": ident, **trajectory_logprobs(client, model, prompt)})
    return {"model": model, "base_url": base_url, "trajectories": out}


def run(args: Any) -> int:
    import sys

    try:
        data = collect(args.base_url, args.model, args.tokenizer, Path(args.transcripts), args.limit, args.api_key)
    except (LogprobError, ServerError) as exc:
        print(f"serving: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(data) + "\n")
    tokens = sum(len(t["tokens"]) for t in data["trajectories"])
    print(f"wrote {args.out}: {len(data['trajectories'])} trajectories, {tokens} tokens from {args.model} at {args.base_url}")
    return 0
