"""The README is a front door (issue 30): short, the own-server command on its first screen, and every relative
link in it and in docs/ leads to a file of the repository. docs/training.md states the experts defaults the code has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
MAX_README_LINES = 150
FIRST_SCREEN_LINES = 40
# [text](target) and [text](target "title"); images too
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(markdown: str) -> list[str]:
    """The link targets of `markdown` that point into the repository (no scheme, no mailto, no bare anchor),
    without their #fragment; links inside fenced code blocks are not links."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    targets = []
    for target in LINK.findall(prose):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_relative_links_are_found_and_others_skipped() -> None:
    text = ("See [a](docs/a.md#part), ![img](x.png \"t\"), [web](https://example.org), [mail](mailto:x@y),"
            " [top](#layout).\n```\n[code](not/a/link.md)\n```\n")
    assert relative_links(text) == ["docs/a.md", "x.png"]


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move reference into docs/"


def test_own_server_command_is_on_the_first_screen() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN_LINES])
    for needed in ("pytest evals/", "--backend vllm", "--base-url", "--adapter NAME", "--adapter-dir", "--base-model"):
        assert needed in first_screen, f"{needed!r} is not in README.md's first {FIRST_SCREEN_LINES} lines"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    targets = relative_links(page.read_text(encoding="utf-8"))
    missing = [t for t in targets if not (page.parent / t).is_file()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


def test_readme_links_every_doc() -> None:
    linked = {(REPO / t).resolve() for t in relative_links(README.read_text(encoding="utf-8"))}
    unlinked = [d.name for d in DOCS if d.resolve() not in linked]
    assert not unlinked, f"README.md does not link {unlinked}"


def test_training_doc_states_the_experts_defaults() -> None:
    from training.config import TrainConfig

    code_default = TrainConfig.__dataclass_fields__["experts"].default
    seed_config = yaml.safe_load((REPO / "training" / "configs" / "madcat.yaml").read_text(encoding="utf-8"))
    text = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    assert f"`TrainConfig.experts` (`training/config.py`) defaults to `{code_default}`" in text
    assert f"`training/configs/madcat.yaml` sets `experts: {seed_config['experts']}`" in text
