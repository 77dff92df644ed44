"""The teacher's routines, one per task kind (`ROUTINES`): speak, switch_voice, code, investigate,
recall_answer, search, store, ops, introduce, chat. A routine is `routine(teacher)`, run after boot."""

from __future__ import annotations

import re
from collections.abc import Callable

from dataset.teacher.agent import Teacher
from dataset.teacher.base import UNREACHABLE, parse_json
from dataset.teacher.code import code, investigate, memory_title
from dataset.teacher.mesh import short
from evals.world.shell import destructive_reason, is_modifying, parse_command

QUOTED = re.compile(r"[\"'‘“]([^\"'’”]{3,})[\"'’”]")


def speak(agent: Teacher) -> None:
    """Speak what the user asked (after any ops and any voice switch), in the active cart's voice."""
    text = str(agent.hint("say") or (QUOTED.findall(agent.request) or [agent.request])[0])
    for op in _ops(agent):
        command, on = agent.command_for(op, agent.hint("host") or agent.local_host)
        agent.bash(on or agent.local_host, command)
    target = agent.hint("target_cart")
    if target and not agent.switch_voice(str(target)):
        agent.finish()
        return
    spoken = agent.speak(text)
    agent.finish(f"Said it in the {agent.cart.get('voice')} voice: \"{text}\"" if spoken else "")


def switch_voice(agent: Teacher) -> None:
    """Switch TTS to the target cart's voice (by its tag) and say so in the new voice."""
    target = str(agent.hint("target_cart") or "")
    if not agent.switch_voice(target):
        agent.finish()
        return
    spoken = agent.tts_on and agent.speak("Voice switched.")
    agent.finish(f"Switched the TTS voice to {target}'s." + ("" if spoken else " (TTS is off, so nothing was spoken.)"))


def introduce(agent: Teacher) -> None:
    """Say who it is, as the active cart (and out loud when asked and TTS is on)."""
    text = agent.intro()
    if agent.hint("speak"):
        agent.speak(text)
    agent.finish(text)


def chat(agent: Teacher) -> None:
    """A conversational turn after boot: greet in the cart's cadence, with what memory says."""
    topic = agent.hint("topic")
    found = agent.recall(str(topic)) if topic else ""
    prefs = agent.recalled.get("user preferences", "")
    note = ""
    data = parse_json(prefs)
    if isinstance(data, list) and data:
        note = f"Noted your preferences: {data[0].get('content')}"
    if found:
        entries = parse_json(found) or []
        note += f" On {topic}: " + "; ".join(str(e.get("content")) for e in entries[:2] if isinstance(e, dict))
    agent.finish(agent.intro(note.strip()))


def recall_answer(agent: Teacher) -> None:
    """Answer from memory: native store first, then the legacy store."""
    topic = agent.topic()
    found = agent.recall(topic)
    if not found:
        if agent.down:
            agent.finish(f"I can't look up {topic} right now.")
            return
        agent.finish(agent.no_memory_answer(topic))
        return
    entries = [e for e in (parse_json(found) or []) if isinstance(e, dict)]
    agent.finish(f"From memory ({entries[0].get('key')}): " + " ".join(str(e.get("content")) for e in entries[:2]))


def search(agent: Teacher) -> None:
    """Search an index and answer with what it found."""
    topic = agent.topic()
    kind = str(agent.hint("kind") or "code")
    if not agent.available("index_search"):
        agent.finish()
        return
    step = agent.one("index_search", query=topic, kind=kind)
    data = parse_json(step.out) if not step.failed else None
    if not data:
        agent.finish(f"I couldn't search the {kind} index for {topic}.")
        return
    hits = [f"{r['path']} ({r['snippet']})" for r in data.get("results", [])]
    agent.finish(f"{data.get('summary')}: " + "; ".join(hits) if hits else f"Nothing in the {kind} index on {topic}.")


def store(agent: Teacher) -> None:
    """Store a memory the user dictated."""
    kind = str(agent.hint("kind") or "procedure")
    title = str(agent.hint("title") or memory_title(agent.request))
    content = str(agent.hint("content") or agent.request)
    if agent.store(kind, title, content, [w for w in agent.topic().split()[:2]]):
        agent.finish(f"Stored the {kind} \"{title}\" in EEMS.")
    else:
        agent.finish(f"The {kind} is not in EEMS yet.")


def _ops(agent: Teacher) -> list[str]:
    op = agent.hint("op")
    return [op] if isinstance(op, str) else list(op or [])


PLATFORM_OPS = {"install", "status", "restart", "logs"}


def _op_host(op_list: list[str], agent: Teacher) -> str | None:
    """The mesh host a copy (HOST:DEST) or curl (URL) op reaches, when no host hint is given."""
    hosts = agent.settings.get("mesh.hosts") or []
    for op in op_list:
        verb, _, rest = op.partition(" ")
        words = rest.split()
        if verb == "copy" and len(words) == 2 and ":" in words[1]:
            return words[1].split(":", 1)[0]
        if verb == "curl" and words:
            name = re.sub(r"^\w+://", "", words[0]).split("/")[0].split(":")[0]
            if name in hosts:
                return name
    return None


def preview(op: str) -> tuple[bool, str | None]:
    """What an op will do, before running it: (modifies files?, why it is destructive or None)."""
    verb, _, rest = op.partition(" ")
    guess = {"restart": f"systemctl restart {rest}", "run": rest}.get(verb, verb)
    cmds = parse_command(guess)
    return any(is_modifying(c) for c in cmds), next((r for c in cmds if (r := destructive_reason(c))), None)


def ops(agent: Teacher) -> None:
    """Ops on a host: platform-fitting commands, the pilot interlock for destructive ones, a plan for 3+ steps.

    A host's platform is checked (uname) before platform-specific commands; a destructive op waits
    for the user's yes and is verified afterwards; modifying ops get the pre-work checklist first
    and, once verified, a stored procedure.
    """
    op_list = _ops(agent)
    host = str(agent.hint("host") or _op_host(op_list, agent) or agent.local_host)
    work: list[tuple[str, str, str]] = []  # (todo, kind, op)
    if any(op.split()[0] in PLATFORM_OPS for op in op_list):
        work.append((f"Check {host}'s platform", "platform", ""))
    modifying = False
    for op in op_list:
        is_mod, why = preview(op)
        modifying = modifying or is_mod
        work.append((f"{op} on {host}", "op", op))
        if why and op.startswith("restart"):
            work.append((f"Verify {op.split()[1]} on {host}", "verify", op))
    if modifying and any(kind == "verify" for _, kind, _ in work):
        work.append(("Record the procedure in EEMS", "store", ""))
    plan = agent.upfront_plan([w[0] for w in work]) if len(work) >= 3 else None
    if modifying:
        agent.prework(agent.topic(), kind="docs")
    outputs: list[str] = []
    verified_after_change = changed = False
    for i, (_, kind, op) in enumerate(work):
        if agent.stopped:
            break
        if plan:
            plan.start(i)
        if kind == "platform":
            agent.platform(host)
            continue
        if kind == "store":
            if changed and verified_after_change:
                agent.store("procedure", memory_title(f"{'; '.join(op_list)} on {host}"),
                            f"{'; '.join(op_list)} on {host}; verified afterwards.", [host])
            continue
        command, on = agent.command_for(op if kind == "op" else f"status {op.split()[1]}", host)
        if agent.stopped:
            break
        where = on or agent.local_host
        why = preview(op)[1] if kind == "op" else None
        if why and not agent.go_ahead(command, where, why):
            if plan:
                plan.drop()
            agent.finish("Understood — leaving it as it is; nothing was changed.")
            return
        step = agent.bash(where, command)
        if step.failed and UNREACHABLE.search(step.out):
            agent.unreachable(host, step)
            if agent.stopped:
                break
        elif step.failed:
            break
        changed = changed or (kind == "op" and preview(op)[0])
        if kind == "verify" and changed:
            verified_after_change = not step.failed
        outputs.append(f"`{command}` on {where}: {short(step.out)}.")
    if plan and not agent.stopped:
        plan.finish()
    agent.finish(" ".join(outputs))


ROUTINES: dict[str, Callable[[Teacher], None]] = {
    "speak": speak, "switch_voice": switch_voice, "code": code, "investigate": investigate,
    "recall_answer": recall_answer, "search": search, "store": store, "ops": ops, "introduce": introduce,
    "chat": chat,
}


