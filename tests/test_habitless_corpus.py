"""The demo's base corpus (dataset/habitless.py) must not show the behaviours the demo teaches, by the spec's
own graders: otherwise "learned" would partly be the pretraining's. The first 400 lines of the shipped
corpus (seed 2: the first 400 of the 8,000 the demo twin's weights were pretrained on) are graded here."""

from __future__ import annotations

from collections import Counter

import pytest

from dataset import habitless
from e2e.offline_loop import DEMO_TAUGHT
from evals.catalog import verdicts
from evals.predicates import PASSED
from evals.transcript import load_transcript


def _shown(lines: list[dict]) -> Counter:
    """(behaviour, recipe) -> lines on which a taught behaviour passed."""
    out: Counter = Counter()
    for line in lines:
        for eval_id, (verdict, applies) in verdicts(load_transcript(line)).items():
            if eval_id in DEMO_TAUGHT and applies and verdict.outcome == PASSED:
                out[(eval_id, line["meta"]["recipe"])] += 1
    return out


@pytest.mark.xfail(strict=True, reason=(
    "known (issue 27): the greeting recipe quotes the active cart's greeting after cart_get ('Cart sage would say: "
    "\"This is Sage ...\"'), which persona.loads_identity_from_cart passes, and lines that never claim BT pass "
    "persona.no_hardcoded_bt_identity (about 5% and 38% of lines). Fixing the generator means re-pretraining "
    "serving/twin_weights/demo.safetensors on a GPU: the lead decides"))
def test_the_base_corpus_shows_none_of_the_behaviours_the_demo_teaches() -> None:
    assert _shown(habitless.build(400, seed=2)) == Counter()
