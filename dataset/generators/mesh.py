"""Mesh and infrastructure: the right SSH aliases, commands that fit each host's platform."""

from __future__ import annotations

import random

from dataset.generators.base import CARTS, Draft, Play, Recipe, call, join, pick

CATEGORY = "mesh"
SIN_ALIASES = ("sin", "madcat@sin", "madcat@10.0.0.2")
JUNKPILE_ALIASES = ("junkpile", "madcat@junkpile", "madcat@10.0.0.3")
TARGETS = ("mesh.uses_sin_ssh_alias", "mesh.platform_command_matches_host")


def _world(rng: random.Random, **extra: object) -> dict:
    return {"active_cart": pick(rng, CARTS), "tts_enabled": rng.random() < 0.7, **extra}


def _remote(rng: random.Random, host: str, command: str):
    """A command on another host: through ssh with a correct alias, or the bash tool's host argument."""
    aliases = SIN_ALIASES if host == "sin" else JUNKPILE_ALIASES
    if rng.random() < 0.25:
        return call("bash", command=command, host=pick(rng, aliases))
    needs_quotes = any(op in command for op in ("&&", ";", "|"))  # unquoted, they would run locally
    quoted = f"'{command}'" if needs_quotes or (" " in command and rng.random() < 0.6) else command
    return call("bash", command=f"ssh {pick(rng, aliases)} {quoted}")


GPU_REQUESTS = (
    "How much GPU memory is the model server eating right now?",
    "Is the GB10 busy? Check what's on it.",
    "Peek at GPU usage on the inference box.",
    "What's loaded on sin's GPU at the moment?",
    "nvidia-smi on the inference host, please.",
    "Is there GPU headroom on sin for a second adapter?",
)


def gpu_sin(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, GPU_REQUESTS), world=_world(rng))
    s.read_settings(content=pick(rng, ("Settings first.", "")))
    out = s.one(_remote(rng, "sin", "nvidia-smi"), content=pick(rng, ("vLLM runs on sin; asking nvidia-smi there.",
                                                                     "That's sin (GB10). Checking over ssh.", "")))
    s.say(join(s.line("report"), f"{out.strip()} on sin.", "That's the AWQ base plus the LoRA adapter.",
               s.line("close") if rng.random() < 0.5 else ""))
    return s.transcript(CATEGORY, "gpu-on-sin", TARGETS)


CONFIG_REQUESTS = (
    "Which model and options is the inference server started with?",
    "Show me the serving config for the coder model.",
    "Is LoRA switched on in the vLLM config? What rank?",
    "Read me the vLLM yaml on the GB10 box.",
    "What tool-call parser does our vLLM deployment use?",
    "Dump the model server's config so I can see the LoRA settings.",
)


def vllm_config(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, CONFIG_REQUESTS), world=_world(rng))
    s.read_settings()
    out = s.one(_remote(rng, "sin", "cat /etc/vllm/qwen3-coder-next.yaml"),
                content=pick(rng, ("The config lives on sin at /etc/vllm/qwen3-coder-next.yaml.", "")))
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    s.say(join(s.line("report"), f"model {fields.get('model')}, served as {fields.get('served-model-name')};",
               f"enable-lora {fields.get('enable-lora')}, max-lora-rank {fields.get('max-lora-rank')},",
               f"tool-call-parser {fields.get('tool-call-parser')}."))
    if rng.random() < 0.35:
        s.user(pick(rng, ("And is the madcat adapter actually registered?", "Is our adapter listed by the server?")))
        models = s.one(_remote(rng, "sin", "curl -s http://localhost:8000/v1/models"))
        listed = '"madcat"' in models
        s.say("Yes: /v1/models lists madcat with parent qwen3-coder-next." if listed else "No: madcat is not listed.")
    return s.transcript(CATEGORY, "vllm-config", TARGETS)


# (request, host, command, what the answer says)
SERVICE_CHECKS = (
    ("Is the model server process up?", "sin", "systemctl status vllm", "vllm"),
    ("Is eems-sync still running on the GPU box?", "sin", "systemctl status eems-sync", "eems-sync"),
    ("Did the CI runner survive the night?", "junkpile", "systemctl status ci-runner", "ci-runner"),
    ("Are the local eems and tts services alive on my Mac?", "fuji", "brew services list", "eems, tts"),
    ("Check the launchd services for madcat on this machine.", "fuji", "launchctl list", "eems, tts"),
)


def service_status(rng: random.Random) -> Draft:
    request, host, command, what = pick(rng, SERVICE_CHECKS)
    s = Play(rng, request, world=_world(rng))
    settings = s.read_settings(split=False)
    local = settings["local_host"]
    spec = call("bash", command=command) if host == local else _remote(rng, host, command)
    note = {"fuji": "This is fuji (macOS), so launchd/Homebrew, not systemd.",
            "sin": "sin runs systemd.", "junkpile": "junkpile runs systemd."}[host]
    out = s.one(spec, content=pick(rng, (note, "")))
    s.say(join(s.line("report"), f"on {host}: " + "; ".join(out.splitlines()) + ".", s.line("close") if rng.random() < 0.4 else ""))
    return s.transcript(CATEGORY, "service-status", ("mesh.platform_command_matches_host",))


# (request, host, tool)
INSTALLS = (
    ("Install ripgrep on the CI box.", "junkpile", "ripgrep"),
    ("I need htop on the GB10 machine.", "sin", "htop"),
    ("Get jq onto my workstation.", "fuji", "jq"),
    ("Put tmux on junkpile for me.", "junkpile", "tmux"),
    ("Install the nvtop monitor on the inference host.", "sin", "nvtop"),
    ("Add fd to this laptop.", "fuji", "fd"),
)


def install(rng: random.Random) -> Draft:
    request, host, pkg = pick(rng, INSTALLS)
    s = Play(rng, request, world=_world(rng))
    s.read_settings()
    if host == "fuji":
        spec = call("bash", command=f"brew install {pkg}")
        note = "fuji is macOS: Homebrew."
    else:
        spec = _remote(rng, host, f"sudo apt-get install -y {pkg}")
        note = f"{host} is Linux ({s.world.hosts[host]['arch']}): apt over ssh."
    s.one(spec, content=note)
    s.say(join(s.line("report"), f"{pkg} installed on {host}.", s.line("close") if rng.random() < 0.4 else ""))
    return s.transcript(CATEGORY, "install-package", ("mesh.platform_command_matches_host",))


ARCH_REQUESTS = (
    "Which of our machines can build an x86_64 CUDA image?",
    "I need to compile a CUDA kernel for x86. Where should that run?",
    "Find me the box with an x86 CPU and an NVIDIA card.",
    "Where can I test an amd64 build that needs CUDA?",
    "Our CUDA wheels are x86-only. Which host can run them?",
)


def arch_check(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, ARCH_REQUESTS), world=_world(rng))
    s.read_settings()
    out = s.one(_remote(rng, "junkpile", "uname -m && nvidia-smi"),
                content="sin is ARM64 (GB10) and fuji is Apple silicon, so it has to be junkpile. Verifying.")
    arch = out.splitlines()[0]
    s.say(join(s.line("report"), f"junkpile: {arch} with {s.world.hosts['junkpile']['gpu']}.",
               "Build there (ssh junkpile); sin and fuji are both ARM64."))
    return s.transcript(CATEGORY, "x86-cuda-host", ("mesh.platform_command_matches_host",))


SWEEP_REQUESTS = (
    "Quick architecture sweep across the mesh, please.",
    "What CPU arch is each host on?",
    "Roll call: every host, its architecture.",
    "Which of the three boxes are ARM and which are x86?",
    "List the instruction set of fuji, sin and junkpile.",
    "Map out CPU architectures on the WireGuard hosts.",
)


def sweep(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, SWEEP_REQUESTS), world=_world(rng))
    s.read_settings()
    sin, junk = pick(rng, SIN_ALIASES), pick(rng, JUNKPILE_ALIASES)
    out = s.one(call("bash", command=f"uname -m; ssh {sin} uname -m; ssh {junk} uname -m"),
                content="One command: local, then sin and junkpile over ssh.")
    archs = out.splitlines()
    s.say(join(s.line("report"), f"fuji {archs[0]}, sin {archs[1]}, junkpile {archs[2]}."))
    return s.transcript(CATEGORY, "arch-sweep", TARGETS)


def local_linux(rng: random.Random) -> Draft:
    """The session runs on junkpile: settings say so, and apt is the right tool locally."""
    pkg = pick(rng, ("htop", "ripgrep", "jq", "tmux"))
    s = Play(rng, pick(rng, (f"Install {pkg} here.", f"Can you add {pkg} on this machine?", f"{pkg} please, locally.")),
                world=_world(rng, local_host="junkpile"))
    settings = s.read_settings(split=False)
    s.one(call("bash", command="uname -sm"), content=f"Settings say local_host is {settings['local_host']}. Confirming the platform.")
    s.one(call("bash", command=f"sudo apt-get install -y {pkg}"), content="Linux x86_64: apt.")
    s.say(join(s.line("report"), f"{pkg} installed on junkpile with apt."))
    return s.transcript(CATEGORY, "local-host-from-settings", ("mesh.platform_command_matches_host",))


def copy_config(rng: random.Random) -> Draft:
    s = Play(rng, pick(rng, ("Pull the vLLM config down from sin so I can diff it locally.",
                                "Grab a local copy of the serving yaml from the GB10 box.")), world=_world(rng))
    s.read_settings()
    target = pick(rng, SIN_ALIASES)
    s.one(call("bash", command=f"scp {target}:/etc/vllm/qwen3-coder-next.yaml ./qwen3-coder-next.sin.yaml"),
          content=f"Copying over scp as {target}.")
    s.say(join(s.line("report"), "copied to ./qwen3-coder-next.sin.yaml on fuji."))
    return s.transcript(CATEGORY, "scp-from-sin", ("mesh.uses_sin_ssh_alias",))


RECIPES = (
    Recipe("gpu-on-sin", CATEGORY, TARGETS, gpu_sin),
    Recipe("service-status", CATEGORY, ("mesh.platform_command_matches_host",), service_status),
    Recipe("install-package", CATEGORY, ("mesh.platform_command_matches_host",), install),
    Recipe("vllm-config", CATEGORY, TARGETS, vllm_config),
    Recipe("x86-cuda-host", CATEGORY, ("mesh.platform_command_matches_host",), arch_check),
    Recipe("arch-sweep", CATEGORY, TARGETS, sweep),
    Recipe("local-host-from-settings", CATEGORY, ("mesh.platform_command_matches_host",), local_linux),
    Recipe("scp-from-sin", CATEGORY, ("mesh.uses_sin_ssh_alias",), copy_config),
)
