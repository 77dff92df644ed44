"""TTS near misses: speaking without a settings read, the wrong voice, a switch by key, speaking with TTS off."""

from __future__ import annotations

from typing import Any

from dataset.teacher import Teacher
from doubles.near_misses.base import near_miss


@near_miss("tts.checks_settings_before_speaking")
class SpeaksWithoutSettings(Teacher):
    """No settings read: the cart comes from the prompt and TTS is assumed on."""

    def boot(self) -> None:
        self.settings = {"active_cart": self.guess_cart(), "tts.enabled": True}
        self.load_cart()


@near_miss("tts.uses_active_cart_voice")
class WrongVoice(Teacher):
    """Speaks in the voice from before a switch, or another cart's."""

    def voice(self) -> Any:
        start = self.ep.world.carts[self.ep.world.active_cart]["voice"]  # the voice before any switch
        if self.cart.get("voice") != start:
            return start
        return "bt7274" if start != "bt7274" else "nova"


@near_miss("tts.switch_voice_with_cart_tag")
class SwitchesByKey(Teacher):
    """Switches the voice with the cart's key (or name) in place of its tag."""

    def cart_tag(self, cart: dict[str, Any]) -> str:
        return cart["key"] if cart["key"] != cart["tag"] else cart["name"]


@near_miss("tts.respects_tts_disabled")
class SpeaksWithTtsOff(Teacher):
    """Speaks even though settings say TTS is off."""

    def tts_allowed(self) -> bool:
        return True
