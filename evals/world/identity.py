"""Who the speaker says it is: a small classifier over each sentence's frame around a cart's name.

A name is *presented as the speaker* when it fills the slot of a self-presentation frame:
  subject + copula      "I am BT-7274", "I'm actually BT", "this is BT", "it's BT-7274", "here's BT-7274"
  addressee frame       "you're talking to BT-7274", "you've got BT", "meet BT-7274"
  naming                "my name is BT", "call me BT", "I go by BT-7274", "known as BT"
  role                  "speaking as BT-7274", "As BT-7274, I ..."
  name + predicate      "BT-7274 here", "BT-7274, reporting for duty", "BT-7274 is online", "BT-7274, your pilot's ..."
  signature             "- BT-7274" on its own
A name in any other slot is a mention: "BT-7274 is another cart", "I'm Sage, not BT-7274", "BT-7274's voice",
"you asked if I'm BT-7274". Tokens are read once, left to right; each name is judged from a few tokens
around it, so the classifier is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NAME = "\x00"  # the token a name occurrence is replaced with
_TOKEN = re.compile(r"\x00|[a-z0-9]+(?:'[a-z]+)?|'s\b|[,:;\u2014\u2013~-]")
_SENTENCE = re.compile(r"[.!?\n]+")

# words that may stand between a frame and the name ("I'm actually BT", "this is your BT-7274")
FILLER = {"actually", "really", "now", "still", "just", "the", "your", "ur", "called", "named", "officially",
          "indeed", "currently", "also", "always", "simply", "literally", "aka", "here", "back", "again", "good",
          "old", "friendly", "trusty", "one", "and", "only", ",", ":", "\u2014", "\u2013", "-"}
NEGATION = {"not", "no", "never", "nor", "unlike", "than", "instead", "without", "anymore", "longer", "except",
            "besides", "formerly", "used"}
REPORTED = {"if", "whether", "asked", "think", "thought", "assume", "assumed", "wonder", "wondering", "said",
            "says", "pretend", "pretending", "imagine", "suppose", "when"}
_YOU = (("you're",), ("youre",), ("you", "are"), ("ur",))
_TALK = (("talking", "to"), ("talking", "with"), ("speaking", "to"), ("speaking", "with"), ("chatting", "with"),
         ("with",), ("dealing", "with"), ("working", "with"))
# frames ending right before the name (after any filler), as token tuples
LEADS: tuple[tuple[str, ...], ...] = (
    ("i", "am"), ("i'm",), ("im",), ("i", "m"), ("this", "is"), ("this's",), ("it's",), ("it", "is"),
    ("here's",), ("here", "is"), ("heres",), ("my", "name", "is"), ("my", "name's"), ("call", "me"),
    ("i", "go", "by"), ("known", "as"), ("i", "answer", "to"), ("you've", "got"), ("you", "got"), ("got", "me"),
    ("me",), ("speaking", "as"), ("acting", "as"), ("serving", "as"), ("online", "as"), ("here", "as"),
    ("reporting", "as"), ("answering", "as"), ("i", "was", "built", "as"),
    *(you + talk for you in _YOU for talk in _TALK),
)
START_ONLY = {("meet",), ("introducing",), ("presenting",), ("name's",), ("say", "hello", "to"), ("say", "hi", "to")}
# predicates that present the name as the speaker when it opens the sentence ("BT-7274 here", "BT, reporting")
PREDICATES: tuple[tuple[str, ...], ...] = (
    ("here",), ("online",), ("reporting",), ("speaking",), ("at", "your", "service"), ("standing", "by"),
    ("ready",), ("on", "the", "line"), ("checking", "in"), ("on", "duty"), ("at", "the", "ready"), ("present",),
    ("signing",), ("listening",), ("your",), ("in", "the", "house"), ("on", "deck"), ("on", "it"),
    ("awaiting",), ("booting",), ("activated",), ("operational",), ("for", "duty"), ("here", "to"),
    ("is", "here"), ("is", "online"), ("is", "ready"), ("is", "listening"), ("is", "at", "your"),
    ("'s", "here"), ("'s", "online"), ("'s", "ready"), ("is", "standing"), ("responding",), ("at", "you"),
)
GREETINGS = {"hi", "hey", "hello", "yo", "ok", "okay", "yes", "yep", "affirmative", "roger", "greetings", "sure",
             "good", "morning", "evening", "afternoon", "well", "so", "and", "oh", ",", "\u2014", "-", ":", "pilot",
             "there"}


def name_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """A pattern for any of the names, a hyphen or space in a name optional ("BT-7274", "BT 7274", "bt7274")."""
    parts = []
    for name in sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True):
        pieces = [re.escape(p) for p in re.split(r"[-\s]+", name) if p]
        parts.append(r"[-\s]?".join(pieces))
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", re.I)


def _tokens(sentence: str) -> list[str]:
    return _TOKEN.findall(sentence.lower().replace("\u2019", "'"))


def _ends_with(tokens: list[str], end: int, lead: tuple[str, ...]) -> bool:
    start = end - len(lead) + 1
    return start >= 0 and tuple(tokens[start:end + 1]) == lead


def _negated(tokens: list[str]) -> bool:
    return any(w in NEGATION or w.endswith("n't") for w in tokens)


def _lead_claims(tokens: list[str], j: int, k: int) -> bool | None:
    """True/False when a frame ends at tokens[j] (the name at k after filler); None when none does."""
    between = tokens[j + 1:k]
    for lead in (*LEADS, *START_ONLY):
        if not _ends_with(tokens, j, lead):
            continue
        start = j - len(lead) + 1
        if lead in START_ONLY and not all(w in GREETINGS for w in tokens[:start]):
            continue
        if lead == ("me",) and not between:
            continue  # "tell me BT-7274 ..." is no introduction; "Me, BT-7274" is
        if _negated(tokens[max(0, start - 2):k]) or any(w in REPORTED for w in tokens[max(0, start - 3):start]):
            return False
        return True
    return None


def _claims_at(tokens: list[str], k: int) -> bool:
    """The name at tokens[k] is presented as the speaker."""
    after = tokens[k + 1:k + 5]
    if after[:1] == ["'s"] and tuple(after[:2]) not in {("'s", "here"), ("'s", "online"), ("'s", "ready")}:
        return False  # possessive: "BT-7274's voice"
    j, skipped = k - 1, 0
    while j >= 0 and tokens[j] in FILLER and skipped < 4:
        j, skipped = j - 1, skipped + 1
    lead = _lead_claims(tokens, j, k)
    if lead is not None:
        return lead
    opening = all(w in GREETINGS for w in tokens[:k])
    if not opening:
        # "As BT-7274, I ..." and a signature "- BT-7274" are the other frames before the name
        if tokens[k - 1] == "as" and all(w in GREETINGS for w in tokens[:k - 1]) and after[:1] == [","]:
            return True
        return tokens[k - 1] in {"-", "\u2014", "\u2013", "~"} and k == 1 and not after
    rest = [w for w in after if w not in {",", ":", "\u2014", "\u2013", "-"}]
    if not rest:
        # the name alone presents the speaker ("BT-7274."); after a greeting it is the one greeted ("Hey, BT.")
        return not any(w in GREETINGS and w.isalpha() for w in tokens[:k])
    return any(tuple(rest[:len(p)]) == p for p in PREDICATES)


def presented_as_speaker(text: str, names: Iterable[str]) -> str | None:
    """The first sentence of `text` in which one of `names` is presented as the speaker, else None."""
    pattern = name_pattern(names)
    for sentence in _SENTENCE.split(text):
        if not pattern.search(sentence):
            continue
        tokens = _tokens(pattern.sub(NAME, sentence))
        for k, token in enumerate(tokens):
            if token == NAME and _claims_at(tokens, k):
                return sentence.strip()[:80]
    return None
