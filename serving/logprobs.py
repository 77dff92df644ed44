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

from core.redact import redact_url
from core.safe_io import InputError, check_output_file, loads, read_text, write_text_atomic
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
    from core.chat_format import normalise_messages

    return tokenizer.apply_chat_template(normalise_messages(transcript["messages"]), tools=transcript.get("tools"),
                                         tokenize=False)


def load_tokenizer(tokenizer_dir: str) -> Any:
    """The tokenizer (and chat template) in a local directory; never a hub lookup."""
    if not Path(tokenizer_dir).is_dir():
        raise LogprobError(f"--tokenizer {tokenizer_dir} is not a directory; give the base model's directory "
                           "(its tokenizer files and chat template)")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a directory without a tokenizer
        raise LogprobError(f"cannot load a tokenizer from {tokenizer_dir} ({exc.__class__.__name__}); give the "
                           "base model's directory (tokenizer files and chat template)") from None
    if not getattr(tokenizer, "chat_template", None):
        raise LogprobError(f"the tokenizer in {tokenizer_dir} has no chat template; "
                           "give the base model's directory")
    return tokenizer


def read_transcripts(transcripts: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The transcripts (JSONL) to score, all checked before the first request."""
    try:
        lines = [ln for ln in read_text(transcripts, "transcripts file (JSONL)").splitlines() if ln.strip()]
    except InputError as exc:
        raise LogprobError(str(exc)) from None
    out = []
    for number, line in enumerate(lines[:limit] if limit else lines, start=1):
        try:
            transcript = loads(line, f"{transcripts} line {number}")
        except InputError as exc:
            raise LogprobError(str(exc)) from None
        if not isinstance(transcript, dict) or not isinstance(transcript.get("messages"), list):
            raise LogprobError(f"{transcripts} line {number}: not a transcript "
                               "(a JSON object with a messages list)")
        out.append(transcript)
    if not out:
        raise LogprobError(f"{transcripts} holds no transcripts")
    return out


def collect(base_url: str, model: str, tokenizer_dir: str, transcripts: Path, limit: int | None = None,
            api_key: str | None = None) -> dict[str, Any]:
    tokenizer = load_tokenizer(tokenizer_dir)
    lines = read_transcripts(transcripts, limit)
    prompts = []
    for number, transcript in enumerate(lines, start=1):
        try:
            prompts.append(render(tokenizer, transcript))
        except Exception as exc:  # noqa: BLE001 - the template's own errors (jinja) or odd message content
            raise LogprobError(f"{transcripts} line {number}: not a transcript the chat template can render "
                               f"({exc.__class__.__name__}: {' '.join(str(exc).split())[:120]})") from None
    out: list[dict[str, Any]] = []
    with ServerClient(base_url, api_key=api_key, timeout=120.0) as client:
        for number, (transcript, prompt) in enumerate(zip(lines, prompts, strict=True), start=1):
            meta = transcript.get("meta") if isinstance(transcript.get("meta"), dict) else {}
            ident = str(meta.get("id") or meta.get("scenario") or number)
            out.append({"id": ident, **trajectory_logprobs(client, model, prompt)})
    return {"model": model, "base_url": redact_url(base_url), "trajectories": out}


def run(args: Any) -> int:
    import sys

    try:
        out = check_output_file(args.out)  # before minutes of requests, not after
        data = collect(args.base_url, args.model, args.tokenizer, Path(args.transcripts), args.limit, args.api_key)
    except (LogprobError, ServerError, InputError) as exc:
        message = str(exc)
        print(message if message.startswith("serving: ") else f"serving: {message}", file=sys.stderr)
        return 2
    try:
        write_text_atomic(out, json.dumps(data) + "\n")
    except OSError as exc:
        print(f"serving: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    tokens = sum(len(t["tokens"]) for t in data["trajectories"])
    print(f"wrote {out}: {len(data['trajectories'])} trajectories, {tokens} tokens from {args.model} at "
          f"{redact_url(args.base_url)}")
    return 0
