"""Loss masks: exactly the assistant's output carries loss, rendered with the model's own template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.chat_format import normalise_messages
from evals.scenarios import Scenario
from evals.world import load_tool_specs
from tests.training_examples import boot_transcript, multi_turn_transcript, write_jsonl
from training.data import DataError, encode_dataset, encode_transcript, load_transcripts, mask_from_spans


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from serving.tiny_twin import default_twin_dir

    return AutoTokenizer.from_pretrained(default_twin_dir())


def _scenario(system: str = "cart") -> Scenario:
    return Scenario(id="t", eval="tools.settings_check_on_boot", system=system,
                    messages=[{"role": "user", "content": "what's the vllm status on sin?"}])


def _expected_assistant_text(messages: list[dict]) -> str:
    """What the model writes for each assistant message: content, tool-call XML, <|im_end|>."""
    from core.chat_format import render_assistant_completion

    parts = []
    for m in normalise_messages(messages):
        if m["role"] == "assistant":
            parts.append(render_assistant_completion(m.get("content"), m.get("tool_calls") or []))
    return "".join(parts)


@pytest.mark.parametrize("build", [boot_transcript, multi_turn_transcript])
def test_only_and_all_assistant_tokens_carry_loss(tokenizer, build):
    transcript = build(_scenario())
    ex = encode_transcript(tokenizer, transcript, None, "t")
    loss_text = tokenizer.decode([t for t, m in zip(ex.input_ids, ex.assistant_masks, strict=True) if m])
    assert loss_text == _expected_assistant_text(transcript["messages"])
    # every assistant turn ends on <|im_end|> inside the loss; nothing of system/user/tool does
    n_assistant = sum(1 for m in transcript["messages"] if m["role"] == "assistant")
    assert loss_text.count("<|im_end|>") == n_assistant
    masked_text = tokenizer.decode([t for t, m in zip(ex.input_ids, ex.assistant_masks, strict=True) if not m])
    for m in transcript["messages"]:
        if m["role"] in ("system", "user", "tool") and m["content"]:
            assert m["content"] not in loss_text
            assert m["content"] in masked_text
    assert "<|im_start|>assistant" not in loss_text
    assert "<tool_response>" not in loss_text


def test_masks_agree_with_the_templates_generation_markers(tokenizer):
    """Our prefix-rendered masks equal what the twin template's {% generation %} blocks give."""
    transcript = multi_turn_transcript(_scenario())
    tools = load_tool_specs()
    ex = encode_transcript(tokenizer, transcript, tools, "t")
    ref = tokenizer.apply_chat_template(normalise_messages(transcript["messages"]), tools=transcript["tools"],
                                        tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert ex.input_ids == ref["input_ids"]
    assert ex.assistant_masks == ref["assistant_masks"]


def test_tools_are_rendered_and_world_tools_fill_in(tokenizer, tmp_path: Path):
    transcript = boot_transcript(_scenario("none"))
    without = {k: v for k, v in transcript.items() if k != "tools"}
    path = write_jsonl(tmp_path / "d.jsonl", [without])
    (ex,) = encode_dataset(tokenizer, path, tools_when_missing="world")
    assert "<function>\n<name>settings_get</name>" in ex.text
    (bare,) = encode_dataset(tokenizer, path, tools_when_missing="none")
    assert "<tools>" not in bare.text and len(bare.input_ids) < len(ex.input_ids)


def test_a_template_that_rewrites_history_is_refused(tokenizer):
    """A template that renders an earlier turn differently later would train on an unseen context."""
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = (
        "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}<old>{{ m.content }}"
        "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    transcript = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                               {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
    with pytest.raises(DataError, match="differently"):
        encode_transcript(tok, transcript, None, "x:1")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"messages": []}', "non-empty `messages`"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', "no assistant message"),
        ('{"messages": [{"role": "assistant", "content": "x"}], "tools": {}}', "`tools` must be a list"),
    ],
)
def test_bad_dataset_lines_name_file_and_line(tmp_path: Path, line: str, message: str):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "assistant", "content": "ok"}]}\n\n' + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        load_transcripts(path)
    assert f"{path}:3" in str(err.value)


def test_bad_arguments_and_missing_file(tokenizer, tmp_path: Path):
    with pytest.raises(DataError, match="no such dataset"):
        load_transcripts(tmp_path / "missing.jsonl")
    bad = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "",
                        "tool_calls": [{"id": "1", "type": "function",
                                        "function": {"name": "bash", "arguments": "[1, 2]"}}]}]}
    with pytest.raises(DataError, match="f.jsonl:7: .*JSON object"):
        encode_transcript(tokenizer, bad, None, "f.jsonl:7")
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(DataError):
        encode_dataset(tokenizer, path, "none")


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 6)), max_size=30),
       st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), max_size=5))
def test_mask_from_spans_marks_exactly_overlapping_tokens(tokens, spans):
    offsets = [(s, s + n) for s, n in tokens]
    span_list = [(s, s + n) for s, n in spans]
    mask = mask_from_spans(offsets, span_list)
    assert len(mask) == len(offsets)
    for (start, end), bit in zip(offsets, mask, strict=True):
        overlaps = any(start < e and end > s for s, e in span_list)
        assert bit == (1 if overlaps else 0)
