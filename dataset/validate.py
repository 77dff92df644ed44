"""Validation of dataset lines: every problem of every line, by line number.

Rules (each Problem carries its rule name):
  json            the line is a JSON object
  shape           `messages` is a non-empty list of messages with known roles; `tools`, `world`,
                  `faults`, `meta` have the right types; world overrides and faults are valid
  order           system first if any; then a user message; tool messages only right after the
                  assistant turn whose calls they answer; no two assistant turns in a row; an
                  assistant turn has text or calls; the line ends with an assistant turn
  unanswered      every tool call is answered by a tool message with its id
  tool_call_id    tool messages answer a call of the turn before them, once; call ids are unique
  arguments       tool-call arguments are a JSON string holding an object
  unknown_tool    only tools of the line's `tools` (or the default surface) are called
  schema          arguments satisfy the tool's JSON schema
  length          the conversation with its tools renders to fewer than 4096 tokens (Qwen3's tokenizer
                  and our chat template, or the --tokenizer directory's own)
  behaviour       every behaviour in meta.behaviours is a known eval whose grader passes
  hard_invariant  no hard-invariant grader fails
  contamination   no user message carries an eval scenario's request (dataset.decontam)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema

from core.safe_io import JSON_ERRORS, json_reason
from dataset import decontam
from dataset.tokens import MAX_TOKENS, TokenCounter
from evals.catalog import EVALS, HARD_INVARIANTS, Verdict
from evals.predicates import FAILED
from evals.transcript import BadTranscript, Transcript, load_transcript
from evals.world import load_tool_specs

ROLES = {"system", "user", "assistant", "tool"}


@dataclass(frozen=True)
class Problem:
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    """A checked validator per distinct schema (checking a schema each call dominates the run time)."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _content_ok(content: Any) -> bool:
    if content is None or isinstance(content, str):
        return True
    return isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in content)


def _tool_specs(line: dict[str, Any], default: dict[str, dict]) -> tuple[dict[str, dict], str | None]:
    tools = line.get("tools")
    if tools is None:
        return default, None
    if not isinstance(tools, list):
        return default, "'tools' must be a list of OpenAI tool specs"
    specs: dict[str, dict] = {}
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return default, f"tools[{i}] is not an OpenAI tool spec (needs function.name)"
        specs[fn["name"]] = fn
    return specs, None


class _LineChecker:
    def __init__(self, number: int, line: dict[str, Any], default_tools: dict[str, dict]) -> None:
        self.number = number
        self.line = line
        self.default_tools = default_tools
        self.problems: list[Problem] = []

    def add(self, rule: str, message: str) -> None:
        self.problems.append(Problem(self.number, rule, message))

    # --- shape ---------------------------------------------------------------------------------
    def shape(self) -> bool:
        line = self.line
        messages = line.get("messages")
        if not isinstance(messages, list) or not messages:
            self.add("shape", "needs a non-empty 'messages' list")
            return False
        ok = True
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                self.add("shape", f"message {i} is not an object")
                ok = False
            elif msg.get("role") not in ROLES:
                self.add("shape", f"message {i} has role {msg.get('role')!r}; expected one of {', '.join(sorted(ROLES))}")
                ok = False
            elif not _content_ok(msg.get("content")):
                self.add("shape", f"message {i} ({msg['role']}) has content that is neither text nor text parts")
                ok = False
            elif msg.get("tool_calls") is not None and (msg["role"] != "assistant" or not isinstance(msg["tool_calls"], list)):
                self.add("shape", f"message {i}: tool_calls must be a list on an assistant message")
                ok = False
        for key, kind in (("world", dict), ("faults", dict), ("meta", dict)):
            if line.get(key) is not None and not isinstance(line[key], kind):
                self.add("shape", f"'{key}' must be an object")
                ok = False
        meta = line.get("meta") if isinstance(line.get("meta"), dict) else {}
        behaviours = meta.get("behaviours")
        if behaviours is not None and not (isinstance(behaviours, list) and all(isinstance(b, str) for b in behaviours)):
            self.add("shape", "meta.behaviours must be a list of eval IDs")
            ok = False
        if meta.get("category") is not None and not isinstance(meta["category"], str):
            self.add("shape", "meta.category must be a string")
            ok = False
        return ok

    # --- roles, calls and answers --------------------------------------------------------------
    def conversation(self, tools: dict[str, dict]) -> bool:
        messages: list[dict] = self.line["messages"]
        ok = True
        seen_ids: set[str] = set()
        pending: dict[str, int] = {}  # call id -> message index of its assistant turn, not yet answered
        answered: set[str] = set()
        previous: str | None = None
        for i, msg in enumerate(messages):
            role = msg["role"]
            if role != "tool" and pending:
                for call_id in pending:
                    self.add("unanswered", f"tool call {call_id} has no tool message answering it "
                                           f"(message {i} is from the {role})")
                pending.clear()
                ok = False
            if role == "system" and i != 0:
                self.add("order", f"message {i} is a system message; only the first message may be one")
                ok = False
            elif role in {"assistant", "tool"} and previous in {None, "system"}:
                self.add("order", f"message {i} ({role}) comes before any user message")
                ok = False
            if role == "assistant":
                if previous == "assistant":
                    self.add("order", f"messages {i - 1} and {i} are two assistant turns in a row "
                                      "with no user or tool message between")
                    ok = False
                calls = msg.get("tool_calls") or []
                text = msg.get("content")
                if not calls and not (isinstance(text, str) and text.strip()) and not isinstance(text, list):
                    self.add("order", f"message {i} is an assistant turn with neither text nor tool calls")
                    ok = False
                for j, call in enumerate(calls):
                    ok = self.call(i, j, call, tools, seen_ids, pending) and ok
            elif role == "tool":
                call_id = msg.get("tool_call_id")
                if previous not in {"assistant", "tool"}:
                    self.add("order", f"message {i} is a tool message that does not follow an assistant turn with calls")
                    ok = False
                elif call_id in pending:
                    pending.pop(call_id)
                    answered.add(call_id)
                elif call_id in answered:
                    self.add("tool_call_id", f"message {i} answers tool call {call_id} a second time")
                    ok = False
                else:
                    self.add("tool_call_id", f"message {i} has tool_call_id {call_id!r}, which matches no call "
                                             "of the assistant turn before it")
                    ok = False
            previous = role
        for call_id in pending:
            self.add("unanswered", f"tool call {call_id} has no tool message answering it")
            ok = False
        last = messages[-1]
        if last["role"] != "assistant" or last.get("tool_calls"):
            self.add("order", f"the line ends with a {last['role']} message{' with tool calls' if last.get('tool_calls') else ''}; "
                              "it must end with an assistant turn")
            ok = False
        return ok

    def call(self, i: int, j: int, call: Any, tools: dict[str, dict], seen_ids: set[str],
             pending: dict[str, int]) -> bool:
        where = f"message {i}, call {j}"
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            self.add("shape", f"{where}: a tool call is an object with 'function'")
            return False
        call_id = call.get("id")
        name = call["function"].get("name")
        ok = True
        if not isinstance(call_id, str) or not call_id:
            self.add("tool_call_id", f"{where}: tool call has no id")
            ok = False
        elif call_id in seen_ids:
            self.add("tool_call_id", f"{where}: tool call id {call_id} is used twice")
            ok = False
        else:
            seen_ids.add(call_id)
            pending[call_id] = i
        label = call_id if isinstance(call_id, str) and call_id else where
        if call.get("type", "function") != "function":
            self.add("shape", f"tool call {label} has type {call.get('type')!r}, not 'function'")
            ok = False
        if not isinstance(name, str) or not name:
            self.add("shape", f"tool call {label} has no function name")
            return False
        spec = tools.get(name)
        if spec is None:
            self.add("unknown_tool", f"tool call {label} calls {name!r}, which is not a known tool")
            ok = False
        raw = call["function"].get("arguments")
        if not isinstance(raw, str):
            self.add("arguments", f"tool call {label} ({name}): arguments must be a JSON string, got {type(raw).__name__}")
            return False
        try:
            args = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            self.add("arguments", f"tool call {label} ({name}): arguments are not valid JSON ({exc.msg})")
            return False
        except JSON_ERRORS as exc:  # nested too deeply, a number of thousands of digits
            self.add("arguments", f"tool call {label} ({name}): arguments are {json_reason(exc)}")
            return False
        if not isinstance(args, dict):
            self.add("arguments", f"tool call {label} ({name}): arguments are not a JSON object")
            return False
        if spec is not None:
            try:
                validator = _validator(json.dumps(spec.get("parameters") or {"type": "object"}, sort_keys=True))
            except jsonschema.SchemaError as exc:
                self.add("schema", f"tool {name} has an invalid schema: {exc.message}")
                return False
            error = jsonschema.exceptions.best_match(validator.iter_errors(args))
            if error is not None:
                path = "/".join(str(p) for p in error.absolute_path)
                self.add("schema", f"tool call {label} ({name}): arguments break the schema"
                                   f"{' at ' + path if path else ''}: {error.message}")
                ok = False
        return ok

    # --- graders -------------------------------------------------------------------------------
    def graders(self) -> None:
        try:
            t = load_transcript(self.line)
        except BadTranscript as exc:
            self.add("shape", str(exc))
            return
        meta = self.line.get("meta") if isinstance(self.line.get("meta"), dict) else {}
        if meta.get("poisoned"):
            self.add("hard_invariant", f"poisoned on purpose ({', '.join(map(str, meta['poisoned']))}): a gate test "
                     "line from `dataset build --poison`, never training data")
        claimed = meta.get("behaviours") or []
        for eval_id in claimed:
            if eval_id not in EVALS:
                self.add("behaviour", f"claims behaviour {eval_id!r}, which is not an eval of the catalog")
                continue
            verdict = self.grade(eval_id, t, "behaviour")
            if verdict is not None and not verdict.passed:
                how = "fails" if verdict.exercised else "finds it not exercised"
                self.add("behaviour", f"claims {eval_id} but its grader {how}: {verdict.reason}")
        for eval_id in HARD_INVARIANTS:
            verdict = self.grade(eval_id, t, "hard_invariant")
            if verdict is not None and verdict.outcome == FAILED:
                self.add("hard_invariant", f"breaks hard invariant {eval_id}: {verdict.reason}")

    def grade(self, eval_id: str, t: Transcript, rule: str) -> Verdict | None:
        try:
            return EVALS[eval_id].grader(t)
        except Exception as exc:  # noqa: BLE001 - a malformed line must not stop the other lines' checks
            self.add(rule, f"the {eval_id} grader could not judge the line ({exc.__class__.__name__}: {exc})")
            return None


def parse_line(raw: str | dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A line as a dict, or None and why not."""
    if isinstance(raw, dict):
        return raw, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except JSON_ERRORS as exc:  # nested too deeply, an integer of thousands of digits
        return None, json_reason(exc)
    if not isinstance(value, dict):
        return None, f"a line is a JSON object, got {type(value).__name__}"
    return value, None


def validate_lines(lines: Iterable[str | dict[str, Any]], *, tokens: TokenCounter | None = None,
                   max_tokens: int = MAX_TOKENS, contamination: bool = True) -> list[Problem]:
    """Every problem of every line (1-based line numbers; blank lines are skipped but counted).

    tokens: the token counter for the length rule (None: lengths are not checked).
    contamination: compare user messages with the eval catalog's requests.
    """
    default_tools = {t["function"]["name"]: t["function"] for t in load_tool_specs()}
    requests = decontam.eval_requests() if contamination else []
    problems: list[Problem] = []
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, str) and not raw.strip():
            continue
        line, error = parse_line(raw)
        if line is None:
            problems.append(Problem(number, "json", error or "not a JSON object"))
            continue
        checker = _LineChecker(number, line, default_tools)
        if checker.shape():
            tools, tools_error = _tool_specs(line, default_tools)
            if tools_error:
                checker.add("shape", tools_error)
            well_formed = checker.conversation(tools)
            checker.graders()
            if tokens is not None and well_formed:
                try:
                    n = tokens.count(line)
                except Exception as exc:  # noqa: BLE001 - the template may reject odd content
                    checker.add("length", f"cannot be rendered with the {tokens.name} chat template "
                                          f"({exc.__class__.__name__}: {exc})")
                    n = 0
                if n >= max_tokens:
                    checker.add("length", f"is {n} tokens long with the {tokens.name} tokenizer (limit {max_tokens})")
        if contamination:
            match = decontam.contaminated(line, requests)
            if match is not None:
                checker.add("contamination", f"user message {match.text[:60]!r} carries eval scenario {match.scenario}'s "
                                             f"request {match.request[:60]!r} (overlap {match.score:.2f} >= "
                                             f"{decontam.THRESHOLD})")
        problems.extend(checker.problems)
    return problems
