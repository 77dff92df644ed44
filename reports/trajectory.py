"""A sample's trajectory as a readable HTML page: the messages, each tool call with its arguments and its
result, and the grader's verdict and reason. Read from the run's inspect .eval log when it has one (the
full messages), else from the compact trajectory results.json keeps per row (one line per step)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.results import Outcome, SampleKey
from reports.results import Run

_CSS = """
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:1.2em auto;
padding:0 1em;color:#222}h1{font-size:1.3em}.verdict{border-radius:6px;padding:.6em .9em;border:2px solid;margin:.8em 0}
.verdict.PASS{background:#e3f4e6;border-color:#2e7d32}.verdict.FAIL{background:#fbe3e1;border-color:#c62828}
.verdict.NOT,.verdict.INCOMPLETE{background:#fff4d6;border-color:#e0a800}
.msg{border:1px solid #ddd;border-left:5px solid #999;border-radius:4px;margin:.5em 0;padding:.4em .7em}
.msg .role{font-size:.75em;font-weight:700;text-transform:uppercase;color:#666}
.msg.user{border-left-color:#1565c0}.msg.assistant{border-left-color:#6a1b9a}.msg.tool{border-left-color:#00838f;
background:#f5fbfc}.msg.system{border-left-color:#999;background:#fafafa}.msg.step{border-left-color:#6a1b9a}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3em 0;font-size:.85em}
.call{background:#f3eef8;border-radius:4px;padding:.3em .5em;margin:.3em 0;font-family:ui-monospace,monospace;
font-size:.85em;overflow-wrap:anywhere}details summary{cursor:pointer;color:#555}
"""
_SYSTEM_SHOWN = 600  # characters of the (long) system prompt shown before the fold


@dataclass(frozen=True)
class Step:
    role: str  # system | user | assistant | tool | step (a compact line from results.json)
    text: str
    calls: tuple[str, ...] = ()  # `name {json arguments}` per tool call
    error: str = ""


def _steps_of_sample(sample: Any) -> list[Step]:
    steps = []
    for m in sample.messages or []:
        calls = tuple(f"{c.function} {json.dumps(c.arguments, ensure_ascii=False)}"
                      for c in (getattr(m, "tool_calls", None) or []))
        error = getattr(m, "error", None)
        name = getattr(m, "function", None)
        role = m.role + (f" · {name}" if m.role == "tool" and name else "")
        steps.append(Step(role, m.text or "", calls, getattr(error, "message", "") if error else ""))
    return steps


def steps_from_eval_log(path: Path) -> dict[SampleKey, list[Step]]:
    """Every sample of one inspect .eval log: {(eval, scenario, epoch): its messages}."""
    from inspect_ai.log import read_eval_log  # only when a report links trajectories

    out: dict[SampleKey, list[Step]] = {}
    for sample in read_eval_log(str(path)).samples or []:
        meta = sample.metadata or {}
        key = (str(meta.get("eval")), str(meta.get("scenario", sample.id)), int(sample.epoch))
        out[key] = _steps_of_sample(sample)
    return out


def _compact_steps(run: Run) -> dict[SampleKey, list[Step]]:
    try:
        rows = json.loads(run.path.read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {(r["eval"], r["scenario"], int(r["epoch"])): [Step("step", str(line)) for line in r["trajectory"]]
            for r in rows if isinstance(r, dict) and r.get("trajectory")}


def run_steps(run: Run, keys: set[SampleKey]) -> dict[SampleKey, tuple[list[Step], str]]:
    """The steps of each wanted sample and where they came from (the .eval log, else results.json)."""
    found: dict[SampleKey, tuple[list[Step], str]] = {}
    logs = {o.log for o in run.outcomes if o.key in keys and o.log}
    for log in sorted(logs):
        path = run.resolve_log(log)
        if not path.is_file():
            continue
        try:
            steps = steps_from_eval_log(path)
        except Exception:  # noqa: BLE001 - an unreadable log: fall back to the run's own record
            continue
        found.update({k: (v, f"inspect log {path.name}") for k, v in steps.items() if k in keys})
    compact = _compact_steps(run)
    for k in keys - set(found):
        if k in compact:
            found[k] = (compact[k], "results.json (one line per step)")
    return found


def _step_html(step: Step) -> str:
    role = step.role.split(" ")[0]
    text = step.text
    body = ""
    if role == "system" and len(text) > _SYSTEM_SHOWN:
        body = (f"<details><summary>system prompt ({len(text)} characters)</summary>"
                f"<pre>{html.escape(text)}</pre></details>")
    elif text:
        body = f"<pre>{html.escape(text)}</pre>"
    body += "".join(f'<div class="call">→ {html.escape(c)}</div>' for c in step.calls)
    if step.error:
        body += f"<pre>error: {html.escape(step.error)}</pre>"
    return f'<div class="msg {role}"><div class="role">{html.escape(step.role)}</div>{body or "<pre>(empty)</pre>"}</div>'


def render_page(outcome: Outcome, arm: str, steps: list[Step] | None, source: str, back: str) -> str:
    """One sample's page: the verdict and the grader's reason first, then every step."""
    title = f"{arm}: {outcome.eval} · {outcome.scenario} #{outcome.epoch}"
    verdict = outcome.verdict
    violations = f"<br>hard invariants broken: {html.escape(', '.join(outcome.hard_violations))}" if (
        outcome.hard_violations) else ""
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f'<p><a href="{html.escape(back, quote=True)}">← back to the comparison</a></p>',
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="verdict {verdict.split()[0]}"><b>{verdict}</b> — grader: '
        f"{html.escape(outcome.reason or '(no reason recorded)')}{violations}</div>",
    ]
    if steps:
        parts.append(f"<p><small>from {html.escape(source)}</small></p>")
        parts += [_step_html(s) for s in steps]
    else:
        parts.append("<p>No trajectory recorded for this sample (neither an inspect log nor results.json has it).</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
