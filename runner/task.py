"""inspect-ai tasks built from the eval catalog: one Sample per scenario.

    inspect eval runner/task.py@madcat_behaviours --model vllm/qwen3-coder-next:madcat \
        --model-base-url http://sin:8000/v1 -T prompt=minimal --epochs 5
    inspect eval runner/task.py@madcat_behaviours --model madcat-local/twin -T evals=tts --max-tokens 64
    inspect view   # the logs

Task args: `evals` (eval IDs or categories, comma-separated or a list; default all), `prompt`
("minimal": cart identity only, as at run time; "full": the house rules written out), `max_turns`
(overrides each scenario's limit), `cache_key` (turns inspect's model-output cache on, scoped to this
key: the runner passes the adapter's sha256, so a changed adapter never reuses old outputs).
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import CachePolicy
from inspect_ai.scorer import mean_score, pass_k

from evals.catalog import CATEGORIES, EVALS, UnknownEval
from evals.scenarios import Scenario, load_scenarios
from runner.backends import local_provider  # noqa: F401 - registers the madcat-local provider for `inspect eval`
from runner.inspect_messages import to_chat_messages
from runner.scorer import madcat_grader
from runner.solver import madcat_agent

MESSAGE_LIMIT = 400  # a safety net far above any scenario's max_turns


def select_evals(evals: str | list[str] | None) -> list[str]:
    """Eval IDs from IDs and/or category names (`memory` means every memory.* eval), catalog order."""
    if evals is None or evals == "" or evals == []:
        return list(EVALS)
    items = [e.strip() for e in evals.split(",")] if isinstance(evals, str) else [str(e).strip() for e in evals]
    wanted: set[str] = set()
    for item in filter(None, items):
        if item in EVALS:
            wanted.add(item)
        elif item in CATEGORIES:
            wanted.update(i for i in EVALS if i.startswith(item + "."))
        else:
            raise UnknownEval(item)
    return [i for i in EVALS if i in wanted]


def scenario_sample(scenario: Scenario, prompt: str = "minimal") -> Sample:
    """A scenario as a Sample: its opening messages as input; its id (the solver looks the scenario up by it) and
    what the scorer and a later re-grade of the inspect log read (world, faults, expect, check, allows, after_reply)
    as metadata."""
    return Sample(
        id=scenario.id,
        input=to_chat_messages(scenario.initial_messages(prompt)),
        metadata={"eval": scenario.eval, "category": scenario.category, "scenario": scenario.id,
                  "system": scenario.system, "prompt": prompt, "world": scenario.world, "faults": scenario.faults,
                  "expect": scenario.expect, "check": scenario.check, "allows": list(scenario.allows),
                  "after_reply": list(scenario.after_reply), "replies": scenario.replies, "max_turns": scenario.max_turns},
    )


def behaviour_samples(evals: list[str], prompt: str = "minimal", scenario_ids: list[str] | None = None) -> list[Sample]:
    return [scenario_sample(s, prompt) for s in load_scenarios(evals=evals, ids=scenario_ids)]


@task
def madcat_behaviours(
    evals: str | list[str] | None = None,
    prompt: str = "minimal",
    max_turns: int | None = None,
    epochs: int = 1,
    scenarios: str | list[str] | None = None,
    cache_key: str | None = None,
    seed: int | None = None,
) -> Task:
    """The madcat behavioural suite: the model with the world's tools on every selected scenario."""
    if prompt not in ("minimal", "full"):
        raise ValueError(f"prompt must be 'minimal' or 'full' (got {prompt!r})")
    ids = [s.strip() for s in scenarios.split(",")] if isinstance(scenarios, str) else scenarios
    samples = behaviour_samples(select_evals(evals), prompt, ids or None)
    if not samples:
        raise ValueError(f"no scenarios for evals={evals!r} scenarios={scenarios!r} (evals/scenarios/*.yaml)")
    cache: bool | CachePolicy = CachePolicy(expiry=None, scopes={"adapter_sha256": cache_key}) if cache_key else False
    reducers: Any = [mean_score(), pass_k(epochs)] if epochs > 1 else [mean_score()]
    return Task(
        dataset=MemoryDataset(samples, name="madcat-scenarios"),
        solver=madcat_agent(max_turns=max_turns, cache=cache, seed=seed),
        scorer=madcat_grader(),
        epochs=Epochs(epochs, reducers),
        message_limit=MESSAGE_LIMIT,
        score_on_error=True,  # an errored sample scores 0 (runner/scorer.py): the log's metrics count it, as results.json does
        metadata={"prompt": prompt},
    )
