"""A shell lexer for graders and the simulated shell: words, operators, redirections and the command
substitutions a line carries, in one linear pass (no regex over the whole line, no backtracking).

Quoting follows POSIX: single quotes are literal, double quotes keep `$(...)` live, a backslash escapes
the next character. An unquoted newline separates commands like `;`. A heredoc's body is kept as the
text it feeds (a shell or ssh reading it runs it). Unbalanced quotes end the word at the end of the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

OPERATORS = ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")", "{", "}")
REDIRECTS = ("&>>", "&>", ">>", ">&", ">|", "<<<", "<<-", "<<", "<&", "<>", ">", "<")
# `{` and `}` are operators only as whole words (`{ a; b; }`); inside a word they are text.
_BRACES = {"{", "}"}
_PLAIN = re.compile(r"[^\s'\"\\$`#;&|()<>{}]+")  # a run of characters that are plain text wherever they stand
_SPACES = re.compile(r"[ \t\r]+")


@dataclass
class Token:
    kind: str  # "word" | "op" | "redir"
    text: str
    target: str = ""  # a redirection's file (or fd after `>&`)
    heredoc: str = ""  # the body a `<<` redirection feeds


@dataclass
class Lexed:
    tokens: list[Token] = field(default_factory=list)
    substitutions: list[str] = field(default_factory=list)  # bodies of $(...) and `...` outside single quotes


def _matching_paren(text: str, start: int) -> int:
    """The index of the `)` closing the `$(` whose body starts at `start` (quotes respected), or len(text)."""
    depth, i, n = 1, start, len(text)
    quote = ""
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


@lru_cache(maxsize=512)
def lex(text: str) -> Lexed:
    """Tokens and substitutions of a line (cached: graders read the same commands many times; never mutate)."""
    out = Lexed()
    n, i = len(text), 0
    word: list[str] = []
    in_word = False
    pending_heredocs: list[Token] = []

    def end_word() -> None:
        nonlocal in_word
        if in_word:
            out.tokens.append(Token("word", "".join(word)))
        word.clear()
        in_word = False

    while i < n:
        plain = _PLAIN.match(text, i)
        if plain:
            word.append(plain.group(0))
            in_word, i = True, plain.end()
            continue
        ch = text[i]
        if ch == "'":
            close = text.find("'", i + 1)
            close = n if close < 0 else close
            word.append(text[i + 1:close])
            in_word, i = True, close + 1
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                    word.append(text[i + 1])
                    i += 2
                    continue
                if text.startswith("$(", i):
                    close = _matching_paren(text, i + 2)
                    out.substitutions.append(text[i + 2:close])
                elif text[i] == "`":
                    close = text.find("`", i + 1)
                    close = n if close < 0 else close
                    out.substitutions.append(text[i + 1:close])
                else:
                    close = i
                word.append(text[i:close + 1])
                i = close + 1
            in_word, i = True, i + 1
            continue
        if ch == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                word.append(text[i + 1])
                in_word = True
            i += 2
            continue
        if text.startswith("$(", i):
            close = _matching_paren(text, i + 2)
            out.substitutions.append(text[i + 2:close])
            word.append(text[i:close + 1])
            in_word, i = True, close + 1
            continue
        if ch == "`":
            close = text.find("`", i + 1)
            close = n if close < 0 else close
            out.substitutions.append(text[i + 1:close])
            word.append(text[i:close + 1])
            in_word, i = True, close + 1
            continue
        if ch == "#" and not in_word:
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if ch == "\n":
            end_word()
            out.tokens.append(Token("op", ";"))
            i += 1
            for doc in pending_heredocs:
                i = _read_heredoc(text, i, doc)
            pending_heredocs.clear()
            continue
        if ch in " \t\r":
            end_word()
            i = _SPACES.match(text, i).end()
            continue
        redirect = _redirect_at(text, i, word if in_word else None) if ch in "<>&" else None
        if redirect:
            op, length, fd_digits = redirect
            if fd_digits:
                word.clear()
                in_word = False
            end_word()
            i += length
            target, i = _next_word(text, i)
            token = Token("redir", op, target=target)
            out.tokens.append(token)
            if op.startswith("<<") and op != "<<<":
                pending_heredocs.append(token)
            continue
        op = next((o for o in OPERATORS if text.startswith(o, i)), None) if ch in "&|;(){}" else None
        if op and (op not in _BRACES or (not in_word and (i + 1 >= n or text[i + 1] in " \t\n;"))):
            end_word()
            out.tokens.append(Token("op", op))
            i += len(op)
            continue
        word.append(ch)
        in_word = True
        i += 1
    end_word()
    return out


def _redirect_at(text: str, i: int, word: list[str] | None) -> tuple[str, int, bool] | None:
    """A redirection operator at i: (operator, its length, whether the word so far was its fd number)."""
    op = next((r for r in REDIRECTS if text.startswith(r, i)), None)
    if op is None:
        return None
    return op, len(op), word is not None and "".join(word).isdigit()


def _next_word(text: str, i: int) -> tuple[str, int]:
    """The (unquoted) word after a redirection operator."""
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    start = i
    chars: list[str] = []
    while i < n and text[i] not in " \t\n;&|()<>":
        if text[i] in "'\"":
            close = text.find(text[i], i + 1)
            close = n if close < 0 else close
            chars.append(text[i + 1:close])
            i = close + 1
            continue
        chars.append(text[i])
        i += 1
    return ("".join(chars) if i > start else ""), i


def _read_heredoc(text: str, i: int, token: Token) -> int:
    """Consume a heredoc body starting at line index i; store it on the token; return where it ends."""
    delimiter = token.target.strip()
    lines: list[str] = []
    n = len(text)
    while i < n:
        newline = text.find("\n", i)
        end = n if newline < 0 else newline
        line = text[i:end]
        i = end + 1
        if line.strip() == delimiter:
            break
        lines.append(line)
    token.heredoc = "\n".join(lines)
    return min(i, n)
