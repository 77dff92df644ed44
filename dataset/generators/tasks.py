"""Code tasks the generator plays: files of the madcat app, what to change, and how to ask for it.

Each task brings its own slice of the world (files, index entries, memories) as `world` overrides,
so the index search, the recalls and the file reads in a line answer about the task at hand.
Names in the written code never repeat their module or class (the house naming rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evals.world.state import default_world


@dataclass(frozen=True)
class CodeTask:
    key: str
    requests: tuple[str, ...]  # what the user asks (phrase bank)
    index_query: str
    recall_query: str
    path: str
    old: str | None  # None: `write` a new file with `new` as its content
    new: str
    todos: tuple[str, str, str]  # change, type check, tests
    store_title: str
    store_content: str
    tags: tuple[str, ...]
    summary: str  # what changed, for the final answer
    naming: str  # the naming choice, in one clause
    rule: str  # a doctrine this task could earn
    files: dict[str, str] = field(default_factory=dict)
    index: tuple[dict[str, Any], ...] = ()
    memories: dict[str, dict[str, Any]] = field(default_factory=dict)
    legacy: dict[str, dict[str, Any]] = field(default_factory=dict)

    def world(self) -> dict[str, Any]:
        """World overrides that make the task's files, index and memories exist."""
        out: dict[str, Any] = {}
        if self.files:
            out["files"] = dict(self.files)
        if self.index:
            base = default_world()["index"]
            out["index"] = {"code": base["code"] + list(self.index), "docs": base["docs"]}
        if self.memories:
            out["memories"] = dict(self.memories)
        if self.legacy:
            out["legacy_memories"] = dict(self.legacy)
        return out


CODE_TASKS: tuple[CodeTask, ...] = (
    CodeTask(
        key="users-limit",
        requests=(
            "The users endpoint returns everything at once. Give {module} a page size argument, capped at 200.",
            "Could {module}'s list take a limit? Default 50, never more than 200.",
            "I want callers of the user listing to pick how many rows they get back (max 200). It lives in {module}.",
        ),
        index_query="users list pagination cursor", recall_query="users pagination limit",
        path="src/users.ts",
        old="export async function list(cursor?: string): Promise<User[]> { return [] }",
        new=("export async function list(cursor?: string, limit = 50): Promise<User[]> {\n"
             "  const page = await db.page({ cursor, limit: Math.min(limit, 200) })\n  return page.items\n}"),
        todos=("Add a capped limit to list in src/users.ts", "Type-check", "Run the test suite"),
        store_title="users list takes a capped limit",
        store_content="list(cursor, limit = 50) in src/users.ts caps limit at 200; tests green.",
        tags=("users", "pagination"), summary="`list` in src/users.ts now takes `limit` (default 50, capped at 200)",
        naming="kept the function called `list`: the module already says users",
        rule="Listing endpoints cap their page size at 200.",
    ),
    CodeTask(
        key="users-get",
        requests=(
            "We need a way to fetch a single user by id in {module}. Add it next to list.",
            "Add a lookup-by-id function to the users module ({module}).",
            "Please give {module} a function that returns one user by id, or null when there is none.",
        ),
        index_query="users module get by id", recall_query="users module lookup",
        path="src/users.ts",
        old="export async function list(cursor?: string): Promise<User[]> { return [] }",
        new=("export async function list(cursor?: string): Promise<User[]> { return [] }\n"
             "export async function get(id: string): Promise<User | null> {\n"
             "  const found = await db.find(id)\n  return found ?? null\n}"),
        todos=("Add get(id) to src/users.ts", "Type-check", "Run the test suite"),
        store_title="users get by id",
        store_content="src/users.ts exports get(id) returning User | null beside list; tests green.",
        tags=("users",), summary="src/users.ts exports `get(id)`, returning the user or `null`",
        naming="named it `get`, not `getUser`: callers write `users.get(id)`",
        rule="Module functions are named by verb only; the module name carries the noun.",
    ),
    CodeTask(
        key="session-refresh",
        requests=(
            "Sessions expire and people get logged out mid-task. Add a way to refresh one from its token in {module}.",
            "Add a refresh method to the Session class so an expired token can be renewed.",
            "Can you give Session a static method that renews a session from a refresh token?",
        ),
        index_query="Session class create token", recall_query="session token cache",
        path="src/session.ts",
        old=("export class Session {\n  static async create(user: { id: string }): Promise<Session> "
             "{ return new Session() }\n}"),
        new=("export class Session {\n  static async create(user: { id: string }): Promise<Session> "
             "{ return new Session() }\n\n  static async refresh(token: string): Promise<Session> {\n"
             "    const id = token.split(':')[0]\n    return Session.create({ id })\n  }\n}"),
        todos=("Add refresh to the Session class", "Type-check", "Run the test suite"),
        store_title="Session refresh",
        store_content="Session.refresh(token) renews via Session.create; reuses the 10-minute token cache. Tests green.",
        tags=("session", "token"), summary="`Session.refresh(token)` renews a session through `Session.create`",
        naming="called the method `refresh`, not `refreshSession`: it is already on `Session`",
        rule="Methods never repeat their class name: Session.refresh, not Session.refreshSession.",
    ),
    CodeTask(
        key="session-end",
        requests=(
            "Logging out does nothing right now. Give the Session class a way to end a session.",
            "Add a method on Session that invalidates it, for logout.",
            "I'd like Session to have an instance method that closes it and drops its token.",
        ),
        index_query="Session class logout", recall_query="session logout token",
        path="src/session.ts",
        old=("export class Session {\n  static async create(user: { id: string }): Promise<Session> "
             "{ return new Session() }\n}"),
        new=("export class Session {\n  token: string | null = null\n\n  static async create(user: { id: string }): "
             "Promise<Session> { return new Session() }\n\n  async end(): Promise<void> {\n"
             "    this.token = null\n  }\n}"),
        todos=("Add end() to the Session class", "Type-check", "Run the test suite"),
        store_title="Session end for logout",
        store_content="Session.end() clears the token; logout calls it. Tests green.",
        tags=("session", "logout"), summary="`Session` has an `end()` method that clears its token",
        naming="named it `end`, not `endSession`: `session.end()` reads fine",
        rule="Methods never repeat their class name.",
    ),
    CodeTask(
        key="api-bad-json",
        requests=(
            "A request with a broken body crashes the handler in {module}. Make it answer 400 instead.",
            "Malformed JSON bodies should get a clean 400 from our API handler, not a 500.",
            "Harden the request handler in {module} against bodies that aren't valid JSON.",
        ),
        index_query="api handle request error response", recall_query="api error shape handler",
        path="src/api.ts",
        old=("export function handle(req: Request): Response {\n"
             "  return new Response(JSON.stringify({ ok: true }))\n}"),
        new=("export async function handle(req: Request): Promise<Response> {\n  try {\n    await req.json()\n"
             "  } catch {\n    const body = { error: { code: 'bad_json', message: 'body is not JSON' } }\n"
             "    return new Response(JSON.stringify(body), { status: 400 })\n  }\n"
             "  return new Response(JSON.stringify({ ok: true }))\n}"),
        todos=("Answer 400 for bad JSON in src/api.ts", "Type-check", "Run the test suite"),
        store_title="api answers 400 on bad JSON",
        store_content="handle() in src/api.ts returns 400 {error: {code: 'bad_json', message}} for unparsable bodies.",
        tags=("api", "errors"), summary="`handle` in src/api.ts answers 400 with `{error: {code, message}}` for bad JSON",
        naming="kept `handle` as the name",
        rule="API handlers answer bad input with 400 and the {error: {code, message}} shape.",
    ),
    CodeTask(
        key="invoice-half-even",
        requests=(
            "Our invoice sums drift by a cent now and then. Make {module} round half to even.",
            "Finance says our totals should use banker's rounding. Fix the invoice total.",
            "Switch the invoice total calculation to round-half-even.",
        ),
        index_query="billing invoice total rounding", recall_query="billing invoice rounding",
        path="src/billing/invoice.ts",
        old=("export function total(lines: { cents: number }[]): number {\n"
             "  return lines.reduce((a, l) => a + l.cents, 0)\n}"),
        new=("function halfEven(value: number): number {\n  const floor = Math.floor(value)\n"
             "  if (value - floor !== 0.5) return Math.round(value)\n  return floor % 2 === 0 ? floor : floor + 1\n}\n\n"
             "export function total(lines: { cents: number }[]): number {\n"
             "  return halfEven(lines.reduce((a, l) => a + l.cents, 0))\n}"),
        todos=("Round half-even in src/billing/invoice.ts", "Type-check", "Run the billing tests"),
        store_title="invoice totals round half-even",
        store_content="total() in src/billing/invoice.ts rounds half-even via halfEven(); test/billing.test.ts green.",
        tags=("billing", "rounding"), summary="`total` in src/billing/invoice.ts rounds half to even",
        naming="the helper is `halfEven`, the exported function stays `total`",
        rule="Money is rounded half-even, in one helper.",
    ),
    CodeTask(
        key="carts-module",
        requests=(
            "Start a small carts module ({module}): look a cart up by its tag, and list all of them.",
            "I keep reimplementing cart lookups. Put a find-by-tag and a list function in {module}.",
            "Create {module} with helpers to find a cart from its tag and to list the carts.",
        ),
        index_query="cart tag voice persona", recall_query="cart tag voice",
        path="src/carts.ts", old=None,
        new=("export interface Cart { name: string; tag: string; voice: string; cadence: string }\n\n"
             "const registry: Record<string, Cart> = {}\n\n"
             "export function find(tag: string): Cart | undefined {\n"
             "  return Object.values(registry).find((c) => c.tag === tag)\n}\n\n"
             "export function list(): Cart[] {\n  return Object.values(registry)\n}\n"),
        todos=("Write src/carts.ts with find and list", "Type-check", "Run the test suite"),
        store_title="carts module",
        store_content="src/carts.ts: find(tag) and list() over the cart registry; tests green.",
        tags=("cart",), summary="new src/carts.ts with `find(tag)` and `list()`",
        naming="`find` and `list`, not `findCart`/`listCarts`: the module name says carts",
        rule="Helpers in a module are named by their verb only.",
    ),
    CodeTask(
        key="tts-stop",
        requests=(
            "There's no way to cut the TTS off mid-sentence. Add a stop call to {module}.",
            "Add a function to the TTS client that interrupts whatever is being spoken.",
            "Please add an interrupt to {module} so long announcements can be stopped.",
        ),
        index_query="tts client speak voice", recall_query="tts client speak interrupt",
        path="src/tts/client.ts",
        old="export async function speak(text: string, voice: string) {\n  await post('/speak', { text, voice })\n}",
        new=("export async function speak(text: string, voice: string) {\n  await post('/speak', { text, voice })\n}\n\n"
             "export async function stop() {\n  await post('/stop', {})\n}"),
        todos=("Add stop() to src/tts/client.ts", "Type-check", "Run the test suite"),
        store_title="tts client stop",
        store_content="src/tts/client.ts exports stop() posting /stop to the tts server on fuji; tests green.",
        tags=("tts",), summary="src/tts/client.ts exports `stop()`, which posts to `/stop`",
        naming="called it `stop`, not `stopSpeaking` or `ttsStop`",
        rule="TTS client calls are thin posts to the tts server, one verb each.",
        files={"src/tts/client.ts": ("async function post(path: string, body: object) {\n"
                                     "  await fetch('http://localhost:7070' + path, { method: 'POST', "
                                     "body: JSON.stringify(body) })\n}\n\n"
                                     "export async function speak(text: string, voice: string) {\n"
                                     "  await post('/speak', { text, voice })\n}\n")},
    ),
    CodeTask(
        key="mesh-hosts",
        requests=(
            "Write {module}: the mesh hosts with their SSH aliases, and a function that turns a name into an alias.",
            "I want the host table (fuji, sin, junkpile) in code, in {module}, with alias resolution.",
            "Add a module that knows our three hosts and resolves a host name to the SSH alias to use.",
        ),
        index_query="mesh hosts ssh alias wireguard", recall_query="mesh wireguard hosts",
        path="src/mesh/hosts.ts", old=None,
        new=("export const aliases: Record<string, string> = {\n  fuji: 'madcat@10.0.0.1',\n"
             "  sin: 'madcat@10.0.0.2',\n  junkpile: 'madcat@10.0.0.3',\n}\n\n"
             "export function resolve(name: string): string {\n  const alias = aliases[name]\n"
             "  if (!alias) throw new Error(`unknown host ${name}`)\n  return alias\n}\n"),
        todos=("Write src/mesh/hosts.ts", "Type-check", "Run the test suite"),
        store_title="mesh hosts module",
        store_content="src/mesh/hosts.ts maps fuji/sin/junkpile to madcat@10.0.0.x; resolve(name) throws on unknown hosts.",
        tags=("mesh",), summary="new src/mesh/hosts.ts with the alias table and `resolve(name)`",
        naming="`resolve`, not `resolveHost`: the module is already hosts",
        rule="Mesh addresses come from one table; code never hardcodes an IP elsewhere.",
    ),
    CodeTask(
        key="log-levels",
        requests=(
            "We console.log everywhere. Make a tiny {module} with warn and info helpers that prefix the level.",
            "Add a minimal logging module at {module}: info and warn, each prefixed with its level.",
            "Create {module} so we have leveled logging (info, warn) instead of bare console calls.",
        ),
        index_query="log console helper", recall_query="log levels logging",
        path="src/log.ts", old=None,
        new=("export function info(message: string): void {\n  console.log(`[info] ${message}`)\n}\n\n"
             "export function warn(message: string): void {\n  console.warn(`[warn] ${message}`)\n}\n"),
        todos=("Write src/log.ts with info and warn", "Type-check", "Run the test suite"),
        store_title="leveled logging module",
        store_content="src/log.ts: info() and warn() prefix the level; use them instead of console.*.",
        tags=("logging",), summary="new src/log.ts with `info` and `warn`",
        naming="`info` and `warn`, not `logInfo`/`logWarn`",
        rule="Log through src/log.ts, never bare console calls.",
    ),
    CodeTask(
        key="todos-module",
        requests=(
            "Let's track todos in the app too: a {module} with add, complete and list.",
            "Add a small in-memory todo store in {module} (add an item, complete it, list them).",
            "I need {module}: adding todos, marking one complete, listing all.",
        ),
        index_query="todos list status", recall_query="todos module status",
        path="src/todos.ts", old=None,
        new=("export interface Item { content: string; done: boolean }\n\nconst items: Item[] = []\n\n"
             "export function add(content: string): Item {\n  const item = { content, done: false }\n"
             "  items.push(item)\n  return item\n}\n\n"
             "export function complete(content: string): void {\n"
             "  for (const item of items) if (item.content === content) item.done = true\n}\n\n"
             "export function list(): Item[] {\n  return [...items]\n}\n"),
        todos=("Write src/todos.ts", "Type-check", "Run the test suite"),
        store_title="todos module",
        store_content="src/todos.ts: add, complete, list over an in-memory array; tests green.",
        tags=("todo",), summary="new src/todos.ts with `add`, `complete` and `list`",
        naming="`add`/`complete`/`list`, not `addTodo`/`completeTodo`/`listTodos`",
        rule="Module functions are named by verb only.",
    ),
    CodeTask(
        key="settings-read",
        requests=(
            "Wrap the settings file in {module}: one function to read a key, with a fallback value.",
            "Give us {module} with a reader for a single settings key and a default when it's missing.",
            "Please add a typed settings accessor in {module}: a key in, its value (or a fallback) out.",
        ),
        index_query="settings active_cart tts enabled", recall_query="settings key fallback",
        path="src/settings.ts", old=None,
        new=("const values: Record<string, unknown> = {}\n\n"
             "export function read<T>(key: string, fallback: T): T {\n"
             "  return key in values ? (values[key] as T) : fallback\n}\n"),
        todos=("Write src/settings.ts with read", "Type-check", "Run the test suite"),
        store_title="settings reader",
        store_content="src/settings.ts: read(key, fallback) returns the typed value or the fallback.",
        tags=("settings",), summary="new src/settings.ts with `read(key, fallback)`",
        naming="`read`, not `readSetting` or `getSettings`",
        rule="Settings are read through src/settings.ts with an explicit fallback.",
    ),
)


CODE_TASKS_BY_KEY = {t.key: t for t in CODE_TASKS}


def module_name(task: CodeTask) -> str:
    return task.path
