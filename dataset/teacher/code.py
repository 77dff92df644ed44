"""The teacher's code work: a code task (plan, pre-work checklist, the change, tests, the win or an
earned doctrine), an investigation of a hunch, and the edit that adds a function or method."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from dataset.teacher.agent import Teacher
from dataset.teacher.base import Step, parse_json

CODE_PATH = re.compile(r"\b(?:src|test|lib|docs)/[\w./-]+\.\w+")
VERBS = ["count", "search", "refresh", "expire", "validate", "paginate", "page", "subtotal", "discount",
         "retry", "format", "parse", "normalize", "cache"]

# Code the teacher adds, by symbol: (signature line, body lines). `{owner}` is never used in a good name.
SNIPPETS: dict[str, tuple[str, list[str]]] = {
    "count": ("export async function {name}(): Promise<number> {{", ["  return (await list()).length"]),
    "search": ("export async function {name}(query: string): Promise<User[]> {{",
               ["  const needle = query.toLowerCase()",
                "  return (await list()).filter((u) => u.name.toLowerCase().includes(needle))"]),
    "page": ("export async function {name}(cursor?: string, size = 50): Promise<{{ items: User[]; next?: string }}> {{",
             ["  const items = (await list(cursor)).slice(0, size)", "  return { items, next: items.at(-1)?.id }"]),
    "newest": ("export async function {name}(): Promise<User[]> {{",
               ["  return (await list()).sort((a, b) => b.id.localeCompare(a.id))"]),
    "refresh": ("  async {name}(): Promise<Session> {{",
                ["    this.expiresAt = Date.now() + 10 * 60_000", "    return this"]),
    "expire": ("  {name}(): void {{", ["    this.expiresAt = 0"]),
    "handleError": ("export function {name}(err: unknown): Response {{",
                    ["  const message = err instanceof Error ? err.message : String(err)",
                     "  return new Response(JSON.stringify({ error: { code: 'internal', message } }), { status: 500 })"]),
    "validate": ("export function {name}(body: unknown): {{ error: {{ code: string; message: string }} }} | null {{",
                 ["  if (typeof body === 'object' && body !== null) return null",
                  "  return { error: { code: 'bad_request', message: 'body must be an object' } }"]),
    "parseCursor": ("export function {name}(req: Request): string | undefined {{",
                    ["  return new URL(req.url).searchParams.get('cursor') ?? undefined"]),
    "roundHalfEven": ("export function {name}(cents: number): number {{",
                      ["  const floor = Math.floor(cents)",
                       "  if (cents - floor !== 0.5) return Math.round(cents)",
                       "  return floor % 2 === 0 ? floor : floor + 1"]),
    "subtotal": ("export function {name}(lines: {{ cents: number }}[]): number {{",
                 ["  return lines.reduce((sum, l) => sum + l.cents, 0)"]),
    "discount": ("export function {name}(cents: number, percent: number): number {{",
                 ["  return Math.round(cents * (1 - percent / 100))"]),
}


def _changes(agent: Teacher, index_paths: list[str]) -> list[tuple[str, str]]:
    """(path, symbol) for each code change the task asks for."""
    given = agent.hint("changes")
    if given:
        return [(str(c["path"]), str(c.get("symbol") or "update")) for c in given]
    symbol = agent.hint("symbol") or next((v for v in VERBS if re.search(rf"\b{v}", agent.request, re.I)), "update")
    paths = list(dict.fromkeys(CODE_PATH.findall(agent.request))) or index_paths[:1]
    return [(p, str(symbol)) for p in paths]


def _addition(symbol: str, owner: str, method: bool) -> str:
    sig, body = SNIPPETS.get(symbol, ("export function {name}(): never {{", ["  throw new Error('not implemented yet')"]))
    if method and not sig.startswith("  "):
        sig = "  " + sig.replace("export function ", "").replace("export async function ", "async ")
        body = ["  " + b for b in body]
    indent = "  " if method else ""
    return "\n".join([sig.format(name=symbol), *body, indent + "}"]) + "\n"


def edit_file(agent: Teacher, path: str, symbol: str) -> Step | None:
    """Read the file and add `symbol` to it: a method in its class if it has one, else an exported function."""
    read = agent.one("read", path=path)
    if read.failed:
        return None
    text = read.out if read.out.endswith("\n") else read.out + "\n"
    cls = re.search(r"^export class (\w+)[^\n{]*\{\n", text, re.M)
    owner = cls.group(1) if cls else PurePosixPath(path).stem.split(".")[0]
    name = agent.symbol_name(symbol, owner)
    addition = _addition(symbol, owner, bool(cls)).replace(f" {symbol}(", f" {name}(", 1)
    if cls:
        anchor = cls.group(0)
        return agent.one("edit", path=path, old=anchor, new=anchor + addition)
    lines = [ln for ln in text.splitlines(keepends=True) if ln.strip()]
    anchor = "".join(lines[-2:]) if len(lines) >= 2 else text
    if text.count(anchor) != 1:
        return agent.one("write", path=path, content=text + "\n" + addition)
    return agent.one("edit", path=path, old=anchor, new=anchor + "\n" + addition)


def code(agent: Teacher) -> None:
    """A code task: plan, pre-work checklist, the changes, tests, then record the win (or earned doctrine)."""
    topic = agent.topic()
    changes_hint = _changes(agent, [])
    titles = [f"Add {s} to {p}" for p, s in changes_hint] or ["Make the change"]
    doctrine = agent.hint("doctrine")
    record = "Record the doctrine in EEMS" if doctrine else "Record the win in EEMS"
    items = [f"Check the index and EEMS for {topic}", *titles, "Run the tests", record]
    plan = agent.upfront_plan(items)
    if plan:
        plan.start(0)
    paths = agent.prework(topic)
    if agent.stopped or agent.down:
        if plan:
            plan.drop()
        agent.finish("I have not touched any code yet.")
        return
    changes = _changes(agent, paths)
    if not changes:  # no path in the request and none from the index: look around the repo
        listing = agent.bash(agent.local_host, "ls -R src")
        words = agent.topic().split()
        hit = next((p for p in listing.out.split() if any(w in p for w in words)), None)
        changes = [(hit, str(agent.hint("symbol") or "update"))] if hit else []
    for i, (path, symbol) in enumerate(changes):
        if plan:
            plan.start(1 + min(i, len(titles) - 1))
        step = edit_file(agent, path, symbol)
        if step is None or step.failed:
            agent.finish(f"I could not change {path}.")
            return
        if doctrine and agent.canonize_from_hunch(doctrine):
            doctrine = None
        if i == 0 and plan is None:
            plan = agent.late_plan(items)
    agent.after_changes(topic)
    done = ", ".join(f"`{s}` in {p}" for p, s in changes)
    win = f"Added {done} ({topic})."
    title = f"{topic}: " + ", ".join(s for _, s in changes)
    recorded = agent.record_unverified(title, win, topic)
    if plan:
        plan.start(len(items) - 2)
    tests = agent.bash(agent.local_host, "npm test")
    verified = not tests.failed
    if agent.hint("verify") == "user":
        question = f"{win} Tests pass. Can you check it in the app?"
        if doctrine:
            question += f" If it looks right I'll record it as doctrine: \"{doctrine}\""
        verified = agent.ask(question)
    if plan:
        plan.start(len(items) - 1)
    if verified and not recorded:
        if doctrine:
            agent.store("doctrine", memory_title(doctrine), doctrine, [topic.split()[0], "doctrine"])
        else:
            agent.store("win", title, f"{win} Tests pass.", [topic.split()[0]])
    if plan:
        plan.finish()
    summary = f"{win} " + ("Tests pass (npm test)." if not tests.failed else "The tests did not pass.")
    entries = [e for e in (parse_json(agent.recalled.get(topic, "")) or []) if isinstance(e, dict)]
    if entries:
        summary = f"Memory on {topic}: {entries[0].get('content')} " + summary
    if verified:
        summary += " Recorded it in EEMS" + (" as doctrine." if doctrine else " as a win.")
    agent.finish(summary)


def memory_title(text: str) -> str:
    """A memory's title: the first sentence, at most 60 characters."""
    return text.split(".")[0][:60]


def investigate(agent: Teacher) -> None:
    """Look into a hunch: pre-work, read the files, run the check; canonize only with the user's yes."""
    topic = agent.topic()
    doctrine = str(agent.hint("doctrine") or "")
    if agent.canonize_from_hunch(doctrine):
        agent.finish(f"Noted as doctrine: {doctrine}")
        return
    paths = agent.prework(topic)
    found = agent.recalled.get(topic)
    for path in (CODE_PATH.findall(agent.request) or paths[:1]):
        agent.one("read", path=path)
    check = agent.bash(agent.local_host, str(agent.hint("check") or "npm test"))
    evidence = "the check passes" if not check.failed else "the check fails"
    memory = " EEMS has a note that agrees." if found else ""
    if agent.ask(f"I looked into it: {evidence}.{memory} It supports your hunch. "
                 f"Shall I record this as doctrine: \"{doctrine}\"?"):
        agent.store("doctrine", memory_title(doctrine), doctrine, [topic.split()[0], "doctrine"])
        agent.finish("Recorded as doctrine.")
    else:
        agent.finish("Left it unrecorded.")


