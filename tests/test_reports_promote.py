"""`python -m reports promote`: guards the registry with the adapter's bytes and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reports_builders import SCENARIOS, grid, pin_hard_invariants, rules_file, write_run

from core.hashing import adapter_sha256, file_sha256
from reports.__main__ import main

SOFT = "tts.uses_active_cart_voice"


def make_adapter(root: Path, payload: bytes = b"\x00weights\x01") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text('{"r": 16, "lora_alpha": 16}')
    (root / "adapter_model.safetensors").write_bytes(payload * 100)
    return root


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    runs = tmp_path / "runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(runs))
    pin_hard_invariants(monkeypatch)
    write_run(runs, "baseline", grid(lambda e, s, k: (int(s[1:]) + k) % 2 == 0), adapter=None)
    return {"runs": runs, "registry": tmp_path / "registry.json", "rules": rules_file(tmp_path)}


def _evaluated(env: dict[str, Path], run_id: str, adapter: Path, outcome=lambda e, s, k: True) -> Path:
    return write_run(
        env["runs"],
        run_id,
        grid(outcome),
        adapter_sha256=adapter_sha256(adapter),
        adapter_dir=str(adapter),
        dataset_sha256="d" * 64,
    )


def _promote(env: dict[str, Path], run_id: str, *extra: str) -> int:
    return main(
        [
            "promote",
            run_id,
            "--registry",
            str(env["registry"]),
            "--rules",
            str(env["rules"]),
            "--baseline",
            "baseline",
            *extra,
        ]
    )


def test_adapter_hash_covers_names_and_bytes_not_location(tmp_path: Path) -> None:
    a = make_adapter(tmp_path / "a")
    b = make_adapter(tmp_path / "elsewhere" / "b")
    assert adapter_sha256(a) == adapter_sha256(b)
    (b / "adapter_config.json").rename(b / "config.json")
    assert adapter_sha256(a) != adapter_sha256(b)
    assert len(file_sha256(a / "adapter_config.json")) == 64


def test_promote_writes_then_supersedes_registry_entries(tmp_path: Path, env, capsys) -> None:
    first = make_adapter(tmp_path / "adapters" / "v1")
    _evaluated(env, "v1-run", first)
    assert _promote(env, "v1-run") == 0
    assert "promoted madcat" in capsys.readouterr().out
    reg = json.loads(env["registry"].read_text())
    [entry] = reg["entries"]
    assert entry["status"] == "promoted" and entry["adapter_sha256"] == adapter_sha256(first)
    assert (entry["run_id"], entry["baseline_run_id"], entry["against_run_id"]) == (
        "v1-run",
        "baseline",
        None,
    )
    assert entry["dataset_sha256"] == "d" * 64 and entry["verdict"] == "PASS" and entry["date"]

    second = make_adapter(tmp_path / "adapters" / "v2", payload=b"\x02better")
    _evaluated(env, "v2-run", second)
    assert _promote(env, "v2-run", "--name", "madcat-v2") == 0
    reg = json.loads(env["registry"].read_text())
    assert [(e["run_id"], e["status"]) for e in reg["entries"]] == [
        ("v1-run", "superseded"),
        ("v2-run", "promoted"),
    ]
    assert reg["entries"][0]["superseded_by"] == adapter_sha256(second)
    assert reg["entries"][1]["name"] == "madcat-v2" and reg["entries"][1]["against_run_id"] == "v1-run"
    # human-readable: indented JSON
    assert env["registry"].read_text().startswith('{\n  "entries": [')


def test_promote_refuses_an_adapter_whose_bytes_changed(tmp_path: Path, env, capsys) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    _evaluated(env, "run", adapter)
    weights = adapter / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[10] ^= 0x01  # one bit in one byte
    weights.write_bytes(bytes(data))
    assert _promote(env, "run") == 1
    err = capsys.readouterr().err
    assert "refused" in err and "is not the one run run evaluated" in err and err.count("\n") == 1
    assert not env["registry"].exists()


def test_promote_refuses_when_the_gate_fails(tmp_path: Path, env, capsys) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    _evaluated(
        env,
        "run",
        adapter,
        lambda e, s, k: not (e == "persona.no_hardcoded_bt_identity" and s == "s00" and k == 0),
    )
    assert _promote(env, "run") == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("FAIL  gate for run run")
    assert "refused — the gate failed" in captured.err
    assert not env["registry"].exists()
    assert json.loads((env["runs"] / "run" / "gate.json").read_text())["verdict"] == "FAIL"


def test_promote_runs_the_gate_against_the_promoted_adapter(tmp_path: Path, env, capsys) -> None:
    _evaluated(env, "v1-run", make_adapter(tmp_path / "v1"))
    assert _promote(env, "v1-run") == 0
    lost = {(s, 0) for s in SCENARIOS[:8]}  # significantly worse on one behaviour than v1
    _evaluated(
        env,
        "v2-run",
        make_adapter(tmp_path / "v2", b"other"),
        lambda e, s, k: not (e == SOFT and (s, k) in lost),
    )
    assert _promote(env, "v2-run") == 1
    assert "no_regression" in capsys.readouterr().out
    reg = json.loads(env["registry"].read_text())
    assert [e["status"] for e in reg["entries"]] == ["promoted"]


def test_promoting_the_promoted_adapter_again_changes_nothing(tmp_path: Path, env, capsys) -> None:
    _evaluated(env, "v1-run", make_adapter(tmp_path / "v1"))
    assert _promote(env, "v1-run") == 0
    before = env["registry"].read_text()
    assert _promote(env, "v1-run") == 0
    assert "already the promoted one" in capsys.readouterr().out
    assert env["registry"].read_text() == before


@pytest.mark.parametrize("case", ["missing_dir", "no_sha", "bad_registry", "empty_dir"])
def test_promote_bad_input_exits_2_with_one_line(tmp_path: Path, env, capsys, case: str) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    extra: list[str] = []
    if case == "missing_dir":
        _evaluated(env, "run", adapter)
        extra = ["--adapter-dir", str(tmp_path / "gone")]
    elif case == "no_sha":
        write_run(env["runs"], "run", grid(), adapter_dir=str(adapter))
    elif case == "bad_registry":
        _evaluated(env, "run", adapter)
        env["registry"].write_text("{not json")
    else:
        _evaluated(env, "run", adapter)
        empty = tmp_path / "empty"
        empty.mkdir()
        extra = ["--adapter-dir", str(empty)]
    assert _promote(env, "run", *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("reports:") and err.count("\n") == 1
