"""Scripted models: recorded trajectories (e.g. doubles.scripted's good/bad agents) played back as a model.

Given the conversation so far, the next assistant message is the one of the trajectory whose messages
so far equal it (role, text, tool calls and their results), so whatever loop drives the model must
reproduce the trajectory exactly to get the same answers. Two faces:
  * `mock_policy(transcripts)`: a `custom_outputs` callable for inspect's `mockllm/model`;
  * `stub_responder(transcripts)`: a responder for doubles.openai_stub.OpenAIStub (the HTTP path).
A conversation that matches no trajectory gets the text DIVERGED. Used by the runner's tests and its
benchmark; not part of a real run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from inspect_ai.model import ChatCompletionChoice, ChatMessage, ChatMessageAssistant, ModelOutput, ModelUsage
from inspect_ai.tool import ToolCall

from core.chat_format import content_text
from runner.inspect_messages import to_openai_messages

DIVERGED = "DIVERGED: the conversation left every scripted trajectory"


def _args(raw: Any) -> str:
    value = raw if isinstance(raw, dict) else json.loads(raw or "{}")
    return json.dumps(value, sort_keys=True)


def _norm(msg: dict[str, Any]) -> tuple:
    calls = tuple((c["function"]["name"], _args(c["function"].get("arguments"))) for c in msg.get("tool_calls") or [])
    return (msg["role"], content_text(msg.get("content")).strip(), calls)


class Script:
    """The trajectories, indexed for `next_turn`."""

    def __init__(self, transcripts: list[dict[str, Any]]) -> None:
        self.messages = [t["messages"] for t in transcripts]
        self.norms = [[_norm(m) for m in msgs] for msgs in self.messages]

    def next_turn(self, conversation: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The assistant message that follows this conversation in some trajectory, else None."""
        seen = [_norm(m) for m in conversation]
        n = len(seen)
        for norms, msgs in zip(self.norms, self.messages, strict=True):
            if len(norms) > n and norms[n][0] == "assistant" and norms[:n] == seen:
                return msgs[n]
        return None


def output(content: str = "", calls: list[tuple[str, dict[str, Any]]] | None = None,
           ids: list[str] | None = None, prompt_tokens: int = 100, completion_tokens: int = 10) -> ModelOutput:
    """A ModelOutput with text and/or tool calls and usage set (mockllm would count tokens with tiktoken)."""
    tool_calls = [ToolCall(id=(ids[i] if ids else f"call_{i}"), function=name, arguments=args)
                  for i, (name, args) in enumerate(calls or [])] or None
    message = ChatMessageAssistant(content=content, tool_calls=tool_calls, source="generate")
    return ModelOutput(model="mockllm/model",
                       choices=[ChatCompletionChoice(message=message, stop_reason="tool_calls" if tool_calls else "stop")],
                       usage=ModelUsage(input_tokens=prompt_tokens, output_tokens=completion_tokens,
                                        total_tokens=prompt_tokens + completion_tokens))


def mock_policy(transcripts: list[dict[str, Any]]) -> Callable[..., ModelOutput]:
    script = Script(transcripts)

    def policy(input: list[ChatMessage], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        conversation = to_openai_messages(input)
        nxt = script.next_turn(conversation)
        if nxt is None:
            return output(DIVERGED)
        calls = nxt.get("tool_calls") or []
        return output(content_text(nxt.get("content")).strip(), [(c["function"]["name"], json.loads(_args(c["function"]["arguments"])))
                                                  for c in calls], [c["id"] for c in calls],
                      prompt_tokens=50 * len(conversation))

    return policy


def stub_responder(transcripts: list[dict[str, Any]]) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    script = Script(transcripts)

    def respond(model: str, request: dict[str, Any]) -> dict[str, Any]:
        nxt = script.next_turn(request.get("messages") or [])
        if nxt is None:
            return {"content": DIVERGED, "finish_reason": "stop"}
        calls = [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                 for c in nxt.get("tool_calls") or []]
        return {"content": content_text(nxt.get("content")).strip() or None, "tool_calls": calls}

    return respond
