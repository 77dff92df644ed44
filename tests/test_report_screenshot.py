"""The comparison report as a reader sees it (issue 31): a headless Chromium renders a demo-like report at
1280 px; the picture shows the verdict banner first and the forest plot, nothing is wider than the window,
and the "what changed" links open readable trajectories."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread
from reports_builders import SCENARIOS, grid, pin_hard_invariants, rules_file, write_run

from reports.__main__ import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/setup.sh installs it)")
SOFT = "tts.uses_active_cart_voice"
WIDTH = 1280


def _browser(*args: str) -> str:
    out = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--no-first-run", f"--window-size={WIDTH},2400", *args],
                         capture_output=True, text=True, timeout=120)
    return out.stdout


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(runs))
    pin_hard_invariants(monkeypatch)
    steps = ["t1 settings_get {} -> active_cart: nova", "t2 tts_speak {\"voice\": \"nova\"} -> ok", "t2 says: done"]
    write_run(runs, "baseline", grid(lambda e, s, k: e != SOFT and (int(s[1:]) + k) % 3 != 0,
                                     trajectory=steps[:1]), adapter=None)
    write_run(runs, "adapter", grid(lambda e, s, k: e == SOFT or (int(s[1:]) + k) % 3 != 0, trajectory=steps))
    rules = rules_file(tmp_path, thresholds={"default": 0.6, "evals": {"agent.todo_for_multistep": 0.9}})
    assert main(["gate", "adapter", "--baseline", "baseline", "--rules", str(rules)]) == 1
    out = tmp_path / "report"
    assert main(["compare", "baseline", "adapter", "--names", "baseline,adapter", "--out", str(out),
                 "--bootstrap", "500"]) == 0
    return out / "comparison.html"


def _matching(pixels, colour: tuple[int, int, int], tolerance: int = 6):
    rgb = (pixels[..., :3] * 255).round()
    return (abs(rgb - colour) <= tolerance).all(axis=-1)


def test_the_report_opens_on_the_verdict_and_the_forest_plot_within_1280_px(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _browser(f"--screenshot={shot}", report.as_uri())
    pixels = imread(shot)
    assert pixels.shape[1] == WIDTH
    banner = pixels[:260]  # the first screenful's top: the title, then the banner
    assert _matching(banner, (251, 227, 225)).mean() > 0.15, "the red FAIL banner is not at the top"
    green = _matching(pixels, (46, 125, 50))  # a significant improvement: a filled green diamond
    assert green.sum() > 20, "no significant difference drawn in the forest plot"
    assert green.nonzero()[0].min() > 260, "the forest plot should follow the banner"

    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace(
        "</body>", "<script>document.body.dataset.scrollWidth = document.documentElement.scrollWidth</script></body>"))
    dom = _browser("--dump-dom", probe.as_uri())
    width = re.search(r'data-scroll-width="(\d+)"', dom)
    assert width and int(width[1]) <= WIDTH, "something is wider than the window"


def test_the_what_changed_links_open_readable_trajectories(report: Path) -> None:
    html = report.read_text()
    assert '<div class="banner fail" id="verdict">' in html.split("<h2>")[0]  # before any section
    assert "is below its threshold" in html  # a failing rule in a sentence
    links = re.findall(r'<a href="(trajectories/adapter/[^"]+)">PASS</a>', html)
    assert links and {f"{SOFT}__{s}" for s in SCENARIOS} & {Path(h).name.rsplit("__", 1)[0] for h in links}
    page = (report.parent / links[0]).read_text()
    assert "tts_speak" in page and "grader: ok" in page and "comparison.html" in page
    dom = _browser("--dump-dom", (report.parent / links[0]).as_uri())
    assert "PASS" in dom and "settings_get" in dom
