"""The teacher on the mesh: the command an op needs on a host's platform, and an unreachable host
checked through WireGuard before the one retry."""

from __future__ import annotations

from typing import Protocol

from dataset.teacher.base import Step
from evals.episode import ToolCallSpec, call


class Operator(Protocol):
    """What the mesh steps need of the teacher (agent.Teacher)."""

    stopped: bool
    notes: list[str]

    def act(self, *specs: ToolCallSpec, content: str = "") -> list[Step]: ...

    def ssh_alias(self, host: str) -> str: ...

    def gpu_host(self, host: str) -> str | None: ...

    def command_platform(self, host: str) -> str | None: ...


def short(text: str) -> str:
    """A tool result on one line, at most 160 characters."""
    text = " ".join(text.split())
    return (text[:160] + "…") if len(text) > 160 else (text or "ok")


def command_for(agent: Operator, op: str, host: str) -> tuple[str, str | None]:
    """(command, the host it runs on) for an op; host None: run locally.

    Ops: install PKG | status SVC | restart SVC | logs SVC | gpu | models | cat PATH |
    copy SRC HOST:DEST (rsync) | curl URL (from the local host) | run COMMAND.
    """
    verb, _, rest = op.partition(" ")
    rest = rest.strip()
    if verb == "copy":  # copy SRC HOST:DEST
        src, dest = rest.split()
        target, _, path = dest.partition(":")
        return f"rsync -av {src} {agent.ssh_alias(target)}:{path}", None
    if verb == "curl":
        return f"curl -s {rest}", None
    if verb == "run":
        return rest, host
    if verb == "cat":
        return f"cat {rest}", host
    if verb == "models":
        return "curl -s localhost:8000/v1/models", host
    if verb == "gpu":
        return "nvidia-smi", agent.gpu_host(host)
    platform = agent.command_platform(host)
    if platform is None:
        return "", host
    mac = platform == "macos"
    if verb == "install":
        return (f"brew install {rest}" if mac else f"sudo apt-get install -y {rest}"), host
    if verb == "status":
        return (f"launchctl list | grep {rest}" if mac else f"systemctl status {rest} --no-pager"), host
    if verb == "restart":
        return (f"brew services restart {rest}" if mac else f"sudo systemctl restart {rest}"), host
    if verb == "logs":
        return (f"log show --last 30m --predicate 'process == \"{rest}\"'" if mac
                else f"journalctl -u {rest} -n 50 --no-pager"), host
    raise ValueError(f"unknown op {op!r}")


def check_wireguard(agent: Operator, host: str, failed: Step) -> None:
    """`wg show` (bring wg0 up if it is missing), ping the peer's address, one retry; the notes say what was found."""
    wg = agent.act(call("bash", command="wg show"))[0]
    if "No such device" in wg.out or "Unable to access" in wg.out:
        agent.act(call("bash", command="sudo wg-quick up wg0"))
        again = agent.act(failed.spec)[0]  # the one retry, now over a tunnel that is up
        if not again.failed:
            agent.stopped = False
            agent.notes.append("WireGuard was down on this machine (no wg0); I brought it up with wg-quick and "
                               f"{host} answers again: {short(again.out)}")
        else:
            agent.notes.append(f"WireGuard was down here; after `wg-quick up wg0` {host} still times out "
                               f"({again.out.splitlines()[0]}). Check {host}'s console or power.")
        return
    peer = wg_peer(wg.out, host)
    ip, handshake = peer.get("allowed ips", "").split("/")[0], peer.get("latest handshake", "unknown")
    ping = agent.act(call("bash", command=f"ping -c 3 {ip}"))[0] if ip else None
    again = agent.act(failed.spec)[0]  # one retry, now that the tunnel was checked
    if not again.failed:
        agent.stopped = False
        agent.notes.append(f"{host} answers again: {short(again.out)}")
        return
    lost = "and it drops every ping" if ping is not None and ping.failed else "though it answers pings"
    agent.notes.append(
        f"{host} is unreachable: `{command_of(failed)}` timed out twice. WireGuard's last handshake with {host} "
        f"({ip}) was {handshake}, {lost}, so the tunnel or the box itself is down. Next: check {host}'s "
        f"console or power, then `sudo wg-quick up wg0` on it; I can try again or go through another host "
        "once it is back.")


def wg_peer(output: str, host: str) -> dict[str, str]:
    """The `wg show` fields of the host's peer."""
    peer: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("peer:"):
            current = line.split(":", 1)[1].strip()
        elif current == host and ":" in line:
            key, value = line.split(":", 1)
            peer[key.strip()] = value.strip()
    return peer


def command_of(step: Step) -> str:
    """The shell command a bash call ran."""
    return str(step.spec.arguments.get("command", step.spec.name)) if isinstance(step.spec.arguments, dict) else ""
