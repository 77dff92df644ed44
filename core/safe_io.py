"""Files in and out, for every CLI of the project: atomic writes, JSON that never raises past a one-line
error, and output paths checked before the work starts.

Part of core/: it imports nothing from the project, so every package uses it without importing upward.

- `write_text_atomic`, `write_bytes_atomic`, `write_json_atomic`: a temp file beside the target, then one
  rename over it; a reader (or a run killed half way) sees the old file or the new one, never half of one.
  `publish_dir` does the same for a directory written next to its target (a model, an adapter).
- `loads`, `loads_yaml`, `read_text`, `read_yaml`, `read_json` (the project's one reader of each): bad input (not UTF-8, not JSON/YAML, nested deeper than
  Python can parse, an integer of thousands of digits) becomes `InputError`, whose text is the one line
  for the user.
- `check_output_file`, `check_output_dir`: refuse an `--out` that cannot be written (a directory where a
  file goes, a file where a directory goes, a parent that is a file, a read-only place) before any work.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


class InputError(ValueError):
    """A file or path the user gave cannot be used; str() is one line that names it and the fix."""


# ---- atomic writes -----------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _write_atomic(path: Path, write: Callable[[IO[Any]], None], binary: bool) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777 if path.is_file() else _FILE_MODE
    except OSError:
        mode = _FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; keep the mode a plain write would have given
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to a temp file beside `path`, then rename over it."""
    _write_atomic(Path(path), lambda f: f.write(text), binary=False)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    _write_atomic(Path(path), lambda f: f.write(data), binary=True)


def write_json_atomic(path: str | Path, data: Any, indent: int = 1, allow_nan: bool = True) -> None:
    """Write to a temp file beside `path`, then rename over it: readers never see half a file."""

    def dump(f: IO[Any]) -> None:
        json.dump(data, f, indent=indent, allow_nan=allow_nan)
        f.write("\n")

    _write_atomic(Path(path), dump, binary=False)



def publish_dir(tmp: Path, out: Path) -> None:
    """Replace `out` with `tmp` (a directory written next to it): the old one moves aside, then goes."""
    tmp.chmod(0o755)  # mkdtemp makes private dirs; models and adapters are read by other users (vLLM)
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        out.rename(old / out.name)
        shutil.rmtree(old, ignore_errors=True)
    tmp.rename(out)

def build_model_dir(out: Path, stamp_file: str, what: str, write: Callable[[Path], None]) -> Path:
    """Write a model directory with `write(tmp)` next to `out`, then swap it in; its files readable by all (a vLLM
    server). Refuses (ValueError) to replace a directory that has content but no `stamp_file`, i.e. is not a `what`."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / stamp_file).exists())):
        raise ValueError(f"{out} exists and is not {what}; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(tmp)
        for file in tmp.iterdir():
            file.chmod(0o644)
        publish_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---- reading -----------------------------------------------------------------------------------

# what json.loads raises on bad input: JSONDecodeError and UnicodeDecodeError are ValueErrors, an integer
# of more than 4300 digits is a plain ValueError, nesting a few thousand levels deep a RecursionError
JSON_ERRORS: tuple[type[BaseException], ...] = (ValueError, RecursionError)


def json_reason(exc: BaseException) -> str:
    """Why json.loads refused its input, in words that follow a name or `line 3:`."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    if isinstance(exc, RecursionError):
        return "not readable JSON: arrays/objects nested too deeply (thousands of levels)"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text (a binary file?)"
    if "integer string conversion" in str(exc):
        return "not readable JSON: a number of more than 4300 digits"
    return f"not readable JSON: {_first_line(str(exc))}"


def loads(text: str | bytes, source: str) -> Any:
    """json.loads whose every failure is an InputError naming `source` (a path, `path line 3`, ...)."""
    try:
        return json.loads(text)
    except JSON_ERRORS as exc:
        raise InputError(f"{source} is {json_reason(exc)}") from None


def loads_yaml(text: str, source: str) -> Any:
    """yaml.safe_load whose every failure (bad YAML, nesting Python cannot follow, an integer of thousands
    of digits) is an InputError naming `source`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{source} is not valid YAML: {_first_line(str(exc))}") from None
    except RecursionError:
        raise InputError(f"{source} is not readable YAML: lists/mappings nested too deeply") from None
    except ValueError as exc:
        why = "a number of more than 4300 digits" if "integer string conversion" in str(exc) else str(exc)
        raise InputError(f"{source} is not readable YAML: {_first_line(why)}") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file; a missing, unreadable or binary file is an InputError."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such {what}: {p}") from None
    except IsADirectoryError:
        raise InputError(f"{p} is a directory; give a {what}") from None
    except UnicodeDecodeError:
        raise InputError(f"{p} is not UTF-8 text (a binary file?); give a {what}") from None
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc.__class__.__name__}") from None


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """A YAML file, parsed with yaml.safe_load; a missing, unreadable, binary or malformed one is an InputError."""
    p = Path(path)
    return loads_yaml(read_text(p, what), f"{what} {p}")


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    p = Path(path)
    return loads(read_text(p, what), str(p))


def _first_line(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


# ---- output paths ------------------------------------------------------------------------------

def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_parents(path: Path, flag: str) -> None:
    parent = path.parent
    existing = _nearest_existing(parent)
    if existing.exists() and not existing.is_dir():
        raise InputError(f"{flag} {path}: {existing} is a file, not a directory; give a path in a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: {existing} is not writable; give a path you can write")


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """A file path that can be written (missing parent directories are made when it is written)."""
    p = Path(path)
    if str(path).strip() == "":
        raise InputError(f"{flag} is empty; give a file path")
    if p.is_dir():
        raise InputError(f"{flag} {p} is a directory; give a file path (e.g. {p}/NAME)")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{flag} {p} is not writable; give a path you can write")
    _check_parents(p, flag)
    return p


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """A directory that exists or can be made, to write files into."""
    p = Path(path)
    if str(path).strip() == "":
        raise InputError(f"{flag} is empty; give a directory")
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {p} is a file; give a directory for the output files")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError(f"{flag} {p} is not writable; give a directory you can write")
        return p
    _check_parents(p, flag)
    return p
