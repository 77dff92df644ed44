"""inspect-ai model provider ``madcat-local``: an in-process transformers model (+ peft adapter).

    get_model("madcat-local/twin")                        # the tiny twin (built on first use)
    get_model("madcat-local//path/to/model", adapter="/path/to/adapter")
    inspect eval ... --model madcat-local/twin -M adapter=/path/to/adapter

The prompt is the model's own chat template with the tools as OpenAI tool specs (the same specs
inspect sends to vLLM); the output is parsed in the format that template renders
(core/tool_call_formats.py: qwen3_coder XML for the twin, hermes JSON for Qwen2.5-Coder). A tool call that cannot be read becomes a ``ToolCall`` with ``parse_error`` set, so the
tool loop reports it back and the graders count it as a failure; nothing here raises on model
output.

One copy of each (model, adapter) per process. Generation runs on the engine's worker thread
(runner/backends/local_engine.py): the prompt's shared head (system turn + tools) is encoded once per
process, and concurrent samples are decoded together in one batch, so the event loop stays free. A
model whose cache the engine cannot batch generates with transformers' ``generate``, one request at a
time under a lock.

model_args (``-M``): ``adapter`` (peft adapter dir), ``device`` (default cuda if available, else
cpu), ``dtype`` (default float32 on cpu, the checkpoint's dtype elsewhere), ``threads`` (torch
CPU threads while generating; default 1 for small models on cpu, which is fastest on a busy box),
``tool_call_format`` (qwen3_coder or hermes; default: the one the model's chat template renders).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolCall, ToolChoice, ToolInfo

from core.chat_format import normalise_messages
from core.safe_io import JSON_ERRORS, json_reason
from core.tool_call_formats import format_of_template, parser_for
from runner.backends.local_engine import (
    MAX_BATCH,
    Engine,
    EngineUnsupported,
    Generation,
    Sampling,
    eos_ids,
    head_length,
)
from runner.inspect_messages import to_openai_messages

PROVIDER_NAME = "madcat-local"
DEFAULT_MODEL_NAMES = ("twin", "default", "tiny-twin")
DEFAULT_MAX_TOKENS = 256
# Function name given to a tool call whose name could not be read from the output.
UNREADABLE_CALL_NAME = "unparseable_tool_call"
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
_SMALL_MODEL_PARAMS = 100_000_000
DTYPES = ("auto", "float32", "bfloat16", "float16")


class LocalModelError(RuntimeError):
    """A model or adapter that cannot be used; the message is one line meant for the user."""


# --------------------------------------------------------------------------- conversion


def tool_specs(tools: list[ToolInfo]) -> list[dict[str, Any]]:
    """inspect ToolInfo -> OpenAI tool specs, as inspect's OpenAI-compatible providers send them."""
    specs = []
    for tool in tools:
        specs.append(
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters.model_dump(exclude_none=True),
                },
            }
        )
    return specs


def messages_to_openai(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """inspect ChatMessages -> the OpenAI-style dicts the chat template renders (arguments as dicts)."""
    return normalise_messages(to_openai_messages(messages, errors_in_content=True))


def assistant_message_from_text(
    text: str, tools: list[dict[str, Any]] | None, model_name: str | None = None, tool_call_format: str = "qwen3_coder"
) -> ChatMessageAssistant:
    """Decoded model output -> an assistant message with parsed tool calls. Never raises."""
    parsed = parser_for(tool_call_format)(text, tools)
    calls = [
        ToolCall(
            id=f"call_{uuid.uuid4().hex[:24]}",
            function=call.name or UNREADABLE_CALL_NAME,
            arguments=dict(call.arguments),
            parse_error=call.error,
        )
        for call in parsed.tool_calls
    ]
    return ChatMessageAssistant(
        content=parsed.content,
        tool_calls=calls or None,
        model=model_name,
        source="generate",
    )


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    threads: int | None
    lock: threading.Lock
    engine: Engine | None = None


_loaded: dict[tuple[str, str | None, str, str], LoadedModel] = {}
_loaded_lock = threading.Lock()


def resolve_model_dir(name: str) -> Path:
    """A provider model name -> a transformers model directory (the twin for "twin" or "")."""
    if name.strip() in ("", *DEFAULT_MODEL_NAMES):
        from core.qwen_tokenizer import QwenTokenizerUnavailable
        from serving.tiny_twin import default_twin_dir

        try:
            return default_twin_dir()
        except QwenTokenizerUnavailable as exc:  # the twin ships Qwen3's tokenizer files
            raise LocalModelError(f"cannot build the tiny twin: {exc}") from None
    path = Path(name).expanduser()
    if not path.is_dir():
        raise LocalModelError(f"model directory not found: {path}")
    if not (path / "config.json").is_file():
        raise LocalModelError(f"{path} is not a transformers model directory (no config.json)")
    return path.resolve()


def check_adapter_dir(adapter: str | Path) -> Path:
    """A peft adapter directory, checked before peft touches it."""
    path = Path(adapter).expanduser()
    if not path.is_dir():
        raise LocalModelError(f"adapter directory not found: {path}")
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise LocalModelError(f"adapter {path} has no adapter_config.json (not a peft adapter directory)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as exc:
        raise LocalModelError(f"adapter {path}: adapter_config.json is not valid JSON "
                              f"({json_reason(exc) if isinstance(exc, JSON_ERRORS) else exc})") from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise LocalModelError(f"adapter {path}: adapter_config.json has no peft_type")
    if not any((path / name).is_file() for name in ADAPTER_WEIGHT_FILES):
        raise LocalModelError(f"adapter {path} has no weights ({' or '.join(ADAPTER_WEIGHT_FILES)})")
    return path.resolve()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_model(
    model_dir: Path,
    adapter: Path | None,
    device: str | None = None,
    dtype: str | None = None,
    threads: int | None = None,
) -> LoadedModel:
    """Load (once per process) a model, its tokenizer and an optional adapter."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or ("float32" if device == "cpu" else "auto")
    if dtype not in DTYPES:
        raise LocalModelError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    key = (str(model_dir), str(adapter) if adapter else None, device, dtype)
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
            model = AutoModelForCausalLM.from_pretrained(
                model_dir, dtype=dtype if dtype == "auto" else getattr(torch, dtype)
            )
        except Exception as exc:
            raise LocalModelError(f"cannot load model {model_dir}: {_one_line(exc)}") from None
        if not getattr(tokenizer, "chat_template", None):
            raise LocalModelError(f"model {model_dir} has no chat template in its tokenizer")
        if adapter is not None:
            # not plain PeftModel.from_pretrained: on transformers 5.x peft 0.21 would move the saved
            # shared_expert targets onto the routed experts while loading (see training/targets.py)
            from training.targets import load_adapter

            try:
                model = load_adapter(model, adapter)
            except Exception as exc:
                raise LocalModelError(
                    f"cannot load adapter {adapter} on {model_dir}: {_one_line(exc)}"
                ) from None
        model.to(device)
        model.eval()
        if threads is None and device == "cpu":
            small = sum(p.numel() for p in model.parameters()) < _SMALL_MODEL_PARAMS
            threads = 1 if small else None
        loaded = LoadedModel(model, tokenizer, device, threads, threading.Lock())
        loaded.engine = Engine(model, tokenizer, device, threads, eos_ids(model))
        _loaded[key] = loaded
        return loaded


# --------------------------------------------------------------------------- generation


def _generate_engine(loaded: LoadedModel, prompt: str, head_of: Any, config: GenerateConfig,
                     max_tokens: int) -> Generation:
    """Through the engine (shared head + batched decoding); `generate` for a model it cannot batch."""
    engine = loaded.engine
    if engine is not None:
        ids = loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        sampling = Sampling(seed=config.seed)
        if config.temperature is not None and config.temperature > 0:
            sampling = Sampling(config.temperature, config.top_p, config.top_k, config.seed)
        elif config.temperature is None:  # the model's own default, as generate would use
            gen = loaded.model.generation_config
            if getattr(gen, "do_sample", False):
                sampling = Sampling(gen.temperature, gen.top_p, gen.top_k, config.seed)
        try:
            return engine.generate(ids, head_of(ids), max_tokens, sampling, list(config.stop_seqs or []))
        except EngineUnsupported:
            loaded.engine = None
    return _generate_sync(loaded, prompt, config, max_tokens)


def _generate_sync(loaded: LoadedModel, prompt: str, config: GenerateConfig, max_tokens: int) -> Generation:
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(loaded.device)
    kwargs: dict[str, Any] = {"max_new_tokens": max_tokens}
    if config.temperature is not None:
        if config.temperature <= 0:
            kwargs["do_sample"] = False
        else:
            kwargs["do_sample"] = True
            kwargs["temperature"] = config.temperature
            if config.top_p is not None:
                kwargs["top_p"] = config.top_p
            if config.top_k is not None:
                kwargs["top_k"] = config.top_k
    if config.stop_seqs:
        kwargs["stop_strings"] = list(config.stop_seqs)
        kwargs["tokenizer"] = tokenizer
    if kwargs.get("do_sample") is False:
        # Drop sampling defaults a generation_config may carry, so greedy runs quietly.
        kwargs.update(temperature=None, top_p=None, top_k=None)

    with loaded.lock:
        old_threads = torch.get_num_threads()
        if loaded.threads:
            torch.set_num_threads(loaded.threads)
        try:
            if config.seed is not None:
                torch.manual_seed(config.seed)
            with torch.inference_mode():
                output = model.generate(**inputs, **kwargs)
        finally:
            torch.set_num_threads(old_threads)
    prompt_len = inputs["input_ids"].shape[1]
    new_tokens = output[0, prompt_len:].tolist()
    stop_ids = eos_ids(model)
    text = tokenizer.decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return Generation(
        text=text,
        input_tokens=prompt_len,
        output_tokens=len(new_tokens),
        stopped_at_eos=bool(new_tokens) and new_tokens[-1] in stop_ids,
    )


class MadcatLocalAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(
            model_name=model_name, base_url=base_url, api_key=api_key, config=config or GenerateConfig()
        )
        adapter = model_args.pop("adapter", None)
        device = model_args.pop("device", None)
        dtype = model_args.pop("dtype", None)
        threads = model_args.pop("threads", None)
        tool_call_format = model_args.pop("tool_call_format", None)
        if model_args:
            raise LocalModelError(
                f"{PROVIDER_NAME}: unknown model args {', '.join(sorted(model_args))} "
                "(known: adapter, device, dtype, threads, tool_call_format)"
            )
        self.model_dir = resolve_model_dir(model_name)
        self.adapter_dir = check_adapter_dir(adapter) if adapter not in (None, "", "none") else None
        self.loaded = load_model(
            self.model_dir, self.adapter_dir, device, dtype, int(threads) if threads is not None else None
        )
        try:
            self.tool_call_format = tool_call_format or format_of_template(self.loaded.tokenizer.chat_template)
            parser_for(self.tool_call_format)
        except ValueError as exc:
            raise LocalModelError(f"{PROVIDER_NAME}: {self.model_dir}: {exc}") from None

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        specs = tool_specs(tools) if tools and tool_choice != "none" else []
        messages = messages_to_openai(input)
        tokenizer = self.loaded.tokenizer
        prompt = tokenizer.apply_chat_template(
            messages,
            tools=specs or None,
            tokenize=False,
            add_generation_prompt=True,
        )
        max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        started = time.monotonic()

        def head_of(ids: list[int]) -> int:
            return head_length(tokenizer, messages, specs or None, ids)

        result = await anyio.to_thread.run_sync(_generate_engine, self.loaded, prompt, head_of, config, max_tokens)
        message = assistant_message_from_text(result.text, specs, self.model_name, self.tool_call_format)
        if message.tool_calls:
            stop_reason = "tool_calls"
        elif result.stopped_at_eos:
            stop_reason = "stop"
        elif result.output_tokens >= max_tokens:
            stop_reason = "max_tokens"
        else:
            stop_reason = "stop"
        return ModelOutput(
            model=self.model_name,
            choices=[ChatCompletionChoice(message=message, stop_reason=stop_reason)],
            usage=ModelUsage(
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                total_tokens=result.input_tokens + result.output_tokens,
            ),
            time=time.monotonic() - started,
        )

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        # Requests in flight are decoded together, up to the engine's batch.
        return MAX_BATCH


@modelapi(name=PROVIDER_NAME)
def madcat_local() -> type[ModelAPI]:
    return MadcatLocalAPI
