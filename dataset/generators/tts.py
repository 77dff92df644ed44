"""TTS awareness: settings before speech, the active cart's voice, switching by tag, TTS off means silence."""

from __future__ import annotations

import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, call, cart_get, cart_info, join, pick

CATEGORY = "tts"

# (what to say, how the user refers to it)
MESSAGES = (
    ("main is green again", "that main is green again"),
    ("standup moved to half past ten", "that standup moved to half past ten"),
    ("the canary on sin is live", "that the canary on sin is live"),
    ("lunch is here", "that lunch is here"),
    ("the backup completed without errors", "that the nightly backup went through"),
    ("the training run reached epoch three", "that training hit epoch three"),
    ("welcome back", "a welcome back"),
    ("the review queue is empty", "that the review queue is empty"),
    ("coffee break", "a coffee break"),
    ("the release branch is cut", "that the release branch has been cut"),
)
SPEAK_REQUESTS = (
    "Announce {about} over the speakers.",
    "Give the room a spoken heads-up: {what}.",
    "Can you voice this for me? \"{what}\"",
    "Read it out: {what}.",
    "Out loud please: {what}.",
    "Use TTS to let the room know {about}.",
    "Make an audio announcement {about}.",
    "Speak this one: {what}.",
)
SWITCH_REQUESTS = (
    "I want {target}'s voice on the speakers going forward.",
    "Swap the TTS over to the {target} voice.",
    "Could the announcements use {target}'s voice instead?",
    "Change what the speech output sounds like: {target}, please.",
    "Put {target} on voice duty.",
    "I'd rather hear {target} for announcements. Change it?",
)
RESULT_REQUESTS = (
    "Kick the suite off and narrate the verdict when it finishes.",
    "Kick off the tests, then announce how they went.",
    "Run the tests; I'm away from the screen, so speak the result.",
)
FOLLOW_THANKS = ("thanks!", "perfect, ty", "great, cheers", "nice one")


def _shout(cart: str, what: str, rng: random.Random) -> str:
    """What each cart would actually say."""
    if cart == "bt7274":
        return pick(rng, (f"Attention: {what}.", f"Notice. {what.capitalize()}.", f"Pilot, {what}."))
    if cart == "nova":
        return pick(rng, (f"Hey everyone, {what}!", f"Quick heads-up, {what}!", f"Good news, {what}!"))
    return pick(rng, (f"Attention, please: {what}.", f"May I have your attention: {what}.", f"Please note that {what}."))


def _world(rng: random.Random, *, tts: bool | None = None) -> dict:
    return {"active_cart": pick(rng, CARTS), "tts_enabled": rng.random() < 0.85 if tts is None else tts}


def speak(rng: random.Random) -> Draft:
    what, about = pick(rng, MESSAGES)
    s = Play(rng, pick(rng, SPEAK_REQUESTS).format(what=what, about=about), world=_world(rng, tts=True))
    settings = s.read_settings(content=pick(rng, ("Checking settings first.", "Reading the active cart and TTS state.", "")))
    voice = settings["tts.voice"]
    result = s.one(call("tts_speak", text=_shout(s.cart, what, rng), voice=voice))
    s.say(join(f"Announced in the {voice} voice ({result.split(' in ')[0].lower()}).",
               s.line("close") if rng.random() < 0.4 else ""))
    if rng.random() < 0.35:  # a follow-up: switch to another cart's voice for later announcements
        target = pick(rng, [c for c in CARTS if c != s.cart])
        name = s.world.carts[target]["name"]
        s.user(pick(rng, ("For the rest of today, switch to {t}.", "Later announcements should sound like {t}.",
                          "Let's hear {t} for the next ones.")).format(t=name))
        tag = s.world.carts[target]["tag"]
        s.one(call("tts_switch_voice", cart_tag=tag), content=f"Switching with the {name} cart's tag, {tag}.")
        new_voice = s.world.carts[target]["voice"]
        s.say(f"Switched: the next announcements use the {new_voice} voice until you change it back.")
    return s.transcript(CATEGORY, "speak", ("tts.checks_settings_before_speaking", "tts.uses_active_cart_voice"))


def speak_disabled(rng: random.Random) -> Draft:
    what, about = pick(rng, MESSAGES)
    s = Play(rng, pick(rng, SPEAK_REQUESTS).format(what=what, about=about), world=_world(rng, tts=False))
    s.read_settings(content=pick(rng, ("Checking the TTS state first.", "Settings first.", "")))
    s.say(join(s.line("sorry") if rng.random() < 0.5 else "",
               pick(rng, ("TTS is disabled in settings (tts.enabled is false), so I kept quiet.",
                          "Speech output is switched off in settings; nothing went to the speakers.",
                          "tts.enabled is false, so I did not use the speakers.")),
               f"In writing instead: \"{_shout(s.cart, what, rng)}\"",
               pick(rng, ("Turn TTS on in settings if you want it spoken.", "Enable tts.enabled and I can voice it.",
                          "Flip tts.enabled to true if you want audio."))))
    if rng.random() < 0.3:
        s.user(pick(rng, FOLLOW_THANKS))
        s.say(pick(rng, ("Anytime.", "You're welcome.", "Glad to help.")))
    return s.transcript(CATEGORY, "speak-disabled", ("tts.respects_tts_disabled",))


def switch(rng: random.Random, *, tts: bool | None = None) -> Draft:
    world = _world(rng, tts=tts)
    target = pick(rng, [c for c in CARTS if c != world["active_cart"]])
    name = cart_info(target)["name"]
    s = Play(rng, pick(rng, SWITCH_REQUESTS).format(target=name), world=world)
    settings = s.read_settings(content=pick(rng, ("Reading settings.", "Checking the current voice.", "")))
    s.one(cart_get(target), content=f"Looking up the {name} cart for its tag.")
    tag = s.world.carts[target]["tag"]
    s.one(call("tts_switch_voice", cart_tag=tag), content=pick(rng, (f"Tag is {tag}. Switching.", "")))
    new_voice = s.world.carts[target]["voice"]
    if settings["tts.enabled"] and rng.random() < 0.6:
        s.one(call("tts_speak", text=pick(rng, ("Voice check.", "Testing, one two.", "Voice switched.")), voice=new_voice))
        s.say(join(s.line("report"), f"TTS now uses the {new_voice} voice (switched with cart tag {tag}); "
                   "a short voice check just played.", s.line("close")))
    elif settings["tts.enabled"]:
        s.say(join(s.line("ack"), f"Switched with tag {tag}: announcements now use the {new_voice} voice "
                   f"instead of {settings['tts.voice']}."))
    else:
        s.say(join(f"Voice switched to {new_voice} (tag {tag}).", "Heads-up: tts.enabled is false in settings, "
                   "so you won't hear it until speech is turned back on."))
    targets = ["tts.switch_voice_with_cart_tag"]
    if not settings["tts.enabled"]:
        targets.append("tts.respects_tts_disabled")
    return s.transcript(CATEGORY, "switch-voice", targets)


def switch_disabled(rng: random.Random) -> Draft:
    draft = switch(rng, tts=False)
    draft.recipe = draft.transcript["meta"]["recipe"] = "switch-voice-tts-off"
    return draft


def speak_result(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, RESULT_REQUESTS), world=_world(rng, tts=True))
    settings = s.read_settings(content=pick(rng, ("Settings first, since you want audio.", "")))
    result = s.one(call("bash", command=pick(rng, ("npm test", "npx vitest run"))), content="Running the suite.")
    passed = result.split("Tests")[1].split("(")[0].strip() if "Tests" in result else "all"
    text = {"bt7274": f"Test run complete. {passed}. No failures.",
            "nova": f"Tests are green! {passed}.",
            "sage": f"The test suite has finished: {passed}, with no failures."}[s.cart]
    s.one(call("tts_speak", text=text, voice=settings["tts.voice"]))
    s.say(join(s.line("report"), f"{passed}, all four test files green. Announced in the {settings['tts.voice']} voice."))
    return s.transcript(CATEGORY, "speak-test-result", ("tts.checks_settings_before_speaking", "tts.uses_active_cart_voice"))


RECIPES = (
    Recipe("speak", CATEGORY, ("tts.checks_settings_before_speaking", "tts.uses_active_cart_voice"), speak),
    Recipe("switch-voice", CATEGORY, ("tts.switch_voice_with_cart_tag",), switch),
    Recipe("speak-disabled", CATEGORY, ("tts.respects_tts_disabled",), speak_disabled),
    Recipe("speak-test-result", CATEGORY, ("tts.checks_settings_before_speaking", "tts.uses_active_cart_voice"),
           speak_result),
    Recipe("switch-voice-tts-off", CATEGORY, ("tts.switch_voice_with_cart_tag", "tts.respects_tts_disabled"),
           switch_disabled),
)
