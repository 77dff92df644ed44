"""The behavioural suite: `pytest evals/ --adapter madcat` (options and fixtures: runner/pytest_plugin.py,
which the root conftest.py loads).

One item per eval ID; all of them share one run of the selected scenarios (the `madcat_run`
fixture), so `-k memory` runs only the memory scenarios. An item passes when its behaviour meets
its threshold (evals/thresholds.yaml); a hard invariant needs every try of every scenario to pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pytest

from evals.catalog import EVALS


class Judgement(Protocol):
    """What `madcat_judge` says of one behaviour (runner/results.py)."""

    @property
    def n(self) -> int: ...

    @property
    def ok(self) -> bool: ...

    def explain(self) -> str: ...


@pytest.mark.madcat_behaviour
@pytest.mark.parametrize("eval_id", list(EVALS), ids=list(EVALS))
def test_behaviour(eval_id: str, madcat_judge: Callable[[str], Judgement]) -> None:
    verdict = madcat_judge(eval_id)
    if not verdict.n:
        pytest.skip(f"{eval_id}: no tries in this run (no scenarios, or none in the replayed transcripts)")
    if not verdict.ok:
        pytest.fail(verdict.explain(), pytrace=False)
