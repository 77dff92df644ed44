"""Credentials never reach a file or a terminal: the one place that strips them.

`--base-url http://user:secret@host:8000/v1` works (the connection keeps its credentials), but every
URL that is stored (results.json, inspect's log, logprob files) or printed (errors, progress) goes
through `redact_url` first: `http://***@host:8000/v1`. `redact_text` does the same to every URL inside
a message, and blanks the values of the API-key environment variables the project reads.

It imports nothing from the project (any layer may use it).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"
# the environment variables whose values are secrets the project sends to servers
SECRET_ENV = ("VLLM_API_KEY", "OPENAI_API_KEY", "MADCAT_API_KEY")
_URL_WITH_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@'\"<>]*)@")


def redact_url(url: str | None) -> str | None:
    """`url` without its user:password part (`http://***@host/...`); anything else unchanged."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: scrub what looks like userinfo anyway
        return _URL_WITH_USERINFO.sub(lambda m: m["scheme"] + HIDDEN + "@", url)
    if "@" not in parts.netloc:
        return _URL_WITH_USERINFO.sub(lambda m: m["scheme"] + HIDDEN + "@", url)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{HIDDEN}@{host}", parts.path, parts.query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with the userinfo of every URL in it hidden, and every secret (the API-key environment
    variables' values, and `secrets`) replaced by ***."""
    out = _URL_WITH_USERINFO.sub(lambda m: m["scheme"] + HIDDEN + "@", text)
    for secret in (*secrets, *(os.environ.get(name) or "" for name in SECRET_ENV)):
        if secret and len(secret) >= 4:  # a 1-3 character "secret" would blank ordinary words
            out = out.replace(secret, HIDDEN)
    return out


def has_userinfo(url: str | None) -> bool:
    try:
        return bool(url) and "@" in urlsplit(str(url)).netloc
    except ValueError:
        return False
