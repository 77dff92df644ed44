"""Error patterns: MCP servers down, unreachable hosts, flaky tools: retry once, then say so plainly."""

from __future__ import annotations

import json
import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, TodoPlan, call, join, pick
from dataset.generators.flows import boot_recalls
from evals.episode import ToolCallSpec

CATEGORY = "errors"
RECONNECT = (
    "Reconnect it from the MCP menu (/mcp) and I'll pick this up again.",
    "Could you restart the {server} MCP server? Once it's back I'll carry on.",
    "Try /mcp -> {server} -> reconnect; I'll retry as soon as it answers.",
)


def _world(rng: random.Random, extra: dict | None = None) -> dict:
    return {**(extra or {}), "active_cart": pick(rng, CARTS), "tts_enabled": True}


def _outage(s: Play, server: str, tool: str, error: str, extra: str = "") -> str:
    return join(s.line("sorry"), f"The {server} MCP server is disconnected: {tool} failed twice with \"{error}\".",
                extra, pick(s.rng, RECONNECT).format(server=server))


def eems_down_at_boot(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, ("Morning! Load up and let's get going.", "Fresh session; get your context first.",
                                "Hi. Catch up on your memory, then we'll start.")),
                world=_world(rng), faults={"mcp_down": ["eems"]})
    s.read_settings()
    results = boot_recalls(s)
    first = s.ep.messages[-len(results) - 1]["tool_calls"][0]["function"]
    s.act(ToolCallSpec(first["name"], json.loads(first["arguments"])), content="EEMS errored. Retrying once.")
    s.say(_outage(s, "eems", "memory_recall", results[0],
                  "So I have no memory context this session (self-model, cart notes, your preferences); "
                  "nothing from memory is assumed."))
    return s.transcript(CATEGORY, "eems-down-at-boot",
                        ("errors.mcp_down_alerts_user", "errors.retry_once_then_surface", "errors.stops_repeating"))


INDEX_QUESTIONS = (
    ("Where do we compute invoice totals?", "invoice total"),
    ("Find the Session class for me.", "Session class"),
    ("Which file holds the users listing?", "users list"),
)


def index_down(rng: random.Random) -> Draft:
    question, query = pick(rng, INDEX_QUESTIONS)
    s = Play(rng, question, world=_world(rng), faults={"mcp_down": ["index"]})
    s.read_settings()
    spec = call("index_search", query=query, kind="code")
    error = s.one(spec, content="Searching the code index.")
    s.one(spec, content="Index error. One retry.")
    s.say(_outage(s, "index", "index_search", error, "I won't guess a path without it."))
    return s.transcript(CATEGORY, "index-down",
                        ("errors.mcp_down_alerts_user", "errors.retry_once_then_surface", "errors.stops_repeating"))


def tts_down(rng: random.Random) -> Draft:
    what = pick(rng, ("the staging smoke tests passed", "retro starts at four", "the adapter upload is through"))
    s = Play(rng, pick(rng, ("Broadcast it: {w}.", "Put '{w}' on the speakers.", "Voice this for the room: {w}.")).format(w=what),
                world=_world(rng), faults={"mcp_down": ["tts"]})
    settings = s.read_settings()
    spec = call("tts_speak", text=what.capitalize() + ".", voice=settings["tts.voice"])
    error = s.one(spec)
    s.one(spec, content="TTS error. Retrying once.")
    s.say(_outage(s, "tts", "tts_speak", error, f"Nothing reached the speakers; the message was: \"{what}\"."))
    return s.transcript(CATEGORY, "tts-down",
                        ("errors.mcp_down_alerts_user", "errors.retry_once_then_surface", "errors.stops_repeating"))


def legacy_down(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, ("What did we decide about invoice rounding back in the day?",
                                "Dig up the old notes on how the mesh was set up.")),
                world=_world(rng), faults={"mcp_down": ["legacy-memory"]})
    query = "invoice rounding billing" if "invoice" in s.ep.messages[-1]["content"] else "mesh wireguard setup"
    s.read_settings()
    s.one(call("index_search", query=query, kind="docs"), content="Docs index first.")
    s.one(call("memory_recall", query=query), content="Then EEMS.")
    spec = call("legacy-memory_recall", query=query)
    error = s.one(spec, content="Nothing native. Trying the legacy store.")
    s.one(spec, content="Legacy store errored; one retry.")
    s.say(_outage(s, "legacy-memory", "legacy-memory_recall", error,
                  "The native store has nothing on it either, so I have no notes to give you."))
    return s.transcript(CATEGORY, "legacy-down",
                        ("errors.mcp_down_alerts_user", "errors.retry_once_then_surface", "errors.stops_repeating"))


UNREACHABLE_TASKS = (
    ("How much GPU memory is vLLM using?", "sin", "nvidia-smi", "Read GPU memory on sin"),
    ("Show me the last vLLM config change on sin.", "sin", "cat /etc/vllm/qwen3-coder-next.yaml", "Read the vLLM config on sin"),
    ("Is ci-runner still chugging along?", "junkpile", "systemctl status ci-runner", "Check ci-runner on junkpile"),
    ("What GPU does the CI box report?", "junkpile", "nvidia-smi", "Read the GPU on junkpile"),
)


def _handshake(wg_output: str, host: str) -> str:
    """The `latest handshake` of one peer in `wg show` output."""
    lines = wg_output.splitlines()
    start = lines.index(f"peer: {host}") if f"peer: {host}" in lines else len(lines)
    for line in lines[start + 1:]:
        if line.startswith("peer:"):
            break
        if "latest handshake" in line:
            return line.split(": ", 1)[1]
    return "unknown"


def host_unreachable(rng: random.Random) -> Draft:
    request, host, command, first_item = pick(rng, UNREACHABLE_TASKS)
    s = Play(rng, request, world=_world(rng), faults={"host_unreachable": [host]})
    s.read_settings()
    alias = pick(rng, ("sin", "madcat@sin")) if host == "sin" else pick(rng, ("junkpile", "madcat@junkpile"))
    ip = s.world.hosts[host]["ip"]
    spec = call("bash", command=f"ssh {alias} '{command}'")
    plan = TodoPlan(s, [first_item, f"Check the mesh path to {host} if needed", "Report back"])
    plan.start(0, spec, content="Planning: reach the host, fall back to a mesh check, report.")
    wg_check = call("bash", command=pick(rng, (f"wg show && ping -c 3 {ip}", f"wg show wg0; ping -c 2 {ip}")))
    # the first item is not done (its ssh failed): it stays in progress beside the mesh check
    check = plan.start(1, wg_check, keep=True, content=f"{host} timed out. Checking WireGuard before anything else.")[0]
    handshake = _handshake(check, host)
    retry = s.one(spec, content="Handshake is stale. One retry of the original command.")
    plan.pause(done=(1,))
    s.say(join(s.line("sorry"), f"{host} is unreachable: ssh timed out twice (\"{retry.splitlines()[0]}\").",
               f"WireGuard's last handshake with {host} was {handshake}, and {ip} drops every ping.",
               f"It looks like {host} is down or off the mesh; the plan is paused, nothing else was tried against it.",
               pick(rng, (f"Can you check {host}'s console or power, then `sudo wg-quick up wg0` there?",
                          f"If you can reach {host} physically, bring wg0 up (`wg-quick up wg0`) and I'll retry.")),
               ))
    return s.transcript(CATEGORY, "host-unreachable",
                        ("errors.mesh_unreachable_checks_wireguard", "errors.retry_once_then_surface", "errors.stops_repeating"))


FLAKY = (
    ("Run the tests.", "bash", {"command": "npm test"}),
    ("Run the type checker.", "bash", {"command": "npx tsc --noEmit"}),
    ("Look up where the Session class lives.", "index_search", {"query": "Session class", "kind": "code"}),
    ("Open src/api.ts for me.", "read", {"path": "src/api.ts"}),
    ("What does the nova cart sound like?", "cart_get", {"name": "nova"}),
)
TOOL_ERRORS = ("connection reset by peer", "timeout after 30s", "broken pipe", "resource temporarily unavailable")


def flaky(rng: random.Random, *, fails: int | None = None) -> Draft:
    request, tool, args = pick(rng, FLAKY)
    fails = pick(rng, (1, 1, 2)) if fails is None else fails
    error = pick(rng, TOOL_ERRORS)
    s = Play(rng, request, world=_world(rng), faults={"tool_fails": {tool: fails}, "tool_error": error})
    s.read_settings()
    spec = ToolCallSpec(tool, dict(args))
    first = s.one(spec)
    second = s.one(spec, content=pick(rng, ("That failed; retrying once.", f"{tool} errored ({error}). One retry.")))
    if second.startswith("Error"):
        s.say(join(s.line("sorry"), f"{tool} failed twice: \"{first}\".",
                   "I'm not retrying a third time; the tool itself looks unhealthy.",
                   pick(rng, ("Can you check it on your side?", "Want me to try a different route?"))))
        recipe = "flaky-tool-surfaces"
    else:
        summary = second.strip().splitlines()
        s.say(join(s.line("report"), f"the first attempt failed ({error}); the retry answered:", " / ".join(summary)[:160]))
        recipe = "flaky-tool-retry"
    return s.transcript(CATEGORY, recipe, ("errors.retry_once_then_surface", "errors.stops_repeating"))


_HOST_UNREACHABLE = Recipe("host-unreachable", CATEGORY,
                           ("errors.mesh_unreachable_checks_wireguard", "errors.retry_once_then_surface"), host_unreachable)
# host-unreachable is listed twice: the WireGuard check is the pattern with the most steps to learn.
RECIPES = (
    Recipe("eems-down-at-boot", CATEGORY, ("errors.mcp_down_alerts_user", "errors.retry_once_then_surface"), eems_down_at_boot),
    _HOST_UNREACHABLE,
    Recipe("flaky-tool", CATEGORY, ("errors.retry_once_then_surface", "errors.stops_repeating"), flaky),
    Recipe("index-down", CATEGORY, ("errors.mcp_down_alerts_user",), index_down),
    _HOST_UNREACHABLE,
    Recipe("tts-down", CATEGORY, ("errors.mcp_down_alerts_user",), tts_down),
    Recipe("flaky-tool-surfaces", CATEGORY, ("errors.retry_once_then_surface", "errors.stops_repeating"),
           lambda rng: flaky(rng, fails=2)),
    Recipe("legacy-down", CATEGORY, ("errors.mcp_down_alerts_user",), legacy_down),
)
