"""The teacher policy: a scripted agent that plays any scenario the way the whole madcat spec wants.

Settings first, three boot recalls in one turn, identity from the active cart, index_search ->
memory_recall -> legacy-memory_recall before any code change, a TodoWrite plan with status
discipline for tasks of three or more steps, the right voice / tag / alias / platform commands, the
pilot interlock, retry once then state the error, a WireGuard check for an unreachable host, an MCP
outage reported with a reconnect suggestion, a win stored after verified work and a doctrine only
once it is earned. `play(scenario)` returns the transcript dict (world sheet format).

Everything the teacher knows about the world it reads from tool results (the active cart from
`settings_get`, its voice and tag from `cart_get`, a host's platform from `uname -a`, a peer's
address from `wg show`, which server is down from the MCP error). The task comes from the
scenario: its request text and `expect` hints. Graders read `target_cart`, `host`, `failing_tool`
and `topic`; the other keys are task hints for the teacher:

  task     speak | switch_voice | code | investigate | recall_answer | search | store | ops |
           introduce | chat  (default: the eval's `task` in evals.catalog)
  topic    what to search and recall (default: the request's content words)
  say      what to speak (default: quoted text in the request)
  target_cart  the cart whose voice to switch to
  changes  [{path, symbol}] code changes (default: every src/... path in the request, or the top
           index hit, with `symbol`)
  symbol   the name a new function or method gets (default: a verb of the request, else `update`)
  host     the host an ops task runs on;  op: an op or a list of ops (see `mesh.command_for`)
  verify   tests (default) | user: the user checks the work before it is recorded
  doctrine a rule to canonize once earned;  check: the command that verifies an investigation
  kind / title / content   a memory the user asks to store (task store), or the index kind (search)
  speak    introduce: also say the introduction aloud
  pretend  what the near miss that hides a failure says in its place (doubles/near_misses/errors.py)

Its decisions are hooks of `Teacher` (agent.py); the tests' near misses (doubles/near_misses/)
are subclasses that override the hooks of one mistake each and are played the same way.
"""

from __future__ import annotations

from typing import Any

from dataset.teacher.agent import Teacher
from dataset.teacher.base import Plan, Step
from dataset.teacher.routines import ROUTINES
from evals.scenarios import Scenario


def play(scenario: Scenario, teacher: type[Teacher] = Teacher, prompt: str = "minimal") -> dict[str, Any]:
    """Play a scenario with `teacher` (a near miss: a subclass) and return its transcript."""
    agent = teacher(scenario, prompt=prompt)
    routine = ROUTINES.get(agent.task)
    if routine is None:
        raise ValueError(f"scenario {scenario.id}: unknown task {agent.task!r} (tasks: {', '.join(ROUTINES)})")
    agent.session(routine)
    return agent.ep.transcript()


__all__ = ["ROUTINES", "Plan", "Step", "Teacher", "play"]
