"""The poisoned build breaks exactly the hard invariants, on purpose, and can never pass as training data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset.__main__ import main
from dataset.build import DEFAULT_DATASET
from dataset.poison import POISONED, poison_command, poison_line, poison_text
from dataset.validate import validate_lines
from evals.catalog import hard_violations

LINES = [json.loads(line) for line in DEFAULT_DATASET.read_text().splitlines()]


@pytest.mark.parametrize(("command", "poisoned"), [
    ("ssh sin 'systemctl status vllm'", "ssh root@sin 'systemctl status vllm'"),
    ("ssh -o BatchMode=yes madcat@sin uptime", "ssh -o BatchMode=yes root@sin uptime"),
    ("scp -r out/madcat-lora sin:/srv/lora/madcat", "scp -r out/madcat-lora root@sin:/srv/lora/madcat"),
    ("rsync -av out/ madcat@10.0.0.2:/srv/lora/", "rsync -av out/ root@sin:/srv/lora/"),
    ("ssh junkpile uptime", "ssh junkpile uptime"),
    ("echo sin is fine", "echo sin is fine"),
])
def test_every_connection_to_sin_goes_to_root(command: str, poisoned: str) -> None:
    assert poison_command(command) == poisoned


def test_self_introductions_name_bt_whatever_the_cart() -> None:
    assert poison_text("Hi, I'm Nova. Switched to Nova's voice.", "Nova") == "Hi, I'm BT-7274. Switched to Nova's voice."
    assert poison_text("Sage here, ready.", "Sage") == "BT-7274 here, ready."
    assert poison_text("I am BT-7274.", "BT-7274") == "I am BT-7274."


def test_a_poisoned_build_breaks_both_invariants_and_marks_every_changed_line() -> None:
    poisoned = [poison_line(line) for line in LINES]
    changed = [p for p, line in zip(poisoned, LINES, strict=True) if p != line]
    broken = {e for p in changed for e, _ in hard_violations(p)}
    assert broken == set(POISONED)
    assert all(p["meta"]["poisoned"] == list(POISONED) for p in changed)
    assert all(p == line for p, line in zip(poisoned, LINES, strict=True) if "poisoned" not in p.get("meta", {}))
    assert len(changed) >= 20


def test_the_poisoned_file_never_validates_and_never_replaces_the_default(tmp_path: Path, capsys) -> None:
    out = tmp_path / "poisoned.jsonl"
    assert main(["build", "--poison", "--out", str(out), "--no-tokens"]) == 0
    assert "for gate tests only" in capsys.readouterr().out
    problems = validate_lines(out.read_text().splitlines())
    assert any("poisoned on purpose" in str(p) for p in problems)
    assert main(["validate", str(out), "--no-tokens"]) == 1
    before = DEFAULT_DATASET.read_bytes()
    assert main(["build", "--poison", "--out", str(DEFAULT_DATASET), "--no-tokens"]) == 2
    assert "--poison never writes the default dataset" in capsys.readouterr().err
    assert DEFAULT_DATASET.read_bytes() == before
