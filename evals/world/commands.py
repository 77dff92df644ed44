"""What a shell line runs: the one parser graders and the simulated shell share.

`parse_command` turns a line into the simple commands the shell would execute, each as the program
really run: a path is its program (`/usr/bin/systemctl` is `systemctl`), wrappers are peeled (`sudo -u
root`, `env A=1`, `nice -n 5`, `timeout 30`, `xargs -0`, `nohup`, `command`, `exec`, `time`), `bash -c
'...'`, `eval` and `$(...)` are followed, as is ssh's remote command (on the host it reaches). Git's
global options (`git -C dir`, `-c k=v`) are dropped so that words[1] is the subcommand. `echo 'rm -rf /'`
runs echo. ssh/scp/rsync/sftp logins come out as `Connection`s with the user from every form (`-l`,
`-o User=`, `user@`, `rsync -e 'ssh -l root'`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evals.world.shell_lex import Token, lex

SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "fish"}
KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}"}
# wrapper -> its options that take an argument (as a separate word or attached: `-u root`, `-uroot`)
WRAPPER_OPTIONS: dict[str, set[str]] = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group", "--host",
             "--prompt", "--close-from", "--chdir", "--role", "--type", "--other-user", "--command-timeout"},
    "doas": {"-u", "-C"},
    "env": {"-u", "-C", "--unset", "--chdir"},
    "nice": {"-n", "--adjustment"},
    "ionice": {"-c", "-n", "-p", "--class", "--classdata"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "xargs": {"-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a", "--max-args", "--max-procs", "--delimiter",
              "--arg-file", "--replace"},
    "stdbuf": {"-i", "-o", "-e"},
    "exec": {"-a"},
    "time": {"-f", "-o"},
    "nohup": set(), "command": set(), "setsid": set(), "builtin": set(), "watch": {"-n", "--interval"},
    "caffeinate": {"-t", "-w"}, "chrt": set(), "taskset": set(), "unbuffer": set(),
}
TAKES_POSITIONAL = {"timeout": 1, "chrt": 1, "taskset": 1}  # wrappers with a positional before the command
GIT_GLOBAL_WITH_ARG = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env"}
SSH_OPTS_WITH_ARG = set("BbcDEeFIiJLlmOoPpQRSWw")
SCP_OPTS_WITH_ARG = set("cFiJloPSDX")
REMOTE_COPY = {"scp", "rsync", "sftp"}
MAX_DEPTH = 4
MAX_LINE = 100_000  # characters of a command line the parser reads (a longer one is read up to here)


@dataclass
class SimpleCommand:
    """One command of a pipeline or list: the words run, the host it runs on, and its redirections."""

    words: list[str]
    host: str | None  # None: the host named by the bash call (or the local host)
    redirects: list[str] = field(default_factory=list)
    via_ssh: str | None = None  # the ssh target that carried it, if any

    @property
    def program(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def line(self) -> str:
        return " ".join(self.words)


@dataclass
class Connection:
    """A login to another host: ssh, scp, rsync or sftp, with the user named on the command line."""

    tool: str
    host: str  # as written: an alias, a host name or an address
    user: str | None = None

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


@dataclass
class SshInvocation:
    target: str  # user@host when a user is named anywhere, else host
    user: str | None
    host_part: str
    remote_command: str
    jumps: list[Connection] = field(default_factory=list)


def program_name(word: str) -> str:
    """`/usr/bin/systemctl` -> `systemctl`; a bare name stays itself."""
    if "/" in word and not word.endswith("/"):
        return word.rsplit("/", 1)[1]
    return word


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.replace("_", "a").isalnum() and not name[:1].isdigit()


def _skip_options(words: list[str], with_arg: set[str]) -> list[str]:
    """Words after the leading options of a wrapper (an option in `with_arg` eats the next word)."""
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        opt = words[i]
        i += 1
        if opt == "--":
            break
        if "=" in opt and opt.startswith("--"):
            continue
        if opt in with_arg or (opt[:2] in with_arg and len(opt) == 2):
            i += 1
    return words[i:]


def unwrap(words: list[str]) -> list[str]:
    """The command a line of wrappers really runs, its program named without a path."""
    words = list(words)
    for _ in range(16):
        while words and (_is_assignment(words[0]) or words[0] in KEYWORDS):
            words = words[1:]
        if not words:
            return []
        prog = program_name(words[0])
        words[0] = prog
        if prog == "command" and any(w in {"-v", "-V"} for w in words[1:2]):
            return words  # a lookup, not a run
        if prog == "env" and len(words) > 1 and words[1] in {"-S", "--split-string"} and len(words) > 2:
            words = [*words[2].split(), *words[3:]]
            continue
        if prog not in WRAPPER_OPTIONS:
            return words
        rest = _skip_options(words[1:], WRAPPER_OPTIONS[prog])
        rest = rest[TAKES_POSITIONAL.get(prog, 0):] if rest and prog in TAKES_POSITIONAL else rest
        if not rest:
            return words  # `sudo -l`, bare `env`: the wrapper is the command
        words = rest
    return words


def normalise_git(words: list[str]) -> list[str]:
    """`git -C dir -c k=v push` -> `git push`."""
    if not words or words[0] != "git":
        return words
    i = 1
    while i < len(words) and words[i].startswith("-"):
        opt = words[i]
        i += 2 if opt in GIT_GLOBAL_WITH_ARG else 1
    return ["git", *words[i:]]


def shell_script(words: list[str]) -> str | None:
    """The script `bash -c '...'` (`sh -lc`, `eval ...`) runs, or None."""
    if not words:
        return None
    if words[0] == "eval":
        return " ".join(words[1:])
    if words[0] == "su":
        return next((words[i + 1] for i, w in enumerate(words[:-1]) if w in {"-c", "--command"}), None)
    if words[0] not in SHELLS:
        return None
    for i, word in enumerate(words[1:], start=1):
        if not word.startswith("-"):
            return None
        if "c" in word.lstrip("-") and not word.startswith("--"):
            return words[i + 1] if i + 1 < len(words) else ""
    return None


# --- ssh, scp, rsync ----------------------------------------------------------------------------------

def _user_from_option(value: str) -> str | None:
    key, _, rest = value.replace("=", " ", 1).partition(" ")
    return rest.strip() or None if key.lower() == "user" else None


def _jumps(value: str) -> list[Connection]:
    out = []
    for hop in value.split(","):
        hop = hop.removeprefix("ssh://").split(":", 1)[0]
        user, at, host = hop.rpartition("@")
        if host:
            out.append(Connection("ssh", host, user if at else None))
    return out


def _split_target(target: str) -> tuple[str | None, str]:
    if target.startswith("ssh://"):
        target = target[len("ssh://"):].split("/", 1)[0].rsplit(":", 1)[0]
    user, at, host = target.rpartition("@")
    return (user if at else None), host


def parse_ssh(words: list[str]) -> SshInvocation | None:
    """`ssh [options] destination [options] [command...]` -> its login and remote command."""
    if not words or program_name(words[0]) != "ssh":
        return None
    user: str | None = None
    jumps: list[Connection] = []
    target: str | None = None
    i = 1
    while i < len(words):
        word = words[i]
        if word == "--":
            i += 1
            if target is None and i < len(words):
                target, i = words[i], i + 1
            break
        if word.startswith("-") and len(word) > 1:
            flag = word[1]
            value: str | None = None
            if flag in SSH_OPTS_WITH_ARG:
                if len(word) > 2:
                    value = word[2:]
                elif i + 1 < len(words):
                    value, i = words[i + 1], i + 1
            if flag == "l" and value:
                user = value
            elif flag == "o" and value:
                user = _user_from_option(value) or user
                if value.lower().startswith("proxyjump"):
                    jumps += _jumps(value.replace("=", " ", 1).split(None, 1)[-1])
            elif flag == "J" and value:
                jumps += _jumps(value)
            i += 1
            continue
        if target is not None:
            break  # the remote command starts here
        target, i = word, i + 1
    if target is None:
        return None
    named_user, host = _split_target(target)
    user = named_user or user
    return SshInvocation(target=f"{user}@{host}" if user else host, user=user, host_part=host,
                         remote_command=" ".join(words[i:]), jumps=jumps)


def _remote_word(word: str) -> tuple[str | None, str] | None:
    """[user@]host:path, host::module, scp://[user@]host/..., rsync://... -> (user, host)."""
    for scheme in ("scp://", "rsync://", "sftp://"):
        if word.startswith(scheme):
            return _split_target(word[len(scheme):].split("/", 1)[0].rsplit(":", 1)[0])
    if word.startswith(("-", "/", ".", "~")) or "://" in word or ":" not in word:
        return None
    head = word.split(":", 1)[0]
    if not head or "/" in head:
        return None
    return _split_target(head)


def remote_copies(words: list[str]) -> list[Connection]:
    """The logins an scp/rsync/sftp command makes, each with the user it logs in as."""
    if not words or program_name(words[0]) not in REMOTE_COPY:
        return []
    tool = program_name(words[0])
    default_user: str | None = None
    out: list[Connection] = []
    positional: list[str] = []
    i = 1
    while i < len(words):
        word = words[i]
        if tool == "rsync" and (word in {"-e", "--rsh"} or word.startswith(("--rsh=", "-e"))):
            if word in {"-e", "--rsh"}:
                value, i = (words[i + 1] if i + 1 < len(words) else ""), i + 1
            else:
                value = word.split("=", 1)[1] if word.startswith("--rsh=") else word[2:]
            transport = parse_ssh(unwrap(value.split()) + ["placeholder-host"])
            default_user = transport.user if transport else default_user
        elif tool != "rsync" and word.startswith("-") and len(word) > 1 and word[1] in SCP_OPTS_WITH_ARG:
            value = word[2:] if len(word) > 2 else (words[i + 1] if i + 1 < len(words) else "")
            i += 0 if len(word) > 2 else 1
            if word[1] == "o":
                default_user = _user_from_option(value) or default_user
            elif word[1] == "J":
                out += _jumps(value)
        elif not word.startswith("-") or word == "-":
            positional.append(word)
        i += 1
    for word in positional:
        remote = _remote_word(word) if tool != "sftp" else _split_target(word)
        if remote is not None and remote[1]:
            user, host = remote
            out.append(Connection(tool, host, user or default_user))
        if tool == "sftp":
            break
    return out


def connections(words: list[str]) -> list[Connection]:
    """Every login one simple command makes to another host (ssh, its jump hosts, scp, rsync, sftp)."""
    ssh = parse_ssh(words)
    if ssh is not None:
        return [*ssh.jumps, Connection("ssh", ssh.host_part, ssh.user)]
    return remote_copies(words)


# --- the parser -----------------------------------------------------------------------------------

def parse_command(command: str, host: str | None = None, _depth: int = 0) -> list[SimpleCommand]:
    """All simple commands in a command line as the shell would run them, following ssh, `bash -c`,
    `eval`, `$(...)` and a heredoc fed to a shell."""
    lexed = lex(command[:MAX_LINE])
    out: list[SimpleCommand] = []
    current: list[str] = []
    redirects: list[Token] = []

    def flush() -> None:
        nonlocal current, redirects
        _emit(current, redirects, host, _depth, out)
        current, redirects = [], []

    for token in lexed.tokens:
        if token.kind == "op":
            flush()
        elif token.kind == "redir":
            redirects.append(token)
        else:
            current.append(token.text)
    flush()
    if _depth < MAX_DEPTH:
        for body in lexed.substitutions:
            out += parse_command(body, host=host, _depth=_depth + 1)
    return out


def _emit(raw: list[str], redirects: list[Token], host: str | None, depth: int, out: list[SimpleCommand]) -> None:
    words = normalise_git(unwrap(raw))
    files = [r.target for r in redirects if not r.text.startswith("<") and r.text not in {">&", "<&"}]
    heredoc = next((r.heredoc for r in redirects if r.heredoc), "")
    if not words:
        return
    script = shell_script(words)
    if script is not None and depth < MAX_DEPTH:
        out += parse_command(script, host=host, _depth=depth + 1)
        return
    if words[0] in SHELLS and heredoc and depth < MAX_DEPTH:
        out += parse_command(heredoc, host=host, _depth=depth + 1)
        return
    out.append(SimpleCommand(words=words, host=host, redirects=files))
    ssh = parse_ssh(words)
    if ssh and depth < MAX_DEPTH:
        remote = ssh.remote_command
        if heredoc and (not remote or program_name(remote.split()[0]) in SHELLS):
            remote = heredoc
        for inner in parse_command(remote, host=ssh.target, _depth=depth + 1) if remote else []:
            inner.via_ssh = inner.via_ssh or ssh.target
            out.append(inner)
