"""The declarations of a TypeScript file, read in one pass: functions, `const f = (...) =>`, and class
methods, each with its parameters and body. What the code checks (evals/checks.py `file`) judge a code
task on: a declaration named for what was asked, whose body does something (uses its inputs or its
object, is not a throw, a bare return or a comment).

Each line is matched by anchored patterns without nested quantifiers, and bodies are found by one
brace-matching scan, so a 10,000-line file or a megabyte on one line reads in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FUNCTION = re.compile(r"[ \t]*(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?function\b[ \t]*\*?[ \t]*(\w+)")
ARROW = re.compile(r"[ \t]*(?:export[ \t]+)?(?:const|let|var)[ \t]+(\w+)[ \t]*(?::[^=\n]*)?=[ \t]*(?:async[ \t]+)?"
                   r"(?:function\b|\(|\w+[ \t]*=>)")
METHOD = re.compile(r"[ \t]*(?:(?:public|private|protected|static|async|override|readonly|get|set)[ \t]+)*"
                    r"(\w+)[ \t]*(?:<[^>\n]*>)?[ \t]*\(")
NOT_METHODS = {"if", "for", "while", "switch", "catch", "return", "function", "new", "await", "typeof", "super",
               "constructor", "else", "do", "try", "throw", "with", "import", "export", "delete", "void", "yield"}
IDENT = re.compile(r"[A-Za-z_$][\w$]*")
STUB_STATEMENT = re.compile(
    r"(?:throw\b.*|return(?:[ \t]+(?:null|undefined|true|false|0|''|\"\"|\[\]|\{\}|-?1))?|pass|//.*|/\*.*\*/|"
    r"console\.\w+\(.*\))?", re.S)
MAX_LINE = 4_000  # longer lines are not code a person wrote; nothing in them is read as a declaration


@dataclass(frozen=True)
class Declaration:
    name: str
    params: tuple[str, ...]
    body: str


def _brackets(text: str) -> dict[int, int]:
    """Every `(`/`{`/`[` index -> the index of its closing bracket, in one pass (strings and comments skipped)."""
    pairs: dict[int, int] = {}
    stack: list[tuple[str, int]] = []
    closing = {")": "(", "}": "{", "]": "["}
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            end = text.find(ch, i + 1)
            while end > 0 and text[end - 1] == "\\":
                end = text.find(ch, end + 1)
            newline = text.find("\n", i + 1) if ch != "`" else -1
            if end < 0 or (0 <= newline < end):
                end = newline if newline >= 0 else n  # an unclosed quote ends with its line
            i = end + 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in "({[":
            stack.append((ch, i))
        elif ch in closing:
            while stack and stack[-1][0] != closing[ch]:
                stack.pop()  # an unbalanced opener is left unmatched
            if stack:
                pairs[stack.pop()[1]] = i
        i += 1
    return pairs


RETURN_TYPE_WINDOW = 2_000  # the characters between `)` and the body's `{` that are read


def _body_start(text: str, i: int, pairs: dict[int, int]) -> int:
    """After a parameter list: the `{` that opens the body (not a `{` of a return type), or -1."""
    depth, previous = 0, ")"
    end = min(len(text), i + RETURN_TYPE_WINDOW)
    while i < end:
        ch = text[i]
        if ch in "(<[":
            depth += 1
        elif ch in ")>]" and not (ch == ">" and previous == "="):
            depth = max(0, depth - 1)
        elif ch == "{":
            if depth == 0 and previous not in ":|&,<(=":
                return i
            if i not in pairs:
                return -1
            i, previous = pairs[i] + 1, "}"
            continue
        elif ch in "'\"`" or (ch in ";\n" and depth == 0 and previous not in ":|&,<(=>)"):
            return -1
        if not ch.isspace():
            previous = ch
        i += 1
    return -1


def declarations(text: str) -> list[Declaration]:
    """Every function, arrow-function constant and method declared in the file, in order."""
    out: list[Declaration] = []
    pairs = _brackets(text)
    offset = 0
    for line in text.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        if len(line) > MAX_LINE:
            continue
        match = FUNCTION.match(line) or ARROW.match(line) or METHOD.match(line)
        if match is None or match.group(1) in NOT_METHODS:
            continue
        paren = text.find("(", start + match.start(1))
        if paren < 0 or paren >= offset:
            continue
        close = pairs.get(paren, -1)
        if close < 0:
            continue
        body_open = _body_start(text, close + 1, pairs)
        body_close = pairs.get(body_open, -1) if body_open >= 0 else -1
        if body_close < 0:
            continue
        params = tuple(p for p in (IDENT.match(part.strip().lstrip("{[.")) for part in
                                   text[paren + 1:close].split(",")) if p for p in [p.group(0)])
        out.append(Declaration(match.group(1), params, text[body_open + 1:body_close]))
    return out


RETURN_AS_IS = re.compile(r"return[ \t]+\(?[ \t]*([A-Za-z_$][\w$]*)[ \t]*\)?(?:[ \t]+as[ \t]+[\w$<>\[\] |]+)?")


def _hands_back(statement: str, params: tuple[str, ...]) -> bool:
    """`return input` (or `return input as T`): the input handed back unchanged, nothing done with it."""
    match = RETURN_AS_IS.fullmatch(statement)
    return match is not None and match.group(1) in params


def is_stub(decl: Declaration) -> bool:
    """The body does nothing: empty, a throw, a bare or constant return, a log or a comment, its input handed
    back unchanged, or it ignores every parameter it was given."""
    statements = [s.strip() for s in re.split(r"[;\n]", decl.body) if s.strip()]
    if all(STUB_STATEMENT.fullmatch(s) or _hands_back(s, decl.params) for s in statements):
        return True
    words = set(IDENT.findall(decl.body))
    return bool(decl.params) and not (words & set(decl.params)) and "this" not in words and "arguments" not in words
