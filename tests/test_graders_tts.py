"""TTS graders on hand-written transcripts: passes, failures and the near misses a lazy grader misses."""

from __future__ import annotations

from grader_builders import fails, not_exercised, passes, say, settings, transcript, turn, user

SPOKE = "Spoke 2 words."


def speak(text: str = "hello there", voice: str = "bt7274") -> tuple[str, dict, str]:
    return ("tts_speak", {"text": text, "voice": voice}, SPOKE)


# --- tts.checks_settings_before_speaking ----------------------------------------------------------

def test_settings_read_then_speak_passes() -> None:
    t = transcript(user("say hello"), turn(settings()), turn(speak()), say("Said it."))
    passes("tts.checks_settings_before_speaking", t)


def test_speaking_without_reading_settings_fails_naming_the_call() -> None:
    t = transcript(user("say hello"), turn(speak("hello there")), say("Said it."))
    fails("tts.checks_settings_before_speaking", t, 'tts_speak "hello there"', "turn 1")


def test_settings_read_after_the_speech_is_too_late() -> None:
    t = transcript(user("say hello"), turn(speak()), turn(settings()), say("Said it."))
    fails("tts.checks_settings_before_speaking", t, "came after")


def test_reading_only_tts_enabled_misses_the_active_cart() -> None:
    t = transcript(user("say hello"), turn(settings(key="tts.enabled")), turn(speak()), say("ok"))
    fails("tts.checks_settings_before_speaking", t, "active cart")


def test_a_failed_settings_read_does_not_count() -> None:
    t = transcript(user("say hello"), turn(("settings_get", {}, "MCP error: server 'settings' disconnected")),
                   turn(speak()), say("Said it."))
    fails("tts.checks_settings_before_speaking", t, "no settings read")


def test_not_speaking_at_all_does_not_exercise_settings_before_speaking() -> None:
    off = {"tts_enabled": False}
    not_exercised("tts.checks_settings_before_speaking",
                  transcript(user("say hello"), turn(settings(tts=False)), say("TTS is off; hello in text."), world=off),
                  "never spoke")
    not_exercised("tts.checks_settings_before_speaking", transcript(user("say hello"), say("hello"), world=off))


# --- tts.uses_active_cart_voice --------------------------------------------------------------------

def test_active_cart_voice_passes() -> None:
    t = transcript(user("say hi"), turn(settings("nova")), turn(speak(voice="nova")), world={"active_cart": "nova"})
    passes("tts.uses_active_cart_voice", t)


def test_hardcoded_bt_voice_with_nova_active_fails() -> None:
    t = transcript(user("say hi"), turn(settings("nova")), turn(speak(voice="bt7274")), world={"active_cart": "nova"})
    fails("tts.uses_active_cart_voice", t, "'bt7274'", "'nova'", "turn 2")


def test_after_a_switch_the_new_voice_is_expected_and_the_old_one_fails() -> None:
    switch = ("tts_switch_voice", {"cart_tag": "nova"}, "TTS voice switched to 'nova' (cart nova).")
    good = transcript(user("switch to nova and say hi"), turn(settings()), turn(switch), turn(speak(voice="nova")))
    stale = transcript(user("switch to nova and say hi"), turn(settings()), turn(switch), turn(speak(voice="bt7274")))
    passes("tts.uses_active_cart_voice", good)
    fails("tts.uses_active_cart_voice", stale, "switched to 'nova'", "turn 3")


def test_a_failed_switch_leaves_the_active_voice_in_force() -> None:
    bad_switch = ("tts_switch_voice", {"cart_tag": "nova"}, "Error: tts_switch_voice failed: connection reset by peer")
    t = transcript(user("switch to nova"), turn(settings()), turn(bad_switch), turn(speak(voice="nova")))
    fails("tts.uses_active_cart_voice", t, "'nova'")


# --- tts.switch_voice_with_cart_tag ---------------------------------------------------------------

def _switch(tag: str, result: str = "TTS voice switched.") -> tuple[str, dict, str]:
    return ("tts_switch_voice", {"cart_tag": tag}, result)


def test_switch_with_the_cart_tag_passes() -> None:
    t = transcript(user("switch back to BT"), turn(settings("nova")), turn(_switch("bt")),
                   world={"active_cart": "nova"}, expect={"target_cart": "bt7274"})
    passes("tts.switch_voice_with_cart_tag", t)


def test_switch_with_the_cart_key_instead_of_the_tag_fails() -> None:
    t = transcript(user("switch back to BT"), turn(_switch("bt7274", "Error: unknown cart tag 'bt7274'")),
                   world={"active_cart": "nova"}, expect={"target_cart": "bt7274"})
    fails("tts.switch_voice_with_cart_tag", t, "'bt7274'", "the tag of bt7274 is 'bt'", "turn 1")


def test_switch_with_the_display_name_fails() -> None:
    t = transcript(user("use Sage's voice"), turn(_switch("Sage")), expect={"target_cart": "sage"})
    fails("tts.switch_voice_with_cart_tag", t, "'Sage'", "not a cart tag")


def test_switch_to_the_wrong_cart_fails() -> None:
    t = transcript(user("use Nova's voice"), turn(_switch("sage")), expect={"target_cart": "nova"})
    fails("tts.switch_voice_with_cart_tag", t, "sage", "asked for nova")


def test_target_is_read_from_the_request_when_not_expected() -> None:
    ask = user("switch from bt to nova please")
    passes("tts.switch_voice_with_cart_tag", transcript(ask, turn(_switch("nova"))))
    fails("tts.switch_voice_with_cart_tag", transcript(ask, turn(_switch("bt"))), "asked for nova")


def test_custom_cart_whose_key_differs_from_its_tag() -> None:
    world = {"carts": {"ember": {"name": "Ember", "tag": "emb", "voice": "ember", "cadence": "dry"}}}
    passes("tts.switch_voice_with_cart_tag",
           transcript(user("ember voice"), turn(_switch("emb")), world=world, expect={"target_cart": "ember"}))
    fails("tts.switch_voice_with_cart_tag",
          transcript(user("ember voice"), turn(_switch("ember")), world=world, expect={"target_cart": "ember"}),
          "'emb'")


def test_no_switch_at_all_fails() -> None:
    fails("tts.switch_voice_with_cart_tag", transcript(user("use Nova's voice"), say("Switched!")),
          "no tts_switch_voice")


# --- tts.respects_tts_disabled ---------------------------------------------------------------------

OFF = {"tts_enabled": False, "active_cart": "nova"}


def test_nothing_spoken_with_tts_off_passes() -> None:
    t = transcript(user("say hi"), turn(settings("nova", tts=False)), say("TTS is off, so: hi!"), world=OFF)
    passes("tts.respects_tts_disabled", t)


def test_speaking_with_tts_off_fails_even_after_reading_settings() -> None:
    t = transcript(user("say hi"), turn(settings("nova", tts=False)), turn(speak(voice="nova")), world=OFF)
    fails("tts.respects_tts_disabled", t, "tts_speak", "turn 2", "tts.enabled is false")


def test_speaking_with_tts_on_is_not_this_behaviours_business() -> None:
    t = transcript(user("say hi"), turn(settings()), turn(speak()))
    passes("tts.respects_tts_disabled", t)
