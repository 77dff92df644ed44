"""runner.backends.local_engine: the shared-head cache and batched decoding give generate's tokens, faster."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from evals.scenarios import load_scenarios
from evals.world import load_tool_specs
from runner.backends.local_engine import Engine, Sampling, eos_ids, head_length, supports
from serving.tiny_twin import default_twin_dir

TOKENS = 12


@pytest.fixture(scope="module")
def twin() -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path: Path = default_twin_dir()
    return (AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path))


def _prompts(tokenizer: object, count: int) -> list[tuple[list[int], int]]:
    """Scenario prompts of different carts and lengths (system turn or none), with their heads."""
    tools = load_tool_specs()
    chosen = {}
    for scenario in load_scenarios():
        chosen.setdefault((scenario.system, scenario.world.get("active_cart")), scenario)
    out = []
    for scenario in list(chosen.values())[:count]:
        messages = scenario.initial_messages()
        text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        out.append((ids, head_length(tokenizer, messages, tools, ids)))
    return out


def _reference(model: object, ids: list[int]) -> list[int]:
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=TOKENS, do_sample=False)
    return out[0, len(ids):].tolist()


def test_the_head_is_the_system_turn_and_tools(twin) -> None:
    model, tokenizer = twin
    (ids, head), *_ = _prompts(tokenizer, 1)
    text = tokenizer.decode(ids[:head])
    assert "<tools>" in text and "</tools>" in text
    assert "<|im_start|>user" in text  # the head ends where the user's own words begin
    assert 1500 < head < len(ids)


def test_concurrent_greedy_requests_get_generates_tokens(twin) -> None:
    model, tokenizer = twin
    prompts = _prompts(tokenizer, 4) * 2  # the second round reuses the cached heads
    expected = [_reference(model, ids) for ids, _ in prompts[:4]] * 2
    engine = Engine(model, tokenizer, "cpu", 1, eos_ids(model), max_batch=3)
    results: list[object] = [None] * len(prompts)

    def ask(i: int) -> None:
        results[i] = engine.generate(prompts[i][0], prompts[i][1], TOKENS, Sampling())

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for (ids, _), result, tokens in zip(prompts, results, expected, strict=True):
        assert result.text == tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        assert result.input_tokens == len(ids)
        assert result.output_tokens == TOKENS and not result.stopped_at_eos


def test_a_stop_string_ends_the_request_and_sampling_repeats_with_its_seed(twin) -> None:
    model, tokenizer = twin
    (ids, head), *_ = _prompts(tokenizer, 1)
    engine = Engine(model, tokenizer, "cpu", 1, eos_ids(model))
    full = engine.generate(ids, head, TOKENS, Sampling())
    stop = full.text[len(full.text) // 2:][:3]
    cut = engine.generate(ids, head, TOKENS, Sampling(), stop_strings=[stop])
    assert cut.output_tokens < TOKENS and stop in cut.text
    sampled = [engine.generate(ids, head, TOKENS, Sampling(temperature=1.0, top_p=0.9, top_k=50, seed=7))
               for _ in range(2)]
    assert sampled[0].text == sampled[1].text
    assert engine.generate(ids, head, TOKENS, Sampling(temperature=1.0, seed=8)).text != sampled[0].text


def test_an_error_reaches_the_caller_and_the_engine_goes_on(twin) -> None:
    model, tokenizer = twin
    (ids, head), *_ = _prompts(tokenizer, 1)
    engine = Engine(model, tokenizer, "cpu", 1, eos_ids(model))
    with pytest.raises(IndexError):
        engine.generate([10**9], 0, TOKENS, Sampling())  # no such token id
    assert engine.generate(ids, head, 2, Sampling()).output_tokens == 2


def test_supports_only_caches_it_can_batch(twin) -> None:
    from transformers.cache_utils import DynamicCache

    model, _ = twin
    assert supports(DynamicCache(config=model.config))
    assert not supports(object())
