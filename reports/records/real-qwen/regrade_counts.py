"""Per arm, as run and re-graded with this checkout's spec (reports/regrade.py): passed samples and samples breaking
each hard invariant. `python -m reports.records.real-qwen.regrade_counts RUN_DIR ...`, each RUN_DIR a results.json
with its inspect logs beside it (`logs/`, as the runner wrote them; the round's inspect-logs/SHA256SUMS names them)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from evals.spec_hash import spec_sha256
from reports.regrade import regrade_run
from reports.results import load_run


def counts(outcomes: tuple) -> tuple[int, dict[str, int]]:
    hard = Counter(h for o in outcomes for h in o.hard_violations)
    return sum(1 for o in outcomes if o.passed), dict(sorted(hard.items()))


def main(argv: list[str] | None = None) -> None:
    print(f"re-graded with spec {spec_sha256()[:12]}")
    for path in argv if argv is not None else sys.argv[1:]:
        run = load_run(Path(path))
        (p0, h0), (p1, h1) = counts(run.outcomes), counts(regrade_run(run).outcomes)
        print(f"{Path(path).name}: passed {p0} -> {p1} of {len(run.outcomes)}; hard violations {h0 or 'none'} -> "
              f"{h1 or 'none'}")


if __name__ == "__main__":
    main()
