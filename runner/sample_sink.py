"""Where finished samples go while a run is in progress (an inspect-ai hook, on only during a run).

inspect calls `on_sample_end` once per (sample, epoch), after its retries, whether it completed or
errored; the runner uses it to update results.json and print a progress line as samples finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from inspect_ai.hooks import Hooks, SampleEnd, hooks

Sink = Callable[[Any], None]
_sinks: list[Sink] = []


@hooks(name="madcat_sample_sink", description="Streams finished madcat samples to the running results.json.")
class SampleSinkHook(Hooks):
    def enabled(self) -> bool:
        return bool(_sinks)

    async def on_sample_end(self, data: SampleEnd) -> None:
        for sink in list(_sinks):
            sink(data.sample)


@contextmanager
def active(sink: Sink) -> Iterator[None]:
    """Send every sample that ends inside this block to `sink`."""
    _sinks.append(sink)
    try:
        yield
    finally:
        _sinks.remove(sink)
