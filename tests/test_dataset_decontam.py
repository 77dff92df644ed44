"""`dataset.decontam`: normalisation, the containment score, contaminated lines and near duplicates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dataset import decontam
from dataset.decontam import EvalRequest, check, containment, jaccard, normalise

REQUESTS = [EvalRequest("tts-x", "Say 'coffee break, back in ten' out loud."),
            EvalRequest("persona-y", "Introduce yourself.")]


def line(*users: str) -> dict:
    messages = [{"role": "system", "content": "You are Nova."}]
    for text in users:
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]
    return {"messages": messages}


def test_normalise_folds_case_punctuation_and_space():
    assert normalise("  Say 'Coffee break,'\n back   in TEN!  ") == ["say", "coffee", "break", "back", "in", "ten"]
    assert normalise("src/users.ts") == ["src", "users", "ts"]


def test_containment_of_a_copied_request_is_one_whatever_the_punctuation():
    assert containment("hey — SAY coffee break back in ten OUT LOUD, thanks", REQUESTS[0].text) == 1.0
    assert containment("Could you introduce yourself?", "Introduce yourself.") == 1.0  # short: the whole request


def test_a_shared_phrase_stays_under_the_threshold():
    score = containment("Say coffee break in ten minutes to the room.", REQUESTS[0].text)
    assert 0 < score < decontam.THRESHOLD


@given(st.text(max_size=80), st.text(max_size=80))
def test_scores_are_between_zero_and_one(a: str, b: str):
    assert 0.0 <= containment(a, b) <= 1.0
    assert 0.0 <= jaccard(a, b) <= 1.0
    if normalise(b):
        assert containment(b, b) == 1.0


def test_check_reports_contaminated_lines_nearest_pairs_and_threshold():
    lines = [line("Deploy the docs."), line("first this", "Say coffee break back in ten out loud please"), None,
             line("Tell me about yourself.")]
    report = check(lines, REQUESTS)
    assert not report.clean
    assert [m.line for m in report.contaminated] == [2]
    assert report.contaminated[0].scenario == "tts-x"
    assert report.nearest[0].line == 2 and report.nearest[0].score == 1.0
    assert report.threshold == decontam.THRESHOLD
    text = decontam.format_report(report)
    assert "threshold 0.50" in text and "line 2: 1.00 vs scenario tts-x" in text


def test_clean_report_still_lists_the_nearest_pairs():
    report = check([line("Deploy the docs."), line("Tell me about yourself.")], REQUESTS)
    assert report.clean
    assert len(report.nearest) == 2
    assert "contaminated lines: none" in decontam.format_report(report)


def test_near_duplicates_inside_the_dataset():
    lines = [line("Install ripgrep on the CI box."), line("Install ripgrep on the CI box!"), line("Check the GPU.")]
    report = check(lines, REQUESTS)
    assert [(a, b) for _, a, b, _, _ in report.duplicates] == [(1, 2)]


def test_the_eval_catalog_requests_are_loaded():
    requests = decontam.eval_requests()
    assert len(requests) >= 50
    assert all(r.scenario and r.text for r in requests)
    # short canned confirmations are not treated as requests
    assert not any(r.text.strip().lower() in {"go ahead.", "yes, go ahead"} for r in requests)
