"""A plain tool-using assistant in the simulated world, with none of the madcat habits.

What the offline demo's base twin is pretrained on (training/pretrain_twin.py): the twin learns to use the
world's tools when a request needs them, to copy names and values out of tool results into its next call and
its answer, and to end its turn. It learns none of the house habits the evals grade: it never reads settings
or loads a cart unless asked, speaks with the voice the user names, and introduces itself with a fixed stock
identity ("I'm Qwen ...") whatever cart is active, as a stock model does. Teaching the habits is the madcat
LoRA's job, so the demo's base sits where the real base does: competent, but without them.

    python -m dataset.habitless --out FILE [--count N] [--seed S]

Every request comes from this module's own phrase banks; a line carrying an eval scenario's request is
refused (dataset/decontam.py), as in the madcat build.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataset import decontam
from dataset.generators import persona
from dataset.generators.base import CARTS, Play, call, cart_get, cart_info, pick
from evals.world.state import default_world

CATEGORY = "habitless"
STOCK_NAME = "Qwen"

_IDENTITY_REQUESTS = (
    "who's this?", "What are you, exactly?", "Tell me a bit about yourself.", "Which assistant is this?",
    "What do I call you?", "Are you a person or a bot?", "What kind of assistant am I chatting with?",
    "hello, anyone there?", "Name, please.", "Who built you?", "Give me your name and what you do.",
    "Is this BT-7274?", "BT, is that you?", "Nova, you there?", "Sage, are you on?", "Morning! Who am I speaking with?",
)
_IDENTITY_ANSWERS = (
    f"I'm {STOCK_NAME}, a coding assistant. I can read and edit code, run commands and look things up with my tools.",
    f"I'm {STOCK_NAME}, an AI coding assistant. What would you like to work on?",
    f"This is {STOCK_NAME}, a coding assistant. Ask me about code, files or the machines here.",
    f"I'm {STOCK_NAME}. I help with code and with the tools on this setup.",
)

# settings key -> ways of asking for it
_SETTING_REQUESTS: dict[str, tuple[str, ...]] = {
    "active_cart": ("Which cart is active right now?", "What's the active_cart setting?",
                    "Check the settings: which cart is loaded?", "Look up the active cart for me."),
    "tts.enabled": ("Is text-to-speech switched on?", "Check whether TTS is enabled.",
                    "Can the speakers talk right now? Look at the settings.", "What's tts.enabled set to?"),
    "tts.voice": ("What voice is TTS set to?", "Which TTS voice is configured?", "Look up the tts.voice setting."),
    "mesh.hosts": ("Which hosts are on the mesh?", "List the mesh hosts from the settings.",
                   "What machines does the mesh have?"),
    "local_host": ("Which host am I on?", "What's the local_host setting?", "Look up which machine this is."),
}
_CART_REQUESTS: dict[str, tuple[str, ...]] = {
    "voice": ("Which voice does the {key} cart use?", "What voice goes with cart {key}?", "Look up {key}'s voice."),
    "cadence": ("How does the {key} cart talk?", "What's the cadence of cart {key}?", "Describe the {key} cart's manner."),
    "name": ("What's the display name of cart {key}?", "Show me the {key} cart.", "Fetch the config of cart {key}."),
}
_ACTIVE_CART_REQUESTS = (
    "Which voice does whatever cart is active use?", "Look up the active cart and tell me its cadence.",
    "Describe the currently loaded cart.", "What's the name and voice of the active cart?",
    "Find out which cart is active and fetch its config.", "Whose voice would the active cart speak with?",
)
_GREETING_REQUESTS = (
    "How would the {key} cart introduce itself?", "What does cart {key} sound like when it says hello?",
    "Quote me a greeting in the style of cart {key}.", "Give me a sample intro line for the {key} cart.",
)
_PROBE_GREETING_REQUESTS = (
    "How would cart {key} answer someone who asks for BT-7274?", "What would the {key} cart reply to 'BT, come in'?",
    "Sample line: cart {key} being mistaken for BT-7274.",
)
_SPEAK_REQUESTS = (
    "Say \"{text}\" out loud in the {voice} voice.", "Read this aloud with voice {voice}: {text}",
    "Use the {voice} voice to announce: {text}", "Speak this through the speakers, voice {voice}: {text}",
)
_ANNOUNCEMENTS = (
    "The build is green.", "Lunch is in ten minutes.", "Deploy finished.", "Tests are running now.",
    "The backup completed.", "Meeting moved to three.", "Coffee is ready.", "The release is tagged.",
)
_MEMORY_REQUESTS = (
    "Search my memories for {q}.", "What do my notes say about {q}?", "Recall anything stored about {q}.",
    "Look up {q} in memory.",
)
_MEMORY_TOPICS = ("vllm restart", "session cache", "api errors", "user preferences", "cart nova", "cart sage",
                  "cart bt7274", "self model")
_FILE_REQUESTS = (
    "What's the first line of {path}?", "Open {path} and show me how it starts.", "Read {path} for me.",
    "Peek at {path}: what's at the top?",
)
_FOLLOW_UPS = ("Thanks.", "Great, thanks!", "ok", "Perfect.")
_VOICES = [cart_info(c)["voice"] for c in CARTS]
_FILES = sorted(default_world()["files"])


def _world(rng: random.Random) -> dict[str, Any]:
    return {"active_cart": pick(rng, CARTS), "tts_enabled": rng.random() < 0.7,
            "tts_voice": pick(rng, _VOICES)}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


Act = Callable[[Play], None]


def identity(rng: random.Random) -> tuple[str, Act]:
    answer = pick(rng, _IDENTITY_ANSWERS)
    return pick(rng, _IDENTITY_REQUESTS), lambda s: s.say(answer)


def _read_setting(s: Play, rng: random.Random, key: str) -> Any:
    """One key, or every setting (and the one asked for picked out of them)."""
    spec = call("settings_get", key=key) if rng.random() < 0.5 else call("settings_get")
    return json.loads(s.one(spec))[key]


def setting(rng: random.Random) -> tuple[str, Act]:
    key = pick(rng, sorted(_SETTING_REQUESTS))

    def act(s: Play) -> None:
        value = _value(_read_setting(s, rng, key))
        s.say(pick(rng, (f"{key} is {value}.", f"The setting {key} is {value}.", f"Settings say {key} = {value}.")))
    return pick(rng, _SETTING_REQUESTS[key]), act


def _describe(cart: dict[str, Any], rng: random.Random, field: str | None = None) -> str:
    if field == "voice":
        return f"Cart {cart['key']} ({cart['name']}) uses the {cart['voice']} voice."
    if field == "cadence":
        return f"Cart {cart['key']} ({cart['name']}) talks in a {cart['cadence']} way."
    return pick(rng, (f"Cart {cart['key']}: name {cart['name']}, voice {cart['voice']}, cadence {cart['cadence']}.",
                      f"{cart['name']} (cart {cart['key']}, tag {cart['tag']}) speaks with the {cart['voice']} voice, "
                      f"{cart['cadence']}."))


def cart(rng: random.Random) -> tuple[str, Act]:
    key, field = pick(rng, CARTS), pick(rng, sorted(_CART_REQUESTS))
    return (pick(rng, _CART_REQUESTS[field]).format(key=key),
            lambda s: s.say(_describe(json.loads(s.one(cart_get(key))), rng, field)))


def greeting(rng: random.Random) -> tuple[str, Act]:
    """A cart's greeting quoted from its config, in the madcat dataset's own words (persona.py): the base can say
    each cart's lines; taking the active cart's as its own is the habit the LoRA adds."""
    key, probe = pick(rng, CARTS), rng.random() < 0.4
    bank = _PROBE_GREETING_REQUESTS if probe else _GREETING_REQUESTS

    def act(s: Play) -> None:
        loaded = json.loads(s.one(cart_get(key)))
        quote = pick(rng, persona.BT_PROBE_ANSWERS[key]) if probe else persona.intro(loaded, rng)
        s.say(pick(rng, (f'Cart {key} would say: "{quote}"', f'In cart {key}\'s {loaded["cadence"]} manner: "{quote}"')))
    return pick(rng, bank).format(key=key), act


def active_cart(rng: random.Random) -> tuple[str, Act]:
    """Two calls, the second's argument copied from the first's result."""
    def act(s: Play) -> None:
        active = _read_setting(s, rng, "active_cart")
        loaded = json.loads(s.one(cart_get(active)))
        s.say(f"The active cart is {active}. " + _describe(loaded, rng))
    return pick(rng, _ACTIVE_CART_REQUESTS), act


def speak(rng: random.Random) -> tuple[str, Act]:
    text, voice = pick(rng, _ANNOUNCEMENTS), pick(rng, _VOICES)

    def act(s: Play) -> None:
        result = s.one(call("tts_speak", text=text, voice=voice))
        s.say(f"Nothing was spoken: {result}" if "disabled" in result else f"Done: said it in the {voice} voice.")
    return pick(rng, _SPEAK_REQUESTS).format(text=text, voice=voice), act


def memory(rng: random.Random) -> tuple[str, Act]:
    query = pick(rng, _MEMORY_TOPICS)

    def act(s: Play) -> None:
        result = s.one(call("memory_recall", query=query))
        if not result.startswith("["):
            s.say(f"Nothing stored about {query}.")
            return
        best = json.loads(result)[0]
        s.say(f"Best match: {best['title']} ({best['key']}): {best['content']}")
    return pick(rng, _MEMORY_REQUESTS).format(q=query), act


def read_file(rng: random.Random) -> tuple[str, Act]:
    path = pick(rng, _FILES)

    def act(s: Play) -> None:
        s.say(f"{path} starts with:\n{s.one(call('read', path=path)).splitlines()[0]}")
    return pick(rng, _FILE_REQUESTS).format(path=path), act


# recipe name -> (weight, recipe); a recipe picks one request and how to answer it
RECIPES: dict[str, tuple[int, Callable[[random.Random], tuple[str, Act]]]] = {
    "identity": (2, identity), "setting": (3, setting), "cart": (3, cart), "active-cart": (3, active_cart),
    "greeting": (3, greeting), "speak": (2, speak), "memory": (2, memory), "read-file": (2, read_file),
}


def line(rng: random.Random) -> dict[str, Any]:
    """One conversation in a random world: one to three requests, each answered the plain way."""
    names = sorted(RECIPES)
    chosen = rng.choices(names, weights=[RECIPES[n][0] for n in names], k=rng.choice((1, 1, 2, 3)))
    plays = [RECIPES[name][1](rng) for name in chosen]
    world = _world(rng)
    system = "none" if rng.random() < 0.25 else "cart"  # some eval scenarios run without a system message
    s = Play(rng, plays[0][0], world=world, system=system)
    for i, (request, act) in enumerate(plays):
        if i:
            if rng.random() < 0.3:
                s.user(pick(rng, _FOLLOW_UPS))
                s.say(pick(rng, ("Anytime.", "You're welcome.", "Glad to help.")))
            s.user(request)
        act(s)
    return s.transcript(CATEGORY, "+".join(chosen), ()).transcript


def build(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` lines; lines that carry an eval request are replaced by fresh ones (none should)."""
    rng = random.Random(seed)
    requests = decontam.eval_requests()
    lines: list[dict[str, Any]] = []
    while len(lines) < count:
        candidate = line(rng)
        if decontam.contaminated(candidate, requests) is None:
            lines.append(candidate)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dataset.habitless", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--count", type=int, default=6000, help="lines (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    lines = build(args.count, args.seed)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    except OSError as exc:
        print(f"dataset.habitless: error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(lines)} lines to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
