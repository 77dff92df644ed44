"""SIGTERM (and SIGHUP) stop a run the way Ctrl-C does: inspect cancels the samples in flight, the runner
writes results.json with `interrupted: true` and every finished sample, then the process exits.

Without this a `kill`, a `timeout`, a CI cancel or a closed terminal ended the process at once:
results.json stayed `running` and the samples of the last second (its writes are throttled) were lost.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@dataclass
class Stop:
    """Which signal stopped the run (`"SIGTERM"`), or None."""

    signal: str | None = None

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for Ctrl-C)."""
        number = getattr(signal, self.signal, None) if self.signal else None
        return 128 + int(number) if number is not None else 130


@contextmanager
def stop_like_ctrl_c() -> Iterator[Stop]:
    """While active, SIGTERM and SIGHUP go to the SIGINT handler in place (asyncio's, which cancels the
    run, or Python's, which raises KeyboardInterrupt). Only the main thread can own signal handlers;
    elsewhere this does nothing."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.signal = signal.Signals(signum).name
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint):
            on_sigint(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job): interrupt all the same
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
