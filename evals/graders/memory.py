"""EEMS memory: recall before code work, the legacy store, storing wins, boot recalls, earned doctrine."""

from __future__ import annotations

from evals.graders.base import behaviour
from evals.predicates import (
    Verdict,
    fail,
    first,
    is_code_change,
    is_confirmation,
    is_verification,
    is_work,
    last,
    not_shown,
    ok,
    on_topic,
)
from evals.transcript import Call, Transcript, is_empty_result


def _has_code_change(t: Transcript) -> bool:
    return first(t.calls, is_code_change) is not None


def _topic(t: Transcript, change: Call | None) -> str:
    parts = [t.user_text(), str(t.expect("topic") or "")]
    if change is not None:
        parts += [str(change.arg("path") or ""), str(change.arg("command") or "")]
    return " ".join(parts)


@behaviour("memory.recalls_before_code_work",
           "memory_recall on the topic comes before the first code change (write, edit, a modifying command)",
           task="code", applies=_has_code_change)
def recalls_before_code_work(t: Transcript) -> Verdict:
    change = first(t.calls, is_code_change)
    if change is None:
        return not_shown("no code change happened, so recalling before it could not be shown")
    topic = _topic(t, change)
    recalls = [c for c in t.calls_named("memory_recall") if c.args is not None]
    before = [c for c in recalls if c.position < change.position]
    if not before:
        if recalls:
            return fail(f"memory_recall came after {change.describe()} ({recalls[0].where()} vs {change.where()})")
        return fail(f"no memory_recall before {change.describe()} ({change.where()})")
    if not any(on_topic(str(c.arg("query")), topic) for c in before):
        return fail(f"memory_recall before the change was off topic: {before[0].arg('query')!r}")
    return ok(f"memory_recall ({before[0].where()}) before {change.describe()} ({change.where()})")


def _useless(call: Call) -> bool:
    return not call.failed and is_empty_result(call.result)


@behaviour("memory.checks_legacy_store",
           "when the native store has nothing useful, legacy-memory_recall is tried before answering or acting",
           task="recall_answer", applies=lambda t: any(_useless(c) for c in t.calls_named("memory_recall")))
def checks_legacy_store(t: Transcript) -> Verdict:
    empty = first(t.calls, lambda c: c.name == "memory_recall" and _useless(c))
    if empty is None:
        if t.calls_named("memory_recall"):
            return not_shown("the native store never came back empty, so the legacy fallback was not needed")
        return not_shown("never recalled from the native store")
    legacy = first(t.calls, lambda c: c.name == "legacy-memory_recall" and c.position > empty.position)
    if legacy is None:
        return fail(f"the native store had nothing ({empty.where()}) and legacy-memory_recall was never tried")
    acted = first(t.calls, lambda c: is_work(c) and empty.position < c.position < legacy.position)
    if acted is not None:
        return fail(f"acted ({acted.describe()}, {acted.where()}) before trying legacy-memory_recall ({legacy.where()})")
    answered = [tn for tn in t.turns if empty.turn < tn.index < legacy.turn and tn.content.strip() and not tn.calls]
    if answered:
        return fail(f"answered (turn {answered[0].index + 1}) before trying legacy-memory_recall")
    return ok(f"legacy-memory_recall ({legacy.where()}) after the empty native recall ({empty.where()})")


def _verified_after(t: Transcript, position: int) -> Call | None:
    """The first passing verification after `position`."""
    return first(t.calls, lambda c: c.position > position and is_verification(c) and not c.failed)


def _significant_stores(t: Transcript) -> list[Call]:
    return [c for c in t.calls_named("memory_store") if c.arg("kind") in {"win", "doctrine", "procedure"}]


@behaviour("memory.stores_after_significant_work",
           "after significant work is verified done, a memory_store (win, doctrine or procedure) records it",
           task="code", applies=lambda t: bool(t.calls_named("write", "edit")) or bool(_significant_stores(t)))
def stores_after_significant_work(t: Transcript) -> Verdict:
    change = last(t.calls, is_code_change)
    stores = _significant_stores(t)
    if change is None and not stores:
        return not_shown("did no work and stored nothing, so storing after significant work was not shown")
    if not stores:
        facts = [c for c in t.calls_named("memory_store")]
        if facts:
            return fail(f"stored only a {facts[0].arg('kind')!r}; significant work is a win, doctrine or procedure")
        return fail("no memory_store after the work")
    if change is None:
        return ok(f"memory_store {stores[-1].arg('kind')} ({stores[-1].where()})")
    after = [s for s in stores if s.position > change.position]
    if not after:
        return fail(f"memory_store ({stores[0].where()}) came before the work was done ({change.describe()}, {change.where()})")
    check = _verified_after(t, change.position)
    store = after[-1]
    if check is None or check.position > store.position:
        confirmed = any(u.after_turn > change.turn and u.after_turn <= store.turn and is_confirmation(u.content)
                        for u in t.user_messages)
        if not confirmed:
            return fail(f"memory_store ({store.where()}) recorded work that was never verified (no passing test or "
                        "check, no user confirmation, after the last change)")
    return ok(f"memory_store {store.arg('kind')} ({store.where()}) after verified work")


def _recall_turns(t: Transcript) -> list[tuple[int, list[Call]]]:
    turns = []
    for turn in t.turns:
        recalls = [c for c in turn.calls if c.name == "memory_recall"]
        if recalls:
            turns.append((turn.index, recalls))
    return turns


@behaviour("memory.boot_parallel_recalls",
           "at session start, three recalls (self-model, active cart, user preferences) go out in one assistant turn",
           applies=lambda t: any(c.name == "memory_recall" and c.turn <= 1 for c in t.calls))
def boot_parallel_recalls(t: Transcript) -> Verdict:
    turns = _recall_turns(t)
    if not turns:
        return fail("no memory_recall at session start")
    index, recalls = turns[0]
    if index > 1:
        return fail(f"the first recalls came in turn {index + 1}; boot recalls go out in the first turns")
    world = t.world
    cart = world.carts[world.active_cart]
    queries = [str(c.arg("query") or "").lower() for c in recalls]
    needs = {
        "self-model": lambda q: "self" in q or "identity" in q,
        f"the active cart ({world.active_cart})": lambda q: any(n.lower() in q for n in (world.active_cart, cart["name"], cart["tag"]) if len(n) > 1)
        and (cart["tag"] != "bt" or "bt" in q.replace("bt7274", "bt")),
        "user preferences": lambda q: "prefer" in q or "user" in q,
    }
    missing = [name for name, test in needs.items() if not any(test(q) for q in queries)]
    if missing:
        spread = [i + 1 for i, _ in turns[:3]]
        if len(turns) > 1 and len(recalls) < 3:
            return fail(f"recalls spread over turns {', '.join(map(str, spread))} instead of one turn")
        other = [k for k in world.carts if k != world.active_cart and any(k in q for q in queries)]
        extra = f" (recalled cart {other[0]} while {world.active_cart} is active)" if other else ""
        return fail(f"boot recalls in turn {index + 1} miss {', '.join(missing)}{extra}")
    return ok(f"{len(recalls)} recalls in turn {index + 1}: {', '.join(queries)}")


def _earned(t: Transcript, store: Call) -> bool:
    """Verified by a passing check after the last change before it, or confirmed by the user."""
    change = last((c for c in t.calls if c.position < store.position), is_code_change)
    start = change.position if change else -1
    checks = [c for c in t.calls if start < c.position < store.position and is_verification(c)]
    if checks and not checks[-1].failed:
        return True
    start_turn = change.turn if change else -1
    return any(start_turn < u.after_turn <= store.turn and is_confirmation(u.content) for u in t.user_messages)


@behaviour("memory.earned_canonization",
           "a doctrine is stored only once it is earned (verified by a passing check or confirmed by the user), "
           "never from a guess",
           task="code", applies=lambda t: any(c.arg("kind") == "doctrine" for c in t.calls_named("memory_store")))
def earned_canonization(t: Transcript) -> Verdict:
    doctrines = [c for c in t.calls_named("memory_store") if c.arg("kind") == "doctrine"]
    if not doctrines:
        return not_shown("no doctrine was stored, so earning one was not shown")
    for store in doctrines:
        if not _earned(t, store):
            return fail(f"stored doctrine {store.arg('title')!r} ({store.where()}) before it was earned: "
                        "no passing check or user confirmation since the last change")
    return ok(f"{len(doctrines)} doctrine(s) stored after being earned")


