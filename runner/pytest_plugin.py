"""pytest front end of the behavioural suite (the root conftest loads it): `pytest evals/ --adapter madcat`.

One test item per eval ID (evals/test_behaviours.py; `-k memory` selects by name), judged through the
`madcat_judge` fixture, so the spec's test file never imports the runner. The selected behaviours run ONCE per session
(runner/runner.py: every scenario of every selected eval, k epochs, concurrently); then each item
checks its behaviour against evals/thresholds.yaml and, when it falls short, shows the failing tries
with the grader's reason and a compact trajectory. The backend is checked when collection ends: an
unreachable server or a missing adapter is one usage-error line (exit code 4), not a traceback.
Progress: one line per finished sample, printed past pytest's capture.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from core.verdicts import tally_line
from evals.thresholds import load_thresholds
from runner.run_options import RunConfig, add_run_options, config_from_options

EVAL_PARAM = "eval_id"
_RUN_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("madcat", "madcat behavioural suite (pytest evals/)")

    def add(name: str, *, dest: str, **kwargs: Any) -> None:
        group.addoption(name, dest="madcat_" + dest, **kwargs)

    add_run_options(add, where="pytest")


def _selected_evals(items: list[pytest.Item]) -> list[str]:
    out: list[str] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and EVAL_PARAM in callspec.params and item.get_closest_marker("madcat_behaviour"):
            out.append(str(callspec.params[EVAL_PARAM]))
    return list(dict.fromkeys(out))


def _config(config: pytest.Config, evals: list[str]) -> RunConfig:
    return config_from_options(lambda key: config.getoption("madcat_" + key), where="pytest", evals=evals)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "madcat_behaviour: one behaviour of the madcat spec (pytest evals/)")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Check the settings and the backend before any test runs (only when behaviours were collected)."""
    evals = _selected_evals(session.items)
    if not evals or session.config.option.collectonly:
        return
    from runner.runner import UsageError, interruption_line, plan, record_stopped_before_start, validate
    from runner.stop_signals import stop_like_ctrl_c

    run_config = _config(session.config, evals)
    state: dict[str, Any] = {"config": run_config, "plan": None, "outcome": None, "error": None, "stopped": None}
    session.config.stash[_RUN_KEY] = state
    try:
        eval_ids = validate(run_config)
        with stop_like_ctrl_c() as stop:
            try:
                state["plan"] = plan(run_config) if run_config.backend != "replay" else None
            except KeyboardInterrupt:  # Ctrl-C during the server check: record the run as stopped, run nothing
                state["outcome"] = record_stopped_before_start(run_config, eval_ids, load_thresholds(),
                                                               stop.signal or "SIGINT")
                state["stopped"] = f"madcat: {interruption_line(state['outcome'])}"
                session.items[:] = []
    except (UsageError, ValueError) as exc:
        raise pytest.UsageError(f"madcat: {exc}") from None


def _progress(config: pytest.Config):
    capture = config.pluginmanager.getplugin("capturemanager")

    def write(line: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
        else:
            sys.stderr.write(line + "\n")
    return write


@pytest.fixture(scope="session")
def madcat_run(request: pytest.FixtureRequest) -> Any:
    """The session's one run of every selected behaviour (a runner.runner.RunOutcome)."""
    from runner.runner import RunInterrupted, UsageError, interruption_line, run

    state = request.config.stash.get(_RUN_KEY, None)
    if state is None:
        pytest.skip("no madcat behaviours were selected")
    if state["error"] is not None:
        pytest.fail(state["error"], pytrace=False)
    if state["outcome"] is None:
        model_plan = state["plan"]
        try:
            state["outcome"] = run(state["config"], progress=_progress(request.config), planned=model_plan)
        except UsageError as exc:
            state["error"] = f"madcat: {exc}"
            pytest.fail(state["error"], pytrace=False)
        except RunInterrupted as exc:
            state["outcome"] = exc.outcome  # the terminal summary still points at the partial results
            state["stopped"] = f"madcat: {interruption_line(exc.outcome)}"
    if state["stopped"] is not None:  # one line (pytest's "Interrupted: ..."), no test judges partial results
        request.session.shouldstop = state["stopped"]
        state["announced"] = True
        pytest.skip("madcat: the run was interrupted")
    return state["outcome"]


@pytest.fixture(scope="session")
def madcat_judge(madcat_run: Any) -> Callable[[str], Any]:
    """Judges one eval ID on the session's run against evals/thresholds.yaml (a runner.results.Judgement)."""
    from runner.results import judge

    thresholds = load_thresholds()
    return lambda eval_id: judge(eval_id, madcat_run.rows, thresholds)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """An interrupted run exits as the shell expects: 130 for Ctrl-C, 143 for SIGTERM (README)."""
    state = session.config.stash.get(_RUN_KEY, None)
    if state and state.get("stopped") and state.get("outcome"):
        from runner.stop_signals import Stop

        session.exitstatus = Stop(state["outcome"].document["run"].get("stopped_by")).exit_code


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_RUN_KEY, None)
    outcome = state and state.get("outcome")
    if not outcome:
        return
    s = outcome.document["summary"]
    terminalreporter.write_sep("-", "madcat")
    terminalreporter.write_line(
        f"{s['evals_ok']}/{len(s['evals'])} behaviours met their threshold; {s['samples']} tries: "
        f"{tally_line(s)}; {s['requests']} requests, "
        f"{s['prompt_tokens_per_request'] or 0:.0f} prompt tokens per request")
    if outcome.interrupted:
        terminalreporter.write_line("interrupted: the samples that did not finish are marked incomplete")
    if state.get("stopped") and not state.get("announced"):  # stopped during the server check: no test ran
        terminalreporter.write_line(state["stopped"])
    terminalreporter.write_line(f"results: {outcome.results_path}")
    terminalreporter.write_line(f"logs:    inspect view --log-dir {outcome.run_dir / 'logs'}")
