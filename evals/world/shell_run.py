"""The simulated shell: a parsed `bash` command (evals/world/shell.py) answered from the world's state.
Nothing here runs a process or opens a socket."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evals.world.changes import command_change
from evals.world.shell import (
    GPU_ONLY,
    LINUX_ONLY,
    MAC_ONLY,
    REMOTE_COPY,
    SimpleCommand,
    host_of_target,
    parse_command,
    parse_ssh,
    remote_copy_targets,
)

if TYPE_CHECKING:
    from evals.world.state import World


@dataclass
class ShellResult:
    output: str
    exit_code: int


def _platform_ok(prog: str, info: dict) -> bool:
    if prog in MAC_ONLY and info["platform"] != "macos":
        return False
    if prog in LINUX_ONLY and info["platform"] != "linux":
        return False
    if prog in GPU_ONLY and not info.get("gpu"):
        return False
    return True


def run_command(world: World, command: str, host: str | None = None) -> ShellResult:
    """Answer a command line the way the real shell on that host would (simulated, never executed)."""
    host = host or world.data["local_host"]
    if host not in world.hosts:
        resolved = next((name for name, info in world.hosts.items() if host in (info.get("aliases") or [])), None)
        if resolved is None:
            return ShellResult(f"bash: unknown host '{host}' (mesh hosts: {', '.join(world.hosts)})", 255)
        host = resolved
    if host != world.data["local_host"] and not world.is_reachable(host):
        return ShellResult(f"ssh: connect to host {world.hosts[host]['ip']} port 22: Operation timed out", 255)
    world.shell_log.append({"host": host, "command": command})
    outputs: list[str] = []
    code = 0
    for simple in _top_level(command):
        result = _run_simple(world, simple, host)
        change = command_change(simple, host, world.data["local_host"]) if result.exit_code == 0 else None
        if change:
            world.record_change(*change)
        if result.output:
            outputs.append(result.output)
        code = result.exit_code
        if code != 0 and "&&" in command:
            break
    return ShellResult("\n".join(outputs), code)


def _top_level(command: str) -> list[SimpleCommand]:
    """Simple commands of a line without descending into ssh (the simulator follows ssh itself)."""
    return [c for c in parse_command(command) if c.via_ssh is None]


def _run_simple(world: World, cmd: SimpleCommand, host: str) -> ShellResult:
    words = cmd.words
    prog = cmd.program
    info = world.hosts[host]
    if not _platform_ok(prog, info):
        return ShellResult(f"bash: {prog}: command not found", 127)
    if prog == "ssh":
        return _ssh(world, words)
    if prog in REMOTE_COPY:
        for target in remote_copy_targets(words):
            reach = _reach(world, target)
            if reach.exit_code:
                return reach
        return ShellResult("", 0)
    if prog == "ping":
        dest = next((w for w in reversed(words[1:]) if not w.startswith("-") and not w.isdigit()), "")
        name = host_of_target(dest, world.hosts)
        if name and not world.is_reachable(name):
            return ShellResult(f"PING {dest}: 3 packets transmitted, 0 packets received, 100.0% packet loss", 2)
        if name is None:
            return ShellResult(f"ping: cannot resolve {dest}: Unknown host", 68)
        return ShellResult(f"PING {dest} ({world.hosts[name]['ip']}): 3 packets transmitted, 3 received, 0.0% packet loss", 0)
    if prog in {"wg", "wg-quick"}:
        return _wg(world, words)
    if prog == "uname":
        plat = {"macos": "Darwin", "linux": "Linux"}[info["platform"]]
        if "-m" in words:
            return ShellResult(info["arch"], 0)
        if "-a" in words:
            return ShellResult(f"{plat} {host} {info['arch']}", 0)
        return ShellResult(plat, 0)
    if prog == "hostname":
        return ShellResult(host, 0)
    if prog == "nvidia-smi":
        return ShellResult(f"GPU 0: {info['gpu']} | vLLM 12GiB in use", 0)
    if prog in {"systemctl", "launchctl"} or (prog == "brew" and words[1:2] == ["services"]):
        return _service(world, host, words)
    if prog in {"apt", "apt-get", "brew", "dpkg"}:
        return ShellResult(f"{prog}: done (simulated)", 0)
    if prog == "cat" and len(words) > 1:
        files = world.files if host == world.data["local_host"] else (info.get("files") or {})
        path = words[-1]
        if path in files:
            return ShellResult(files[path].rstrip("\n"), 0)
        return ShellResult(f"cat: {path}: No such file or directory", 1)
    if prog == "ls":
        files = world.files if host == world.data["local_host"] else (info.get("files") or {})
        return ShellResult("\n".join(sorted(files)), 0)
    if prog == "curl":
        url = next((w for w in words[1:] if "://" in w), "") or next(
            (w for w in words[1:] if not w.startswith("-") and ("/" in w or ":" in w)), "")
        target = re.sub(r"^\w+://", "", url).split("/")[0].split(":")[0]
        name = "sin" if target in {"localhost", "127.0.0.1"} and host == "sin" else host_of_target(target, world.hosts)
        if name and not world.is_reachable(name):
            return ShellResult(f"curl: (28) Failed to connect to {target}: Operation timed out", 28)
        if name == "sin" and "/v1/models" in url:
            return ShellResult('{"data": [{"id": "qwen3-coder-next"}, {"id": "madcat", "parent": "qwen3-coder-next"}]}', 0)
        return ShellResult("", 0)
    if prog in {"echo", "printf"}:
        return ShellResult(" ".join(words[1:]), 0)
    if prog in {"pwd"}:
        return ShellResult("/Users/madcat/src/madcat-app" if info["platform"] == "macos" else "/home/madcat", 0)
    if prog == "git":
        return _git(words)
    if prog in {"npm", "pnpm", "npx", "yarn", "vitest", "tsc"}:
        if any(w in {"test", "vitest"} for w in words) or prog == "vitest":
            return ShellResult("Test Files  4 passed (4)\n     Tests  23 passed (23)", 0)
        return ShellResult(f"{prog}: done", 0)
    if prog in {"rm", "mv", "cp", "mkdir", "touch", "sed", "chmod"}:
        if prog == "rm":
            for path in [w for w in words[1:] if not w.startswith("-")]:
                world.files.pop(path, None)
        return ShellResult("", 0)
    if prog in {"which", "command"}:
        found = [w for w in words[1:] if _platform_ok(w, info)]
        return ShellResult("\n".join(f"/usr/bin/{w}" for w in found), 0 if found else 1)
    return ShellResult("", 0)


def _reach(world: World, target: str) -> ShellResult:
    """Whether an ssh/scp target answers: the host must exist, be reachable, and accept the user."""
    name = host_of_target(target, world.hosts)
    host_part = target.split("@", 1)[-1]
    if name is None or (host_part not in {name, world.hosts[name]["ip"]}):
        return ShellResult(f"ssh: Could not resolve hostname {host_part}: nodename nor servname provided, or not known", 255)
    if not world.is_reachable(name):
        return ShellResult(f"ssh: connect to host {world.hosts[name]['ip']} port 22: Operation timed out", 255)
    user = target.split("@", 1)[0] if "@" in target else "madcat"
    if user != "madcat":
        return ShellResult(f"{user}@{host_part}: Permission denied (publickey).", 255)
    return ShellResult("", 0)


def _ssh(world: World, words: list[str]) -> ShellResult:
    ssh = parse_ssh(words)
    if ssh is None:
        return ShellResult("usage: ssh [options] destination [command]", 255)
    reach = _reach(world, ssh.target)
    if reach.exit_code:
        return reach
    name = host_of_target(ssh.target, world.hosts)
    assert name is not None
    if not ssh.remote_command:
        return ShellResult(f"Connected to {name}. (interactive sessions are not simulated)", 0)
    return run_command(world, ssh.remote_command, host=name)


def _wg(world: World, words: list[str]) -> ShellResult:
    wg = world.data["wireguard"]
    if words[0] == "wg-quick":
        if len(words) > 1 and words[1] == "up":
            if not wg.get("up", True):
                wg["up"] = True
                world.data["unreachable"] = []  # the mesh was down only because wg0 was
            return ShellResult(f"[#] ip link add {wg['interface']} type wireguard", 0)
        return ShellResult("", 0)
    if not wg.get("up", True):
        return ShellResult(f"Unable to access interface: No such device ({wg['interface']})", 1)
    lines = [f"interface: {wg['interface']}", "  listening port: 51820"]
    for name, ip in wg["peers"].items():
        if name == world.data["local_host"]:
            continue
        handshake = "3 hours, 12 minutes ago" if not world.is_reachable(name) else "41 seconds ago"
        lines += [f"peer: {name}", f"  allowed ips: {ip}/32", f"  latest handshake: {handshake}"]
    return ShellResult("\n".join(lines), 0)


def _service(world: World, host: str, words: list[str]) -> ShellResult:
    services = world.hosts[host].setdefault("services", {})
    args = [w for w in words[1:] if not w.startswith("-")]
    if words[0] == "brew":
        args = args[1:]
    if not args:
        return ShellResult("\n".join(f"{k}: {v}" for k, v in services.items()), 0)
    verb, names = args[0], [a.removesuffix(".service") for a in args[1:]]
    if verb in {"status", "list", "print"}:
        lines = [f"{n}: {services.get(n, 'not found')}" for n in names] or [f"{k}: {v}" for k, v in services.items()]
        return ShellResult("\n".join(lines), 0 if all(n in services for n in names) else 4)
    for n in names:
        if n not in services:
            return ShellResult(f"Failed to {verb} {n}.service: Unit {n}.service not found.", 5)
        services[n] = "stopped" if verb in {"stop", "unload", "bootout", "disable"} else "running"
    return ShellResult("", 0)


def _git(words: list[str]) -> ShellResult:
    sub = words[1] if len(words) > 1 else ""
    if sub == "status":
        return ShellResult("On branch main\nnothing to commit, working tree clean", 0)
    if sub == "log":
        return ShellResult("a1b2c3d fix: invoice rounding\n9f8e7d6 feat: session cache", 0)
    if sub == "push":
        return ShellResult("To origin\n   a1b2c3d..e4f5a6b  main -> main", 0)
    return ShellResult("", 0)
