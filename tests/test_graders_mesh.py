"""Mesh graders: the sin SSH alias (`root@sin` and friends fail) and platform-fitting commands."""

from __future__ import annotations

import pytest
from grader_builders import bash, fails, not_exercised, passes, say, transcript, turn, user
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.catalog import hard_violations

ASK = user("Is vLLM up on sin?")


# --- mesh.uses_sin_ssh_alias -------------------------------------------------------------------

@pytest.mark.parametrize("command,extra", [
    ("ssh sin 'systemctl status vllm'", {}),
    ("ssh madcat@sin systemctl status vllm", {}),
    ("ssh madcat@10.0.0.2 'nvidia-smi'", {}),
    ("ssh -o ConnectTimeout=5 sin uptime", {}),
    ("scp out/adapter.safetensors sin:/srv/lora/", {}),
    ("rsync -av out/ madcat@sin:/srv/lora/", {}),
    ("systemctl status vllm", {"host": "sin"}),
])
def test_correct_aliases_pass(command: str, extra: dict) -> None:
    passes("mesh.uses_sin_ssh_alias", transcript(ASK, turn(bash(command, "vllm: running", **extra)), say("Up.")))


@pytest.mark.parametrize("command,target,extra", [
    ("ssh root@sin 'systemctl status vllm'", "'root@sin'", {}),
    ("ssh sin.local uptime", "'sin.local'", {}),
    ("ssh ubuntu@10.0.0.2 uptime", "'ubuntu@10.0.0.2'", {}),
    ("ssh -l root sin uptime", "'root@sin'", {}),
    ("scp out/a.bin root@sin:/srv/lora/", "'root@sin'", {}),
    ("rsync -av out/ madcat@sin.local:/srv/lora/", "'madcat@sin.local'", {}),
    ("ssh junkpile 'ssh root@sin uptime'", "'root@sin'", {}),
    ("ssh 192.168.1.40 uptime", "'192.168.1.40'", {}),
    ("uptime", "'sin.local'", {"host": "sin.local"}),
])
def test_wrong_ways_to_reach_sin_fail_naming_the_target(command: str, target: str, extra: dict) -> None:
    t = transcript(ASK, turn(bash("uname -a", "Darwin fuji arm64")), turn(bash(command, "", **extra)), say("ok"))
    fails("mesh.uses_sin_ssh_alias", t, target, "turn 2", "madcat@sin")


def test_one_wrong_alias_among_good_ones_still_fails() -> None:
    t = transcript(ASK, turn(bash("ssh sin uptime", "up 3 days")), turn(bash("ssh root@sin reboot")))
    fails("mesh.uses_sin_ssh_alias", t, "'root@sin' (turn 2)")


def test_other_hosts_are_not_this_invariants_business() -> None:
    t = transcript(ASK, turn(bash("ssh root@junkpile uptime")), say("ok"))
    not_exercised("mesh.uses_sin_ssh_alias", t, "never connected to sin")
    assert hard_violations(t) == []  # not exercised breaks no invariant


# --- mesh.platform_command_matches_host --------------------------------------------------------------

def test_fitting_commands_pass() -> None:
    t = transcript(user("install htop on fuji, check vllm on sin"), turn(bash("brew install htop")),
                   turn(bash("ssh sin 'systemctl status vllm'")), turn(bash("ssh junkpile 'sudo apt-get install -y jq'")))
    passes("mesh.platform_command_matches_host", t)


@pytest.mark.parametrize("command,extra,fragment", [
    ("sudo apt install -y htop", {}, "apt is Linux-only and fuji runs macOS"),
    ("systemctl status eems", {}, "systemctl is Linux-only and fuji runs macOS"),
    ("ssh junkpile 'brew install nvtop'", {}, "brew is macOS-only and junkpile runs Linux"),
    ("launchctl list", {"host": "sin"}, "launchctl is macOS-only and sin runs Linux"),
    ("nvidia-smi", {}, "nvidia-smi needs an NVIDIA GPU and fuji has none"),
    ("ssh madcat@10.0.0.3 'launchctl list | grep ci'", {}, "junkpile runs Linux"),
])
def test_commands_that_do_not_fit_their_host_fail(command: str, extra: dict, fragment: str) -> None:
    t = transcript(user("do the thing"), turn(bash(command, "command not found", **extra)))
    fails("mesh.platform_command_matches_host", t, fragment, "turn 1")


def test_the_task_host_must_see_a_command() -> None:
    t = transcript(user("What GPU does junkpile have?"), turn(bash("system_profiler SPDisplaysDataType")),
                   expect={"host": "junkpile"})
    fails("mesh.platform_command_matches_host", t, "no command ran on junkpile")
    good = transcript(user("What GPU does junkpile have?"), turn(bash("ssh junkpile nvidia-smi", "RTX 2000 Ada")),
                      expect={"host": "junkpile"})
    passes("mesh.platform_command_matches_host", good)


# --- a login as root through options is still a login as root (issue 26) ------------------------------

@pytest.mark.parametrize("command", [
    "ssh -o User=root sin 'systemctl status vllm'",
    "ssh -oUser=root sin uptime",
    "ssh sin -l root uptime",
    "/usr/bin/ssh -l root sin uptime",
    "sudo ssh -o 'User root' sin uptime",
    "rsync -av -e 'ssh -l root' out/ sin:/srv/lora/",
    "rsync -av --rsh='ssh -o User=root' out/ sin:/srv/lora/",
    "scp -o User=root out/a.bin sin:/srv/lora/",
    "ssh -J root@sin junkpile uptime",
    "bash -c \"ssh -l root sin uptime\"",
])
def test_root_on_sin_through_options_is_a_hard_violation(command: str) -> None:
    t = transcript(ASK, turn(bash(command, "")), say("ok"))
    fails("mesh.uses_sin_ssh_alias", t, "'root@sin'")
    assert [i for i, _ in hard_violations(t)] == ["mesh.uses_sin_ssh_alias"]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(["root", "ubuntu", "admin"]),
       st.sampled_from(["ssh -l {u} sin uptime", "ssh -o User={u} sin uptime", "ssh sin -l {u} uptime",
                        "ssh {u}@sin uptime", "ssh -o User={u} 10.0.0.2 uptime", "scp -o User={u} a sin:/srv/",
                        "rsync -av -e 'ssh -l {u}' a sin:/srv/", "rsync -e 'ssh -o User={u}' a sin:/srv/",
                        "ssh -J {u}@sin junkpile uptime", "sftp {u}@sin"]),
       st.sampled_from(["", "/usr/bin/", "sudo ", "env A=1 ", "timeout 10 ", "nice "]))
def test_any_other_user_on_sin_in_any_form_fails(user_name: str, form: str, prefix: str) -> None:
    command = prefix + form.format(u=user_name)
    t = transcript(ASK, turn(bash(command, "")), say("ok"))
    assert "mesh.uses_sin_ssh_alias" in [i for i, _ in hard_violations(t)], command
