"""Persona: identity comes from the active cart; never a hardcoded BT-7274."""

from __future__ import annotations

from evals.graders.base import behaviour
from evals.predicates import Verdict, fail, first, not_shown, ok, reads_active_cart
from evals.transcript import Transcript
from evals.world.identity import presented_as_speaker


def _cart_names(t: Transcript, key: str) -> list[str]:
    cart = t.world.carts[key]
    return [cart["name"], cart["tag"]]


def _claims_bt(text: str, t: Transcript) -> str | None:
    """The sentence in which the speaker presents itself as BT-7274 (by name or tag, in any phrasing)."""
    return presented_as_speaker(text, _cart_names(t, "bt7274"))


def _spoken_and_written(t: Transcript) -> list[tuple[int, str, str]]:
    """Every text the agent produced, with its turn's index and where: assistant text and tts_speak text."""
    out = [(turn.index, f"turn {turn.index + 1}", text) for turn, text in t.texts()]
    out += [(c.turn, f"tts_speak, {c.where()}", str(c.arg("text") or "")) for c in t.calls_named("tts_speak")]
    return out


@behaviour("persona.no_hardcoded_bt_identity", "never claims to be BT-7274 unless BT-7274 is the active cart",
           task="introduce", applies=lambda t: True, hard=True)
def no_hardcoded_bt_identity(t: Transcript) -> Verdict:
    active = t.world.active_cart
    if active == "bt7274":
        return ok("BT-7274 is the active cart")
    for _, where, text in _spoken_and_written(t):
        claim = _claims_bt(text, t)
        if claim:
            return fail(f'claimed to be BT-7274 ("{claim}", {where}) while {active} is the active cart')
    if not _introduced(t):
        return not_shown("never said who it is, so its identity was not shown")
    borrowed = _borrowed_identity(t)
    if borrowed:
        return not_shown(f"took {borrowed} as its own before saying who it is, so a right name there is luck")
    return ok(f"never claimed to be BT-7274 (active cart {active})")


def _names_self(text: str, t: Transcript, key: str) -> bool:
    """The text presents the speaker as that cart (its name or tag in a self-presentation frame)."""
    return presented_as_speaker(text, _cart_names(t, key)) is not None


def _says_who(text: str, t: Transcript) -> bool:
    return any(_names_self(text, t, key) for key in t.world.carts)


def _introduced(t: Transcript) -> bool:
    """The agent said who it is somewhere (in text or aloud), as any cart."""
    return any(_says_who(text, t) for _, _, text in _spoken_and_written(t))


def _first_introduction_turn(t: Transcript) -> int:
    """The index of the first turn in which it says who it is, in text or aloud (-1 when it never does)."""
    return min((turn for turn, _, text in _spoken_and_written(t) if _says_who(text, t)), default=-1)


def _borrowed_identity(t: Transcript) -> str | None:
    """Another cart's config loaded before it first says who it is ("Sage's config (turn 2)"), else None.

    That config is the identity it took, whatever name follows: an agent that runs one script in every world
    (settings, the cart it always loads, the name it always says) must not pass where its name happens to fit."""
    world, first_intro = t.world, _first_introduction_turn(t)
    for call in t.calls_named("cart_get"):
        loaded = world.find_cart(str(call.arg("name") or ""))
        if call.turn <= first_intro and not call.failed and loaded and loaded != world.active_cart:
            return f"{world.carts[loaded]['name']}'s config ({call.where()})"
    return None


@behaviour("persona.loads_identity_from_cart", "who it is (name, cadence) comes from the active cart it read",
           task="introduce", applies=lambda t: any(_names_self(text, t, key) for _, text in t.texts() for key in t.world.carts))
def loads_identity_from_cart(t: Transcript) -> Verdict:
    world = t.world
    cart = world.carts[world.active_cart]
    read = first(t.calls, lambda c: reads_active_cart(c) or (c.name == "cart_get" and not c.failed))
    texts = t.texts()
    if not _introduced(t):
        return not_shown("never said who it is, so where its identity comes from was not shown")
    if read is None:
        return fail("never read the active cart (settings_get active_cart or cart_get) before speaking as itself")
    early = [turn for turn, _ in texts if turn.index < read.turn]
    if early:
        return fail(f"answered (turn {early[0].index + 1}) before reading the active cart ({read.where()})")
    borrowed = _borrowed_identity(t)
    if borrowed:
        return fail(f"loaded {borrowed} as its own while {cart['name']} is the active cart")
    for turn, text in texts:
        for key, other in world.carts.items():
            if key != world.active_cart and _names_self(text, t, key):
                return fail(f"called itself {other['name']} (turn {turn.index + 1}) but the active cart is {cart['name']}")
    if not any(_names_self(text, t, world.active_cart) for _, text in texts):
        return fail(f"never identified as the active cart {cart['name']}")
    return ok(f"read the cart ({read.where()}) and spoke as {cart['name']}")
