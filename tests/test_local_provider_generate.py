"""runner.backends.local_provider: the in-process `madcat-local` inspect-ai provider on the twin."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import torch
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from inspect_ai.tool import ToolCall, ToolCallError, ToolInfo, ToolParam, ToolParams

from runner.backends.local_provider import (
    UNREADABLE_CALL_NAME,
    LocalModelError,
    MadcatLocalAPI,
    assistant_message_from_text,
    messages_to_openai,
    tool_specs,
)
from serving.tiny_twin import default_twin_dir

TOOLS = [
    ToolInfo(
        name="memory_recall",
        description="Search the memory store.",
        parameters=ToolParams(
            properties={
                "query": ToolParam(type="string", description="What to recall"),
                "limit": ToolParam(type="integer", description="How many"),
            },
            required=["query"],
        ),
    ),
    ToolInfo(name="settings_get", description="Read settings.", parameters=ToolParams()),
]
MESSAGES = [
    ChatMessageSystem(content="You are madcat."),
    ChatMessageUser(content="What do you remember about vllm?"),
]


@pytest.fixture(scope="module")
def twin() -> Path:
    return default_twin_dir()


def generate(model_name: str, messages=MESSAGES, tools=TOOLS, **config) -> ModelOutput:
    model = get_model(model_name, config=GenerateConfig(**config), memoize=False)
    return asyncio.run(model.generate(messages, tools=tools))


def test_generates_on_the_twin_with_tools(twin: Path) -> None:
    out = generate("madcat-local/twin", temperature=0, max_tokens=24)
    assert isinstance(out, ModelOutput)
    # the prompt tokens results.json records are Qwen3's count of the rendered prompt
    from core.qwen_tokenizer import load_tokenizer

    qwen3 = load_tokenizer().apply_chat_template(messages_to_openai(MESSAGES), tools=tool_specs(TOOLS),
                                                 add_generation_prompt=True, tokenize=True, return_dict=False)
    assert out.usage is not None and out.usage.input_tokens == len(qwen3) > 50
    assert 0 < out.usage.output_tokens <= 24
    assert out.stop_reason in ("stop", "max_tokens", "tool_calls")
    for call in out.message.tool_calls or []:
        assert call.parse_error or call.function in ("memory_recall", "settings_get")
    # Greedy decoding is repeatable, by name or by path.
    again = generate(f"madcat-local/{twin}", temperature=0, max_tokens=24)
    assert again.completion == out.completion


def test_sampling_with_a_seed_is_repeatable(twin: Path) -> None:
    a = generate("madcat-local/twin", temperature=1.0, seed=7, max_tokens=16)
    b = generate("madcat-local/twin", temperature=1.0, seed=7, max_tokens=16)
    assert a.completion == b.completion


def test_stop_sequence_ends_generation_early(twin: Path) -> None:
    free = generate("madcat-local/twin", temperature=0, max_tokens=24, tools=[])
    stop = free.completion[2:4]
    assert stop.strip(), "the twin's greedy output should have text to stop at"
    out = generate("madcat-local/twin", temperature=0, max_tokens=24, tools=[], stop_seqs=[stop])
    assert out.usage is not None and free.usage is not None
    assert out.usage.output_tokens < free.usage.output_tokens


def test_unparseable_tool_call_becomes_a_call_with_parse_error() -> None:
    specs = tool_specs(TOOLS)
    msg = assistant_message_from_text(
        "Recalling.\n<tool_call>\n<function=memory_recall>\n<parameter=query>\nvl", specs
    )
    assert msg.text == "Recalling."
    (call,) = msg.tool_calls
    assert call.function == "memory_recall" and call.parse_error and "truncated" in call.parse_error
    nameless = assistant_message_from_text("<tool_call>\nnonsense\n</tool_call>", specs)
    assert nameless.tool_calls[0].function == UNREADABLE_CALL_NAME and nameless.tool_calls[0].parse_error


def test_readable_call_gets_typed_arguments() -> None:
    text = (
        "<tool_call>\n<function=memory_recall>\n<parameter=query>\n1234\n</parameter>\n"
        "<parameter=limit>\n3\n</parameter>\n</function>\n</tool_call>"
    )
    (call,) = assistant_message_from_text(text, tool_specs(TOOLS)).tool_calls
    assert (call.function, call.arguments, call.parse_error) == (
        "memory_recall",
        {"query": "1234", "limit": 3},
        None,
    )
    assert call.id.startswith("call_")


def test_inspect_messages_become_template_ready_dicts(twin: Path) -> None:
    messages = [
        ChatMessageUser(content="hi"),
        ChatMessageAssistant(
            content="Looking.",
            tool_calls=[
                ToolCall(id="c1", function="memory_recall", arguments={"query": "x", "limit": 2}),
                ToolCall(id="c2", function="settings_get", arguments={}),
            ],
        ),
        ChatMessageTool(content="[]", tool_call_id="c1", function="memory_recall"),
        ChatMessageTool(
            content="",
            tool_call_id="c2",
            function="settings_get",
            error=ToolCallError(type="unknown", message="MCP error: server 'settings' disconnected"),
        ),
    ]
    dicts = messages_to_openai(messages)
    assert dicts[1]["tool_calls"][0]["function"] == {
        "name": "memory_recall",
        "arguments": {"query": "x", "limit": 2},
    }
    assert dicts[3] == {
        "role": "tool",
        "content": "Error: MCP error: server 'settings' disconnected",
        "tool_call_id": "c2",
    }
    out = generate("madcat-local/twin", messages=messages, temperature=0, max_tokens=4)
    assert out.usage is not None and out.usage.input_tokens > 100


def test_tool_specs_match_openai_shape() -> None:
    spec = tool_specs(TOOLS)[0]
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "memory_recall"
    assert spec["function"]["parameters"]["properties"]["limit"] == {
        "type": "integer",
        "description": "How many",
    }
    assert spec["function"]["parameters"]["required"] == ["query"]


def _lora_adapter(twin: Path, out: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(twin, dtype=torch.float32)
    torch.manual_seed(0)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "out_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(out)
    return out


def test_adapter_is_loaded_and_changes_the_model(twin: Path, tmp_path: Path) -> None:
    adapter = _lora_adapter(twin, tmp_path / "adapter")
    api = MadcatLocalAPI("twin", adapter=str(adapter))
    base = MadcatLocalAPI("twin")
    assert type(api.loaded.model).__name__ == "PeftModel"
    ids = base.loaded.tokenizer("hello there", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(api.loaded.model(ids).logits, base.loaded.model(ids).logits)
    model = get_model(
        "madcat-local/twin", adapter=str(adapter), config=GenerateConfig(max_tokens=8), memoize=False
    )
    out = asyncio.run(model.generate(MESSAGES, tools=TOOLS))
    assert out.usage is not None and out.usage.output_tokens > 0


def _broken_adapters(twin: Path, root: Path) -> dict[str, tuple[Path, str]]:
    cases: dict[str, tuple[Path, str]] = {"missing": (root / "nope", "not found")}
    empty = root / "empty"
    empty.mkdir()
    cases["no config"] = (empty, "no adapter_config.json")
    bad_json = root / "bad_json"
    bad_json.mkdir()
    (bad_json / "adapter_config.json").write_text("{not json")
    cases["bad json"] = (bad_json, "not valid JSON")
    no_weights = root / "no_weights"
    no_weights.mkdir()
    (no_weights / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    cases["no weights"] = (no_weights, "has no weights")
    wrong = _lora_adapter(twin, root / "wrong")
    cfg = json.loads((wrong / "adapter_config.json").read_text())
    cfg["r"] = 8  # the saved tensors are rank 4
    (wrong / "adapter_config.json").write_text(json.dumps(cfg))
    cases["mismatched weights"] = (wrong, "cannot load adapter")
    return cases


def test_broken_adapters_give_one_clear_line(twin: Path, tmp_path: Path) -> None:
    for label, (path, expected) in _broken_adapters(twin, tmp_path).items():
        with pytest.raises(LocalModelError) as info:
            MadcatLocalAPI("twin", adapter=str(path))
        message = str(info.value)
        assert expected in message, label
        assert "\n" not in message, label


def test_bad_model_dir_and_args_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="model directory not found"):
        MadcatLocalAPI(str(tmp_path / "missing"))
    with pytest.raises(LocalModelError, match="no config.json"):
        MadcatLocalAPI(str(tmp_path))
    with pytest.raises(LocalModelError, match="unknown model args temprature"):
        MadcatLocalAPI("twin", temprature=0)
    with pytest.raises(LocalModelError, match="dtype must be one of"):
        MadcatLocalAPI("twin", dtype="fp16")
