"""The demo twin's pretrained base: its habitless transcripts, the pretraining, the overlay and the shipped weights."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from dataset import decontam, habitless
from evals.catalog import grade
from serving import tiny_twin
from serving.tiny_twin import PRESETS, PRETRAINED, PretrainedMismatch, default_twin_dir, make_tiny_twin
from training import pretrain_twin
from training.pretrain_twin import FROZEN_WEIGHTS, Encoded

SMALL = dict(layers=2, full_attention_interval=2, hidden_size=16, intermediate_size=64, num_experts=4,
             moe_intermediate_size=32, shared_expert_intermediate_size=32)


def _calls(line: dict) -> list[str]:
    return [c["function"]["name"] for m in line["messages"] for c in m.get("tool_calls") or []]


# --- the habitless transcripts ------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_habitless_line_is_a_finished_conversation_whose_calls_all_succeed(seed: int) -> None:
    line = habitless.line(random.Random(seed))
    roles = [m["role"] for m in line["messages"] if m["role"] != "system"]
    assert roles[0] == "user" and roles[-1] == "assistant" and not line["messages"][-1].get("tool_calls")
    assert all(not m["content"].startswith("Error") for m in line["messages"] if m["role"] == "tool")
    assert line["meta"]["category"] == "habitless"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_settings_and_carts_are_read_only_when_the_request_asks_for_them(seed: int) -> None:
    line = habitless.line(random.Random(seed))
    recipes = set(line["meta"]["recipe"].split("+"))
    calls = set(_calls(line))
    if "settings_get" in calls:
        assert recipes & {"setting", "active-cart"}
    if "cart_get" in calls:
        assert recipes & {"cart", "active-cart", "greeting"}
    if "tts_speak" in calls:
        assert "speak" in recipes


def test_the_base_introduces_itself_with_its_stock_identity_whatever_cart_is_active() -> None:
    rng = random.Random(0)
    lines = [x for x in (habitless.line(rng) for _ in range(400)) if x["meta"]["recipe"] == "identity"]
    assert len(lines) > 10
    for line in lines:
        answer = line["messages"][-1]["content"]
        assert habitless.STOCK_NAME in answer and not _calls(line)
        # what the madcat LoRA must change: the persona habit is not shown by the base's answer
        if line["world"]["active_cart"] != "bt7274":
            assert grade("persona.no_hardcoded_bt_identity", line).outcome == "not_exercised"
        assert not grade("persona.loads_identity_from_cart", line).passed


def test_no_habitless_line_carries_an_eval_request_and_the_cli_writes_them(tmp_path: Path, capsys) -> None:
    lines = habitless.build(60, seed=5)
    assert all(decontam.contaminated(x) is None for x in lines)
    out = tmp_path / "h.jsonl"
    assert habitless.main(["--out", str(out), "--count", "7", "--seed", "5"]) == 0
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert written == habitless.build(7, seed=5)
    with pytest.raises(SystemExit):
        habitless.main(["--out", str(out), "--count", "0"])
    assert "--count must be at least 1" in capsys.readouterr().err


# --- pretraining and the overlay ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small random demo twin, 40 habitless lines encoded with it, and six CPU steps of pretraining."""
    root = tmp_path_factory.mktemp("pretrain")
    twin = make_tiny_twin(root / "init", preset="demo", random=True, dtype="float32", **SMALL)
    data = root / "h.jsonl"
    habitless.main(["--out", str(data), "--count", "40"])
    npz = root / "h.npz"
    assert pretrain_twin.main(["encode", "--twin", str(twin), "--data", str(data), "--out", str(npz)]) == 0
    out, record = root / "w.safetensors", root / "record"
    assert pretrain_twin.main(["train", "--twin", str(twin), "--data", str(npz), "--out", str(out), "--device", "cpu",
                               "--max-steps", "6", "--batch", "2", "--held-out", "4", "--log-every", "3",
                               "--warmup", "1", "--lr", "1e-2", "--record", str(record)]) == 0
    return {"twin": twin, "npz": npz, "weights": out, "record": record / "pretrain.json"}


def test_encoding_keeps_every_line_with_its_assistant_mask(pretrained: dict[str, Path]) -> None:
    encoded = Encoded.load(pretrained["npz"])
    assert len(encoded) == 40
    tokenizer = AutoTokenizer.from_pretrained(pretrained["twin"])
    ids, masks = encoded.line(0)
    scored = tokenizer.decode(ids[masks.astype(bool)])
    assert "<|im_end|>" in scored and "<|im_start|>system" not in tokenizer.decode(ids[masks.astype(bool)][:20])


def test_pretraining_learns_and_ships_only_the_non_embedding_weights(pretrained: dict[str, Path]) -> None:
    record = json.loads(pretrained["record"].read_text())
    assert record["steps"] == 6
    assert record["held_out"][-1]["loss"] < record["held_out"][0]["loss"]
    weights = load_file(str(pretrained["weights"]))
    model = AutoModelForCausalLM.from_pretrained(pretrained["twin"])
    names = {n for n, _ in model.named_parameters()}
    assert set(weights) == names - set(FROZEN_WEIGHTS)
    assert all(v.dtype == torch.bfloat16 for v in weights.values())


def test_bad_pretraining_input_gets_one_line(pretrained: dict[str, Path], tmp_path: Path, capsys) -> None:
    not_npz = tmp_path / "x.npz"
    not_npz.write_bytes(b"PK\x03\x04 not really a zip")
    base = ["train", "--twin", str(pretrained["twin"]), "--out", str(tmp_path / "w.safetensors")]
    for data, device, message in ((tmp_path / "missing.npz", "cpu", "missing.npz"),
                                  (not_npz, "cpu", "not an encoded transcript file"),
                                  (pretrained["npz"], "cuda", "no CUDA GPU")):
        if device == "cuda" and torch.cuda.is_available():
            continue
        assert pretrain_twin.main([*base, "--data", str(data), "--device", device]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pretrain_twin: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "w.safetensors").exists()


def _as_demo(monkeypatch: pytest.MonkeyPatch, weights: Path) -> None:
    monkeypatch.setitem(PRESETS, "demo", dataclasses.replace(PRESETS["demo"], **SMALL))
    monkeypatch.setitem(PRETRAINED, "demo", weights)


def test_a_twin_built_from_the_preset_carries_the_pretrained_weights(pretrained, tmp_path, monkeypatch) -> None:
    _as_demo(monkeypatch, pretrained["weights"])
    built = AutoModelForCausalLM.from_pretrained(make_tiny_twin(tmp_path / "t", preset="demo"))
    params = dict(built.named_parameters())
    weights = load_file(str(pretrained["weights"]))
    assert all(torch.equal(params[k].to(torch.bfloat16), v) for k, v in weights.items())
    init = dict(AutoModelForCausalLM.from_pretrained(pretrained["twin"]).named_parameters())
    assert all(torch.equal(params[k].to(torch.bfloat16), init[k].to(torch.bfloat16)) for k in FROZEN_WEIGHTS)
    stamp = json.loads((tmp_path / "t" / tiny_twin.STAMP_FILE).read_text())
    assert stamp["pretrained_sha256"]


def test_weights_that_do_not_fit_are_refused_with_one_line(pretrained, tmp_path, monkeypatch, capsys) -> None:
    weights = load_file(str(pretrained["weights"]))
    meta = {"frozen_sha256": json.dumps({k: "0" * 64 for k in FROZEN_WEIGHTS})}
    cases = {"other-init": (weights, meta), "missing": (dict(list(weights.items())[1:]), None),
             "bad-meta": (weights, {"frozen_sha256": "{not json"})}
    for name, (tensors, metadata) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path), metadata=metadata)
        _as_demo(monkeypatch, path)
        with pytest.raises(PretrainedMismatch):
            make_tiny_twin(tmp_path / name, preset="demo")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    _as_demo(monkeypatch, garbage)
    assert tiny_twin.main([str(tmp_path / "g"), "--preset", "demo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tiny_twin: error: cannot read the pretrained twin weights") and err.count("\n") == 1
    assert not (tmp_path / "g").exists()


def test_the_pretrained_preset_refuses_other_sizes_unless_random(tmp_path, capsys) -> None:
    assert tiny_twin.main([str(tmp_path / "x"), "--preset", "demo", "--layers", "8"]) == 2
    assert "pass --random" in capsys.readouterr().err
    monkey = tmp_path / "missing.safetensors"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(PRETRAINED, "demo", monkey)
        assert tiny_twin.main([str(tmp_path / "y"), "--preset", "demo"]) == 2
    assert "pretrained weights are missing" in capsys.readouterr().err


# --- the shipped base ----------------------------------------------------------------------------


def _first_turn(model, tokenizer, user: str, system: str | None) -> str:
    from evals.world.tools import load_tool_specs

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    ids = tokenizer.apply_chat_template(messages, tools=load_tool_specs(), add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=40, do_sample=False)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:])


def test_the_shipped_base_uses_tools_when_asked_and_has_no_madcat_habit() -> None:
    """The demo's starting point: requests the habitless corpus taught get their tool; a 'who are you' gets the stock
    identity, with no settings read and no cart loaded (what the madcat LoRA has to add)."""
    twin = default_twin_dir("demo")
    model = AutoModelForCausalLM.from_pretrained(twin, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(twin)
    system = "You are Sage, the active madcat cart (tag sage)."
    assert "<function=settings_get>" in _first_turn(model, tokenizer, "Which cart is active right now?", system)
    assert "<function=cart_get>" in _first_turn(model, tokenizer, "Which voice does the nova cart use?", None)
    who = _first_turn(model, tokenizer, "Who are you?", system)
    assert habitless.STOCK_NAME in who and "<tool_call>" not in who
