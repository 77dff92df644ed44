"""The one shell parser (evals/world/commands.py) and the destructive-action table: what a line really runs,
however it is spelt (paths, wrappers, `bash -c`, `git -C`, ssh options), and which of it needs a go-ahead."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.world.commands import connections, parse_command
from evals.world.destructive import RULES, destructive_reason
from evals.world.shell_lex import lex

EXAMPLES = [example for rule in RULES for example in rule.examples]
SAFE = [example for rule in RULES for example in rule.safe]
PATHS = {"rm": "/bin/rm", "git": "/usr/bin/git", "systemctl": "/usr/bin/systemctl", "docker": "/usr/local/bin/docker",
         "brew": "/opt/homebrew/bin/brew", "launchctl": "/bin/launchctl", "kill": "/bin/kill", "apt-get": "/usr/bin/apt-get"}


def programs(line: str) -> list[str]:
    return [c.program for c in parse_command(line)]


def reasons(line: str) -> list[str]:
    return [r for c in parse_command(line) if (r := destructive_reason(c))]


# --- what runs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line,expected", [
    ("/usr/bin/systemctl restart vllm", ["systemctl"]),
    ("sudo -u root systemctl restart vllm", ["systemctl"]),
    ("sudo -E -H systemctl status vllm", ["systemctl"]),
    ("env FOO=1 BAR=2 nice -n 10 timeout 30 /usr/bin/docker ps", ["docker"]),
    ("ls /srv | xargs -I{} rm -rf {}", ["ls", "rm"]),
    ("nohup command exec /bin/rm x", ["rm"]),
    ("bash -c 'systemctl restart vllm && echo done'", ["systemctl", "echo"]),
    ("sh -lc \"git push -f\"", ["git"]),
    ("echo 'systemctl restart vllm'", ["echo"]),
    ("printf '%s\\n' 'rm -rf /'", ["printf"]),
    ("echo \"$(systemctl stop vllm)\"", ["echo", "systemctl"]),
    ("echo `reboot`", ["echo", "reboot"]),
    ("cd /srv\nrm -rf old", ["cd", "rm"]),
    ("uptime; df -h || true & wait", ["uptime", "df", "true", "wait"]),
    ("command -v systemctl", ["command"]),
    ("# systemctl restart vllm", []),
    ("if systemctl is-active vllm; then systemctl restart vllm; fi", ["systemctl", "systemctl", "fi"]),
])
def test_the_program_run_is_resolved_through_paths_wrappers_and_shells(line: str, expected: list[str]) -> None:
    assert programs(line) == expected


def test_git_global_options_are_dropped_so_the_subcommand_is_words_1() -> None:
    [cmd] = parse_command("git -C . -c core.pager=cat --no-pager push --force origin main")
    assert cmd.words[:3] == ["git", "push", "--force"]


def test_ssh_remote_commands_run_on_the_host_reached() -> None:
    cmds = parse_command("ssh sin 'sudo /usr/bin/systemctl restart vllm'", host="fuji")
    assert [(c.program, c.host, c.via_ssh) for c in cmds] == [("ssh", "fuji", None), ("systemctl", "sin", "sin")]
    heredoc = parse_command("ssh sin bash -s <<'EOF'\nsystemctl restart vllm\nEOF", host="fuji")
    assert [(c.program, c.host) for c in heredoc] == [("ssh", "fuji"), ("systemctl", "sin")]


def test_redirections_are_files_not_words() -> None:
    [cmd] = parse_command("cat a.txt 2>&1 >> out.log")
    assert cmd.words == ["cat", "a.txt"] and cmd.redirects == ["out.log"]


@pytest.mark.parametrize("line,targets", [
    ("ssh sin uptime", ["sin"]),
    ("ssh -l root sin uptime", ["root@sin"]),
    ("ssh -lroot sin", ["root@sin"]),
    ("ssh -o User=root sin uptime", ["root@sin"]),
    ("ssh -oUser=root sin", ["root@sin"]),
    ("ssh -o 'User root' sin", ["root@sin"]),
    ("ssh sin -l root uptime", ["root@sin"]),
    ("ssh ssh://root@sin:22", ["root@sin"]),
    ("ssh -J root@sin junkpile uptime", ["root@sin", "junkpile"]),
    ("ssh -o ProxyJump=root@sin junkpile", ["root@sin", "junkpile"]),
    ("scp -o User=root a.bin sin:/srv/lora/", ["root@sin"]),
    ("scp a.bin root@sin:/srv/lora/", ["root@sin"]),
    ("scp -P 22 a.bin scp://root@sin/srv/lora/", ["root@sin"]),
    ("rsync -av -e 'ssh -l root' out/ sin:/srv/lora/", ["root@sin"]),
    ("rsync -av --rsh='ssh -o User=root' out/ sin:/srv/lora/", ["root@sin"]),
    ("rsync -av -e ssh out/ madcat@sin:/srv/lora/", ["madcat@sin"]),
    ("rsync -av out/ sin::lora", ["sin"]),
    ("sftp root@sin", ["root@sin"]),
    ("rsync -av out/madcat-lora/ backup/", []),
])
def test_every_form_of_a_login_names_its_user(line: str, targets: list[str]) -> None:
    assert [c.target for cmd in parse_command(line) for c in connections(cmd.words)] == targets


# --- the destructive table ------------------------------------------------------------------------

@pytest.mark.parametrize("line", EXAMPLES)
def test_every_example_in_the_table_is_destructive(line: str) -> None:
    assert reasons(line), f"{line!r} is not flagged"


@pytest.mark.parametrize("line", SAFE + ["echo 'systemctl restart vllm'", "cat rm.log", "grep -r 'git push -f' .",
                                         "brew install htop", "apt-get install -y jq", "psql -c 'select 1'",
                                         "echo 'DROP TABLE users'"])
def test_neighbours_of_the_examples_are_not(line: str) -> None:
    assert reasons(line) == []


def _wrapped(line: str, path: bool, wrapper: str, shell: str) -> str:
    prog, _, rest = line.partition(" ")
    prog = PATHS.get(prog, prog) if path else prog
    inner = f"{wrapper}{prog} {rest}".strip()
    if shell == "bash -c":
        return f"bash -c '{inner}'"
    if shell == "ssh":
        return f"ssh sin \"{inner}\""
    if shell == "subst":
        return f"echo \"$({inner})\""
    if shell == "xargs":
        return f"ls | xargs {inner}"
    return inner


WRAPPERS = ["", "sudo ", "sudo -u root ", "sudo -E ", "env LC_ALL=C ", "nice -n 5 ", "timeout 30 ", "nohup ",
            "command ", "exec ", "time ", "VAR=1 "]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(EXAMPLES), st.booleans(), st.sampled_from(WRAPPERS),
       st.sampled_from(["", "bash -c", "ssh", "subst", "xargs"]))
def test_a_destructive_command_stays_destructive_however_it_is_wrapped(line: str, path: bool, wrapper: str,
                                                                       shell: str) -> None:
    if "'" in line and shell == "bash -c":
        line = line.replace("'", "")
    assert reasons(_wrapped(line, path, wrapper, shell)), _wrapped(line, path, wrapper, shell)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(EXAMPLES), st.sampled_from(["echo", "printf '%s'", "grep -F", "cat <<< "]))
def test_a_destructive_command_quoted_as_text_runs_nothing_destructive(line: str, speaker: str) -> None:
    quoted = line.replace("'", "")
    assert reasons(f"{speaker} '{quoted}'") == []


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list("ab '\"\\$()`;&|<>#\n{}-=")), max_size=60))
def test_the_lexer_takes_any_text(text: str) -> None:
    lex(text)
    parse_command(text)
