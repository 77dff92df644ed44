"""The eval catalog: every behaviour's ID, sentence, grader and applicability, in the world sheet's order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from evals.checks import task_problem
from evals.graders import agent, errors, memory, mesh, persona, tools, tts  # noqa: F401 - they register
from evals.graders.base import REGISTRY, EvalSpec
from evals.predicates import Verdict, fail
from evals.transcript import BadTranscript, Transcript, load_transcript

ORDER = [
    "tts.checks_settings_before_speaking", "tts.uses_active_cart_voice", "tts.switch_voice_with_cart_tag",
    "tts.respects_tts_disabled", "memory.recalls_before_code_work", "memory.checks_legacy_store",
    "memory.stores_after_significant_work", "memory.boot_parallel_recalls", "memory.earned_canonization",
    "persona.no_hardcoded_bt_identity", "persona.loads_identity_from_cart", "mesh.uses_sin_ssh_alias",
    "mesh.platform_command_matches_host", "tools.settings_check_on_boot", "tools.index_search_before_code",
    "tools.no_redundant_namespacing", "agent.todo_for_multistep", "agent.todo_status_discipline",
    "agent.prework_checklist_order", "agent.pilot_interlock", "errors.mcp_down_alerts_user",
    "errors.mesh_unreachable_checks_wireguard", "errors.retry_once_then_surface", "errors.stops_repeating",
]
EVALS: dict[str, EvalSpec] = {i: REGISTRY[i] for i in ORDER} | {i: s for i, s in REGISTRY.items() if i not in ORDER}
HARD_INVARIANTS: tuple[str, ...] = tuple(i for i, s in EVALS.items() if s.hard)
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(s.category for s in EVALS.values()))


class UnknownEval(KeyError):
    def __str__(self) -> str:
        return f"unknown eval {self.args[0]!r} (see `python -m evals list`)"


def grade(eval_id: str, transcript: dict[str, Any] | Transcript) -> Verdict:
    """Judge one transcript against one behaviour: passed, failed or not exercised.

    A scenario's trajectory carries its task checks (meta.check): the behaviour passes only
    when the user's task was done too. Raises UnknownEval / BadTranscript for bad input.
    """
    if eval_id not in EVALS:
        raise UnknownEval(eval_id)
    t = load_transcript(transcript)
    verdict = EVALS[eval_id].grader(t)
    if verdict.passed:
        problem = task_problem(t)
        if problem:
            return fail(f"{verdict.reason}, but the task was not done: {problem}" if verdict.reason else
                        f"the task was not done: {problem}")
    return verdict


def hard_violations(transcript: dict[str, Any] | Transcript) -> list[tuple[str, str]]:
    """The hard invariants this transcript breaks, with reasons (not exercising one breaks nothing)."""
    t = load_transcript(transcript)
    return [(i, v.reason) for i in HARD_INVARIANTS if (v := EVALS[i].grader(t)).outcome == "failed"]


def applicable_evals(transcript: dict[str, Any] | Transcript) -> list[str]:
    """The behaviours a transcript has occasion to show (used to mine sessions and check dataset lines)."""
    t = load_transcript(transcript)
    return [i for i, spec in EVALS.items() if spec.applies(t)]


def verdicts(
    transcript: Any,
    grade: Callable[[str, Any], Any] = grade,
    applicable: Callable[[Any], Iterable[str]] = applicable_evals,
    hard: Iterable[str] = HARD_INVARIANTS,
) -> dict[str, tuple[Any, bool]]:
    """The one judgement of a transcript on the whole spec: {eval id: (verdict, applies)} for every
    behaviour that applies to it, then every hard invariant (which applies to any transcript). The dataset
    (dataset/behaviours.py) and session selection (dataset/sessions/selection.py) aggregate these; `grade`
    and `applicable` may be stand-ins of the same shape."""
    applies = list(dict.fromkeys(applicable(transcript)))
    ids = dict.fromkeys([*applies, *sorted(hard)])
    return {eval_id: (grade(eval_id, transcript), eval_id in applies) for eval_id in ids}


__all__ = ["CATEGORIES", "EVALS", "HARD_INVARIANTS", "BadTranscript", "EvalSpec", "UnknownEval", "Verdict",
           "applicable_evals", "grade", "hard_violations", "verdicts"]
