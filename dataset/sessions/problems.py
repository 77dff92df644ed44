"""Problems met while reading a session store: one clear line each; the import goes on."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Problems:
    """Collects one-line problem reports (and echoes them to stderr when asked)."""

    echo: bool = False
    lines: list[str] = field(default_factory=list)

    def add(self, where: object, what: str) -> None:
        line = f"{where}: {what}"
        self.lines.append(line)
        if self.echo:
            print(f"import-sessions: {line}", file=sys.stderr)


@dataclass
class Tally:
    """Counts of things dropped or changed, by reason (the report's 'what was dropped and why')."""

    counts: Counter = field(default_factory=Counter)

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.counts[reason] += n
