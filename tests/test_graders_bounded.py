"""No grade stalls a run: every behaviour's grader and task check over a 10,000-line file, a megabyte
answer and a 60 KB command (text built to make backtracking regexes blow up) takes under a second."""

from __future__ import annotations

import json
import time
from functools import cache

import pytest

from doubles.scripted import good_agent
from evals.catalog import applicable_evals, grade, hard_violations
from evals.scenarios import load_scenarios

SCENARIOS = load_scenarios()
# one scenario of each behaviour, and every scenario whose check reads a file
PICKED = sorted({s.id: s for s in [*{s.eval: s for s in SCENARIOS}.values(),
                                   *[s for s in SCENARIOS if "file" in s.check]]}.values(), key=lambda s: s.id)
LIMIT_S = 1.0  # CPU seconds of this process (a machine shared with other jobs must not make the test flaky)


def _big_file() -> str:
    line = "export function refresh(token: string): string { return token.trim() } // should I restart vllm"
    body = [f"  const v{i} = ((((a{i})))) + \"{'(' * 20}\" // {'x' * 40}" for i in range(9_990)]
    return "\n".join([line, "function stub(a) {", *body, "}", "\n" * 5, " " * 3000 + "(" * 3000])


def _big_answer() -> str:
    parts = ["should I " * 20_000, "I'm " * 20_000, "BT-7274 " * 20_000, "restart " * 10_000,
             "confirm and " * 10_000, "a" * 200_000, "\n\n" * 50_000, "max-lora-rank: " * 5_000]
    return "".join(parts)[:1_000_000]


@cache
def heavy(scenario_id: str) -> dict:
    scenario = next(s for s in SCENARIOS if s.id == scenario_id)
    t = good_agent(scenario)
    paths = list(scenario.check.get("file") or {}) or ["src/big.ts"]
    calls = [{"id": f"big_{i}", "type": "function",
              "function": {"name": "write", "arguments": json.dumps({"path": p, "content": _big_file()})}}
             for i, p in enumerate(paths)]
    calls.append({"id": "big_cmd", "type": "function", "function": {"name": "bash", "arguments": json.dumps(
        {"command": "echo " + "'restart vllm' " * 3_000 + "; ssh " + "-o x " * 2_000 + "sin uptime"})}})
    messages = [*t["messages"], {"role": "assistant", "content": "", "tool_calls": calls},
                *[{"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in calls],
                {"role": "assistant", "content": _big_answer()}]
    return {**t, "messages": messages}


@pytest.mark.parametrize("scenario_id", [s.id for s in PICKED])
def test_a_grade_over_huge_output_takes_under_a_second(scenario_id: str) -> None:
    scenario = next(s for s in SCENARIOS if s.id == scenario_id)
    t = heavy(scenario_id)
    for name, judge in [("grade", lambda: grade(scenario.eval, t)), ("hard", lambda: hard_violations(t)),
                        ("applicable", lambda: applicable_evals(t))]:
        start = time.process_time()
        judge()
        elapsed = time.process_time() - start
        assert elapsed < LIMIT_S, f"{scenario_id}: {name} took {elapsed:.2f} s"
