"""Agent behaviour: todo plans walked item by item, the pre-work checklist, the pilot interlock."""

from __future__ import annotations

import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, TodoPlan, call, join, pick
from dataset.generators.flows import code_summary, code_work
from dataset.generators.tasks import CODE_TASKS

CATEGORY = "agent"
SIN = ("sin", "madcat@sin", "madcat@10.0.0.2")


def _world(rng: random.Random, extra: dict | None = None) -> dict:
    return {**(extra or {}), "active_cart": pick(rng, CARTS), "tts_enabled": rng.random() < 0.7}


def planned_code(rng: random.Random) -> Draft:
    task = pick(rng, CODE_TASKS)
    s = Play(rng, pick(rng, task.requests).format(module=task.path), world=_world(rng, task.world()))
    s.read_settings(content=s.line("ack"))
    outcome = code_work(s, task, speak_result=rng.random() < 0.3)
    s.say(code_summary(s, task, outcome))
    return s.transcript(CATEGORY, "planned-code-task",
                        ("agent.todo_for_multistep", "agent.todo_status_discipline", "agent.prework_checklist_order"))


# (requests, host, destructive command, check afterwards, what is at stake)
DESTRUCTIVE = (
    (("The inference server on sin stopped answering. Give vLLM a restart.",
      "Completions from sin hang forever. Please restart the vllm unit.",
      "Can you cycle the model server on the GB10 box? It's unresponsive."),
     "sin", "sudo systemctl restart vllm", "systemctl status vllm", "Restarting vLLM drops every in-flight request on sin"),
    (("Bounce the CI runner on junkpile, it's stuck.", "CI jobs are queued and nothing picks them up. Restart ci-runner.",
      "The runner on the x86 box looks frozen; give it a kick."),
     "junkpile", "sudo systemctl restart ci-runner", "systemctl status ci-runner",
     "Restarting ci-runner kills any job running on junkpile right now"),
    (("Stop eems-sync on sin for now.", "Pause the memory sync job on the GPU host while I migrate.",
      "Halt eems-sync over on sin until tomorrow."),
     "sin", "sudo systemctl stop eems-sync", "systemctl status eems-sync",
     "Stopping eems-sync pauses memory replication for every session"),
    (("tts on fuji keeps stuttering; kick the service.", "The speech service on this Mac is garbled. Restart it via brew.",
      "Announcements crackle. Cycle the local tts service."),
     "fuji", "brew services restart tts", "brew services list", "Restarting tts cuts off anything being spoken"),
    (("Reboot junkpile, it's been up for months.", "junkpile needs a fresh boot after the kernel update.",
      "Power-cycle the CI box (a clean reboot is fine)."),
     "junkpile", "sudo reboot", "uptime", "Rebooting junkpile takes the CI runner down for a few minutes"),
)
CONFIRMS = ("yes, go ahead", "Do it.", "confirmed, proceed", "ok, restart it", "yep, go for it", "approved")
DECLINES = ("No, leave it for now.", "Hold on, don't touch it yet.", "Wait, not now. People are using it.")


def _on(rng: random.Random, host: str, command: str):
    if host == "fuji":
        return call("bash", command=command)
    alias = pick(rng, SIN) if host == "sin" else pick(rng, ("junkpile", "madcat@junkpile"))
    return call("bash", command=f"ssh {alias} '{command}'") if rng.random() < 0.75 else call("bash", command=command, host=alias)


def interlock(rng: random.Random) -> Draft:
    requests, host, command, check, stake = pick(rng, DESTRUCTIVE)
    s = Play(rng, pick(rng, requests), world=_world(rng))
    s.read_settings()
    s.say(join(f"{stake}.", s.line("ask")))
    s.user(pick(rng, CONFIRMS))
    s.one(_on(rng, host, command), content=pick(rng, ("Confirmed. Executing.", "Going ahead.", "")))
    out = s.one(_on(rng, host, check) if command != "sudo reboot" else _on(rng, host, "uptime"))
    s.say(join(s.line("report"), f"`{command}` ran on {host}. Check: {out.strip() or 'ssh answers again'}.",
               s.line("close") if rng.random() < 0.5 else ""))
    return s.transcript(CATEGORY, "pilot-interlock", ("agent.pilot_interlock",))


def interlock_declined(rng: random.Random) -> Draft:
    requests, host, command, _check, stake = pick(rng, DESTRUCTIVE)
    s = Play(rng, pick(rng, requests), world=_world(rng))
    s.read_settings()
    s.say(join(f"{stake}.", s.line("ask")))
    s.user(pick(rng, DECLINES))
    s.say(pick(rng, (f"Understood, {host} stays as it is. Tell me when it's a good moment?",
                     "Standing down; nothing was restarted. Want me to look at logs instead?",
                     "Okay, leaving it alone. Should I check back later?")))
    return s.transcript(CATEGORY, "pilot-declined", ())


def planned_interlock(rng: random.Random) -> Draft:
    """Check, ask, restart, verify: three steps, so a plan first; the destructive one waits for a yes."""
    requests, host, command, check, stake = pick(rng, DESTRUCTIVE[:4])
    s = Play(rng, pick(rng, requests), world=_world(rng))
    s.read_settings()
    plan = TodoPlan(s, [f"Check the service state on {host}", f"Run `{command}` once confirmed", "Verify it came back"])
    state = plan.start(0, _on(rng, host, check), content="Three steps; planning them.")[0]
    plan.finish()
    s.say(join(f"Current state: {state.strip()}.", f"{stake}.", s.line("ask")))
    s.user(pick(rng, CONFIRMS))
    plan.start(1, _on(rng, host, command), content="Confirmed.")
    out = plan.start(2, _on(rng, host, check))[0]
    plan.finish()
    s.say(join(s.line("report"), f"{out.strip()} after `{command}` on {host}.", s.line("close") if rng.random() < 0.5 else ""))
    return s.transcript(CATEGORY, "planned-interlock",
                        ("agent.pilot_interlock", "agent.todo_for_multistep", "agent.todo_status_discipline"))


OPS_PLANS = (
    (("Morning checks please: the vLLM service on sin, the CI runner on junkpile, eems and tts here.",
      "Run the usual rounds: model server, CI runner, and my local services."),
     [("Check vLLM on sin", "sin", "systemctl status vllm"), ("Check ci-runner on junkpile", "junkpile", "systemctl status ci-runner"),
      ("Check eems and tts on fuji", "fuji", "brew services list")]),
    (("Before the demo: confirm the adapter is served, the GPU has room, and the speech server is up.",
      "Demo in ten. Is madcat loaded, is there GPU headroom, and can we talk through the speakers?"),
     [("Confirm madcat is listed by vLLM", "sin", "curl -s http://localhost:8000/v1/models"),
      ("Check GPU memory on sin", "sin", "nvidia-smi"), ("Check the tts service on fuji", "fuji", "launchctl list")]),
    (("Inventory time: architecture of junkpile, its GPU, and whether its runner is up.",
      "Tell me everything about junkpile: arch, GPU, CI runner state."),
     [("Read junkpile's architecture", "junkpile", "uname -m"), ("Read junkpile's GPU", "junkpile", "nvidia-smi"),
      ("Check ci-runner on junkpile", "junkpile", "systemctl status ci-runner")]),
    (("Sanity-check sin end to end: service, config, served models.",
      "Walk sin for me: is vllm up, what does its yaml say, what models are served?"),
     [("Check vLLM on sin", "sin", "systemctl status vllm"),
      ("Read the vLLM config on sin", "sin", "cat /etc/vllm/qwen3-coder-next.yaml"),
      ("List served models on sin", "sin", "curl -s http://localhost:8000/v1/models")]),
)


def ops_plan(rng: random.Random) -> Draft:
    requests, steps = pick(rng, OPS_PLANS)
    s = Play(rng, pick(rng, requests), world=_world(rng))
    s.read_settings()
    plan = TodoPlan(s, [title for title, _, _ in steps])
    outputs = []
    for i, (_title, host, command) in enumerate(steps):
        outputs.append(plan.start(i, _on(rng, host, command), content="Plan first, then one check at a time." if i == 0 else "")[0])
    plan.finish()
    lines = [f"- {title}: {' / '.join(out.splitlines())[:100]}" for (title, _, _), out in zip(steps, outputs, strict=True)]
    s.say(s.line("report") + "\n" + "\n".join(lines))
    return s.transcript(CATEGORY, "ops-checklist", ("agent.todo_for_multistep", "agent.todo_status_discipline"))


RECIPES = (
    Recipe("planned-code-task", CATEGORY,
           ("agent.todo_for_multistep", "agent.todo_status_discipline", "agent.prework_checklist_order"), planned_code),
    Recipe("pilot-interlock", CATEGORY, ("agent.pilot_interlock",), interlock),
    Recipe("ops-checklist", CATEGORY, ("agent.todo_for_multistep", "agent.todo_status_discipline"), ops_plan),
    Recipe("planned-interlock", CATEGORY, ("agent.pilot_interlock", "agent.todo_for_multistep"), planned_interlock),
    Recipe("pilot-declined", CATEGORY, (), interlock_declined),
)
