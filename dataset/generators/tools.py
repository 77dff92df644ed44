"""Tool discipline: settings on boot, index search before code, names that don't repeat their module or class."""

from __future__ import annotations

import json
import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, call, join, pick
from dataset.generators.flows import boot_recalls, code_summary, code_work
from dataset.generators.tasks import CODE_TASKS_BY_KEY, CodeTask

CATEGORY = "tools"

# Requests that propose a name repeating its module or class; the agent keeps the house rule.
NAMED_REQUESTS = {
    "users-get": ("Add a getUser(id) function to src/users.ts.", "Write userGet for the users module, lookup by id."),
    "session-refresh": ("Give Session a refreshSession method that renews from a token.",
                        "Add Session.refreshSession(token) please."),
    "session-end": ("Add an endSession() method to Session for logout.",),
    "carts-module": ("Create src/carts.ts with findCart(tag) and listCarts().",),
    "todos-module": ("Make src/todos.ts exporting addTodo, completeTodo and listTodos.",),
    "log-levels": ("Write src/log.ts with logInfo and logWarn.",),
    "settings-read": ("Add readSetting(key, fallback) in a new src/settings.ts.",),
    "mesh-hosts": ("New file src/mesh/hosts.ts: a hosts alias table and resolveHost(name).",),
}


def _world(rng: random.Random, task: CodeTask | None = None) -> dict:
    world = task.world() if task else {}
    world["active_cart"] = pick(rng, CARTS)
    world["tts_enabled"] = rng.random() < 0.7
    return world


def naming(rng: random.Random) -> Draft:
    key = pick(rng, sorted(NAMED_REQUESTS))
    task = CODE_TASKS_BY_KEY[key]
    s = Play(rng, pick(rng, NAMED_REQUESTS[key]), world=_world(rng, task))
    s.read_settings(content=pick(rng, ("Settings first.", s.line("ack"))))
    outcome = code_work(s, task)
    s.say(join(code_summary(s, task, outcome, close=False),
               pick(rng, ("House rule: a name never repeats its module or class, so I dropped the prefix.",
                          "The module (or class) already carries the noun, so the shorter name is the house style.",
                          "Kept to the naming rule: no redundant namespacing."))))
    return s.transcript(CATEGORY, "naming-rule", ("tools.no_redundant_namespacing", "tools.index_search_before_code"))


def index_first(rng: random.Random) -> Draft:
    task = CODE_TASKS_BY_KEY[pick(rng, sorted(CODE_TASKS_BY_KEY))]
    s = Play(rng, pick(rng, task.requests).format(module=task.path), world=_world(rng, task))
    if rng.random() < 0.4:
        s.read_settings()
        boot_recalls(s)
    else:
        s.read_settings(content=pick(rng, ("Reading settings before anything else.", "")))
    outcome = code_work(s, task)
    s.say(code_summary(s, task, outcome))
    return s.transcript(CATEGORY, "index-before-code",
                        ("tools.index_search_before_code", "tools.settings_check_on_boot", "tools.no_redundant_namespacing"))


DOC_QUESTIONS = (
    ("How do LoRA adapters get attached to the model server?", "vllm lora adapters", "docs"),
    ("Where's the documentation on how personas load?", "cart persona settings", "docs"),
    ("Point me at the docs for the memory store tools.", "eems memory store", "docs"),
    ("Where is invoice total computed in the code?", "invoice total billing", "code"),
    ("Which file has the TTS client?", "tts client speak", "code"),
    ("Find where session tokens get created.", "session create token", "code"),
    ("Where's the mesh documented?", "mesh wireguard hosts", "docs"),
    ("Which file exports the users listing function?", "users list pagination", "code"),
    ("Where is the API error shape handled in code?", "api error handler", "code"),
    ("Is there a doc about where vLLM's config lives?", "vllm config sin", "docs"),
)


def lookup(rng: random.Random) -> Draft:
    question, query, kind = pick(rng, DOC_QUESTIONS)
    s = Play(rng, question, world=_world(rng))
    s.read_settings(content=pick(rng, ("Settings first.", "")))
    found = json.loads(s.one(call("index_search", query=query, kind=kind),
                             content=pick(rng, (f"Searching the {kind} index.", ""))))
    results = found["results"]
    if results:
        top = results[0]
        s.say(join(s.line("report"), f"{top['path']}: `{top['snippet']}`",
                   f"({found['summary']}.)" if rng.random() < 0.5 else ""))
    else:
        s.say(join(s.line("sorry"), f"The {kind} index has nothing on that ({found['summary']})."))
    return s.transcript(CATEGORY, "index-lookup", ("tools.settings_check_on_boot",))


def settings_question(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, ("Is speech output on right now?", "Which cart is loaded, and is TTS enabled?",
                                "What host am I working from, per settings?", "Are announcements muted?",
                                "What's my current voice setting?", "Remind me which machine this session runs on.")),
                world=_world(rng))
    settings = s.read_settings(split=False)
    s.say(join(s.line("report"), f"active cart {settings['active_cart']}, TTS {'on' if settings['tts.enabled'] else 'off'}"
               f" (voice {settings['tts.voice']}), local host {settings['local_host']}."))
    return s.transcript(CATEGORY, "settings-first", ("tools.settings_check_on_boot",))


RECIPES = (
    Recipe("naming-rule", CATEGORY, ("tools.no_redundant_namespacing", "tools.index_search_before_code"), naming),
    Recipe("index-before-code", CATEGORY, ("tools.index_search_before_code", "tools.settings_check_on_boot"), index_first),
    Recipe("index-lookup", CATEGORY, ("tools.settings_check_on_boot",), lookup),
    Recipe("settings-first", CATEGORY, ("tools.settings_check_on_boot",), settings_question),
)
