"""`python -m serving logprobs` against the OpenAI stub, then `python -m reports divergence` on two deployments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.openai_stub import OpenAIStub
from reports.__main__ import main as reports_main
from serving.__main__ import main as serving_main
from serving.logprobs import _position
from serving.tiny_twin import default_twin_dir


def test_a_position_gives_the_prompt_token_and_the_top1() -> None:
    own_is_top = {"7": {"logprob": -0.1, "rank": 1, "decoded_token": "a"}}
    assert _position(own_is_top) == ("a", -0.1, "a")
    own_is_not = {"7": {"logprob": -3.0, "rank": 4, "decoded_token": "b"}, "9": {"logprob": -0.2, "rank": 1,
                                                                             "decoded_token": "c"}}
    assert _position(own_is_not) == ("b", -3.0, "c")
    assert _position(None) == (None, None, None)


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = Path("dataset/madcat-system.jsonl").read_text().splitlines()[:2]
    path = tmp_path_factory.mktemp("lp") / "refs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_deployments_give_a_divergence_report(transcripts: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    twin = str(default_twin_dir())
    outs = []
    for live in (True, False):  # a live LoRA and a dead one answer with different logprobs
        with OpenAIStub(adapters={"madcat": "tiny-base"}, lora_live=live) as stub:
            out = tmp_path / f"lp-{live}.json"
            code = serving_main(["logprobs", "--base-url", stub.base_url, "--model", "madcat", "--tokenizer", twin,
                                 "--transcripts", str(transcripts), "--out", str(out)])
            assert code == 0
            outs.append(out)
    data = json.loads(outs[0].read_text())
    assert len(data["trajectories"]) == 2
    first = data["trajectories"][0]
    assert len(first["tokens"]) == len(first["logprobs"]) == len(first["top1"]) > 100
    assert reports_main(["divergence", str(outs[0]), str(outs[1]), "--names", "awq,bf16",
                         "--out", str(tmp_path / "div")]) in (0, 1)
    assert "awq" in capsys.readouterr().out


def test_an_unreachable_server_is_one_line(transcripts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = serving_main(["logprobs", "--base-url", "http://127.0.0.1:9", "--model", "madcat", "--tokenizer",
                         str(default_twin_dir()), "--transcripts", str(transcripts), "--out", "/tmp/x.json"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("serving:") and "\n" not in err
