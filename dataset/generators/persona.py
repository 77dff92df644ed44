"""Persona: who the agent is comes from the active cart it reads, never from a hardcoded BT-7274."""

from __future__ import annotations

import json
import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, call, cart_get, join, pick

CATEGORY = "persona"

WHO_REQUESTS = (
    "Quick sanity check: who is on the other end of this chat?",
    "Two sentences about yourself, please.",
    "What should I call you today?",
    "Which persona is loaded at the moment?",
    "Describe yourself and your way of talking.",
    "Before we start, what's your name and style?",
)
BT_PROBES = (
    "BT? Come in.",
    "Hey BT-7274, status report.",
    "Are you BT-7274?",
    "Is this BT-7274 on the line?",
    "BT-7274, respond.",
)
CADENCE_FOLLOWUPS = (
    "Why do you talk like that?",
    "Where does that style of yours come from?",
    "Can you explain your tone?",
)


def intro(cart: dict, rng: random.Random) -> str:
    """Self-introduction in the cart's own cadence, built from its config."""
    if cart["tag"] == "bt":
        return pick(rng, (f"{cart['name']} here. Cart {cart['tag']}, voice {cart['voice']}. Standing by for orders.",
                          f"This is {cart['name']}. Cadence: {cart['cadence']}. Ready."))
    if cart["tag"] == "nova":
        return pick(rng, (f"Hi! I'm {cart['name']}, warm and casual, here to help with whatever's next.",
                          f"Hey there! I'm {cart['name']}, the friendly one. What are we up to?"))
    return pick(rng, (f"Good day. I am {cart['name']}. My manner is {cart['cadence']}, and I am at your service.",
                      f"This is {cart['name']}. I keep a formal register and precise answers."))


def _targets(s: Play) -> tuple[str, ...]:
    """Not claiming BT-7274 is shown only where another cart is active."""
    if s.cart == "bt7274":
        return ("persona.loads_identity_from_cart",)
    return ("persona.loads_identity_from_cart", "persona.no_hardcoded_bt_identity")


def _read_cart(s: Play, rng: random.Random) -> dict:
    if rng.random() < 0.5:
        active = json.loads(s.one(call("settings_get", key="active_cart"),
                                  content=pick(rng, ("Checking which cart is active.", ""))))["active_cart"]
    else:
        active = s.read_settings(split=False)["active_cart"]
    return json.loads(s.one(cart_get(active), content=pick(rng, ("Loading that cart's config.", ""))))


def who(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, WHO_REQUESTS), world={"active_cart": pick(rng, CARTS)})
    cart = _read_cart(s, rng)
    s.say(intro(cart, rng))
    if rng.random() < 0.4:
        s.user(pick(rng, CADENCE_FOLLOWUPS))
        s.say(join(f"It comes from the active cart's config: cadence \"{cart['cadence']}\", voice {cart['voice']}.",
                   "Load a different cart and the voice and manner change with it."))
    return s.transcript(CATEGORY, "introduce", _targets(s))


# What each cart answers when the user expects BT-7274.
BT_PROBE_ANSWERS = {
    "bt7274": ("BT-7274 online. Cart bt is active. Awaiting orders.", "Affirmative. This is BT-7274. Standing by."),
    "nova": ("Hey! This is Nova. The active cart is nova, not BT-7274, so you've got me today. Want me to switch carts?",
             "Hi! You're talking to Nova: BT-7274 isn't the loaded cart right now. Happy to help all the same!"),
    "sage": ("Good day. This is Sage; the active cart is sage rather than BT-7274. How may I assist?",
             "You're talking to Sage. BT-7274 is a different cart and is not loaded at present."),
}


def bt_probe(rng: random.Random) -> Draft:
    """The user expects BT-7274; the active cart decides."""
    active = pick(rng, ("nova", "sage", "nova", "sage", "bt7274"))
    s = Play(rng, pick(rng, BT_PROBES), world={"active_cart": active})
    cart = _read_cart(s, rng)
    s.say(pick(rng, BT_PROBE_ANSWERS[cart["key"]]))
    return s.transcript(CATEGORY, "bt-probe", _targets(s))


GREETINGS = ("Greet everybody through the speakers.", "Give the office a spoken hello from you.", "Let the room hear who you are.")


def spoken_intro(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, GREETINGS), world={"active_cart": pick(rng, CARTS), "tts_enabled": rng.random() < 0.75})
    settings = s.read_settings(split=False, content=pick(rng, ("Settings first.", "")))
    cart = json.loads(s.one(cart_get(settings["active_cart"])))
    text = intro(cart, rng)
    if settings["tts.enabled"]:
        s.one(call("tts_speak", text=text, voice=settings["tts.voice"]))
        s.say(f"Greeted the room in the {settings['tts.voice']} voice:\n\"{text}\"")
    else:
        s.say(join(text, "(TTS is disabled in settings, so this stays on screen.)"))
    return s.transcript(CATEGORY, "spoken-intro", _targets(s))


def status_in_cadence(rng: random.Random) -> Draft:
    """Any answer carries the active cart's cadence, read from the cart."""
    s = Play(rng, pick(rng, ("How's the vLLM box doing?", "Give me a one-liner on sin's health.",
                                "Is sin happy right now?", "Status of the model server, in your own words?",
                                "Anything wrong with vllm on the GB10?", "One line: is inference up?")),
                world={"active_cart": pick(rng, CARTS)})
    settings = s.read_settings(split=False)
    cart = json.loads(s.one(cart_get(settings["active_cart"]), content=pick(rng, ("Loading my cart.", ""))))
    result = s.one(call("bash", command="ssh sin systemctl status vllm"))
    state = result.split(":")[-1].strip()
    line = {"bt": f"This is {cart['name']}. vLLM on sin: {state}. No anomalies.",
            "nova": f"{cart['name']} here! vLLM on sin is {state} and looking happy.",
            "sage": f"This is {cart['name']}. The vLLM service on sin is {state}; no action is required."}[cart["tag"]]
    s.say(line)
    return s.transcript(CATEGORY, "status-in-cadence", ("persona.loads_identity_from_cart",))


RECIPES = (
    Recipe("introduce", CATEGORY, ("persona.loads_identity_from_cart", "persona.no_hardcoded_bt_identity"), who),
    Recipe("bt-probe", CATEGORY, ("persona.no_hardcoded_bt_identity", "persona.loads_identity_from_cart"), bt_probe),
    Recipe("spoken-intro", CATEGORY, ("persona.loads_identity_from_cart",), spoken_intro),
    Recipe("status-in-cadence", CATEGORY, ("persona.loads_identity_from_cart",), status_in_cadence),
)
