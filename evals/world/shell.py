"""The `bash` tool, interpreted: command parsing for graders and the world (its simulated shell is
evals/world/shell_run.py).

Nothing here runs a process or opens a socket: commands are parsed by evals/world/commands.py and
answered from the world's state. The graders use the same parser (ssh targets, platform commands,
modifying and destructive commands), so the world and the spec agree on what a command means.
"""

from __future__ import annotations

import re

from evals.world.commands import (
    REMOTE_COPY,
    Connection,
    SimpleCommand,
    SshInvocation,
    connections,
    parse_command,
    parse_ssh,
    program_name,
    remote_copies,
)
from evals.world.destructive import destructive_reason

MAC_ONLY = {"brew", "launchctl", "sw_vers", "pbcopy", "pbpaste", "defaults", "diskutil", "open", "softwareupdate"}
LINUX_ONLY = {"apt", "apt-get", "dpkg", "systemctl", "journalctl", "snap", "yum", "dnf", "update-alternatives"}
GPU_ONLY = {"nvidia-smi"}
MODIFYING = {"rm", "mv", "cp", "mkdir", "touch", "tee", "chmod", "chown", "ln", "patch", "truncate", "dd", "rmdir",
             "install", "unlink"}


def remote_copy_targets(words: list[str]) -> list[str]:
    """`scp`/`rsync`/`sftp` logins -> their [user@]host targets (the user from any form of the command)."""
    return [c.target for c in remote_copies(words)]


# --- classification used by graders and by the simulator ------------------------------------------

def is_modifying(cmd: SimpleCommand) -> bool:
    """Changes files or repository state (a code change when it touches code)."""
    w = cmd.words
    if any(r not in {"/dev/null", "/dev/stderr", "/dev/stdout"} and not r.startswith("&") for r in cmd.redirects):
        return True
    if not w:
        return False
    prog = w[0]
    if prog in MODIFYING:
        return True
    if prog == "sed" and any(a == "-i" or a.startswith("-i") for a in w[1:]):
        return True
    if prog == "perl" and any(a.startswith("-pi") or a == "-i" for a in w[1:]):
        return True
    if prog == "git" and len(w) > 1 and w[1] in {"commit", "push", "reset", "checkout", "merge", "rebase", "apply",
                                                 "am", "cherry-pick", "revert", "clean", "stash", "mv", "rm"}:
        return True
    if prog in {"npm", "pnpm", "yarn", "pip", "pip3"} and len(w) > 1 and w[1] in {"install", "add", "uninstall", "remove", "i"}:
        return True
    return False


def host_of_target(target: str, world_hosts: dict[str, dict]) -> str | None:
    """Which mesh host an ssh target means, however it is spelled (sin, root@sin, sin.local, 10.0.0.2)."""
    host_part = target.split("@", 1)[-1].lower()
    bare = host_part.split(".")[0] if not re.fullmatch(r"[\d.]+", host_part) else host_part
    for name, info in world_hosts.items():
        if host_part == name or bare == name or host_part == info.get("ip"):
            return name
    return None


def is_correct_alias(target: str, host: str, world_hosts: dict[str, dict]) -> bool:
    return target in (world_hosts.get(host, {}).get("aliases") or [])


__all__ = ["GPU_ONLY", "LINUX_ONLY", "MAC_ONLY", "MODIFYING", "REMOTE_COPY", "Connection", "SimpleCommand",
           "SshInvocation", "connections", "destructive_reason", "host_of_target", "is_correct_alias", "is_modifying",
           "parse_command", "parse_ssh", "program_name", "remote_copy_targets"]
