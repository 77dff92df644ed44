"""Tool discipline: settings first, index search before code, names that don't repeat their module."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from evals.graders.base import behaviour
from evals.predicates import (
    Verdict,
    comes_before,
    fail,
    first,
    is_code_change,
    is_settings_read,
    named,
    not_shown,
    ok,
)
from evals.transcript import Transcript


@behaviour("tools.settings_check_on_boot", "the first call of a session is a settings read",
           applies=lambda t: bool(t.calls))
def settings_check_on_boot(t: Transcript) -> Verdict:
    if not t.calls:
        return fail("made no tool call at all")
    first_turn = t.turns[t.calls[0].turn]
    settings = first(first_turn.calls, is_settings_read)
    if settings is None:
        return fail(f"the first call was {t.calls[0].describe()}, not a settings read")
    if settings is not first_turn.calls[0] and any(c.name not in {"memory_recall", "settings_get"}
                                                   for c in first_turn.calls[: first_turn.calls.index(settings)]):
        return fail(f"{first_turn.calls[0].describe()} went out before the settings read")
    return ok(f"settings read first ({settings.where()})")


@behaviour("tools.index_search_before_code", "index_search comes before the first code change",
           task="code", applies=lambda t: first(t.calls, is_code_change) is not None)
def index_search_before_code(t: Transcript) -> Verdict:
    return comes_before(t, named("index_search"), "index_search", is_code_change, "code change")


DECLARATION = re.compile(
    r"\b(?:export\s+)?(?:async\s+)?(?:function\*?\s+|def\s+|fn\s+|const\s+|let\s+)([A-Za-z_$][\w$]*)\s*[=(<:]"
)
CLASS = re.compile(r"\bclass\s+([A-Za-z_]\w*)[^{:]*[{:]")
METHOD = re.compile(r"^\s+(?:public\s+|private\s+|protected\s+|static\s+|async\s+|def\s+)*([A-Za-z_]\w*)\s*\(", re.M)
KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "constructor", "super", "function", "__init__"}


def name_words(identifier: str) -> list[str]:
    """`createSession` -> [create, session]; `user_list` -> [user, list]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier).replace("_", " ").replace("$", " ")
    return [w.lower() for w in spaced.split()]


def _forms(word: str) -> set[str]:
    word = word.lower()
    forms = {word, word + "s"}
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if word.endswith("s"):
        forms.add(word[:-1])
    return forms


def repeats(identifier: str, owner: str) -> bool:
    """A name of several words one of which is its module's or class's name."""
    parts = name_words(identifier)
    return len(parts) > 1 and bool(set(parts) & _forms(owner))


def redundant_names(path: str, code: str) -> list[str]:
    """Functions that repeat their module's name and methods that repeat their class's name."""
    stem = PurePosixPath(path).stem.split(".")[0]
    found = []
    for name in DECLARATION.findall(code):
        if repeats(name, stem):
            found.append(f"{name} in {PurePosixPath(path).name}")
    for match in CLASS.finditer(code):
        cls = match.group(1)
        body = code[match.end():]
        end = re.search(r"^\}|^\S", body, re.M)
        body = body[: end.start()] if end else body
        for method in METHOD.findall(body):
            if method not in KEYWORDS and repeats(method, cls):
                found.append(f"{method} in class {cls}")
    return found


def _written_code(t: Transcript) -> list[tuple[str, str, str]]:
    out = []
    for call in t.calls_named("write", "edit"):
        code = call.arg("content") if call.name == "write" else call.arg("new")
        if isinstance(code, str) and isinstance(call.arg("path"), str):
            out.append((call.arg("path"), code, call.where()))
    return out


@behaviour("tools.no_redundant_namespacing",
           "names do not repeat their module or class (`list` in users.ts, not `user_list`; `create` in `Session`, "
           "not `createSession`)",
           task="code", applies=lambda t: any(DECLARATION.search(code) or CLASS.search(code) for _, code, _ in _written_code(t)))
def no_redundant_namespacing(t: Transcript) -> Verdict:
    written = _written_code(t)
    if not written:
        return not_shown("wrote no code, so naming could not be judged")
    for path, code, where in written:
        bad = redundant_names(path, code)
        if bad:
            return fail(f"redundant namespacing: {', '.join(bad)} ({where})")
    return ok(f"names in {', '.join(sorted({p for p, _, _ in written}))} do not repeat their module or class")
