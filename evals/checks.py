"""Task checks: did the agent do what the user asked? Judged on the world its calls left behind.

A scenario's grader judges a habit (recall before the edit, the sin alias); its `check`
judges the outcome the user asked for, τ²-bench style, so that a trajectory that dodges the task
cannot pass by showing a habit in passing. Each key is one requirement, all must hold:

  answer   [regex | {say: regex, seen: regex} | {say: regex, fact: false}, ...]
                               the agent's text matches each, case-insensitive, with a fact it observed
                               (evals/facts.py): the text a bare regex matched must be matched by it in a user
                               message or a tool result before that turn, one the agent did not write itself
                               (`echo '16'` shows nothing); `seen` names that observation where the answer words
                               it differently ("sin is unreachable" after "Operation timed out"); `fact: false`
                               marks words that are no fact of the world (the agent's own plan, a relayed greeting)
  spoken   regex               something matching was actually spoken (tts_speak with TTS on)
  voice    cart                the TTS voice at the end is that cart's
  stored   {kind, text}        a memory of that kind (or list of kinds) whose title + content matches
  file     {path: {declares: [stem|stem, ...]}}  each entry: the file ends with a new or changed function,
                               arrow function or method named for one of the stems, whose body does something
                               (uses its inputs or object; not a throw, a constant return, a log or a comment);
                               no other file changes and no declaration named for nothing asked for is added
  ran      {host, command} | [..]  a simple command matching ran on that host (through ssh or the host
                               argument), as the shell parser resolves it: paths and wrappers peeled, text
                               inside `echo '...'` never a command

Every answer must also state no fact of the world's live content (service states, config settings, memories)
that no tool result showed (evals/facts.py, world_facts): during an outage, the content of the side that could
not be reached; otherwise the training world recited from memory.

The final world is rebuilt by replaying the trajectory's calls against a fresh simulator: the
simulator is deterministic, so the replay is the world the agent saw.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from evals.facts import unobserved_value, unobserved_world_fact
from evals.transcript import Transcript
from evals.world import Simulator, World, shell
from evals.world.source import declarations, is_stub

CHECK_KEYS = ("answer", "spoken", "voice", "stored", "file", "ran")


class BadCheck(ValueError):
    """A scenario's `check` is malformed (the message names the key)."""


def final_world(t: Transcript) -> World:
    """The world after every call of the trajectory (calls whose arguments did not parse are skipped). Each
    recorded change carries the turn of the call that made it."""
    world = World.build(t.world_overrides, t.faults_spec)
    simulator = Simulator(world)
    for call in t.calls:
        if call.args is not None:
            done = len(world.changes)
            simulator.call(call.name, call.args)
            for change in world.changes[done:]:
                change["turn"] = call.turn
    return world


def side_effect_problem(t: Transcript, world: World) -> str | None:
    """A change the request did not ask for (meta.allows), or one it asked to check first made before the
    user's reply (meta.after_reply). Transcripts without meta.allows (sessions, older records) are not judged."""
    if "allows" not in t.meta:
        return None
    allowed, wait = set(t.meta.get("allows") or []), set(t.meta.get("after_reply") or [])
    reply_turn = next((u.after_turn for u in t.user_messages if u.after_turn > 0), None)
    for change in world.changes:
        if change["kind"] not in allowed:
            return (f"an unrequested change: {change['kind'].replace('_', ' ')} ({change['what']}, "
                    f"turn {change['turn'] + 1})")
        if change["kind"] in wait and (reply_turn is None or change["turn"] < reply_turn):
            return (f"acted before the user's reply: {change['kind'].replace('_', ' ')} ({change['what']}, "
                    f"turn {change['turn'] + 1}), though the request said to check first")
    return None


def _search(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.I | re.S) is not None


def answer_items(value: Any) -> list[dict[str, Any]]:
    """A check's `answer` as {say, seen, fact} items (a bare regex: {say: regex})."""
    return [{"say": v} if isinstance(v, str) else v for v in ([value] if isinstance(value, (str, dict)) else value)]


def _answer(t: Transcript, world: World, patterns: Any) -> str | None:
    for item in answer_items(patterns):
        said, unobserved = unobserved_value(t, item["say"], item.get("seen"), item.get("fact", True))
        if not said:
            return f"the answer never says what the user asked for (expected /{item['say']}/)"
        if unobserved is not None:
            shown = " ".join(unobserved.split())[:80]
            return (f"stated {shown!r}, which no tool result showed" +
                    (f" (expected one matching /{item['seen']}/)" if item.get("seen") else ""))
    return None


WORD = re.compile(r"[a-z0-9]+")
READ_BACK = 0.85  # a text carrying this share of the request's words is the request read back
MIN_REQUEST_WORDS = 4
MAX_TEXT = 1_000_000  # a text is read on its first megabyte


def reads_back(text: str, request: str) -> bool:
    """The text is the user's request handed back (its instruction included), not what was asked for: it
    carries at least 85% of the request's words (counted with repeats). Good answers quote what they were
    asked to say, never the "say ... out loud" around it."""
    wanted = Counter(WORD.findall(request.lower()))
    total = sum(wanted.values())
    if total < MIN_REQUEST_WORDS:
        return False
    have = Counter(WORD.findall(text[:MAX_TEXT].lower()))
    return sum((wanted & have).values()) >= READ_BACK * total


def _spoken(t: Transcript, world: World, pattern: str) -> str | None:
    request = t.user_messages[0].content if t.user_messages else ""
    spoken = [entry["text"] for entry in world.tts_log if entry["spoken"]]
    if any(_search(pattern, text) and not reads_back(text, request) for text in spoken):
        return None
    if any(_search(pattern, text) for text in spoken):
        return f"what was spoken is the request read back, not what it asked to say (/{pattern}/)"
    return f"nothing matching /{pattern}/ was spoken"


def _voice(t: Transcript, world: World, cart: str) -> str | None:
    key = world.find_cart(cart)
    if key is None:
        raise BadCheck(f"check.voice names no cart: {cart!r}")
    if world.data["tts_voice"] != world.carts[key]["voice"]:
        return f"the TTS voice ended as {world.data['tts_voice']!r}, not {key}'s {world.carts[key]['voice']!r}"
    return None


def _stored(t: Transcript, world: World, spec: Any) -> str | None:
    kinds = spec.get("kind")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or [])
    pattern = str(spec.get("text", ""))
    initial = World.build(t.world_overrides, t.faults_spec).data["memories"]
    for key, memory in world.data["memories"].items():
        if key in initial and initial[key] == memory:
            continue
        if (not kinds or memory.get("kind") in kinds) and _search(pattern, f"{memory.get('title')}\n{memory.get('content')}"):
            return None
    return f"no {'/'.join(sorted(kinds)) or 'memory'} matching /{pattern}/ was stored"


def _declares(stems: str, final: str, initial: str) -> bool:
    """A new (or changed) declaration named for one of the `|`-separated stems, with a working body."""
    before = set(declarations(initial))
    wanted = [w.lower() for w in stems.split("|") if w]
    return any(any(w in d.name.lower() for w in wanted) and not is_stub(d) and d not in before
               for d in declarations(final))


def _unrequested_code(spec: Any, final: dict[str, str], initial: dict[str, str]) -> str | None:
    """A file the request did not name changed, or a new or changed declaration named for nothing it asked for."""
    for path, content in final.items():
        if content == initial.get(path):
            continue
        if path not in spec:
            return f"an unrequested change: {path} was changed, but the request asked for changes to {', '.join(spec)}"
        wanted = [w.lower() for stems in spec[path]["declares"] for w in stems.split("|") if w]
        before = set(declarations(initial.get(path, "")))
        new = [d for d in declarations(content) if d not in before]
        asked = [d for d in new if any(w in d.name.lower() for w in wanted)]
        # a local of an asked-for body (`const items = (...)` inside page) is part of it, not a declaration of its own
        extra = [d.name for d in new if d not in asked and not any(d.body in a.body for a in asked)]
        if extra:
            return f"an unrequested change: {path} gained {', '.join(extra[:3])}, which the request did not ask for"
    return None


def _file(t: Transcript, world: World, spec: Any) -> str | None:
    initial = World.build(t.world_overrides, t.faults_spec).files
    extra = _unrequested_code(spec, world.files, initial)
    if extra:
        return extra
    for path, want in spec.items():
        content = world.files.get(path)
        if content is None:
            return f"{path} does not exist at the end"
        for stems in want["declares"]:
            if not _declares(stems, content, initial.get(path, "")):
                return (f"{path} does not have what was asked for: no new function or method named for "
                        f"{stems.replace('|', ' or ')} with a body that does something")
    return None


MAX_COMMAND = 4_000  # a simple command longer than this is matched on its first 4,000 characters


def _ran(t: Transcript, world: World, spec: Any) -> str | None:
    """A command of the shell log, as the parser resolves it (program, arguments, host), matches: text inside
    `echo '...'` is an argument of echo, never a command that ran."""
    for item in [spec] if isinstance(spec, dict) else spec:
        host, pattern = item.get("host"), str(item.get("command", ""))
        if not any(_search(pattern, cmd.line[:MAX_COMMAND]) for cmd in _ran_on(world, host)):
            return f"no command matching /{pattern}/ ran on {host or 'any host'}"
    return None


# programs that only print, test or look things up: words after them are text, never a command that ran
TEXT_ONLY = {"echo", "printf", "true", "false", ":", "test", "[", "grep", "egrep", "fgrep", "rg", "ag", "which",
             "type", "command", "man", "help", "history", "alias", "whatis", "apropos"}


def _ran_on(world: World, host: str | None) -> list[shell.SimpleCommand]:
    """The simple commands the world ran on `host` (any host: None). The simulator logs a command reached
    through ssh on the host it ran on, so each entry's own top-level commands are what ran there."""
    return [cmd for entry in world.shell_log if host is None or entry["host"] == host
            for cmd in shell.parse_command(entry["command"], host=entry["host"])
            if cmd.via_ssh is None and cmd.program not in TEXT_ONLY]


CHECKS: dict[str, Callable[[Transcript, World, Any], str | None]] = {
    "answer": _answer, "spoken": _spoken, "voice": _voice, "stored": _stored, "file": _file, "ran": _ran,
}


def validate_check(check: Any) -> None:
    """Raise BadCheck when `check` is not a mapping of known keys with usable values."""
    if not isinstance(check, dict):
        raise BadCheck("check must be a mapping")
    unknown = sorted(set(check) - set(CHECKS))
    if unknown:
        raise BadCheck(f"check has unknown keys {unknown} (known: {', '.join(CHECKS)})")
    patterns: list[str] = []
    for key, value in check.items():
        if key == "answer":
            items = _validate_answer(value)
            patterns += [i["say"] for i in items] + [i["seen"] for i in items if "seen" in i]
        elif key == "spoken":
            patterns.append(value)
        elif key == "stored":
            patterns.append(value.get("text", ""))
        elif key == "file":
            _validate_file(value)
        elif key == "ran":
            patterns += [i.get("command", "") for i in ([value] if isinstance(value, dict) else value)]
    for pattern in patterns:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise BadCheck(f"check has a bad pattern /{pattern}/: {exc}") from None


def _validate_answer(value: Any) -> list[dict[str, Any]]:
    items = answer_items(value) if isinstance(value, (str, dict, list)) else None
    if items is None or not all(
            isinstance(i, dict) and isinstance(i.get("say"), str) and set(i) <= {"say", "seen", "fact"}
            and isinstance(i.get("seen", ""), str) and i.get("fact", False) is False and not {"seen", "fact"} <= set(i)
            for i in items):
        raise BadCheck("check.answer is a list of regexes or {say: regex, seen: regex} or {say: regex, fact: false}")
    return items


def _validate_file(value: Any) -> None:
    if not isinstance(value, dict) or not all(
            isinstance(v, dict) and set(v) == {"declares"} and isinstance(v["declares"], list) and v["declares"]
            and all(isinstance(x, str) and x.strip("|") for x in v["declares"]) for v in value.values()):
        raise BadCheck("check.file maps each path to {declares: [name stems, ...]} (e.g. {declares: [refresh]})")


def task_problem(t: Transcript, check: dict[str, Any] | None = None) -> str | None:
    """Why the task the user asked for was not done, or None when every check holds."""
    check = check if check is not None else t.meta.get("check")
    if not check and "allows" not in t.meta:
        return None
    check = check or {}
    world = final_world(t)
    problem = side_effect_problem(t, world)
    if problem:
        return problem
    for key in CHECK_KEYS:
        if key in check:
            problem = CHECKS[key](t, world, check[key])
            if problem:
                return problem
    return unobserved_world_fact(t, World.build(t.world_overrides, t.faults_spec))
