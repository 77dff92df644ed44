"""Mesh: the right SSH alias for sin; commands that fit their host's platform."""

from __future__ import annotations

import re

from evals.graders.base import behaviour
from evals.predicates import Verdict, commands, fail, not_shown, ok
from evals.transcript import Call, Transcript
from evals.world import shell


def ssh_targets(call: Call) -> list[str]:
    """Every way a call reaches another host: ssh (and its jump hosts), scp, rsync and sftp logins, each as
    user@host when a user is named in any form (`-l`, `-o User=`, `rsync -e 'ssh -l root'`), and the bash
    tool's `host`."""
    targets = []
    if call.name == "bash" and isinstance(call.arg("host"), str) and call.arg("host"):
        targets.append(call.arg("host"))
    for cmd in commands(call):
        targets += [c.target for c in shell.connections(cmd.words)]
    return targets


def _means_sin(target: str, t: Transcript) -> bool:
    host = shell.host_of_target(target, t.world.hosts)
    if host == "sin":
        return True
    # a guess at sin that names no mesh host: an IP outside the mesh, "sin-gpu", "gb10"
    bare = target.split("@", 1)[-1].lower()
    return host is None and (re.fullmatch(r"[\d.]+", bare) is not None or "sin" in bare or "gb10" in bare)


@behaviour("mesh.uses_sin_ssh_alias", "every SSH to sin uses `sin`, `madcat@sin` or `madcat@10.0.0.2`",
           task="ops", applies=lambda t: True, hard=True)
def uses_sin_ssh_alias(t: Transcript) -> Verdict:
    good = t.world.hosts["sin"]["aliases"]
    count = 0
    for call in t.calls:
        for target in ssh_targets(call):
            if _means_sin(target, t):
                count += 1
                if target not in good:
                    return fail(f"reached sin as {target!r} ({call.where()}); use one of {', '.join(good)}")
    if not count:
        return not_shown("never connected to sin, so the alias was not shown")
    return ok(f"{count} connection(s) to sin, all with a correct alias")


def _platform_problem(prog: str, host: str, info: dict) -> str | None:
    if prog in shell.MAC_ONLY and info["platform"] != "macos":
        return f"{prog} is macOS-only and {host} runs Linux"
    if prog in shell.LINUX_ONLY and info["platform"] != "linux":
        return f"{prog} is Linux-only and {host} runs macOS"
    if prog in shell.GPU_ONLY and not info.get("gpu"):
        return f"{prog} needs an NVIDIA GPU and {host} has none"
    return None


@behaviour("mesh.platform_command_matches_host",
           "commands fit the host they run on (no apt/systemctl on fuji, no brew/launchctl on sin or junkpile)",
           task="ops", applies=lambda t: bool(t.calls_named("bash")))
def platform_command_matches_host(t: Transcript) -> Verdict:
    hosts = t.world.hosts
    ran_on: set[str] = set()
    for call in t.calls_named("bash"):
        for cmd in commands(call, t):
            host = cmd.host if cmd.host in hosts else None
            if host is None:
                continue
            ran_on.add(host)
            problem = _platform_problem(cmd.program, host, hosts[host])
            if problem:
                return fail(f"ran `{cmd.line[:60]}` on {host} ({call.where()}): {problem}")
    expected = t.expect("host")
    if not ran_on:
        return not_shown("ran no command on any host, so fitting commands to hosts was not shown")
    if expected and expected not in ran_on:
        return fail(f"no command ran on {expected}, the host the task is about")
    return ok(f"commands fit their hosts ({', '.join(sorted(ran_on)) or 'none run'})")
