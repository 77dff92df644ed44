"""The build: generated lines per category plus hand-written ones, each graded, decontaminated, validated.

Determinism: every random choice comes from random.Random seeded with a string made of the build
seed and the category, iteration is over fixed tuples, and nothing reads the clock or a uuid, so the
same seed, counts and hand-written file give the same bytes.

A generated line is kept only when
  - every behaviour that applies to it passes its grader (a line never shows a wrong habit),
  - its recipe's target behaviours are among them,
  - no hard invariant fails,
  - no user message comes near an eval scenario's request (dataset.decontam), and
  - its first user request is not already in the dataset (up to a few retries; then it is kept).
Otherwise the recipe is played again with the next seed; a recipe that keeps failing stops the build.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset import decontam
from dataset.behaviours import demonstrated
from dataset.generators import CATEGORIES, DEFAULT_COUNTS, RECIPES, Recipe
from dataset.validate import Problem, validate_lines

DEFAULT_HANDWRITTEN = Path(__file__).with_name("handwritten.jsonl")
DEFAULT_DATASET = Path(__file__).with_name("madcat-system.jsonl")  # the committed default build
MAX_ATTEMPTS = 12
UNIQUE_ATTEMPTS = 4  # tries for a first request not seen yet, before a repeat is accepted


class BuildError(ValueError):
    """The build cannot produce a valid dataset; the message says why in one line."""


def scaled_counts(total: int) -> dict[str, int]:
    """The default category proportions scaled to `total` lines (largest remainder, ties in table order)."""
    if total < 0:
        raise BuildError("--count must be at least 0")
    base = sum(DEFAULT_COUNTS.values())
    exact = {c: DEFAULT_COUNTS[c] * total / base for c in CATEGORIES}
    counts = {c: int(exact[c]) for c in CATEGORIES}
    left = total - sum(counts.values())
    for c in sorted(CATEGORIES, key=lambda c: (-(exact[c] - counts[c]), CATEGORIES.index(c)))[:left]:
        counts[c] += 1
    return counts


def parse_categories(spec: str) -> dict[str, int]:
    """`tts=15,memory=20` -> counts (categories not named get 0)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for part in spec.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in counts:
            raise BuildError(f"bad --categories entry {part.strip()!r}: use NAME=COUNT with NAME one of {', '.join(CATEGORIES)}")
        try:
            counts[name] = int(value)
        except ValueError:
            raise BuildError(f"bad count in --categories entry {part.strip()!r}") from None
        if counts[name] < 0:
            raise BuildError(f"negative count in --categories entry {part.strip()!r}")
    return counts


@dataclass
class BuildResult:
    lines: list[dict[str, Any]]
    counts: dict[str, int]
    handwritten: int
    attempts: Counter = field(default_factory=Counter)  # rejected drafts by reason

    def jsonl(self) -> str:
        return "".join(dump_line(line) + "\n" for line in self.lines)


def dump_line(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False)


def read_jsonl(path: Path) -> list[str]:
    """Raw lines of a JSONL file (OSError / UnicodeDecodeError for an unreadable file)."""
    return path.read_text(encoding="utf-8").splitlines()


def load_handwritten(path: Path) -> list[dict[str, Any]]:
    """Hand-written lines, validated like every other line. Raises BuildError listing every problem."""
    try:
        raw = read_jsonl(path)
    except FileNotFoundError:
        raise BuildError(f"no such hand-written file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"cannot read hand-written file {path}: {exc.__class__.__name__}") from None
    problems = validate_lines(raw)
    if problems:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise BuildError(f"{path} has invalid lines: {shown}{more}")
    lines = [json.loads(r) for r in raw if r.strip()]
    for line in lines:
        meta = line.setdefault("meta", {})
        if meta.get("category") not in CATEGORIES:
            raise BuildError(f"{path}: every hand-written line needs meta.category, one of {', '.join(CATEGORIES)}")
        meta.setdefault("source", "handwritten")
    return lines


def _first_request(line: dict[str, Any]) -> str:
    texts = decontam.user_texts(line)
    return " ".join(decontam.normalise(texts[0])) if texts else ""


def _finish(recipe: Recipe, rng_seed: int, number: int, requests: Sequence[decontam.EvalRequest]
            ) -> tuple[dict[str, Any] | None, str]:
    """Play a recipe once; the finished line, or None and why it was rejected."""
    draft = recipe.play(random.Random(rng_seed))
    line = draft.transcript
    verdict = demonstrated(line)
    if verdict.hard:
        return None, f"hard invariant {verdict.hard[0][0]} fails: {verdict.hard[0][1]}"
    if verdict.failing:
        return None, f"{verdict.failing[0][0]} fails: {verdict.failing[0][1]}"
    missing = [t for t in draft.targets if t not in verdict.passing]
    if missing:
        return None, f"target {missing[0]} not shown"
    match = decontam.contaminated(line, requests)
    if match is not None:
        return None, f"near eval scenario {match.scenario} ({match.score:.2f})"
    line["meta"] = {"id": f"{draft.category}-{number:03d}", "category": draft.category, "recipe": draft.recipe,
                    "behaviours": verdict.passing, "source": "generated", "seed": rng_seed}
    return line, ""


def select_recipes(category: str, names: Collection[str] | None) -> tuple[Recipe, ...]:
    """The category's recipes, only those named when `names` is given (BuildError when that leaves none)."""
    recipes = RECIPES[category]
    if names is None:
        return recipes
    chosen = tuple(r for r in recipes if r.name in names)
    if not chosen:
        raise BuildError(f"--recipes names no {category} recipe (its recipes: {', '.join(r.name for r in recipes)})")
    return chosen


def generate(counts: dict[str, int], seed: int, *, skip: Counter | None = None,
             recipes_named: Collection[str] | None = None) -> tuple[list[dict[str, Any]], Counter]:
    """Generated lines, category by category in table order. `skip`: lines per category that exist already;
    `recipes_named`: play only these recipes (a selection, e.g. for the offline demo)."""
    requests = decontam.eval_requests()
    rejected: Counter = Counter()
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    for category in CATEGORIES:
        wanted = max(0, counts.get(category, 0) - (skip or Counter())[category])
        rng = random.Random(f"madcat-dataset:{seed}:{category}")
        if not wanted:
            continue
        recipes = select_recipes(category, recipes_named)
        offset = rng.randrange(len(recipes))
        for i in range(wanted):
            recipe = recipes[(offset + i) % len(recipes)]
            kept: dict[str, Any] | None = None
            why = ""
            for attempt in range(MAX_ATTEMPTS):
                line, why = _finish(recipe, rng.getrandbits(32), i + 1, requests)
                if line is None:
                    rejected[why.split(":")[0]] += 1
                    continue
                if _first_request(line) in seen and attempt < UNIQUE_ATTEMPTS:
                    rejected["repeated request"] += 1
                    kept = kept or line
                    continue
                kept = line
                break
            if kept is None:
                raise BuildError(f"recipe {category}/{recipe.name} gave no valid line in {MAX_ATTEMPTS} tries (last: {why})")
            seen.add(_first_request(kept))
            lines.append(kept)
    return lines, rejected


def build(*, seed: int = 0, count: int | None = None, categories: dict[str, int] | None = None,
          handwritten: Iterable[dict[str, Any]] = (), recipes: Collection[str] | None = None) -> BuildResult:
    """The dataset: `categories` counts, else the default table scaled to `count` (default 100).

    Hand-written lines count towards their category's number. `recipes`: only these recipes are played.
    """
    counts = categories if categories is not None else scaled_counts(100 if count is None else count)
    hand = list(handwritten)
    by_category = Counter(line["meta"]["category"] for line in hand)
    generated, rejected = generate(counts, seed, skip=by_category, recipes_named=recipes)
    lines: list[dict[str, Any]] = []
    for category in CATEGORIES:  # hand-written first within their category, then generated
        lines += [line for line in hand if line["meta"]["category"] == category]
        lines += [line for line in generated if line["meta"]["category"] == category]
    return BuildResult(lines, counts, len(hand), rejected)


def check_built(lines: Sequence[dict[str, Any]], tokens: Any = None) -> list[Problem]:
    """The finished dataset through the same validation as any file."""
    return validate_lines(lines, tokens=tokens)
