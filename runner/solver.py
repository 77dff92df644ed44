"""The agent loop: the model with the world's tools, answered by the simulator, until it stops.

No submit tool and no injected prompt: the model sees the scenario's messages and the tool surface,
exactly as in production. Each generation that asks for tools gets the simulator's answers as tool
messages; a generation without tool calls ends the episode, unless the scenario has a scripted user
reply left, which is fed in and the loop goes on.

A sample is judged only when the model finished on its own. A generation the server cut or refused
(the token limit, the context length, a content filter), tool-call markup the server could not parse,
or the turn limit (`max_turns` generations) raises `Incomplete`: inspect records the sample as errored
(retried with `--retry-on-error`), and results.json counts it as incomplete with the reason, never as a
pass or a fail.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable

from inspect_ai.model import (
    CachePolicy,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import ToolCall, ToolCallError

from evals.episode import Episode
from evals.scenarios import Scenario, load_scenarios
from evals.world import load_tool_specs
from runner.epoch_seeds import epoch_seed
from runner.inspect_messages import tool_infos

# Keys of TaskState.store the solver keeps up to date (results.json reads them, also for samples
# that errored half-way).
STORE_REQUESTS = "madcat:requests"
STORE_PROMPT_TOKENS = "madcat:prompt_tokens"
STORE_COMPLETION_TOKENS = "madcat:completion_tokens"
STORE_STOPPED = "madcat:stopped"  # "done", or why the sample is incomplete
INCOMPLETE_PREFIX = "incomplete: "
# Tool-call markup left in the text: the server's parser (qwen3_coder) could not make a call of it.
UNPARSED_CALL = re.compile(r"<tool_call>|<function=[^>]*>|</function>")


class Incomplete(RuntimeError):
    """The episode could not finish as the model's own: str() says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(INCOMPLETE_PREFIX + reason)


def incomplete_reason(output: ModelOutput, generations: int) -> str | None:
    """Why this generation cannot be judged as the model's own answer, or None."""
    text = output.message.text if output.message is not None else ""
    if output.stop_reason == "max_tokens":
        return f"generation {generations} was cut by the token limit (--max-tokens)"
    if output.stop_reason == "model_length":
        detail = f": {' '.join(text.split())[:200]}" if text.strip() else ""
        return f"generation {generations} hit the context length{detail}"
    if output.stop_reason == "content_filter":
        return f"generation {generations} was stopped by the server's content filter"
    if not output.message.tool_calls and UNPARSED_CALL.search(text):
        return f"generation {generations} holds tool-call markup the server could not parse: {' '.join(text.split())[:160]}"
    return None


class UnknownScenario(Incomplete):
    """A sample names a scenario id the spec no longer has (a log replayed after the spec changed)."""


def scenario_lookup() -> Callable[[str], Scenario]:
    """The spec's scenarios by id, read once; each call returns a fresh copy (an episode may change it)."""
    by_id = {s.id: s for s in load_scenarios()}

    def scenario(scenario_id: str) -> Scenario:
        if scenario_id not in by_id:
            raise UnknownScenario(f"no scenario '{scenario_id}' in evals/scenarios/")
        return copy.deepcopy(by_id[scenario_id])

    return scenario


def _answer(episode: Episode, call: ToolCall) -> ChatMessageTool:
    if call.parse_error:
        text = f"Error: the arguments of {call.function} could not be parsed: {call.parse_error}"
        return ChatMessageTool(content=text, tool_call_id=call.id, function=call.function,
                               error=ToolCallError("parsing", text))
    content = episode.answer({"id": call.id, "type": "function",
                              "function": {"name": call.function, "arguments": json.dumps(call.arguments)}})
    return ChatMessageTool(content=content, tool_call_id=call.id, function=call.function)


@solver
def madcat_agent(max_turns: int | None = None, cache: bool | CachePolicy = False, seed: int | None = None) -> Solver:
    """Loop generate -> simulated tool results until the model stops (or max_turns generations).

    max_turns: overrides each scenario's own limit. cache: inspect's cache policy (the runner turns
    it on only when it is keyed on the adapter's sha256). seed: the run's sampling seed; each epoch
    samples with `epoch_seed(seed, epoch)`.
    """
    tools = tool_infos(load_tool_specs())
    scenario_by_id = scenario_lookup()

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        scenario = scenario_by_id(str(state.metadata["scenario"]))
        episode = Episode(scenario, prompt=str(state.metadata.get("prompt", "minimal")))
        limit = max_turns or scenario.max_turns
        model = get_model()
        store = state.store
        for key in (STORE_REQUESTS, STORE_PROMPT_TOKENS, STORE_COMPLETION_TOKENS):
            store.set(key, 0)
        stopped = f"the turn limit ({limit} generations) came before the agent finished"
        config = GenerateConfig(seed=epoch_seed(seed, state.epoch)) if seed is not None else GenerateConfig()
        for generation in range(1, limit + 1):
            output = await model.generate(state.messages, tools=tools, cache=cache, config=config)
            store.set(STORE_REQUESTS, store.get(STORE_REQUESTS, 0) + 1)
            if output.usage is not None:
                store.set(STORE_PROMPT_TOKENS, store.get(STORE_PROMPT_TOKENS, 0) + output.usage.input_tokens)
                store.set(STORE_COMPLETION_TOKENS,
                          store.get(STORE_COMPLETION_TOKENS, 0) + output.usage.output_tokens)
            state.output = output
            state.messages.append(output.message)
            why = incomplete_reason(output, generation)
            if why is not None:
                stopped = why
                break
            calls = output.message.tool_calls or []
            if calls:
                state.messages.extend(_answer(episode, call) for call in calls)
                continue
            reply = episode.user_reply()
            if reply is None:
                stopped = "done"
                break
            state.messages.append(ChatMessageUser(content=reply))
        store.set(STORE_STOPPED, stopped)
        if stopped != "done":
            raise Incomplete(stopped)
        return state

    return solve
