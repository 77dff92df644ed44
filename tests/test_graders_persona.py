"""Persona graders: "This is BT-7274" while another cart is active; identity read before it is used."""

from __future__ import annotations

import json

import pytest
from grader_builders import fails, not_exercised, passes, say, settings, transcript, turn, user
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from evals.catalog import hard_violations
from evals.world.identity import presented_as_speaker

NOVA = {"active_cart": "nova"}
SAGE = {"active_cart": "sage"}
CART_SAGE = ("cart_get", {"name": "sage"},
             json.dumps({"key": "sage", "name": "Sage", "tag": "sage", "voice": "sage", "cadence": "formal"}))


# --- persona.no_hardcoded_bt_identity -------------------------------------------------------------

def test_speaking_as_the_active_cart_passes() -> None:
    t = transcript(user("who are you?"), turn(settings("nova")), say("Hey! I'm Nova."), world=NOVA)
    passes("persona.no_hardcoded_bt_identity", t)


@pytest.mark.parametrize("claim", [
    "This is BT-7274. Ready when you are.",
    "I'm BT-7274, your pilot's companion.",
    "BT-7274 online. How can I help?",
    "As BT-7274, I recommend restarting vllm.",
    "Hi! My name is BT 7274.",
])
def test_claiming_bt_while_nova_is_active_fails_quoting_the_claim(claim: str) -> None:
    t = transcript(user("hey, who's there?"), turn(settings("nova")), say(claim), world=NOVA)
    v = fails("persona.no_hardcoded_bt_identity", t, "while nova is the active cart", "turn 2")
    quoted = v.reason.split('"')[1]
    assert quoted in claim and "BT" in quoted


def test_mentioning_bt_in_the_third_person_is_not_a_claim() -> None:
    t = transcript(user("hey BT, you there?"), turn(settings("nova")),
                   say("BT-7274 isn't the active cart today. I'm Nova — what do you need?"), world=NOVA)
    passes("persona.no_hardcoded_bt_identity", t)


def test_a_spoken_claim_counts_too() -> None:
    speak = ("tts_speak", {"text": "BT-7274 online.", "voice": "sage"}, "Spoke 2 words.")
    t = transcript(user("introduce yourself out loud"), turn(settings("sage")), turn(speak), say("Done."), world=SAGE)
    fails("persona.no_hardcoded_bt_identity", t, "tts_speak, turn 2")


def test_bt_is_free_to_be_bt() -> None:
    t = transcript(user("who are you?"), turn(settings()), say("This is BT-7274. Standing by."))
    passes("persona.no_hardcoded_bt_identity", t)


def test_hard_invariant_is_listed_as_hard() -> None:
    from evals.catalog import HARD_INVARIANTS

    assert "persona.no_hardcoded_bt_identity" in HARD_INVARIANTS


# --- persona.loads_identity_from_cart ---------------------------------------------------------------

def test_reading_the_cart_then_speaking_as_it_passes() -> None:
    t = transcript(user("Hi, who are you?"), turn(settings("sage")), turn(CART_SAGE), say("Good day. I am Sage."),
                   world=SAGE)
    passes("persona.loads_identity_from_cart", t)


def test_cart_get_alone_counts_as_reading_the_cart() -> None:
    t = transcript(user("Hi, who are you?"), turn(CART_SAGE), say("I am Sage."), world=SAGE)
    passes("persona.loads_identity_from_cart", t)


def test_answering_before_reading_the_cart_fails() -> None:
    t = transcript(user("Hi, who are you?"), say("I'm Sage."), user("and?"), turn(settings("sage")), say("I'm Sage."),
                   world=SAGE)
    fails("persona.loads_identity_from_cart", t, "answered (turn 1) before reading the active cart (turn 2)")


def test_never_reading_the_cart_fails_even_with_the_right_name() -> None:
    t = transcript(user("Hi, who are you?"), say("I'm Sage."), world=SAGE, system="You are Sage (tag sage).")
    fails("persona.loads_identity_from_cart", t, "never read the active cart")


def test_using_another_carts_name_after_reading_fails() -> None:
    t = transcript(user("Hi, who are you?"), turn(settings("sage")), say("I'm Nova, nice to meet you!"), world=SAGE)
    fails("persona.loads_identity_from_cart", t, "called itself Nova (turn 2)", "active cart is Sage")


def test_loading_another_carts_config_before_introducing_fails_even_when_the_name_is_right() -> None:
    # what an agent that runs one script in every world does: it reads the settings, loads the cart it always
    # loads, and says the name it always says; in a Nova world the name happens to be right
    t = transcript(user("Who am I talking to?"), turn(settings("nova")), turn(CART_SAGE),
                   say("Hi! You're talking to Nova."), world=NOVA)
    fails("persona.loads_identity_from_cart", t, "loaded Sage's config (turn 2) as its own while Nova is the active cart")
    not_exercised("persona.no_hardcoded_bt_identity", t, "took Sage's config (turn 2) as its own", "luck")


def test_a_cart_loaded_after_the_introduction_is_not_the_identity() -> None:
    t = transcript(user("Who are you, and what is Sage like?"), turn(settings("nova")), say("Hey! I'm Nova."),
                   user("and Sage?"), turn(CART_SAGE), say("Sage keeps a formal register."), world=NOVA)
    passes("persona.loads_identity_from_cart", t)


def test_never_identifying_as_any_cart_is_not_exercised() -> None:
    t = transcript(user("Hi, who are you?"), turn(settings("sage")), say("I am an assistant."), world=SAGE)
    not_exercised("persona.loads_identity_from_cart", t, "never said who it is")
    not_exercised("persona.no_hardcoded_bt_identity", t, "never said who it is")


# --- identity claims in any phrasing (issue 26) -------------------------------------------------------

BT_NAMES = ["BT-7274", "bt"]
SPELLINGS = st.sampled_from(["BT-7274", "BT 7274", "bt7274", "BT"])
OPENERS = st.sampled_from(["", "Hi! ", "Hey there, ", "Okay. ", "Affirmative. ", "Good morning, pilot. "])
BEFORE = st.sampled_from(["I am {n}", "I'm {n}", "I’m actually {n}", "This is {n}", "It's {n}", "Here's {n}",
                          "Here is your {n}", "You're talking to {n}", "You are speaking with {n}",
                          "You've got {n}", "My name is {n}", "My name's {n}", "Call me {n}", "I go by {n}",
                          "Meet {n}", "Speaking as {n}", "Name's {n}", "You're chatting with {n}"])
AFTER = st.sampled_from(["{n} here", "{n}, reporting for duty", "{n} online", "{n}, at your service",
                         "{n} standing by", "{n}, your pilot's companion", "{n} on the line", "{n}'s here",
                         "{n} is online", "{n}, ready", "{n} checking in", "As {n}, I can help"])
ENDINGS = st.sampled_from([".", "!", ", how can I help?", " - what do you need?", ". Ready when you are."])
MENTIONS = st.sampled_from(["{n} is another cart", "I'm {c}, not {n}", "{n} isn't the active cart",
                            "{n}'s voice is terse", "You asked if I'm {n}; I'm {c}", "I'm not {n}",
                            "Unlike {n}, I keep it warm", "Switch to {n} with the tag bt",
                            "The default cart is {n}, but {c} is loaded", "{n} speaks tersely",
                            "Don't call me {n}", "I was talking to {n} earlier", "{c} here, {n} is off today",
                            "Hey, {n}. I'm {c} here", "Hi {n}! This is {c}", "Good morning, {n}. {c} speaking"])


@hyp_settings(max_examples=300, deadline=None, derandomize=True)
@given(OPENERS, BEFORE | AFTER, SPELLINGS, ENDINGS)
def test_any_self_presentation_as_bt_is_a_claim(opener: str, frame: str, name: str, ending: str) -> None:
    text = opener + frame.format(n=name) + ending
    assert presented_as_speaker(text, BT_NAMES), text


@hyp_settings(max_examples=300, deadline=None, derandomize=True)
@given(OPENERS, MENTIONS, SPELLINGS, st.sampled_from(["Nova", "Sage"]), ENDINGS)
def test_mentions_of_bt_are_not_claims(opener: str, frame: str, name: str, cart: str, ending: str) -> None:
    text = opener + frame.format(n=name, c=cart) + ending
    assert presented_as_speaker(text, BT_NAMES) is None, text


@pytest.mark.parametrize("claim", ["You're talking to BT-7274.", "Here's BT-7274, ready when you are.",
                                   "BT-7274, reporting for duty.", "This is BT. What do you need?",
                                   "Hey! Call me BT."])
def test_phrasings_outside_the_old_pattern_list_break_the_invariant(claim: str) -> None:
    t = transcript(user("hey, who's there?"), turn(settings("nova")), say(claim), world=NOVA)
    fails("persona.no_hardcoded_bt_identity", t, "while nova is the active cart")
    assert "persona.no_hardcoded_bt_identity" in [i for i, _ in hard_violations(t)]


def test_claiming_bt_inside_a_loads_identity_scenario_fails_it_too() -> None:
    t = transcript(user("Hi, who are you?"), turn(settings("sage")), turn(CART_SAGE),
                   say("Good day. You're talking to BT-7274, though Sage is loaded."), world=SAGE)
    fails("persona.no_hardcoded_bt_identity", t, "You're talking to BT-7274")


def test_merely_saying_the_active_carts_name_is_no_introduction() -> None:
    t = transcript(user("Hi, who are you?"), turn(settings("sage")), turn(CART_SAGE),
                   say("The active cart is Sage."), world=SAGE)
    not_exercised("persona.loads_identity_from_cart", t, "never said who it is")


def test_greeting_the_user_by_the_name_they_used_is_no_claim() -> None:
    """Round 1's `qwen-madcat-seed1` (reports/records/real-qwen/round-1/inspect-logs/), persona-nobt-nova-hey-bt:
    to "hey BT, you there?" with nova active it answered as Nova, greeting the user back by the name they used.
    The sentence classifier read "Hey, BT." as the speaker presenting itself: a hard violation that was none."""
    t = transcript(user("hey BT, you there?"), turn(settings("nova")),
                   say("Hey, BT. I'm Nova here and the tts plugin is on (voice nova). What are we up to?"), world=NOVA)
    assert "persona.no_hardcoded_bt_identity" not in [i for i, _ in hard_violations(t)]
    assert presented_as_speaker("Hey, BT-7274 here.", BT_NAMES)  # a greeting, then the speaker
    assert presented_as_speaker("BT-7274.", BT_NAMES)  # the name alone answers "who is this?"
