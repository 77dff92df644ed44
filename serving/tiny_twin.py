"""The tiny twin: a random-init Qwen3-Next model of a few MB with our own tokenizer.

It has the real architecture of Qwen3-Coder-Next (Gated DeltaNet linear-attention layers and
full-attention layers 3:1, a sparse MoE with a shared expert in every layer) at toy sizes, a
byte-level BPE tokenizer trained here on a fixed corpus, and serving/chat_template.jinja as
its chat template. The local backend uses it as its default model and the training tests train
it; the same directory loads in transformers and in vLLM.

    python -m serving.tiny_twin OUT_DIR [--seed N] [--layers 4] [--fp32]
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from serving.chat_format import ADDED_TOKENS, END_OF_TEXT, IM_END, SPECIAL_TOKENS, normalise_messages
from serving.publish import publish_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = Path(__file__).with_name("chat_template.jinja")
WORLD_DIR = REPO_ROOT / "evals" / "world"
STAMP_FILE = "twin.json"
# Bump when the build changes in a way that invalidates cached twins.
TWIN_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class TwinSizes:
    """Model and tokenizer sizes. The defaults load in vLLM 0.25.1 on an H100."""

    layers: int = 4
    full_attention_interval: int = 4  # every 4th layer is full attention, the rest linear
    hidden_size: int = 256
    intermediate_size: int = 512
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 64
    linear_num_key_heads: int = 4
    linear_num_value_heads: int = 8
    linear_key_head_dim: int = 64
    linear_value_head_dim: int = 64
    linear_conv_kernel_dim: int = 4
    num_experts: int = 8
    num_experts_per_tok: int = 2
    moe_intermediate_size: int = 128
    shared_expert_intermediate_size: int = 128
    max_position_embeddings: int = 4096
    vocab_size: int = 4096  # BPE target; the model's vocab is the trained tokenizer's size

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"{f.name} must be positive, got {getattr(self, f.name)}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.linear_num_value_heads % self.linear_num_key_heads:
            raise ValueError("linear_num_value_heads must be a multiple of linear_num_key_heads")
        if self.num_experts_per_tok > self.num_experts:
            raise ValueError("num_experts_per_tok cannot exceed num_experts")
        if self.vocab_size < 512:
            raise ValueError("vocab_size must be at least 512 (256 bytes + merges + special tokens)")


# --------------------------------------------------------------------------- tokenizer corpus

_ENGLISH_AND_CODE = r'''
The agent runs on fuji, a macOS workstation, and reaches the other machines of the mesh over
SSH. The vLLM server runs on sin, and the continuous-integration runner lives on junkpile.
Before any code change, search the index, recall what the memory store knows about the topic,
check the legacy store, and only then edit the files. After significant work is verified, store
a memory that records the procedure so that the next session does not start from nothing.
When a host does not answer, check the WireGuard interface first: run `wg show` and ping the
host's address on the mesh before trying anything else. A failed tool call is retried once;
if it fails again, say so plainly and suggest what the user can do.
Destructive actions, such as deleting files, force-pushing a branch or restarting a shared
service, wait until the user confirms them. Plans with three or more steps go into the todo
list first; each item is marked in progress before its work starts and completed after it ends.
The active cart decides who the assistant is: its name, its voice and its cadence. Read the
settings before speaking, and speak in the active cart's voice when text-to-speech is enabled.
Hello! How can I help you today? Sure, I will look into that. Done: the tests pass now.
I could not reach the server. The memory server is disconnected; please reconnect it.

def load_settings(path: str) -> dict[str, object]:
    """Read the settings file and return its contents."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class Session:
    def __init__(self, user: str, cart: str = "bt7274") -> None:
        self.user = user
        self.cart = cart
        self.history: list[str] = []

    def create(self, name: str) -> None:
        if not name:
            raise ValueError("name must not be empty")
        self.history.append(name)

    def list(self) -> list[str]:
        return sorted(self.history)


export async function list(users: User[]): Promise<string[]> {
  return users.filter((u) => u.active).map((u) => u.name);
}

for host in fuji sin junkpile; do
  ssh "madcat@${host}" 'uname -a && uptime'
done
git status && git diff --stat && git log --oneline -5
sudo systemctl restart vllm.service; journalctl -u vllm -n 50 --no-pager
brew services list; launchctl list | grep madcat; apt list --installed | head
python -m pytest -q tests/ && ruff check . && echo "all good"
{"key": "active_cart", "value": "nova", "ok": true, "count": 3, "items": [1, 2.5, null]}
'''


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _world_tools() -> list[dict[str, Any]]:
    """OpenAI tool specs from evals/world/tools.json, or [] when it is missing or unreadable."""
    try:
        data = json.loads(_read_text(WORLD_DIR / "tools.json") or "{}")
    except json.JSONDecodeError:
        return []
    tools = data.get("tools", data) if isinstance(data, dict) else data
    return [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []


def _sample_conversation() -> list[dict[str, Any]]:
    """A conversation that exercises every part of the chat template."""
    return [
        {"role": "system", "content": "You are the madcat agent. Read the active cart before you speak."},
        {"role": "user", "content": "Say good morning, then check the vLLM config on sin."},
        {
            "role": "assistant",
            "content": "Reading the settings first.",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "settings_get", "arguments": {"key": "active_cart"}},
                },
                {
                    "type": "function",
                    "function": {"name": "memory_recall", "arguments": {"query": "vllm", "limit": 3}},
                },
            ],
        },
        {"role": "tool", "content": '{"active_cart": "nova"}'},
        {"role": "tool", "content": "[]"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {
                        "name": "bash",
                        "arguments": {
                            "command": "ssh sin 'cat /etc/vllm/qwen3-coder-next.yaml'",
                            "host": "fuji",
                        },
                    },
                },
                {
                    "type": "function",
                    "function": {
                        "name": "TodoWrite",
                        "arguments": {"todos": [{"content": "check config", "status": "in_progress"}]},
                    },
                },
            ],
        },
        {"role": "tool", "content": "MCP error: server 'eems' disconnected"},
        {
            "role": "assistant",
            "content": "Good morning! The config serves qwen3-coder-next with LoRA enabled.",
        },
        {"role": "user", "content": "Thanks."},
    ]


def _render_sample(template: str, tools: list[dict[str, Any]]) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[normalise_messages(_sample_conversation())],
        tools=tools or None,
        chat_template=template,
        add_generation_prompt=True,
    )
    return rendered[0]


_PREFIXES = ("", "", "", "re", "un", "pre", "de", "over", "sub", "multi")
_SUFFIXES = ("", "", "", "s", "ed", "ing", "er", "ly", "able", "ment", "tion", "ness", "ful")


def _synthetic_text(seed_text: str, sentences: int = 6000) -> str:
    """Sentences, identifiers, paths and JSON recombined from the corpus' own words.

    A few KB of hand-written text only gives the BPE trainer about a thousand merges; these
    variants (affixes, snake_case, camelCase, paths) give it enough distinct words to reach the
    target vocabulary, with a fixed random seed so the tokenizer never changes between builds.
    """
    import random

    words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,}", seed_text)})
    if not words:
        return ""
    rng = random.Random(20251126)

    def word() -> str:
        return rng.choice(_PREFIXES) + rng.choice(words) + rng.choice(_SUFFIXES)

    lines = []
    for _ in range(sentences):
        kind = rng.randrange(10)
        if kind < 6:
            text = " ".join(word() for _ in range(rng.randint(4, 12)))
            lines.append(text[:1].upper() + text[1:] + rng.choice((".", ".", "?", "!", ":", ",")))
        elif kind == 6:
            lines.append("_".join(rng.choice(words) for _ in range(rng.randint(2, 3))) + "(" + word() + ")")
        elif kind == 7:
            parts = [rng.choice(words) for _ in range(rng.randint(2, 3))]
            lines.append(
                parts[0] + "".join(p.capitalize() for p in parts[1:]) + " = " + str(rng.randint(0, 9999))
            )
        elif kind == 8:
            path = "/".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            lines.append(f"/{path}.{rng.choice(('py', 'ts', 'yaml', 'json', 'md', 'sh', 'log'))}")
        else:
            lines.append(json.dumps({rng.choice(words): word(), rng.choice(words): rng.randint(0, 500)}))
    return "\n".join(lines)


def tokenizer_corpus() -> Iterator[str]:
    """The fixed text the tokenizer is trained on (files that are missing are skipped)."""
    template = _read_text(TEMPLATE_PATH)
    tools = _world_tools()
    fixed = [_read_text(WORLD_DIR / "world.yaml"), _read_text(WORLD_DIR / "tools.json"), _ENGLISH_AND_CODE]
    yield from fixed
    yield _synthetic_text("\n".join(fixed))
    if template:
        # The rendered prompt carries the template's fixed strings as the model sees them.
        for _ in range(4):
            yield _render_sample(template, tools)


# --------------------------------------------------------------------------- building


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_PRETOKENIZE_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def build_tokenizer(vocab_size: int) -> Any:
    """Train the byte-level BPE tokenizer and wrap it as a PreTrainedTokenizerFast."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Split like Qwen's tokenizer (digits one by one, a word keeps one leading non-letter), then
    # map bytes to the byte-level alphabet.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(tokenizer_corpus()), trainer=trainer)
    # Tool-call tags are single tokens but not "special": they must survive decoding with
    # skip_special_tokens=True, because the tool-call parser reads them.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        unk_token=None,
        bos_token=None,
        model_max_length=TwinSizes.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = _read_text(TEMPLATE_PATH)
    return fast


def build_config(sizes: TwinSizes, vocab_size: int, eos_id: int, pad_id: int, dtype: str) -> Any:
    from transformers import Qwen3NextConfig

    layer_types = [
        "full_attention" if (i + 1) % sizes.full_attention_interval == 0 else "linear_attention"
        for i in range(sizes.layers)
    ]
    return Qwen3NextConfig(
        vocab_size=vocab_size,
        hidden_size=sizes.hidden_size,
        intermediate_size=sizes.intermediate_size,
        num_hidden_layers=sizes.layers,
        num_attention_heads=sizes.num_attention_heads,
        num_key_value_heads=sizes.num_key_value_heads,
        head_dim=sizes.head_dim,
        max_position_embeddings=sizes.max_position_embeddings,
        linear_conv_kernel_dim=sizes.linear_conv_kernel_dim,
        linear_key_head_dim=sizes.linear_key_head_dim,
        linear_value_head_dim=sizes.linear_value_head_dim,
        linear_num_key_heads=sizes.linear_num_key_heads,
        linear_num_value_heads=sizes.linear_num_value_heads,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        moe_intermediate_size=sizes.moe_intermediate_size,
        shared_expert_intermediate_size=sizes.shared_expert_intermediate_size,
        num_experts=sizes.num_experts,
        num_experts_per_tok=sizes.num_experts_per_tok,
        norm_topk_prob=True,
        layer_types=layer_types,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=None,
        dtype=dtype,
    )


def _write_twin(out_dir: Path, seed: int, sizes: TwinSizes, dtype: str) -> None:
    import torch
    from transformers import GenerationConfig, Qwen3NextForCausalLM

    tokenizer = build_tokenizer(sizes.vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    config = build_config(sizes, len(tokenizer), eos_id, pad_id, dtype)

    torch.manual_seed(seed)
    model = Qwen3NextForCausalLM(config)
    model.to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # transformers 5 writes its internal class name; the generic one loads in 4.x and 5.x alike.
    config_path = out_dir / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text(encoding="utf-8"))
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    stamp = _stamp(seed, sizes, dtype)
    stamp["vocab_size"] = len(tokenizer)
    stamp["parameters"] = sum(p.numel() for p in model.parameters())
    (out_dir / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")


_BUILD_SOURCES = (Path(__file__), Path(__file__).with_name("chat_format.py"))


def _stamp(seed: int, sizes: TwinSizes, dtype: str) -> dict[str, Any]:
    """What a twin was built from; a cached twin is rebuilt when this changes."""
    return {
        "format": TWIN_FORMAT,
        "seed": seed,
        "dtype": dtype,
        "sizes": dataclasses.asdict(sizes),
        "template_sha256": _sha256(TEMPLATE_PATH.read_bytes()) if TEMPLATE_PATH.exists() else None,
        # The build code itself (corpus, tokenizer settings, special tokens): edits rebuild the cache.
        "code_sha256": _sha256(b"".join(p.read_bytes() for p in _BUILD_SOURCES)),
    }


def make_tiny_twin(
    out_dir: str | os.PathLike[str], seed: int = 0, dtype: str = "bfloat16", **sizes: int
) -> Path:
    """Build the twin into ``out_dir`` (replacing an earlier twin there) and return its path.

    ``sizes`` are TwinSizes fields (layers, hidden_size, num_experts, ...). Deterministic: the
    same seed and sizes give byte-identical files.
    """
    unknown = set(sizes) - {f.name for f in dataclasses.fields(TwinSizes)}
    if unknown:
        raise ValueError(f"unknown twin size(s): {', '.join(sorted(unknown))}")
    if dtype not in ("bfloat16", "float32"):
        raise ValueError(f"dtype must be bfloat16 or float32, got {dtype!r}")
    twin_sizes = TwinSizes(**sizes)
    twin_sizes.validate()

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / STAMP_FILE).exists())):
        raise ValueError(f"{out} exists and is not a tiny twin; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target, then swap it in, so a reader never sees a half-written twin.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_twin(tmp, seed, twin_sizes, dtype)
        for file in tmp.iterdir():  # the twin is meant to be read by other users (a vLLM server)
            file.chmod(0o644)
        publish_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


_default_lock = threading.Lock()


def _is_current(path: Path, seed: int, dtype: str) -> bool:
    try:
        stamp = json.loads((path / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    want = _stamp(seed, TwinSizes(), dtype)
    return all(stamp.get(k) == v for k, v in want.items()) and (path / "model.safetensors").exists()


def default_twin_dir() -> Path:
    """The default twin (seed 0, default sizes, bf16), built once into a cache directory.

    ``MADCAT_TWIN_DIR`` overrides the location (default ``.work/tiny-twin`` in the repo). A twin
    built from another template or build format is rebuilt.
    """
    path = Path(os.environ.get("MADCAT_TWIN_DIR") or REPO_ROOT / ".work" / "tiny-twin")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A thread lock for this process, a file lock for other processes (pytest-xdist workers):
    # one builds, the others wait and then find the twin current.
    with _default_lock, open(path.parent / f".{path.name}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if not _is_current(path, 0, "bfloat16"):
                make_tiny_twin(path)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return path


def dir_size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.tiny_twin",
        description="Write a tiny random-init Qwen3-Next model with our tokenizer and chat template.",
    )
    parser.add_argument("out_dir", help="directory to write (an earlier twin there is replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fp32", action="store_true", help="save float32 weights (default bfloat16)")
    defaults = TwinSizes()
    for f in dataclasses.fields(TwinSizes):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=int, default=getattr(defaults, f.name), metavar="N"
        )
    args = parser.parse_args(argv)
    sizes = {f.name: getattr(args, f.name) for f in dataclasses.fields(TwinSizes)}
    try:
        out = make_tiny_twin(
            args.out_dir, seed=args.seed, dtype="float32" if args.fp32 else "bfloat16", **sizes
        )
    except (ValueError, OSError) as exc:
        print(f"tiny_twin: error: {exc}", file=sys.stderr)
        return 2
    stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    print(
        f"wrote {out}: {stamp['parameters']:,} parameters, vocab {stamp['vocab_size']}, "
        f"{dir_size_bytes(out) / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
