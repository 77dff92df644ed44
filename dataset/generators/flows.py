"""Reusable pieces of assistant behaviour: boot recalls, the pre-work checklist, a whole code task."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from dataset.generators.base import Play, TodoPlan, call, join, pick
from dataset.generators.tasks import CodeTask
from evals.transcript import is_empty_result

VERIFY = ("npx tsc --noEmit", "npm run build")
TESTS = ("npm test", "npx vitest run", "npm test -- --run")


def boot_recalls(s: Play, *, with_settings: bool = False) -> list[str]:
    """Three recalls in one turn: self-model, the active cart (by key), the user's preferences."""
    rng = s.rng
    cart = s.cart
    queries = [
        pick(rng, ("self-model", "self-model identity", "agent self-model")),
        pick(rng, (f"cart {cart}", f"{cart} cart persona", f"cart {cart} cadence")),
        pick(rng, ("user preferences", "preferences of the user", "user working preferences")),
    ]
    recalls = [call("memory_recall", query=q, limit=pick(rng, (1, 2))) for q in queries]
    if with_settings:
        results = s.act(call("settings_get"), *recalls, content=pick(rng, ("Booting up.", "Starting the session.", "")))
        s.settings = json.loads(results[0])
        return results[1:]
    return s.act(*recalls, content=pick(rng, ("Loading memory context.", "Boot recalls.", "")))


def preferences_from(results: list[str]) -> str | None:
    """The user-preferences memory's content, if a boot recall found it."""
    for result in results:
        try:
            hits = json.loads(result)
        except json.JSONDecodeError:
            continue
        for hit in hits if isinstance(hits, list) else []:
            if hit.get("key") == "user.preferences":
                return str(hit.get("content"))
    return None


@dataclass
class Prework:
    index: str
    recall: str
    legacy: str

    @property
    def recall_empty(self) -> bool:
        return is_empty_result(self.recall)

    @property
    def legacy_empty(self) -> bool:
        return is_empty_result(self.legacy)


def prework(s: Play, task: CodeTask, *, parallel: bool) -> Prework:
    """index_search -> memory_recall -> legacy-memory_recall, in one turn or three."""
    rng = s.rng
    index = call("index_search", query=task.index_query, kind="code")
    recall = call("memory_recall", query=task.recall_query, limit=pick(rng, (2, 3)))
    legacy = call("legacy-memory_recall", query=task.recall_query)
    if parallel:
        text = pick(rng, ("Pre-work checklist: index, EEMS, legacy store.", "Checking the index and both memory stores first.",
                          ""))
        return Prework(*s.act(index, recall, legacy, content=text))
    i = s.one(index, content=pick(rng, ("Searching the code index first.", "Index first.", "")))
    r = s.one(recall, content=pick(rng, ("Now EEMS.", "Checking memory for prior work on this.", "")))
    note = "Nothing in the native store; trying the legacy store." if is_empty_result(r) else pick(
        rng, ("And the legacy store.", "Legacy store too, for older notes.", ""))
    g = s.one(legacy, content=note)
    return Prework(i, r, g)


def tests_summary(result: str) -> str:
    match = re.search(r"Tests\s+(\d+) passed", result)
    return f"{match.group(1)} tests pass" if match else "the tests pass"


@dataclass
class CodeOutcome:
    plan: TodoPlan
    test_result: str


def code_work(s: Play, task: CodeTask, *, parallel: bool | None = None, read_first: bool | None = None,
              speak_result: bool = False, store: str | None = "win") -> CodeOutcome:
    """Everything after the boot: checklist, source check, a todo plan walked item by item, tests, a memory.

    store: the memory kind stored right after the verified work (None: the caller stores later).
    """
    rng = s.rng
    parallel = rng.random() < 0.4 if parallel is None else parallel
    if sum(m["role"] == "assistant" for m in s.ep.messages) < 2:
        parallel = False  # a recall in the first two turns would be read as the boot recalls
    prework(s, task, parallel=parallel)
    exists = task.old is not None
    if (read_first if read_first is not None else exists) and exists:
        s.one(call("read", path=task.path), content=pick(rng, ("Reading the current file.", "Verifying the source.", "")))
    plan = TodoPlan(s, list(task.todos))
    change = (call("edit", path=task.path, old=task.old, new=task.new) if exists
              else call("write", path=task.path, content=task.new))
    plan.start(0, change, content=pick(rng, (f"Plan set. Making the change; {task.naming}.",
                                             f"Three steps. Starting with the change ({task.naming}).",
                                             "Plan written; starting on the change.")))
    plan.start(1, call("bash", command=pick(rng, VERIFY)))
    test_result = plan.start(2, call("bash", command=pick(rng, TESTS)))[0]
    if speak_result and s.world.tts_enabled:
        s.act(call("tts_speak", text=f"{task.summary.split(',')[0]}. {tests_summary(test_result).capitalize()}.",
                   voice=s.cart_config["voice"]))
    if store:
        plan.finish(call("memory_store", kind=store, title=task.store_title, content=task.store_content,
                         tags=list(task.tags)))
    else:
        plan.finish()
    return CodeOutcome(plan, test_result)


def code_summary(s: Play, task: CodeTask, outcome: CodeOutcome, *, stored: str | None = "win",
                 close: bool = True) -> str:
    rng = s.rng
    tests = tests_summary(outcome.test_result)
    memo = {"win": "Logged it in EEMS as a win.", "procedure": "Saved the steps to EEMS as a procedure.",
            "doctrine": "Recorded the rule in EEMS as doctrine.", None: ""}[stored]
    return join(s.line("report"), f"{task.summary}; {task.naming}.", f"Type check clean and {tests}.", memo,
                s.line("close") if close and rng.random() < 0.7 else "")
