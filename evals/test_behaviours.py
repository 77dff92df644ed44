"""The behavioural suite: `pytest evals/ --adapter madcat` (options: evals/run/pytest_plugin.py).

One item per eval ID; all of them share one run of the selected scenarios (the `madcat_run`
fixture), so `-k memory` runs only the memory scenarios. An item passes when its behaviour meets
its threshold (evals/thresholds.yaml); a hard invariant needs every try of every scenario to pass.
"""

from __future__ import annotations

import pytest

from evals.catalog import EVALS
from evals.run.results import judge
from evals.run.runner import RunOutcome
from evals.thresholds import load_thresholds


@pytest.mark.madcat_behaviour
@pytest.mark.parametrize("eval_id", list(EVALS), ids=list(EVALS))
def test_behaviour(eval_id: str, madcat_run: RunOutcome) -> None:
    verdict = judge(eval_id, madcat_run.rows, load_thresholds())
    if not verdict.n:
        pytest.skip(f"{eval_id}: no tries in this run (no scenarios, or none in the replayed transcripts)")
    if not verdict.ok:
        pytest.fail(verdict.explain(), pytrace=False)
