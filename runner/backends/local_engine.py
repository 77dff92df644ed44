"""The local backend's generation engine: a shared-head cache and batched decoding of concurrent requests.

transformers' ``generate`` serves one request at a time and re-encodes the whole prompt every time. On
the local backend almost every prompt starts with the same head (the system turn with the ~1.7k-token
tool block), and inspect keeps several samples in flight; on a CPU the tiny twin spent most of an eval
run prefilling that head again and paying generate's per-token overhead one sequence at a time. This
engine, one per loaded model:

- encodes each distinct head once and keeps its cache (the attention layers' keys and values *and*
  the Gated DeltaNet layers' conv and recurrent states, so a prompt resumes exactly where the head
  ended); a request prefills only what follows its head;
- decodes every request in flight together, one batched forward per token (left-padded keys for the
  attention layers, one state row per request for the linear-attention layers); a request joins the
  batch as soon as its prefill is done and leaves it at its stop token, stop string or token limit.

Greedy decoding gives the tokens of greedy ``generate`` up to float rounding (tested). A model whose
cache holds layer kinds this engine does not know is refused (``supports``); the provider then uses
``generate`` one request at a time.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

HEAD_CACHE_ENTRIES = 8  # distinct heads kept (one per cart prompt x tool surface in an eval run)
MAX_BATCH = 8


class EngineUnsupported(RuntimeError):
    """The model's cache holds layers this engine cannot batch; use `generate` instead."""


@dataclass
class Sampling:
    temperature: float | None = None  # None or <= 0: greedy
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None


@dataclass
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stopped_at_eos: bool


@dataclass
class _Request:
    ids: list[int]
    head: int  # how many leading tokens are the shared head (0: none)
    max_tokens: int
    sampling: Sampling
    stop_strings: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: Generation | None = None
    error: BaseException | None = None
    # decoding state
    new_tokens: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None


def _layers(cache: Any) -> list[Any]:
    return list(getattr(cache, "layers", []))


def _kind(layer: Any) -> str:
    from transformers.cache_utils import DynamicLayer, LinearAttentionCacheLayerMixin

    if isinstance(layer, LinearAttentionCacheLayerMixin):
        if isinstance(layer, DynamicLayer):
            return "unknown"  # a layer holding both kinds: not handled here
        return "linear"
    if type(layer) is DynamicLayer:
        return "kv"
    return "unknown"


def supports(cache: Any) -> bool:
    """Whether this engine can batch a cache of this shape (dynamic KV layers and linear-attention states)."""
    layers = _layers(cache)
    return bool(layers) and all(_kind(layer) != "unknown" for layer in layers)


def _stack(rows: list[Any], lengths: list[int]) -> tuple[Any, list[int]]:
    """One batched cache from single-row caches; attention keys/values are left-padded to the longest row."""
    longest = max(lengths)
    pads = [longest - n for n in lengths]
    batch = copy.copy(rows[0])
    batch.layers = []
    for index, layer in enumerate(_layers(rows[0])):
        merged = copy.copy(layer)
        if _kind(layer) == "linear":
            merged.conv_states = dict(layer.conv_states)
            merged.recurrent_states = dict(layer.recurrent_states)
            merged.conv_states[0] = torch.cat([r.layers[index].conv_states[0] for r in rows])
            merged.recurrent_states[0] = torch.cat([r.layers[index].recurrent_states[0] for r in rows])
        else:
            keys, values = [], []
            for row, pad in zip(rows, pads, strict=True):
                k, v = row.layers[index].keys, row.layers[index].values
                if pad:
                    k = torch.nn.functional.pad(k, (0, 0, pad, 0))
                    v = torch.nn.functional.pad(v, (0, 0, pad, 0))
                keys.append(k)
                values.append(v)
            merged.keys, merged.values = torch.cat(keys), torch.cat(values)
        batch.layers.append(merged)
    return batch, pads


def _split(batch: Any, pads: list[int]) -> list[Any]:
    """The single-row caches of a batched one (padding dropped)."""
    rows = []
    for i, pad in enumerate(pads):
        row = copy.copy(batch)
        row.layers = []
        for layer in _layers(batch):
            part = copy.copy(layer)
            if _kind(layer) == "linear":
                part.conv_states = dict(layer.conv_states)
                part.recurrent_states = dict(layer.recurrent_states)
                part.conv_states[0] = layer.conv_states[0][i : i + 1].clone()
                part.recurrent_states[0] = layer.recurrent_states[0][i : i + 1].clone()
            else:
                part.keys = layer.keys[i : i + 1, :, pad:].clone()
                part.values = layer.values[i : i + 1, :, pad:].clone()
            row.layers.append(part)
        rows.append(row)
    return rows


def _pick(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """The next token from one row of logits: argmax, or a sample after temperature / top-k / top-p."""
    if sampling.temperature is None or sampling.temperature <= 0:
        return int(torch.argmax(logits))
    scores = logits.float() / sampling.temperature
    if sampling.top_k is not None and 0 < sampling.top_k < scores.numel():
        kth = torch.topk(scores, sampling.top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p is not None and 0 < sampling.top_p < 1:
        ordered, order = torch.sort(scores, descending=True)
        cumulative = torch.softmax(ordered, dim=-1).cumsum(-1)
        drop = cumulative - torch.softmax(ordered, dim=-1) > sampling.top_p  # keep the token that crosses top_p
        scores = scores.index_fill(0, order[drop], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def eos_ids(model: Any) -> set[int]:
    """The token ids that end a generation (the model's generation config)."""
    eos = model.generation_config.eos_token_id
    return set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()


def head_length(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                ids: list[int]) -> int:
    """How many leading tokens of `ids` come before the first non-system message's text: the head that
    prompts with the same system turn and tools share (found by rendering that message differently)."""
    first = next((i for i, m in enumerate(messages) if m.get("role") != "system"), None)
    if first is None or not isinstance(messages[first].get("content"), str):
        return 0
    other = [dict(m) for m in messages]
    other[first]["content"] = "#" if messages[first]["content"] != "#" else "%"
    try:
        text = tokenizer.apply_chat_template(other, tools=tools, tokenize=False, add_generation_prompt=True)
    except Exception:
        return 0
    alt = tokenizer(text, add_special_tokens=False)["input_ids"]
    n = 0
    for a, b in zip(ids, alt, strict=False):
        if a != b:
            break
        n += 1
    return n


class Engine:
    """Serves `generate` calls from any thread; one worker thread runs the model."""

    def __init__(self, model: Any, tokenizer: Any, device: str, threads: int | None,
                 eos_ids: set[int], max_batch: int = MAX_BATCH) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.threads, self.eos_ids, self.max_batch = threads, eos_ids, max_batch
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._heads: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def generate(self, ids: list[int], head: int, max_tokens: int, sampling: Sampling,
                 stop_strings: list[str] | None = None) -> Generation:
        """Blocks until this request is done; raises what the model raised for it."""
        request = _Request(ids=list(ids), head=head if 0 < head < len(ids) else 0, max_tokens=max_tokens,
                           sampling=sampling, stop_strings=list(stop_strings or []))
        if sampling.seed is not None and sampling.temperature and sampling.temperature > 0:
            request.generator = torch.Generator(device="cpu").manual_seed(sampling.seed)
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="madcat-local-engine", daemon=True)
                self._worker.start()
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    # ------------------------------------------------------------------ worker

    def _run(self) -> None:
        active: list[_Request] = []
        caches: list[Any] = []  # single-row caches of `active` while not batched
        lengths: list[int] = []  # tokens in each row's cache
        batch: Any = None
        pads: list[int] = []
        while True:
            joined = []
            try:
                block = not active
                while len(active) + len(joined) < self.max_batch:
                    joined.append(self._queue.get(block=block))
                    block = False
            except queue.Empty:
                pass
            old_threads = torch.get_num_threads()
            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                with torch.inference_mode():
                    if joined:
                        if batch is not None:
                            caches, batch = _split(batch, pads), None
                        for request in joined:
                            try:
                                cache, first_logits = self._prefill(request)
                            except Exception as exc:  # this request fails; the others go on
                                self._finish(request, error=exc)
                                continue
                            if self._advance(request, first_logits[0]):
                                continue
                            active.append(request)
                            caches.append(cache)
                            lengths.append(len(request.ids))
                    if not active:
                        continue
                    if batch is None:
                        batch, pads = _stack(caches, lengths)
                        caches = []
                    logits = self._step(active, batch, pads, lengths)
                    finished = [self._advance(r, logits[i]) for i, r in enumerate(active)]
                    lengths = [n + 1 for n in lengths]
                    if any(finished):
                        keep = [i for i, f in enumerate(finished) if not f]
                        rows = _split(batch, pads)
                        active = [active[i] for i in keep]
                        caches, lengths = [rows[i] for i in keep], [lengths[i] for i in keep]
                        batch, pads = None, []
            except Exception as exc:  # the batched step failed: every request in it fails
                for request in active:
                    self._finish(request, error=exc)
                active, caches, lengths, batch, pads = [], [], [], None, []
            finally:
                torch.set_num_threads(old_threads)

    def _head_cache(self, ids: list[int]) -> Any:
        key = tuple(ids)
        cache = self._heads.get(key)
        if cache is None:
            out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            self._heads[key] = cache
            while len(self._heads) > HEAD_CACHE_ENTRIES:
                self._heads.popitem(last=False)
        else:
            self._heads.move_to_end(key)
        return copy.deepcopy(cache)

    def _prefill(self, request: _Request) -> tuple[Any, torch.Tensor]:
        ids, head = request.ids, request.head
        if head:
            cache = self._head_cache(ids[:head])
            out = self.model(input_ids=torch.tensor([ids[head:]], device=self.device), past_key_values=cache,
                             use_cache=True, logits_to_keep=1)
        else:
            out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
        if not supports(out.past_key_values):
            raise EngineUnsupported("the local engine cannot batch this model's cache")
        return out.past_key_values, out.logits[:, -1]

    def _step(self, active: list[_Request], batch: Any, pads: list[int], lengths: list[int]) -> torch.Tensor:
        """One token for every active request; returns their next-token logits [B, vocab]."""
        width = max(lengths) + 1
        tokens = torch.tensor([[r.new_tokens[-1]] for r in active], device=self.device)
        positions = torch.tensor([[n] for n in lengths], device=self.device)
        mask = None
        if any(pads):
            mask = torch.ones(len(active), width, dtype=torch.long, device=self.device)
            for i, pad in enumerate(pads):
                mask[i, :pad] = 0
        out = self.model(input_ids=tokens, past_key_values=batch, attention_mask=mask, position_ids=positions,
                         use_cache=True, logits_to_keep=1)
        return out.logits[:, -1]

    def _advance(self, request: _Request, logits: torch.Tensor) -> bool:
        """Append the next token; True when the request is finished (and answered)."""
        token = _pick(logits, request.sampling, request.generator)
        request.new_tokens.append(token)
        if token in self.eos_ids:
            self._finish(request, eos=True)
            return True
        if len(request.new_tokens) >= request.max_tokens:
            self._finish(request)
            return True
        if request.stop_strings:
            text = self.tokenizer.decode(request.new_tokens, skip_special_tokens=True)
            if any(stop in text for stop in request.stop_strings):
                self._finish(request)
                return True
        return False

    def _finish(self, request: _Request, eos: bool = False, error: BaseException | None = None) -> None:
        if error is not None:
            request.error = error
        else:
            text = self.tokenizer.decode(request.new_tokens, skip_special_tokens=True,
                                         clean_up_tokenization_spaces=False)
            request.result = Generation(text=text, input_tokens=len(request.ids),
                                        output_tokens=len(request.new_tokens), stopped_at_eos=eos)
        request.done.set()
