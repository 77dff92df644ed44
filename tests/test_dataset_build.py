"""`dataset.build`: any seed and count gives a dataset that validates, byte-identical for the same seed,
in the seed's proportions, free of eval requests; hand-written lines merge in."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from dataset_builders import speak_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset import decontam
from dataset.build import BuildError, build, load_handwritten, parse_categories, scaled_counts
from dataset.generators import CATEGORIES, DEFAULT_COUNTS, RECIPES
from dataset.validate import validate_lines
from evals.catalog import EVALS, applicable_evals, grade, hard_violations

REPO = Path(__file__).resolve().parents[1]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), count=st.integers(min_value=7, max_value=30))
def test_any_seed_and_count_give_a_valid_dataset(seed: int, count: int):
    result = build(seed=seed, count=count, handwritten=[])
    assert len(result.lines) == count
    assert validate_lines(result.lines) == []
    for line in result.lines:
        assert line["meta"]["behaviours"], line["meta"]["id"]
        assert hard_violations(line) == []
    assert decontam.check(result.lines).clean


def test_same_seed_same_bytes_and_other_seeds_differ():
    a = build(seed=11, count=20).jsonl()
    assert a == build(seed=11, count=20).jsonl()
    assert a != build(seed=12, count=20).jsonl()


def test_default_build_has_the_seed_table_and_every_behaviour():
    result = build(seed=0)
    assert Counter(line["meta"]["category"] for line in result.lines) == Counter(DEFAULT_COUNTS)
    shown = Counter(b for line in result.lines for b in line["meta"]["behaviours"])
    assert set(EVALS) <= set(shown), f"not shown: {sorted(set(EVALS) - set(shown))}"
    # each category's own behaviours are shown by lines of that category
    for category in CATEGORIES:
        own = {b for line in result.lines if line["meta"]["category"] == category for b in line["meta"]["behaviours"]}
        assert {e for e in EVALS if e.startswith(category + ".")} <= own, category


def test_every_claimed_behaviour_passes_and_every_applicable_one_is_claimed():
    always_on = {"mesh.uses_sin_ssh_alias", "persona.no_hardcoded_bt_identity"}  # listed where exercised
    for line in build(seed=5, count=30).lines:
        for eval_id in line["meta"]["behaviours"]:
            assert grade(eval_id, line).passed, (line["meta"]["id"], eval_id)
        # a generated line never shows a wrong habit: whatever applies to it passes and is claimed
        assert set(applicable_evals(line)) - always_on <= set(line["meta"]["behaviours"]), line["meta"]["id"]


@pytest.mark.parametrize("seed", [0, 1, 2, 97, 2024])
def test_generated_lines_never_carry_an_eval_request(seed: int):
    report = decontam.check(build(seed=seed, count=40).lines)
    assert report.clean, decontam.format_report(report)
    assert report.nearest[0].score < decontam.THRESHOLD


def test_system_prompt_carries_only_the_cart_identity():
    for line in build(seed=4, count=14).lines:
        system = line["messages"][0]
        cart = line["world"].get("active_cart", "bt7274")
        assert system["role"] == "system"
        assert system["content"].startswith("You are ") and "active madcat cart" in system["content"]
        assert len(system["content"]) < 80, cart


def test_lines_carry_tools_world_and_meta():
    line = build(seed=9, count=7).lines[0]
    assert [t["function"]["name"] for t in line["tools"]][:2] == ["settings_get", "cart_get"]
    assert set(line["meta"]) >= {"id", "category", "behaviours"}
    assert isinstance(line["world"], dict)


def test_scaled_counts_keep_the_proportions():
    assert scaled_counts(100) == DEFAULT_COUNTS
    assert scaled_counts(200) == {c: 2 * n for c, n in DEFAULT_COUNTS.items()}
    for total in range(0, 40):
        assert sum(scaled_counts(total).values()) == total
    assert scaled_counts(10)["memory"] == 2


def test_category_spec():
    assert parse_categories("tts=3, errors=2") == {**dict.fromkeys(CATEGORIES, 0), "tts": 3, "errors": 2}
    for bad in ("tts", "speech=3", "tts=three", "tts=-1"):
        with pytest.raises(BuildError):
            parse_categories(bad)
    result = build(seed=1, categories=parse_categories("mesh=4,errors=3"))
    assert Counter(line["meta"]["category"] for line in result.lines) == {"mesh": 4, "errors": 3}


def test_every_recipe_plays_valid_lines():
    import random

    from dataset.behaviours import demonstrated as judge

    for category, recipes in RECIPES.items():
        for recipe in recipes:
            for seed in range(3):
                draft = recipe.play(random.Random(seed))
                verdict = judge(draft.transcript)
                assert verdict.clean, (category, recipe.name, verdict.failing, verdict.hard)
                assert set(draft.targets) <= set(verdict.passing), (recipe.name, draft.targets)


def test_handwritten_lines_are_validated_and_merged(tmp_path: Path):
    hand = speak_line()
    hand["meta"] = {"id": "hand-1", "category": "tts", "behaviours": ["tts.uses_active_cart_voice"]}
    path = tmp_path / "hand.jsonl"
    path.write_text(json.dumps(hand) + "\n")
    lines = load_handwritten(path)
    result = build(seed=0, categories=parse_categories("tts=3,persona=1"), handwritten=lines)
    assert [line["meta"]["id"] for line in result.lines][:1] == ["hand-1"]
    assert Counter(line["meta"]["category"] for line in result.lines) == {"tts": 3, "persona": 1}
    assert result.lines[0]["meta"]["source"] == "handwritten"


def test_invalid_handwritten_lines_stop_the_build(tmp_path: Path):
    hand = speak_line()
    hand["meta"] = {"id": "hand-1", "category": "tts", "behaviours": ["tts.switch_voice_with_cart_tag"]}
    path = tmp_path / "hand.jsonl"
    path.write_text(json.dumps(hand) + "\n")
    with pytest.raises(BuildError, match="line 1: claims tts.switch_voice_with_cart_tag"):
        load_handwritten(path)
    path.write_text(json.dumps({**hand, "meta": {"id": "x"}}) + "\n")
    with pytest.raises(BuildError, match="meta.category"):
        load_handwritten(path)
    with pytest.raises(BuildError, match="no such hand-written file"):
        load_handwritten(tmp_path / "missing.jsonl")


def test_committed_handwritten_file_validates():
    path = REPO / "dataset" / "handwritten.jsonl"
    lines = load_handwritten(path)
    assert len(lines) >= 5
    assert all(line["meta"]["source"] == "handwritten" for line in lines)


def test_committed_dataset_is_the_default_build():
    """dataset/madcat-system.jsonl is exactly `python -m dataset build --out dataset/madcat-system.jsonl`."""
    committed = (REPO / "dataset" / "madcat-system.jsonl").read_text(encoding="utf-8")
    fresh = build(seed=0, handwritten=load_handwritten(REPO / "dataset" / "handwritten.jsonl")).jsonl()
    assert committed == fresh, ("dataset/madcat-system.jsonl is stale: rebuild it with "
                                "`python -m dataset build --out dataset/madcat-system.jsonl`")
