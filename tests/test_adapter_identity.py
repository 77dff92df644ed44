"""Which adapter was evaluated: the hash covers every file the adapter directory shows (symlinked directories
too), a vllm/openai run records what the server serves under the adapter's name and whether the LoRA is live,
and `reports promote` refuses a run whose served adapter cannot be tied to the hashed directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cli_harness import call
from reports_builders import grid, pin_hard_invariants, rules_file, write_run

from core.errors import BadInput
from core.hashing import adapter_sha256
from doubles.openai_stub import OpenAIStub
from doubles.scripted import good_agent
from doubles.scripted_model import stub_responder
from evals.scenarios import load_scenarios
from runner.runner import RunConfig, run

SCENARIO = "mesh-alias-bt-vllm-status"
IDENTITY_KEYS = ("backend", "adapter", "adapter_dir", "adapter_sha256", "served_adapter", "lora_fingerprint",
                 "adapter_identity")


def make_adapter(root: Path, payload: bytes = b"\x00weights") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 8, "peft_type": "LORA"}')
    (root / "adapter_model.safetensors").write_bytes(payload * 50)
    return root


# ---- the hash ------------------------------------------------------------------------------------

def test_the_hash_follows_symlinked_directories_as_documented(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    shared = tmp_path / "shared-checkpoint"
    shared.mkdir()
    (shared / "extra.safetensors").write_bytes(b"one")
    os.symlink(shared, adapter / "checkpoint")
    before = adapter_sha256(adapter)
    (shared / "extra.safetensors").write_bytes(b"two")  # a byte changed behind the symlinked directory
    assert adapter_sha256(adapter) != before
    copy = make_adapter(tmp_path / "copy")
    (copy / "checkpoint").mkdir()
    (copy / "checkpoint" / "extra.safetensors").write_bytes(b"two")
    assert adapter_sha256(copy) == adapter_sha256(adapter)  # the same as the files themselves


def test_a_symlink_loop_in_an_adapter_is_refused(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    os.symlink(adapter, adapter / "again")
    with pytest.raises(BadInput, match="symlink loop"):
        adapter_sha256(adapter)


# ---- what a run records ---------------------------------------------------------------------------

def _run(stub: OpenAIStub, tmp_path: Path, adapter: Path) -> dict[str, Any]:
    config = RunConfig(backend="vllm", base_url=stub.base_url + "/v1", adapter="madcat", adapter_dir=str(adapter),
                       epochs=1, scenarios=[SCENARIO], max_turns=30, report_dir=str(tmp_path / "runs"))
    lines: list[str] = []
    meta = run(config, progress=lines.append).document["run"]
    meta["_progress"] = lines
    return meta


def _stub(**kwargs: Any) -> OpenAIStub:
    scenarios = load_scenarios(ids=[SCENARIO])
    return OpenAIStub(["qwen3-coder-next"], {}, responder=stub_responder([good_agent(s) for s in scenarios]),
                      **kwargs)


def test_a_run_records_the_served_adapter_and_the_lora_fingerprint(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    with _stub() as stub:
        stub.add_adapter("madcat", "qwen3-coder-next", root=str(adapter))  # vLLM's --lora-modules madcat=DIR
        meta = _run(stub, tmp_path, adapter)
    served = meta["served_adapter"]
    assert (served["name"], served["parent"], served["root"]) == ("madcat", "qwen3-coder-next", str(adapter))
    assert served["sha256"] == meta["adapter_sha256"] == adapter_sha256(adapter)
    fingerprint = meta["lora_fingerprint"]
    assert fingerprint["live"] is True and fingerprint["probes"] and len(fingerprint["digest"]) == 64
    assert all(p["differs"] for p in fingerprint["probes"])
    assert meta["adapter_identity"] == "tied"
    assert not any("note:" in line for line in meta["_progress"])


def test_a_run_says_before_it_starts_when_the_served_adapter_is_not_the_hashed_one(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    other = make_adapter(tmp_path / "other", payload=b"\x01other")
    with _stub() as stub:
        stub.add_adapter("madcat", "qwen3-coder-next", root=str(other))
        meta = _run(stub, tmp_path, adapter)
    assert meta["served_adapter"]["sha256"] == adapter_sha256(other) != meta["adapter_sha256"]
    assert meta["adapter_identity"].startswith(f"the server serves 'madcat' from {other}")
    assert any("note: the served adapter is not tied to --adapter-dir" in line for line in meta["_progress"])


# ---- promote ---------------------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    runs = tmp_path / "reg-runs"
    monkeypatch.setenv("MADCAT_RUNS_DIR", str(runs))
    pin_hard_invariants(monkeypatch)
    write_run(runs, "baseline", grid(lambda e, s, k: (int(s[1:]) + k) % 2 == 0), adapter=None)
    return {"runs": runs, "registry": tmp_path / "registry.json", "rules": rules_file(tmp_path)}


def _promote(env: dict[str, Path], meta: dict[str, Any], run_id: str) -> tuple[int, str]:
    """Promote a run whose identity fields are those a real run recorded (and whose verdicts pass the gate)."""
    write_run(env["runs"], run_id, grid(), **{k: meta[k] for k in IDENTITY_KEYS if k in meta})
    result = call("reports", ["promote", run_id, "--registry", str(env["registry"]), "--rules", str(env["rules"]),
                              "--baseline", "baseline"])
    assert result.crash is None, result.crash
    return result.code, result.err


def test_promote_takes_a_run_whose_served_adapter_is_the_hashed_one(tmp_path: Path, env: dict[str, Path]) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    with _stub() as stub:
        stub.add_adapter("madcat", "qwen3-coder-next", root=str(adapter))
        meta = _run(stub, tmp_path, adapter)
    code, err = _promote(env, meta, "tied")
    assert code == 0, err


@pytest.mark.parametrize("case", ["served elsewhere", "not readable here", "dead LoRA", "nothing recorded"])
def test_promote_refuses_a_run_whose_served_adapter_cannot_be_tied(tmp_path: Path, env: dict[str, Path],
                                                                   case: str) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    other = make_adapter(tmp_path / "other", payload=b"\x01other")
    root = {"served elsewhere": str(other), "not readable here": "/opt/lora/on-another-host"}.get(case, str(adapter))
    with _stub(lora_live=case != "dead LoRA") as stub:
        stub.add_adapter("madcat", "qwen3-coder-next", root=root)
        meta = _run(stub, tmp_path, adapter)
    if case == "nothing recorded":  # a vllm run of before this check, or a results.json written by hand
        meta = {k: v for k, v in meta.items() if k not in ("served_adapter", "lora_fingerprint", "adapter_identity")}
    code, err = _promote(env, meta, "untied")
    assert code == 1, err
    assert err.count("\n") == 1 and "promote: refused — run untied cannot be tied to the adapter" in err
    expected = {"served elsewhere": f"serves 'madcat' from {other}", "not readable here": "not readable where the eval",
                "dead LoRA": "LoRA-is-live probes did not show", "nothing recorded": "recorded nothing"}[case]
    assert expected in err
    assert not env["registry"].exists()
