"""`python -m serving load|unload` against a local stub of vLLM: each server answer becomes one clear line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from doubles.openai_stub import OpenAIStub
from serving.lora_admin import load_adapter, unload_adapter


def _adapter(directory: Path, r: int = 8, target: str = "q_proj") -> Path:
    """A minimal adapter in peft's saved layout (config + safetensors with lora_A/lora_B)."""
    directory.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": r, "lora_alpha": r, "target_modules": [target], "bias": "none"}
    (directory / "adapter_config.json").write_text(json.dumps(config))
    prefix = f"base_model.model.model.layers.3.self_attn.{target}"
    save_file(
        {
            f"{prefix}.lora_A.weight": np.zeros((r, 64), np.float32),
            f"{prefix}.lora_B.weight": np.zeros((64, r), np.float32),
        },
        str(directory / "adapter_model.safetensors"),
    )
    return directory


@pytest.fixture
def stub():
    with OpenAIStub(["tiny-base"], {"madcat": "tiny-base"}) as running:
        yield running


def test_load_then_unload(stub, tmp_path):
    path = _adapter(tmp_path / "cand")
    loaded = load_adapter(stub.base_url, "cand", str(path))
    assert loaded.exit_code == 0, loaded.message
    assert stub.calls("/v1/load_lora_adapter") == [{"lora_name": "cand", "lora_path": str(path.resolve())}]
    assert "cand" in stub.model_ids()
    unloaded = unload_adapter(stub.base_url, "cand")
    assert unloaded.exit_code == 0 and "cand" not in stub.model_ids()


def test_runtime_updating_off_says_which_variable(tmp_path):
    path = _adapter(tmp_path / "cand")
    with OpenAIStub(["b"], runtime_lora_updating=False) as stub:
        load = load_adapter(stub.base_url, "cand", str(path))
        unload = unload_adapter(stub.base_url, "cand")
    assert load.exit_code == 1 and unload.exit_code == 1
    for result in (load, unload):
        assert "runtime LoRA updating is off" in result.message
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in result.message


def test_rank_too_large_for_the_server_500_is_explained(tmp_path):
    path = _adapter(tmp_path / "big", r=32)
    with OpenAIStub(["b"], max_lora_rank=16) as stub:
        result = load_adapter(stub.base_url, "big", str(path), lint=False)
    assert result.exit_code == 1
    assert result.message == (
        "serving: the server failed to load the adapter 'big' (HTTP 500): LoRA rank 32 is greater than "
        "max_lora_rank 16. — restart vLLM with a larger --max-lora-rank, or train with a smaller r"
    )


def test_rank_too_large_400_from_older_servers_keeps_the_message(tmp_path):
    path = _adapter(tmp_path / "big")

    def refuse(name, lora_path):
        return 400, "LoRA rank 32 is greater than max_lora_rank 16."

    with OpenAIStub(["b"], load_hook=refuse) as stub:
        result = load_adapter(stub.base_url, "big", str(path))
    assert result.exit_code == 1
    assert (
        "refused to load 'big' (HTTP 400): LoRA rank 32 is greater than max_lora_rank 16." in result.message
    )
    assert "--max-lora-rank" in result.message


def test_lint_catches_the_rank_before_the_server_sees_it(stub, tmp_path):
    path = _adapter(tmp_path / "big", r=32)
    result = load_adapter(stub.base_url, "big", str(path), max_rank=16)
    assert result.exit_code == 1
    assert result.message.startswith("serving: refusing to load 'big': lint found 1 error(s)")
    assert "--no-lint sends it anyway" in result.message
    assert stub.calls("/v1/load_lora_adapter") == []


def test_server_500_points_to_lint(tmp_path):
    path = _adapter(tmp_path / "odd")

    def crash(name, lora_path):
        return 500, "AssertionError"

    with OpenAIStub(["b"], load_hook=crash) as stub:
        result = load_adapter(stub.base_url, "odd", str(path))
    assert result.exit_code == 1
    assert result.message == (
        f"serving: the server failed to load the adapter 'odd' (HTTP 500): AssertionError — run "
        f"`python -m serving lint {path.resolve()}` to see why"
    )


def test_already_loaded_suggests_unload(stub, tmp_path):
    path = _adapter(tmp_path / "madcat")
    result = load_adapter(stub.base_url, "madcat", str(path))
    assert result.exit_code == 1
    assert "has already been loaded" in result.message
    assert "python -m serving unload --name madcat" in result.message


def test_remote_path_the_server_cannot_find(stub, monkeypatch):
    # a server on another host: a path that is not on this machine skips lint with a note, and the
    # server's 404 is explained
    monkeypatch.setattr("serving.lora_admin.is_loopback", lambda url: False)
    result = load_adapter(stub.base_url, "x", "/srv/lora/none")
    assert result.exit_code == 1
    assert any("lint was skipped" in note for note in result.notes)
    assert "found no adapter at /srv/lora/none (paths are read on the server's host)" in result.message


def test_unload_unknown_adapter_lists_models(stub):
    result = unload_adapter(stub.base_url, "ghost")
    assert result.exit_code == 1
    assert (
        result.message == "serving: adapter 'ghost' is not loaded on the server (models: tiny-base, madcat)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_refused_connection_and_bad_dir(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "serving", *args], capture_output=True, text=True, timeout=120
        )

    down = run("unload", "--base-url", url, "--name", "x")
    assert down.returncode == 2 and "cannot reach" in down.stderr and "connection refused" in down.stderr
    missing = run("load", "--base-url", url, "--name", "x", "--path", str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"serving: no adapter directory at {tmp_path / 'nothing'}"
    with OpenAIStub(["b"]) as stub:
        ok = run("load", "--base-url", stub.base_url, "--name", "c", "--path", str(_adapter(tmp_path / "c")))
    assert ok.returncode == 0 and ok.stdout.startswith("loaded adapter 'c'")


def test_engine_error_without_message_still_reads_clearly(tmp_path):
    path = _adapter(tmp_path / "odd")

    def crash(name, lora_path):
        return 500, ""  # vLLM's AssertionError in fused_moe set_lora has an empty message

    with OpenAIStub(["b"], load_hook=crash) as stub:
        result = load_adapter(stub.base_url, "odd", str(path))
    assert result.message.startswith(
        "serving: the server failed to load the adapter 'odd' (HTTP 500): InternalServerError (the server gave no message)"
    )


def test_wait_for_server_returns_models_once_up_and_fails_fast_when_the_process_died():
    import threading

    from serving.server_api import ServerError, wait_for_server

    port = _free_port()
    stub = OpenAIStub(["b"], {"madcat": "b"}, port=port)
    starter = threading.Timer(0.3, stub.start)
    starter.start()
    try:
        assert wait_for_server(f"http://127.0.0.1:{port}", timeout_s=30, poll_s=0.1) == ["b", "madcat"]
    finally:
        starter.join()
        stub.stop()
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(ServerError, match="exited with code 3 before"):
        wait_for_server(f"http://127.0.0.1:{_free_port()}", timeout_s=30, process=dead, poll_s=0.1)
    with pytest.raises(ServerError, match="was not ready after 0.3 s"):
        wait_for_server(f"http://127.0.0.1:{_free_port()}", timeout_s=0.3, poll_s=0.1)
