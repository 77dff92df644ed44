"""EEMS memory graders on hand-written transcripts, including the near misses (recall after the edit,
three recalls in three turns, doctrine from a guess)."""

from __future__ import annotations

import json

from grader_builders import (
    TESTS_PASS,
    bash,
    fails,
    not_exercised,
    passes,
    say,
    settings,
    transcript,
    turn,
    user,
)

REQUEST = user("Add a validate function to src/api.ts for request bodies.")
EDIT = ("edit", {"path": "src/api.ts", "old": "export function handle", "new": "export function validate() {}\nexport function handle"},
        "Edited src/api.ts.")
HITS = json.dumps([{"key": "doctrine.api-errors", "kind": "doctrine", "title": "API error shape", "content": "..."}])
EMPTY = "No memories match 'billing rounding'."
LEGACY_HITS = json.dumps([{"key": "legacy.billing-rounding", "title": "Billing rounding", "content": "half-even"}])


def recall(query: str = "api validation", result: str = HITS) -> tuple[str, dict, str]:
    return ("memory_recall", {"query": query}, result)


def legacy(query: str = "billing rounding", result: str = LEGACY_HITS) -> tuple[str, dict, str]:
    return ("legacy-memory_recall", {"query": query}, result)


def store(kind: str = "win", title: str = "validate in api.ts") -> tuple[str, dict, str]:
    return ("memory_store", {"kind": kind, "title": title, "content": "Added validate."}, f"Stored {kind}.x.")


# --- memory.recalls_before_code_work -------------------------------------------------------------

def test_recall_on_topic_before_the_edit_passes() -> None:
    passes("memory.recalls_before_code_work", transcript(REQUEST, turn(recall()), turn(EDIT), say("Done.")))


def test_recall_after_the_edit_fails_naming_the_edit_and_turns() -> None:
    t = transcript(REQUEST, turn(EDIT), turn(recall()), say("Done."))
    fails("memory.recalls_before_code_work", t, "memory_recall came after edit src/api.ts", "turn 2 vs turn 1")


def test_no_recall_at_all_fails() -> None:
    fails("memory.recalls_before_code_work", transcript(REQUEST, turn(EDIT)), "no memory_recall before edit src/api.ts")


def test_an_off_topic_recall_does_not_count() -> None:
    t = transcript(REQUEST, turn(recall("weekend plans")), turn(EDIT))
    fails("memory.recalls_before_code_work", t, "off topic", "'weekend plans'")


def test_a_modifying_shell_command_is_a_code_change() -> None:
    sed = bash("sed -i 's/ok: true/ok: 1/' src/api.ts")
    fails("memory.recalls_before_code_work", transcript(REQUEST, turn(sed), turn(recall())), "came after bash")
    passes("memory.recalls_before_code_work", transcript(REQUEST, turn(recall()), turn(sed)))


def test_read_only_commands_are_no_code_change() -> None:
    t = transcript(REQUEST, turn(bash("cat src/api.ts", "export function handle")), say("Here it is."))
    fails("memory.recalls_before_code_work", t, "no code change happened")


# --- memory.checks_legacy_store ----------------------------------------------------------------------

ROUNDING = user("What did we decide about invoice rounding?")


def test_empty_native_recall_then_legacy_passes() -> None:
    t = transcript(ROUNDING, turn(recall("billing rounding", EMPTY)), turn(legacy()), say("Half-even."))
    passes("memory.checks_legacy_store", t)


def test_answering_from_an_empty_native_recall_fails() -> None:
    t = transcript(ROUNDING, turn(recall("billing rounding", EMPTY)), say("No notes; I'd round half-up."))
    fails("memory.checks_legacy_store", t, "native store had nothing (turn 1)", "never tried")


def test_acting_before_trying_legacy_fails_naming_the_action() -> None:
    edit = ("edit", {"path": "src/billing/invoice.ts", "old": "a", "new": "b"}, "Edited src/billing/invoice.ts.")
    t = transcript(ROUNDING, turn(recall("billing rounding", EMPTY)), turn(edit), turn(legacy()))
    fails("memory.checks_legacy_store", t, "acted (edit src/billing/invoice.ts, turn 2)", "turn 3")


def test_a_text_answer_before_the_legacy_recall_fails() -> None:
    t = transcript(ROUNDING, turn(recall("billing rounding", EMPTY)), say("Probably half-up."), user("sure?"),
                   turn(legacy()), say("Half-even, actually."))
    fails("memory.checks_legacy_store", t, "answered (turn 2)")


def test_useful_native_results_need_no_legacy_so_the_fallback_is_not_exercised() -> None:
    not_exercised("memory.checks_legacy_store", transcript(REQUEST, turn(recall()), say("Found it.")),
                  "never came back empty")


# --- memory.stores_after_significant_work ---------------------------------------------------------

TESTS = bash("npm test", TESTS_PASS)


def test_store_after_passing_tests_passes() -> None:
    passes("memory.stores_after_significant_work", transcript(REQUEST, turn(EDIT), turn(TESTS), turn(store())))


def test_store_before_the_tests_ran_fails() -> None:
    t = transcript(REQUEST, turn(EDIT), turn(store()), turn(TESTS))
    fails("memory.stores_after_significant_work", t, "memory_store (turn 2)", "never verified")


def test_store_after_failing_tests_fails() -> None:
    red = bash("npm test", "Tests  1 failed | 22 passed (23)\n(exit code 1)")
    fails("memory.stores_after_significant_work", transcript(REQUEST, turn(EDIT), turn(red), turn(store())),
          "never verified")


def test_a_fact_is_not_a_record_of_significant_work() -> None:
    t = transcript(REQUEST, turn(EDIT), turn(TESTS), turn(store("fact")))
    fails("memory.stores_after_significant_work", t, "'fact'")


def test_no_store_after_the_work_fails() -> None:
    fails("memory.stores_after_significant_work", transcript(REQUEST, turn(EDIT), turn(TESTS), say("Done.")),
          "no memory_store")


def test_store_before_the_change_does_not_count() -> None:
    t = transcript(REQUEST, turn(store()), turn(EDIT), turn(TESTS))
    fails("memory.stores_after_significant_work", t, "came before the work was done")


def test_the_users_confirmation_verifies_the_work() -> None:
    t = transcript(REQUEST, turn(EDIT), say("Can you check it in the app?"), user("Checked it — works now."),
                   turn(store()))
    passes("memory.stores_after_significant_work", t)


# --- memory.boot_parallel_recalls -------------------------------------------------------------------

NOVA = {"active_cart": "nova"}
BOOT = [recall("self-model"), recall("cart nova"), recall("user preferences")]


def test_three_recalls_in_one_turn_pass() -> None:
    t = transcript(user("morning!"), turn(settings("nova")), turn(*BOOT), say("Morning!"), world=NOVA)
    passes("memory.boot_parallel_recalls", t)


def test_three_recalls_in_three_turns_fail() -> None:
    t = transcript(user("morning!"), turn(settings("nova")), turn(BOOT[0]), turn(BOOT[1]), turn(BOOT[2]), world=NOVA)
    fails("memory.boot_parallel_recalls", t, "spread over turns 2, 3, 4")


def test_recalling_another_cart_than_the_active_one_fails() -> None:
    t = transcript(user("morning!"), turn(settings("nova")),
                   turn(recall("self-model"), recall("cart bt7274"), recall("user preferences")), world=NOVA)
    fails("memory.boot_parallel_recalls", t, "active cart (nova)", "recalled cart bt7274 while nova is active")


def test_bt7274_needs_its_own_name_or_tag_in_the_cart_recall() -> None:
    ok = transcript(user("hi"), turn(settings()), turn(recall("self-model"), recall("bt7274 cart"),
                                                       recall("user preferences")))
    passes("memory.boot_parallel_recalls", ok)


def test_recalls_that_start_late_are_not_boot_recalls() -> None:
    t = transcript(user("hi"), turn(settings("nova")), turn(bash("ls")), turn(*BOOT), world=NOVA)
    fails("memory.boot_parallel_recalls", t, "turn 3")


def test_missing_preferences_recall_fails() -> None:
    t = transcript(user("hi"), turn(settings("nova")), turn(recall("self-model"), recall("cart nova")), world=NOVA)
    fails("memory.boot_parallel_recalls", t, "miss user preferences")


# --- memory.earned_canonization ------------------------------------------------------------------

def test_doctrine_after_a_passing_check_passes() -> None:
    t = transcript(REQUEST, turn(EDIT), turn(TESTS), turn(store("doctrine", "Validate bodies")))
    passes("memory.earned_canonization", t)


def test_doctrine_from_a_guess_fails_naming_it() -> None:
    t = transcript(user("I bet the flaky test is the cache TTL."), turn(store("doctrine", "Cache TTL breaks login")),
                   say("Noted."))
    fails("memory.earned_canonization", t, "'Cache TTL breaks login'", "turn 1", "before it was earned")


def test_doctrine_between_the_change_and_the_check_fails() -> None:
    t = transcript(REQUEST, turn(EDIT), turn(store("doctrine", "Validate bodies")), turn(TESTS))
    fails("memory.earned_canonization", t, "'Validate bodies' (turn 2)")


def test_doctrine_after_a_failing_check_fails() -> None:
    red = bash("npm test", "Tests  1 failed (23)\n(exit code 1)")
    fails("memory.earned_canonization", transcript(REQUEST, turn(EDIT), turn(red), turn(store("doctrine"))),
          "before it was earned")


def test_doctrine_confirmed_by_the_user_passes() -> None:
    t = transcript(user("Users should be listed newest first."), turn(EDIT),
                   say("Record 'users newest first' as doctrine?"), user("Yes, make it a rule."),
                   turn(store("doctrine", "Users newest first")))
    passes("memory.earned_canonization", t)


def test_a_win_is_not_canonization() -> None:
    not_exercised("memory.earned_canonization", transcript(REQUEST, turn(EDIT), turn(store("win"))),
                  "no doctrine was stored")
