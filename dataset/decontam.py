"""Decontamination: no training line may carry an eval scenario's user request.

Measure: both texts are normalised (lowercase, punctuation stripped, whitespace folded) and cut
into word n-grams with N = 3 (a request shorter than N words is one gram, itself). The score of a
training message against an eval request is the *containment* of the eval request's n-grams in
the training message: |grams(eval) & grams(train)| / |grams(eval)|, from 0 (nothing shared) to 1
(the whole request appears in the message). A line is contaminated when any of its user messages
scores THRESHOLD (0.5) or more against any eval request: half of the request's word trigrams copied.

Why trigrams and not the 8-grams used for web-scale corpora: eval requests here are short (a
median of about twelve words), so an 8-gram test would pass a copy with one word changed in every
eight; trigrams catch such near copies while two texts that merely share a phrase ("out loud")
stay far below the threshold.

Eval requests are each scenario's user messages; its scripted `replies` are compared too when
they have at least MIN_REPLY_WORDS words (short confirmations such as "yes, go ahead" are
generic and every dataset with a pilot interlock has them).

Near duplicates inside the dataset are pairs of user requests whose n-gram Jaccard similarity is
DUPLICATE_THRESHOLD (0.6) or more; they are reported, not refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

N = 3
THRESHOLD = 0.5
DUPLICATE_THRESHOLD = 0.6
MIN_REPLY_WORDS = 5
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)


def normalise(text: str) -> list[str]:
    """Lowercase words with punctuation stripped (`src/users.ts` -> src users ts)."""
    return _PUNCT.sub(" ", text.lower()).split()


def grams(words: Sequence[str], n: int = N) -> frozenset[tuple[str, ...]]:
    if not words:
        return frozenset()
    if len(words) < n:
        return frozenset([tuple(words)])
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def containment(train: str, eval_request: str, n: int = N) -> float:
    """How much of the eval request's n-grams appear in the training text (0..1)."""
    ev = normalise(eval_request)
    if not ev:
        return 0.0
    size = min(n, len(ev))
    want = grams(ev, size)
    have = grams(normalise(train), size)
    return len(want & have) / len(want)


def jaccard(a: str, b: str, n: int = N) -> float:
    ga, gb = grams(normalise(a), n), grams(normalise(b), n)
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / len(ga | gb)


@dataclass(frozen=True)
class EvalRequest:
    scenario: str
    text: str


@lru_cache(maxsize=1)
def _catalog_requests() -> tuple[EvalRequest, ...]:
    from evals.scenarios import load_scenarios

    out: list[EvalRequest] = []
    for scenario in load_scenarios():
        for msg in scenario.messages:
            if msg.get("role") == "user" and isinstance(msg.get("content"), str):
                out.append(EvalRequest(scenario.id, msg["content"]))
        for reply in scenario.replies:
            if len(normalise(reply)) >= MIN_REPLY_WORDS:
                out.append(EvalRequest(scenario.id, reply))
    return tuple(out)


def eval_requests() -> list[EvalRequest]:
    """Every user request of the eval catalog (evals/scenarios/*.yaml)."""
    return list(_catalog_requests())


def user_texts(line: dict[str, Any]) -> list[str]:
    texts = []
    for msg in line.get("messages") or []:
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            if isinstance(content, str):
                texts.append(content)
    return texts


@dataclass(frozen=True)
class Match:
    score: float
    line: int  # 1-based line number in the dataset
    text: str  # the training message
    scenario: str
    request: str


def line_matches(texts: Iterable[str], requests: Sequence[EvalRequest] | None = None, line: int = 0) -> list[Match]:
    """Every (training message, eval request) pair of one line with its score, best first."""
    requests = eval_requests() if requests is None else requests
    found = [Match(containment(text, r.text), line, text, r.scenario, r.text) for text in texts for r in requests]
    return sorted(found, key=lambda m: (-m.score, m.scenario, m.text))


def contaminated(line: dict[str, Any], requests: Sequence[EvalRequest] | None = None) -> Match | None:
    """The worst match at or over THRESHOLD, or None when the line is clean."""
    matches = line_matches(user_texts(line), requests)
    return matches[0] if matches and matches[0].score >= THRESHOLD else None


@dataclass
class DecontamReport:
    threshold: float
    nearest: list[Match]  # top pairs, best first, whether or not over the threshold
    contaminated: list[Match]  # one per contaminated line (its worst pair)
    duplicates: list[tuple[float, int, int, str, str]]  # (similarity, line a, line b, text a, text b)
    requests: int

    @property
    def clean(self) -> bool:
        return not self.contaminated


def check(lines: Sequence[dict[str, Any] | None], requests: Sequence[EvalRequest] | None = None,
          top: int = 5) -> DecontamReport:
    """Decontaminate parsed lines (None for a line that did not parse; it is skipped)."""
    requests = eval_requests() if requests is None else list(requests)
    best: list[Match] = []
    bad: list[Match] = []
    firsts: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            continue
        texts = user_texts(line)
        if texts:
            firsts.append((number, texts[0]))
        matches = line_matches(texts, requests, number)
        if matches:
            best.append(matches[0])
            if matches[0].score >= THRESHOLD:
                bad.append(matches[0])
    best.sort(key=lambda m: (-m.score, m.line))
    return DecontamReport(THRESHOLD, best[:top], bad, near_duplicates(firsts), len(requests))


def near_duplicates(requests: Sequence[tuple[int, str]], threshold: float = DUPLICATE_THRESHOLD
                    ) -> list[tuple[float, int, int, str, str]]:
    """Pairs of (line, first user request) at or over the Jaccard threshold, most similar first."""
    gram_sets = [(n, t, grams(normalise(t))) for n, t in requests]
    out = []
    for i, (na, ta, ga) in enumerate(gram_sets):
        for nb, tb, gb in gram_sets[i + 1:]:
            if ga and gb:
                sim = len(ga & gb) / len(ga | gb)
                if sim >= threshold:
                    out.append((sim, na, nb, ta, tb))
    return sorted(out, key=lambda d: (-d[0], d[1], d[2]))


def format_report(report: DecontamReport, max_duplicates: int = 10) -> str:
    lines = [f"decontamination: {report.requests} eval requests, word {N}-gram containment, "
             f"threshold {report.threshold:.2f}"]
    lines.append("contaminated lines: " + (str(len(report.contaminated)) if report.contaminated else "none"))
    for m in report.contaminated:
        lines.append(f"  line {m.line}: {m.score:.2f} vs scenario {m.scenario}: {m.text!r} ~ {m.request!r}")
    lines.append(f"nearest pairs (top {len(report.nearest)}):")
    for m in report.nearest:
        lines.append(f"  {m.score:.2f}  line {m.line} {m.text[:70]!r}  ~  {m.scenario} {m.request[:70]!r}")
    lines.append(f"near duplicates inside the dataset (Jaccard >= {DUPLICATE_THRESHOLD:.2f}): {len(report.duplicates)}")
    for sim, a, b, ta, _tb in report.duplicates[:max_duplicates]:
        lines.append(f"  {sim:.2f}  lines {a} and {b}: {ta[:80]!r}")
    if len(report.duplicates) > max_duplicates:
        lines.append(f"  ... and {len(report.duplicates) - max_duplicates} more")
    return "\n".join(lines)
