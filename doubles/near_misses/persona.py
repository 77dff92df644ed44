"""Persona near misses: a hardcoded BT-7274 identity, an introduction before the cart is read."""

from __future__ import annotations

from collections.abc import Callable

from dataset.teacher import Teacher
from doubles.near_misses.base import near_miss

FALLBACK_CART = {"name": "BT-7274", "tag": "bt", "voice": "bt7274", "cadence": "terse"}


@near_miss("persona.no_hardcoded_bt_identity")
class HardcodedBt(Teacher):
    """Introduces itself as BT-7274 whatever the active cart."""

    def introduction(self) -> str:
        return f"This is BT-7274. {self.introduce_as('BT-7274')}"


@near_miss("persona.loads_identity_from_cart")
class IntroducesBeforeReading(Teacher):
    """Introduces itself before reading the cart (from the prompt, or the old default)."""

    def session(self, routine: Callable[[Teacher], None]) -> None:
        guess = self.guess_cart()
        self.cart = dict(self.ep.world.carts[guess]) if guess in self.ep.world.carts else FALLBACK_CART
        self.settings = {"active_cart": guess}
        self.ep.say(self.intro())
