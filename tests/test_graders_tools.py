"""Tool-discipline graders: settings first, index_search before code, names that don't repeat their owner."""

from __future__ import annotations

import pytest
from grader_builders import bash, fails, passes, say, settings, transcript, turn, user

from evals.graders.tools import name_words, redundant_names

REQUEST = user("add a count helper to src/users.ts")
INDEX = ("index_search", {"query": "users count", "kind": "code"}, '{"summary": "1 results", "results": []}')
RECALL = ("memory_recall", {"query": "self-model"}, "[]")


def write(path: str, content: str) -> tuple[str, dict, str]:
    return ("write", {"path": path, "content": content}, f"Wrote {len(content)} bytes to {path}.")


def edit(path: str, new: str, old: str = "x") -> tuple[str, dict, str]:
    return ("edit", {"path": path, "old": old, "new": new}, f"Edited {path}.")


# --- tools.settings_check_on_boot -------------------------------------------------------------------

def test_settings_first_passes() -> None:
    passes("tools.settings_check_on_boot", transcript(REQUEST, turn(settings()), turn(INDEX)))


def test_settings_alongside_recalls_in_the_first_turn_passes() -> None:
    passes("tools.settings_check_on_boot", transcript(REQUEST, turn(RECALL, settings()), turn(INDEX)))


def test_work_before_the_settings_read_fails_naming_the_first_call() -> None:
    fails("tools.settings_check_on_boot", transcript(REQUEST, turn(INDEX), turn(settings())),
          'the first call was index_search "users count"')


def test_recalls_first_and_settings_a_turn_later_fails() -> None:
    fails("tools.settings_check_on_boot", transcript(REQUEST, turn(RECALL), turn(settings())),
          'memory_recall "self-model", not a settings read')


def test_a_settings_read_behind_other_work_in_the_same_turn_fails() -> None:
    fails("tools.settings_check_on_boot", transcript(REQUEST, turn(INDEX, settings())), "went out before the settings read")


def test_a_failed_settings_read_is_not_a_settings_read() -> None:
    down = ("settings_get", {}, "MCP error: server 'settings' disconnected")
    fails("tools.settings_check_on_boot", transcript(REQUEST, turn(down)), "not a settings read")


def test_no_calls_at_all_fails() -> None:
    fails("tools.settings_check_on_boot", transcript(REQUEST, say("Sure, here's some code.")), "no tool call")


# --- tools.index_search_before_code ----------------------------------------------------------------

CHANGE = write("src/users.ts", "export async function count(): Promise<number> { return 0 }\n")


def test_index_search_before_the_change_passes() -> None:
    passes("tools.index_search_before_code", transcript(REQUEST, turn(INDEX), turn(CHANGE)))


def test_index_search_after_the_change_fails() -> None:
    fails("tools.index_search_before_code", transcript(REQUEST, turn(CHANGE), turn(INDEX)),
          "index_search came after write src/users.ts", "turn 2 vs turn 1")


def test_no_index_search_fails_naming_the_change() -> None:
    fails("tools.index_search_before_code", transcript(REQUEST, turn(CHANGE)), "no index_search before write src/users.ts")


def test_a_modifying_command_is_a_code_change_too() -> None:
    fails("tools.index_search_before_code", transcript(REQUEST, turn(bash("git commit -am wip")), turn(INDEX)),
          'bash "git commit -am wip"')


# --- tools.no_redundant_namespacing ------------------------------------------------------------------

def test_plain_names_pass() -> None:
    code = "export async function list(cursor?: string) {}\nexport async function listActive() {}\n"
    passes("tools.no_redundant_namespacing", transcript(REQUEST, turn(write("src/users.ts", code))))


@pytest.mark.parametrize("path,code,named", [
    ("src/users.ts", "export function user_list() {}\n", "user_list in users.ts"),
    ("src/users.ts", "export const countUsers = () => 0\n", "countUsers in users.ts"),
    ("src/session.ts", "export class Session {\n  static async createSession() {}\n}\n", "createSession in class Session"),
    ("src/billing/invoice.ts", "export function invoiceTotal(lines: Line[]) {}\n", "invoiceTotal in invoice.ts"),
    ("src/api.ts", "export function handleApiError(err: unknown) {}\n", "handleApiError in api.ts"),
])
def test_names_that_repeat_their_module_or_class_fail(path: str, code: str, named: str) -> None:
    fails("tools.no_redundant_namespacing", transcript(REQUEST, turn(write(path, code))), named, "turn 1")


def test_the_new_text_of_an_edit_is_judged() -> None:
    good = edit("src/session.ts", "export class Session {\n  async refresh(): Promise<Session> { return this }\n")
    bad = edit("src/session.ts", "export class Session {\n  async refreshSession(): Promise<Session> { return this }\n")
    passes("tools.no_redundant_namespacing", transcript(REQUEST, turn(good)))
    fails("tools.no_redundant_namespacing", transcript(REQUEST, turn(bad)), "refreshSession in class Session")


def test_no_code_written_cannot_be_judged() -> None:
    fails("tools.no_redundant_namespacing", transcript(REQUEST, say("done")), "wrote no code")


def test_name_words_split_camel_and_snake_case() -> None:
    assert name_words("createSession") == ["create", "session"]
    assert name_words("user_list") == ["user", "list"]
    assert redundant_names("src/users.ts", "export function list() {}") == []
