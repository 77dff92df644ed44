"""Credentials never reach a file or a terminal: a run, a check, a logprob scoring and every report made from
them, with a secret planted in the base URL's userinfo and in the API-key environment variables; then every
byte they wrote (inspect's zipped logs unpacked) and printed is searched for the secrets."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import call

from doubles.openai_stub import OpenAIStub
from doubles.scripted import good_agent
from doubles.scripted_model import stub_responder
from evals.scenarios import load_scenarios
from serving.tiny_twin import default_twin_dir

URL_SECRET = "PLANTED-url-password-7f3a"
ENV_SECRET = "PLANTED-env-api-key-91c2"
SCENARIO = "mesh-alias-bt-vllm-status"


def _texts(root: Path) -> Iterator[tuple[str, str]]:
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if zipfile.is_zipfile(path):  # inspect's .eval logs
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield f"{path}:{member}", archive.read(member).decode("utf-8", "replace")
        yield str(path), data.decode("utf-8", "replace")


def test_no_artifact_or_output_holds_a_planted_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VLLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, ENV_SECRET)
    scenarios = load_scenarios(ids=[SCENARIO])
    printed: list[str] = []

    def run(cli: str, argv: list[str], codes: tuple[int, ...] = (0, 1)) -> None:
        result = call(cli, argv)
        assert result.crash is None, result.crash
        assert result.code in codes, (cli, argv[0], result.code, result.err)
        printed.extend([result.out, result.err])

    with OpenAIStub(["qwen3-coder-next"], {"madcat": "qwen3-coder-next"},
                    responder=stub_responder([good_agent(s) for s in scenarios])) as stub:
        secret_url = stub.base_url.replace("http://", f"http://planted-user:{URL_SECRET}@") + "/v1"
        runs = tmp_path / "runs"
        for adapter in ("madcat", "none"):
            run("evals", ["run", "--backend", "vllm", "--base-url", secret_url, "--adapter", adapter, "--epochs", "1",
                          "--scenario", SCENARIO, "--max-turns", "30", "--report-dir", str(runs)])
        run("evals", ["run", "--backend", "openai", "--base-url", secret_url, "--epochs", "1", "--scenario", SCENARIO,
                      "--max-turns", "30", "--report-dir", str(runs)])
        run("serving", ["check", "--base-url", secret_url, "--adapter", "madcat", "--json"])
        refs = tmp_path / "refs.jsonl"
        refs.write_text(Path("dataset/madcat-system.jsonl").read_text().splitlines()[0] + "\n")
        run("serving", ["logprobs", "--base-url", secret_url, "--model", "madcat", "--tokenizer",
                        str(default_twin_dir()), "--transcripts", str(refs), "--out", str(tmp_path / "lp.json")])
        assert len([c for c in stub.calls("/v1/chat/completions") if c.get("tools")]) >= 3  # the runs did run
    # the same URL with the server gone: every failure line hides the secret too
    for cli, argv in (("evals", ["run", "--base-url", secret_url, "--report-dir", str(runs)]),
                      ("serving", ["check", "--base-url", secret_url]),
                      ("serving", ["unload", "--base-url", secret_url, "--name", "madcat"]),
                      ("serving", ["check", "--base-url", secret_url.replace("127.0.0.1:", "127.0.0.1:x")])):
        run(cli, argv, codes=(2,))
    run_dirs = sorted(p for p in runs.iterdir() if p.is_dir())
    assert len(run_dirs) == 3
    for run_dir in run_dirs:
        run("reports", ["show", str(run_dir)])
        run("reports", ["gate", str(run_dir), "--registry", str(tmp_path / "registry.json")])
    run("reports", ["compare", str(run_dirs[0]), str(run_dirs[1]), "--out", str(tmp_path / "cmp"), "--bootstrap",
                    "200"])
    run("reports", ["divergence", str(tmp_path / "lp.json"), str(tmp_path / "lp.json"), "--out",
                    str(tmp_path / "div.json")])

    found = [(where, secret) for where, text in [*_texts(tmp_path), *(("output", t) for t in printed)]
             for secret in (URL_SECRET, ENV_SECRET) if secret in text]
    assert not found, found[:5]
    assert any("***@127.0.0.1" in text for _, text in _texts(runs))  # the URL is kept, its userinfo hidden


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pw@host:8000/v1", "http://***@host:8000/v1"),
    ("https://token@host/v1?x=1", "https://***@host/v1?x=1"),
    ("http://host:8000/v1", "http://host:8000/v1"),
    ("http://u:p@[::1]:8000", "http://***@[::1]:8000"),
    ("not a url u:p@x", "not a url u:p@x"),
])
def test_redact_url_hides_userinfo_only(url: str, shown: str) -> None:
    from core.redact import redact_url

    assert redact_url(url) == shown


def test_redact_text_hides_urls_userinfo_and_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.redact import redact_text

    monkeypatch.setenv("VLLM_API_KEY", ENV_SECRET)
    text = f"GET http://me:{URL_SECRET}@sin:8000/v1/models failed (key {ENV_SECRET}); see https://docs/x"
    assert redact_text(text) == "GET http://***@sin:8000/v1/models failed (key ***); see https://docs/x"
