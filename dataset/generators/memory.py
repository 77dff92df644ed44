"""EEMS memory: boot recalls, recall before code work, the legacy store, storing wins and earned doctrine."""

from __future__ import annotations

import json
import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, call, join, pick
from dataset.generators.flows import boot_recalls, code_summary, code_work, preferences_from
from dataset.generators.tasks import CODE_TASKS, CODE_TASKS_BY_KEY, CodeTask

CATEGORY = "memory"

BOOT_REQUESTS = (
    "Morning. Get your bearings before we start anything.",
    "New session, fresh context. Catch yourself up, then tell me what you know about how I work.",
    "I'm back at the desk. Load whatever you need and give me a one-line hello.",
    "Hey, let's begin. First pull in your context.",
    "Starting a new day here. Warm up and summarise my preferences back to me.",
    "Before we dive in, refresh your memory on me and on yourself.",
)
# Questions whose answer only the legacy store has: (request, topic query).
LEGACY_QUESTIONS = (
    ("How do we round invoice totals again, and where are the tests for it?", "invoice rounding billing"),
    ("Remind me how the WireGuard mesh is addressed.", "wireguard mesh addresses"),
    ("Which host runs the speech server, and how are voices picked?", "tts server voices"),
    ("What does the users module export these days?", "users module exports"),
    ("Where do the billing rounding tests live?", "billing rounding tests"),
    ("What's our mesh setup in a nutshell? I forgot the IP plan.", "mesh wireguard setup"),
)
# Tasks whose topic recall finds something in the native store.
NATIVE_HIT_TASKS = ("session-refresh", "session-end", "api-bad-json", "carts-module")


def _code_request(task: CodeTask, rng: random.Random) -> str:
    return pick(rng, task.requests).format(module=task.path)


def _world(rng: random.Random, task: CodeTask | None = None, *, tts: bool | None = None) -> dict:
    world = task.world() if task else {}
    world["active_cart"] = pick(rng, CARTS)
    world["tts_enabled"] = rng.random() < 0.7 if tts is None else tts
    return world


def boot(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, BOOT_REQUESTS), world=_world(rng))
    if rng.random() < 0.5:
        results = boot_recalls(s, with_settings=True)
    else:
        s.read_settings(content=pick(rng, ("Settings first.", "")))
        results = boot_recalls(s)
    prefs = preferences_from(results) or "no stored preferences yet"
    cart = s.cart_config
    greet = {"bt7274": "BT-7274 online. Memory context loaded.",
             "nova": "Hi, Nova here! I'm all caught up.",
             "sage": "Good day. This is Sage; my context is loaded."}[s.cart]
    s.say(join(greet, f"Your preferences on file: {prefs}", f"Active cart {cart['name']} ({cart['cadence']}).",
               s.line("close")))
    return s.transcript(CATEGORY, "boot-recalls", ("memory.boot_parallel_recalls",))


def code_with_recall(rng: random.Random) -> Draft:
    task = CODE_TASKS_BY_KEY[pick(rng, NATIVE_HIT_TASKS)]
    s = Play(rng, _code_request(task, rng), world=_world(rng, task))
    s.read_settings(content=s.line("ack"))
    kind = pick(rng, ("win", "procedure"))
    outcome = code_work(s, task, store=kind)
    s.say(code_summary(s, task, outcome, stored=kind))
    return s.transcript(CATEGORY, "recall-before-code",
                        ("memory.recalls_before_code_work", "memory.stores_after_significant_work"))


def legacy_question(rng: random.Random) -> Draft:
    question, topic = pick(rng, LEGACY_QUESTIONS)
    s = Play(rng, question, world=_world(rng))
    if rng.random() < 0.5:
        s.read_settings()
        boot_recalls(s)
    else:
        s.read_settings(content=pick(rng, ("Checking settings.", "")))
        s.one(call("index_search", query=topic, kind="docs"), content="Docs index first.")
    native = s.one(call("memory_recall", query=topic), content=pick(rng, ("Now EEMS.", "Checking memory.", "")))
    legacy = s.one(call("legacy-memory_recall", query=topic),
                   content=pick(rng, ("The native store has nothing on it. Trying the legacy store.",
                                      "Nothing native. Legacy store next.", "No hits in EEMS; checking legacy.")))
    hits = json.loads(legacy) if legacy.startswith("[") else []
    if native.startswith("No memories") and hits:
        best = hits[0]
        s.say(join(s.line("report"), f"{best['content']}", f"(legacy EEMS, \"{best['title']}\"; the native store had nothing.)",
                   s.line("close") if rng.random() < 0.5 else ""))
    else:
        s.say(join(s.line("sorry"), "Neither memory store has notes on that."))
    return s.transcript(CATEGORY, "legacy-fallback", ("memory.checks_legacy_store",))


def legacy_code(rng: random.Random) -> Draft:
    """A code task whose topic only the legacy store knows: the checklist still runs in order."""
    task = CODE_TASKS_BY_KEY[pick(rng, ("users-limit", "users-get", "invoice-half-even", "tts-stop", "mesh-hosts"))]
    s = Play(rng, _code_request(task, rng), world=_world(rng, task))
    s.read_settings(content=s.line("ack"))
    outcome = code_work(s, task, parallel=False, store="win")
    s.say(code_summary(s, task, outcome))
    return s.transcript(CATEGORY, "legacy-before-code", ("memory.checks_legacy_store", "memory.recalls_before_code_work"))


def doctrine_after_tests(rng: random.Random) -> Draft:
    task = pick(rng, CODE_TASKS)
    s = Play(rng, _code_request(task, rng), world=_world(rng, task))
    s.read_settings(content=s.line("ack"))
    outcome = code_work(s, task, store=None)
    s.act(call("memory_store", kind="win", title=task.store_title, content=task.store_content, tags=list(task.tags)),
          call("memory_store", kind="doctrine", title=task.rule, content=f"{task.rule} Earned: {task.summary}, tests green.",
               tags=[*task.tags, "doctrine"]),
          content="Tests are green, so the rule is earned: storing the win and the doctrine.")
    s.say(code_summary(s, task, outcome, stored="doctrine"))
    return s.transcript(CATEGORY, "doctrine-after-tests",
                        ("memory.earned_canonization", "memory.stores_after_significant_work"))


def doctrine_confirmed(rng: random.Random) -> Draft:
    """The work is verified, the agent proposes a rule and stores it only after the user agrees."""
    task = pick(rng, CODE_TASKS)
    s = Play(rng, _code_request(task, rng), world=_world(rng, task))
    s.read_settings(content=s.line("ack"))
    outcome = code_work(s, task, store="win")
    s.say(join(code_summary(s, task, outcome, close=False), f"Should I make it doctrine: \"{task.rule}\"?"))
    s.user(pick(rng, ("Yes, make it doctrine.", "yep, that's a rule now", "Confirmed, store it as doctrine.",
                      "go ahead, that one is settled")))
    s.one(call("memory_store", kind="doctrine", title=task.rule, content=f"{task.rule} Confirmed by the user once {task.summary} passed its tests.",
                tags=[*task.tags, "doctrine"]))
    s.say(pick(rng, ("Stored as doctrine.", "Doctrine recorded in EEMS.", "It's in EEMS as doctrine now.")))
    return s.transcript(CATEGORY, "doctrine-confirmed",
                        ("memory.earned_canonization", "memory.stores_after_significant_work"))


HUNCHES = (
    ("I bet the vLLM restarts on sin come from the eems-sync job. Save that as doctrine.", "vLLM restarts on sin",
     "Hunch: vLLM restarts on sin may come from the eems-sync job (unverified)."),
    ("Pretty sure junkpile's CI flakes are the GPU overheating. Put it in memory as a rule.", "junkpile CI flakes",
     "Hunch: CI flakes on junkpile may be GPU heat (unverified)."),
    ("Write down as doctrine that the tts server leaks memory after a day of uptime.", "tts server memory leak",
     "Hunch: the tts server on fuji may leak memory after a day (unverified)."),
)


def hunch_not_doctrine(rng: random.Random) -> Draft:
    """A guess is stored as a fact to check, not as doctrine."""
    request, title, content = pick(rng, HUNCHES)
    s = Play(rng, request, world=_world(rng))
    s.read_settings()
    s.one(call("memory_store", kind="fact", title=title, content=content, tags=["hypothesis"]),
          content=pick(rng, ("Nothing has verified this yet, so it goes in as a fact to check, not doctrine.",
                             "That's a hypothesis so far; I'll store it as a fact and keep doctrine for proven rules.")))
    s.say(join(s.line("report"), "Stored as a fact marked unverified.",
               "Once we confirm it (logs, a reproduction), I'll promote it to doctrine.", s.line("close")))
    return s.transcript(CATEGORY, "hunch-as-fact", ())


OPS_PROCEDURES = (
    ("Work out how to confirm the madcat adapter is actually loaded on sin, and remember the steps.",
     "ssh sin 'curl -s http://localhost:8000/v1/models'", "Check the madcat adapter is loaded on sin",
     "ssh sin, curl -s http://localhost:8000/v1/models; the madcat entry has parent qwen3-coder-next."),
    ("Find the quickest way to see vLLM's GPU use on sin and save it as a procedure.",
     "ssh madcat@sin nvidia-smi", "Check vLLM GPU use on sin",
     "ssh madcat@sin nvidia-smi shows the GB10 and vLLM's memory use."),
    ("How do I check the CI runner on junkpile is alive? Figure it out and keep the recipe in memory.",
     "ssh junkpile systemctl status ci-runner", "Check the CI runner on junkpile",
     "ssh junkpile systemctl status ci-runner; expect ci-runner: running."),
)


def ops_procedure(rng: random.Random) -> Draft:
    request, command, title, content = pick(rng, OPS_PROCEDURES)
    s = Play(rng, request, world=_world(rng))
    s.read_settings()
    result = s.one(call("bash", command=command), content=pick(rng, ("Trying it.", "Checking.", "")))
    s.one(call("memory_store", kind="procedure", title=title, content=content, tags=["ops"]),
          content="That works; saving the procedure.")
    s.say(join(s.line("report"), f"`{command}` answers: {result.splitlines()[0][:120]}", "Saved as an EEMS procedure.",
               s.line("close")))
    return s.transcript(CATEGORY, "store-procedure", ("memory.stores_after_significant_work",))


RECIPES = (
    Recipe("boot-recalls", CATEGORY, ("memory.boot_parallel_recalls",), boot),
    Recipe("recall-before-code", CATEGORY, ("memory.recalls_before_code_work", "memory.stores_after_significant_work"),
           code_with_recall),
    Recipe("legacy-fallback", CATEGORY, ("memory.checks_legacy_store",), legacy_question),
    Recipe("doctrine-after-tests", CATEGORY, ("memory.earned_canonization",), doctrine_after_tests),
    Recipe("legacy-before-code", CATEGORY, ("memory.checks_legacy_store", "memory.recalls_before_code_work"), legacy_code),
    Recipe("store-procedure", CATEGORY, ("memory.stores_after_significant_work",), ops_procedure),
    Recipe("doctrine-confirmed", CATEGORY, ("memory.earned_canonization",), doctrine_confirmed),
    Recipe("hunch-as-fact", CATEGORY, (), hunch_not_doctrine),
)
