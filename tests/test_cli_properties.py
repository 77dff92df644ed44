"""Property tests of the five CLIs: generated command lines and generated files (binary, deeply nested or
huge-number JSON, JSON of the wrong shape, near-valid results and logprob files, directories where files go,
paths under a file), fed to each CLI's main(argv) in-process. Whatever the input: no exception escapes,
the exit code is a documented one, and a refusal (exit 2) ends with one line on stderr.

Nothing here reaches a network: servers are a closed port on 127.0.0.1; builds, training and runs against a
model are never started (a build's --out is always unwritable, training only prints its config)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from cli_harness import BINARY, DEEP_JSON, DOCUMENTED, HUGE_INT, Result, call, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reports_builders import grid, results_doc

from evals.catalog import EVALS

# 40 examples a CLI keeps the suite quick on a 2-core CI machine; MADCAT_PROPERTY_EXAMPLES=1000 digs deeper.
SETTINGS = settings(max_examples=int(os.environ.get("MADCAT_PROPERTY_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port: connection refused at once

# ---- generated values --------------------------------------------------------------------------------

NASTY_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e999", "-1e999", "-1", "0", "1", "2", "3", "0.5", "-0.0", "1e3",
                 "100", "4096", HUGE_INT[:60], "-" + HUGE_INT[:60], "", " ", "x", "0x10", "1_000", "٣"]
numbers = st.one_of(st.sampled_from(NASTY_NUMBERS), st.integers(-10**6, 10**6).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr))
words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)


def _mutated_results(data: st.DataObject) -> str:
    """A results.json that is nearly right: one field of a real-looking document replaced by anything."""
    doc: dict[str, Any] = results_doc("r", grid(epochs=1, scenarios=("s00", "s01"), evals=("mesh.uses_sin_ssh_alias",)))
    where = data.draw(st.sampled_from(["run", "results", "row", "top", "none"]))
    value = data.draw(json_values)
    if where == "run":
        doc["run"][data.draw(st.sampled_from(["run_id", "epochs", "seed", "adapter_sha256", "backend", "x"]))] = value
    elif where == "results":
        doc["results"] = value
    elif where == "row":
        doc["results"][0][data.draw(st.sampled_from(["status", "passed", "epoch", "eval", "seconds", "log"]))] = value
    elif where == "top":
        doc = value
    return json.dumps(doc)


def _mutated_logprobs(data: st.DataObject) -> str:
    doc: Any = {"trajectories": [{"id": "t1", "tokens": ["a", "b"], "logprobs": [None, -0.5], "top1": ["a", "b"]}]}
    field = data.draw(st.sampled_from(["id", "tokens", "logprobs", "top1", "top", "none"]))
    if field == "top":
        doc = data.draw(json_values)
    elif field != "none":
        doc["trajectories"][0][field] = data.draw(json_values)
    return json.dumps(doc)


def file_content(data: st.DataObject, kind: str = "any") -> str | bytes:
    choices = ["binary", "deep", "huge", "list", "json", "text", "empty", "jsonl", "dataset-line"]
    if kind == "results":
        choices += ["results"] * 4
    if kind == "logprobs":
        choices += ["logprobs"] * 4
    what = data.draw(st.sampled_from(choices))
    if what == "binary":
        return data.draw(st.sampled_from([BINARY, b"\xff\xfe\x00\x01", b"\x89PNG\r\n\x1a\n"]))
    if what == "deep":
        return DEEP_JSON if data.draw(st.booleans()) else '{"messages": ' + DEEP_JSON + "}\n"
    if what == "huge":
        return '{"run": {"run_id": "x"}, "results": [], "n": ' + HUGE_INT + "}"
    if what == "list":
        return "[1, 2]"
    if what == "json":
        return json.dumps(data.draw(json_values))
    if what == "text":
        return data.draw(st.text(max_size=200))
    if what == "empty":
        return data.draw(st.sampled_from(["", "\n\n", "   "]))
    if what == "jsonl":
        return "".join(json.dumps(v) + "\n" for v in data.draw(st.lists(json_values, max_size=3)))
    if what == "results":
        return _mutated_results(data)
    if what == "logprobs":
        return _mutated_logprobs(data)
    line = json.loads(Path("dataset/madcat-system.jsonl").read_text().splitlines()[0])
    line[data.draw(st.sampled_from(["messages", "tools", "meta", "world"]))] = data.draw(json_values)
    return json.dumps(line) + "\n"


class Files:
    """Paths of every kind a user may give, made on demand in one example's temporary directory."""

    def __init__(self, root: Path, data: st.DataObject) -> None:
        self.root, self.data, self.n = root, data, 0

    def _new(self, suffix: str = "") -> Path:
        self.n += 1
        return self.root / f"f{self.n}{suffix}"

    def input(self, kind: str = "any", suffix: str = ".json") -> str:
        how = self.data.draw(st.sampled_from(["file"] * 6 + ["missing", "dir", "under-a-file"]))
        return self._path(how, suffix, lambda p: write(p, file_content(self.data, kind)))

    def output_file(self, bad_only: bool = False) -> str:
        kinds = ["dir", "under-a-file", "empty"] + ([] if bad_only else ["new", "new-in-missing-dir", "existing"])
        return self._path(self.data.draw(st.sampled_from(kinds)), ".json", lambda p: write(p, "old"))

    def output_dir(self) -> str:
        how = self.data.draw(st.sampled_from(["new", "new-in-missing-dir", "dir", "existing", "under-a-file"]))
        return self._path("file" if how == "existing" else how, "", lambda p: write(p, "a file"))

    def adapter_dir(self) -> str:
        how = self.data.draw(st.sampled_from(["adapter"] * 4 + ["missing", "existing", "dir"]))
        if how != "adapter":
            return self._path("file" if how == "existing" else how, "", lambda p: write(p, "x"))
        path = self._new()
        write(path / "adapter_config.json", file_content(self.data))
        if self.data.draw(st.booleans()):
            write(path / "adapter_model.safetensors", self.data.draw(st.binary(max_size=64)))
        return str(path)

    def model_dir(self) -> str:
        path = self._new()
        write(path / "config.json", file_content(self.data))
        return str(path)

    def _path(self, how: str, suffix: str, make: Callable[[Path], object]) -> str:
        path = self._new(suffix)
        if how in ("file", "existing"):
            make(path)
        elif how == "dir":
            path.mkdir()
        elif how == "under-a-file":
            write(path, "a file")
            path = path / "inside.json"
        elif how == "new-in-missing-dir":
            path = path / "missing" / f"out{suffix}"
        elif how == "empty":
            return ""
        return str(path)


def check(result: Result, argv: list[str]) -> None:
    assert result.crash is None, f"{argv}\n{result.crash}"
    assert result.code in DOCUMENTED, (argv, result.code, result.err[-500:])
    assert "Traceback" not in result.err + result.out, (argv, result.err[-2000:])
    if result.code == 2 and "--json" in argv and result.out.startswith("{"):
        json.loads(result.out)  # asked for JSON: the refusal is in the document
    elif result.code == 2:
        lines = result.err.strip().splitlines()
        assert lines and lines[-1].strip(), (argv, result.out[-300:])  # the refusal is a line of its own
        assert "internal error" not in result.err, (argv, result.err)


def _options(data: st.DataObject, table: dict[str, Callable[[], str | None]]) -> list[str]:
    """Some of the options in `table` (flag -> value maker; None value: a switch), in a drawn order."""
    chosen = data.draw(st.lists(st.sampled_from(sorted(table)), max_size=4, unique=True))
    out: list[str] = []
    for flag in chosen:
        value = table[flag]()
        out += [flag] if value is None else [flag, value]
    return out


def _example(data: st.DataObject, argv_for: Callable[[Files], list[str]], cli: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"MADCAT_RUNS_DIR": str(Path(tmp) / "runs")}):
        argv = argv_for(Files(Path(tmp), data))  # run ids and default outputs resolve inside tmp, not the repo
        check(call(cli, argv), argv)


# ---- evals -----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_evals_cli_never_crashes(data: st.DataObject) -> None:
    draw = data.draw

    def argv(files: Files) -> list[str]:
        verb = draw(st.sampled_from(["list", "score", "run", "run", "frobnicate"]))
        if verb == "list":
            return ["list", *draw(st.sampled_from([[], ["--json"], ["--yaml"]]))]
        if verb == "score":
            return ["score", "--eval", draw(st.sampled_from([*list(EVALS)[:6], "nope", ""])), files.input()]
        if verb == "frobnicate":
            return [verb]
        backend = draw(st.sampled_from(["vllm", "openai", "replay", "bogus"]))
        url = draw(st.sampled_from([CLOSED + "/v1", "http://u:p@127.0.0.1:9/v1", "ftp://127.0.0.1", "::"]))
        options = _options(data, {
            "--epochs": lambda: draw(numbers), "--temperature": lambda: draw(numbers), "--seed": lambda: draw(numbers),
            "--max-tokens": lambda: draw(numbers), "--max-connections": lambda: draw(numbers),
            "--max-turns": lambda: draw(numbers), "--max-retries": lambda: draw(numbers),
            "--prompt": lambda: draw(st.sampled_from(["minimal", "full", "huge"])),
            "--eval": lambda: draw(st.sampled_from(["mesh", "mesh.uses_sin_ssh_alias", "nope"])),
            "--adapter": lambda: draw(st.sampled_from(["madcat", "none", ""])), "--cache": lambda: None,
        })
        extra = ["--transcripts", files.input()] if backend == "replay" else []
        return ["run", "--backend", backend, "--base-url", url, "--report-dir", files.output_dir(), "--quiet",
                *extra, *options]

    _example(data, argv, "evals")


# ---- dataset ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_dataset_cli_never_crashes(data: st.DataObject) -> None:
    draw = data.draw
    tokens = {"--no-tokens": lambda: None}

    def argv(files: Files) -> list[str]:
        verb = draw(st.sampled_from(["build", "validate", "decontam", "stats", "import-sessions"]))
        if verb == "build":  # its --out is never writable: the build itself must not start
            return ["build", "--out", files.output_file(bad_only=True), *_options(data, {
                "--seed": lambda: draw(numbers), "--count": lambda: draw(numbers),
                "--categories": lambda: draw(st.sampled_from(["tts=1", "tts=x", "nope=1", "tts=-1", "", "tts=99999"])),
                "--handwritten": lambda: files.input(), "--no-handwritten": lambda: None, **tokens})]
        if verb == "validate":
            return ["validate", files.input(), "--no-tokens", *_options(data, {"--max-tokens": lambda: draw(numbers)})]
        if verb == "decontam":
            return ["decontam", files.input(), *_options(data, {"--top": lambda: draw(numbers)})]
        if verb == "stats":
            return ["stats", files.input(), "--no-tokens", "--out", files.output_dir()]
        return ["import-sessions", "--from", draw(st.sampled_from(["opencode", "claude-code", "vscode"])), "--path",
                files.input(), "--out", files.output_file(), "--no-grade",
                *_options(data, {"--max-output-lines": lambda: draw(numbers), "--tool-map": lambda: files.input()})]

    def no_build(**_: object) -> None:
        raise AssertionError("a build started although its --out cannot be written")

    with mock.patch("dataset.__main__.build", no_build):
        _example(data, argv, "dataset")


# ---- training ---------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_training_clis_never_crash(data: st.DataObject) -> None:
    draw = data.draw
    fields = ["learning_rate", "epochs", "lora_r", "lora_dropout", "max_steps", "gpu_memory_gb", "experts", "nope"]

    def argv(files: Files) -> list[str]:
        options = _options(data, {
            "--config": lambda: files.input(suffix=".yaml"), "--lr": lambda: draw(numbers),
            "--epochs": lambda: draw(numbers), "--max-steps": lambda: draw(numbers), "--lora-r": lambda: draw(numbers),
            "--gpu-memory-gb": lambda: draw(numbers), "--max-length": lambda: draw(numbers),
            "--set": lambda: f"{draw(st.sampled_from(fields))}={draw(numbers)}",
            "--experts": lambda: draw(st.sampled_from(["nf4-grouped", "bf16-grouped", "fp8"])),
        })
        if draw(st.booleans()):  # train only ever prints its resolved config here
            return [*options, "--print-config"]
        model = draw(st.sampled_from(["dir", "dir", "Qwen/Qwen3-Coder-Next", "no/such-model", ""]))
        return ["--model", files.model_dir() if model == "dir" else model, *options, *draw(st.sampled_from([[], ["--json"]]))]

    with tempfile.TemporaryDirectory() as tmp:
        files = Files(Path(tmp), data)
        args = argv(files)
        cli = "training.train" if "--print-config" in args else "training.preflight"
        check(call(cli, args), args)


# ---- serving ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_serving_cli_never_crashes(data: st.DataObject) -> None:
    draw = data.draw
    urls = st.sampled_from([CLOSED, CLOSED + "/v1", "http://user:secret@127.0.0.1:9", "http://127.0.0.1:x",
                            "http://127.0.0.1:99999", "ftp://127.0.0.1", "http://", "", "127.0.0.1:9", "http://[::1"])

    def server() -> list[str]:
        return ["--base-url", draw(urls), *_options(data, {"--timeout": lambda: draw(numbers),
                                                         "--api-key": lambda: draw(words)})]

    def argv(files: Files) -> list[str]:
        verb = draw(st.sampled_from(["check", "load", "unload", "lint", "logprobs", "command", "nope"]))
        lint = {"--max-rank": lambda: draw(numbers), "--tensor-parallel": lambda: draw(numbers),
                "--allow-routed-experts": lambda: None}
        if verb == "check":
            return ["check", *server(), *_options(data, {"--probes": lambda: draw(numbers), "--json": lambda: None,
                                                         "--tolerance": lambda: draw(numbers),
                                                         "--adapter": lambda: draw(words)})]
        if verb == "load":
            return ["load", *server(), "--name", draw(words), "--path", files.adapter_dir(), *_options(data, lint)]
        if verb == "unload":
            return ["unload", *server(), "--name", draw(words)]
        if verb == "lint":
            return ["lint", files.adapter_dir(), *_options(data, {**lint, "--json": lambda: None})]
        if verb == "logprobs":
            tokenizer = draw(st.sampled_from(["twin", "missing", "a-model-dir"]))
            from serving.tiny_twin import default_twin_dir

            where = {"twin": str(default_twin_dir()), "missing": str(files.root / "none"),
                     "a-model-dir": files.model_dir() if tokenizer == "a-model-dir" else ""}[tokenizer]
            return ["logprobs", *server(), "--model", "madcat", "--tokenizer", where, "--transcripts",
                    files.input(kind="any", suffix=".jsonl"), "--out", files.output_file(),
                    *_options(data, {"--limit": lambda: draw(numbers)})]
        if verb == "command":
            config = draw(st.sampled_from(["sin-awq-lora", "tiny-twin", "nope", "file"]))
            return ["command", files.input(suffix=".yaml") if config == "file" else config,
                    *_options(data, {"--model": lambda: draw(words),
                                     "--set": lambda: draw(st.sampled_from(["max-model-len=x", "a", "=1",
                                                                            "lora-modules={", "enforce-eager=true"]))})]
        return [verb]

    _example(data, argv, "serving")


# ---- reports ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data())
def test_reports_cli_never_crashes(data: st.DataObject) -> None:
    draw = data.draw
    bootstrap = st.sampled_from(["100", "200", "99", "0", "-1", "1e9", "nan", "x", "10000000000"])

    def run_dir(files: Files) -> str:
        path = files.input(kind="results")
        if Path(path).is_file() and draw(st.booleans()):  # a run dir holding the file
            target = Path(path).with_suffix("") / "results.json"
            target.parent.mkdir()
            Path(path).rename(target)
            return str(target.parent)
        return path

    def argv(files: Files) -> list[str]:
        verb = draw(st.sampled_from(["show", "compare", "equivalence", "gate", "promote", "divergence", "nope"]))
        rules = {"--rules": lambda: files.input(suffix=".yaml")}
        if verb == "show":
            return ["show", run_dir(files), *_options(data, {"--out": files.output_dir, **rules})]
        if verb == "compare":
            return ["compare", run_dir(files), run_dir(files), *_options(data, {
                "--names": lambda: draw(st.sampled_from(["a,b", "a", ",", "a,b,c", ""])), "--k": lambda: draw(numbers),
                "--bootstrap": lambda: draw(bootstrap), "--seed": lambda: draw(numbers), "--out": files.output_dir})]
        if verb == "equivalence":
            unit = st.sampled_from(["0.1", "0", "1", "0.5", "-0.1", "nan", "inf", "x", "1e-9"])
            return ["equivalence", run_dir(files), run_dir(files), *_options(data, {
                "--names": lambda: draw(st.sampled_from(["a,b", "a", ",", "a,a", ""])),
                "--margin": lambda: draw(unit), "--alpha": lambda: draw(unit),
                "--bootstrap": lambda: draw(bootstrap), "--seed": lambda: draw(numbers), "--out": files.output_dir})]
        if verb == "gate":
            return ["gate", run_dir(files), *_options(data, {"--baseline": lambda: run_dir(files),
                                                              "--against": lambda: run_dir(files),
                                                              "--registry": lambda: files.input(), **rules})]
        if verb == "promote":
            return ["promote", run_dir(files), "--registry", draw(st.sampled_from([files.input(), files.output_file()])),
                    "--against", "none", *_options(data, {"--adapter-dir": files.adapter_dir,
                                                          "--baseline": lambda: run_dir(files), **rules})]
        if verb == "divergence":
            return ["divergence", files.input(kind="logprobs"), files.input(kind="logprobs"), *_options(data, {
                "--names": lambda: draw(st.sampled_from(["awq,bf16", "a", "a,", ""])), "--out": files.output_file})]
        return [verb]

    _example(data, argv, "reports")
