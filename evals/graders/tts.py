"""TTS: settings before speech, the active cart's voice, switching by cart tag, respecting TTS off."""

from __future__ import annotations

from evals.graders.base import behaviour
from evals.predicates import (
    Verdict,
    comes_before,
    fail,
    first,
    mentions,
    named,
    not_shown,
    ok,
    reads_active_cart,
    reads_tts_state,
)
from evals.transcript import Transcript


def _speaks(t: Transcript) -> bool:
    return bool(t.calls_named("tts_speak"))


@behaviour("tts.checks_settings_before_speaking",
           "reads settings (active cart, TTS on/off) before the first tts_speak", task="speak", applies=_speaks)
def checks_settings_before_speaking(t: Transcript) -> Verdict:
    if first(t.calls, named("tts_speak")) is None:
        return not_shown("never spoke (no tts_speak), so reading settings before speaking was not shown")
    cart = comes_before(t, reads_active_cart, "settings read of the active cart", named("tts_speak"), "tts_speak")
    if not cart.passed:
        return cart
    return comes_before(t, reads_tts_state, "settings read of tts.enabled", named("tts_speak"), "tts_speak")


def _expected_voices(t: Transcript) -> list[tuple[int, str]]:
    """(position from which it holds, voice) — the active cart's voice, then each successful switch."""
    world = t.world
    voices = [(-1, world.carts[world.active_cart]["voice"])]
    for call in t.calls_named("tts_switch_voice"):
        key = world.cart_by_tag(str(call.arg("cart_tag")))
        if key and not call.failed:
            voices.append((call.position, world.carts[key]["voice"]))
    return voices


@behaviour("tts.uses_active_cart_voice", "tts_speak uses the active cart's voice", task="speak", applies=_speaks)
def uses_active_cart_voice(t: Transcript) -> Verdict:
    world = t.world
    speaks = t.calls_named("tts_speak")
    if not speaks:
        return not_shown("never called tts_speak, so the voice it speaks in was not shown")
    voices = _expected_voices(t)
    for call in speaks:
        expected = [v for pos, v in voices if pos < call.position][-1]
        if call.arg("voice") != expected:
            whose = (f"the active cart {world.active_cart!r} speaks as {expected!r}"
                     if expected == world.carts[world.active_cart]["voice"] else f"the voice was switched to {expected!r}")
            return fail(f"tts_speak used voice {call.arg('voice')!r} but {whose} ({call.where()})")
    return ok(f"all {len(speaks)} tts_speak calls used the active voice")


def _target_cart(t: Transcript) -> str | None:
    """The cart a voice switch should go to: the scenario's expectation, else the one the user names."""
    expected = t.expect("target_cart")
    if expected:
        return t.world.find_cart(expected)
    world = t.world
    text = t.user_text().lower()
    named_carts = {key for key, c in world.carts.items()
                   if any(n.lower() in text for n in (key, c["name"], c["tag"]) if len(n) > 2)}
    if len(named_carts) > 1:  # "switch from bt to nova": the target is the one not active now
        named_carts.discard(world.active_cart)
    return next(iter(named_carts)) if len(named_carts) == 1 else None


@behaviour("tts.switch_voice_with_cart_tag", "a voice switch is tts_switch_voice with the target cart's tag",
           task="switch_voice", applies=lambda t: bool(t.calls_named("tts_switch_voice")))
def switch_voice_with_cart_tag(t: Transcript) -> Verdict:
    world = t.world
    switches = t.calls_named("tts_switch_voice")
    if not switches:
        return not_shown("no tts_switch_voice call: the voice was never switched")
    target = _target_cart(t)
    for call in switches:
        tag = call.arg("cart_tag")
        key = world.cart_by_tag(str(tag))
        if key is None:
            hint = world.find_cart(str(tag))
            better = f" (the tag of {hint} is {world.carts[hint]['tag']!r})" if hint else ""
            return fail(f"tts_switch_voice got {tag!r}, which is not a cart tag{better} ({call.where()})")
        if target and key != target:
            return fail(f"switched to {key}'s voice (tag {tag!r}) but the user asked for {target} "
                        f"(tag {world.carts[target]['tag']!r})")
    return ok(f"tts_switch_voice with tag {switches[-1].arg('cart_tag')!r}")


TTS_OFF = (r"\b(tts|text[- ]to[- ]speech|speech|voice|speakers?|audio)\b.{0,60}\b(off|disabled|not enabled|muted|false)\b|"
           r"\b(off|disabled|not enabled|muted|false)\b.{0,60}\b(tts|text[- ]to[- ]speech|speech|speakers?|aloud|out loud)\b")


SPEECH_REQUEST = r"\b(out loud|aloud|speakers?|say|announce|speak|voice)\b"


@behaviour("tts.respects_tts_disabled",
           "with TTS disabled in settings, nothing is spoken (asked to speak, it says so in text)",
           task="speak", applies=lambda t: not t.world.tts_enabled)
def respects_tts_disabled(t: Transcript) -> Verdict:
    if t.world.tts_enabled:
        return ok("TTS is enabled; nothing to respect")
    spoken = t.calls_named("tts_speak")
    if spoken:
        return fail(f"called tts_speak ({spoken[0].where()}) although tts.enabled is false")
    read = first(t.calls, reads_tts_state)
    if read is None:
        return not_shown("never read the TTS setting, so respecting it was not shown")
    if mentions(t.user_text(), SPEECH_REQUEST) and not mentions(t.texts_after(read.position), TTS_OFF):
        return fail(f"read that TTS is off ({read.where()}) but never told the user it is off")
    return ok(f"read that TTS is off ({read.where()}), spoke nothing and said so in text")
