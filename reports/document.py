"""A tiny document model rendered twice: Markdown (plots as PNG files beside it) and one
self-contained HTML page (inline CSS, plots inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.safe_io import write_bytes_atomic, write_text_atomic


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Inline = str | Link


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    parts: tuple[Inline, ...]
    style: str = ""  # "", "warning", "pass", "fail"

    @classmethod
    def of(cls, *parts: Inline, style: str = "") -> Para:
        return cls(parts, style)


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Inline, ...], ...]
    row_styles: tuple[str, ...] = ()  # per row: "", "total", "fail"
    numeric_from: int = 1  # columns from this index are right-aligned


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True)
class Pre:
    text: str


@dataclass(frozen=True)
class Image:
    png: bytes
    alt: str
    name: str  # file stem for the Markdown copy


@dataclass(frozen=True)
class Banner:
    """The verdict at the top of a report: a coloured box with a headline and one sentence per reason."""

    headline: str
    lines: tuple[tuple[Inline, ...], ...] = ()
    style: str = "none"  # "pass" | "fail" | "none" (no verdict yet)


Block = Heading | Para | Table | Bullets | Pre | Image | Banner


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def relative_href(target: Path, out_dir: Path) -> str:
    """A link from a report in out_dir to target that survives moving both together."""
    try:
        return Path(os.path.relpath(target.resolve(), out_dir.resolve())).as_posix()
    except ValueError:  # different drives on Windows
        return target.resolve().as_uri()


# --- Markdown -----------------------------------------------------------------------------------


def _md_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return f"[{part.text}]({part.href.replace(' ', '%20')})"
    return part


def _md_cell(part: Inline) -> str:
    return _md_inline(part).replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: Document, image_prefix: str) -> tuple[str, dict[str, bytes]]:
    """Markdown text plus the PNG files it links to (name -> bytes)."""
    out = [f"# {doc.title}", ""]
    images: dict[str, bytes] = {}
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            text = "".join(_md_inline(p) for p in b.parts)
            prefix = {"warning": "> **warning:** ", "fail": "**", "pass": "**"}.get(b.style, "")
            suffix = "**" if b.style in ("fail", "pass") else ""
            out += [prefix + text + suffix, ""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
            out.append(
                "|" + "|".join("---:" if i >= b.numeric_from else "---" for i in range(len(b.headers))) + "|"
            )
            for row in b.rows:
                out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            out.append("")
        elif isinstance(b, Bullets):
            out += ["- " + "".join(_md_inline(p) for p in item) for item in b.items]
            out.append("")
        elif isinstance(b, Pre):
            out += ["```", b.text, "```", ""]
        elif isinstance(b, Banner):
            out += [f"> **{b.headline}**", ">"] + ["> - " + "".join(_md_inline(p) for p in line) for line in b.lines]
            out.append("")
        elif isinstance(b, Image):
            name = f"{image_prefix}{b.name}.png"
            images[name] = b.png
            out += [f"![{b.alt}]({name})", ""]
    return "\n".join(out).rstrip() + "\n", images


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1240px;margin:1.2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0;font-size:.8em;max-width:100%}
th,td{border:1px solid #ccc;padding:.22em .38em;vertical-align:top}th{font-weight:600;font-size:.92em;background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:600;background:#f7f7f7}tr.fail td{background:#fdecea}
p.warning{background:#fff4d6;border-left:4px solid #e0a800;padding:.4em .6em}
p.pass{color:#176b2c;font-weight:700;font-size:1.2em}p.fail{color:#b3261e;font-weight:700;font-size:1.2em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}img{max-width:100%}
div.banner{border-radius:6px;padding:.7em 1em;margin:.8em 0 1.2em;border:2px solid}
div.banner p{margin:0;font-size:1.35em;font-weight:700}div.banner ul{margin:.4em 0 0;padding-left:1.3em}
div.banner.pass{background:#e3f4e6;border-color:#2e7d32;color:#174d1c}
div.banner.fail{background:#fbe3e1;border-color:#c62828;color:#7a1610}
div.banner.none{background:#eef0f3;border-color:#8a94a3;color:#333}
"""


NUM_TD = '<td class="num">'


def _html_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return f'<a href="{html.escape(part.href, quote=True)}">{html.escape(part.text)}</a>'
    return html.escape(part)


def _breakable(part: Inline) -> str:
    """A text cell that may wrap after `.` and `_` (behaviour ids are long words), so tables fit 1280 px."""
    if isinstance(part, Link):
        return _html_inline(part)
    return html.escape(part).replace(".", ".<wbr>").replace("_", "_<wbr>")


def render_html(doc: Document) -> str:
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for b in doc.blocks:
        if isinstance(b, Heading):
            level = min(max(b.level, 2), 6)
            out.append(f"<h{level}>{html.escape(b.text)}</h{level}>")
        elif isinstance(b, Para):
            cls = f' class="{b.style}"' if b.style else ""
            out.append(f"<p{cls}>{''.join(_html_inline(p) for p in b.parts)}</p>")
        elif isinstance(b, Table):
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
                + "</tr></thead><tbody>"
            )
            for r, row in enumerate(b.rows):
                style = b.row_styles[r] if r < len(b.row_styles) else ""
                cls = f' class="{style}"' if style else ""
                cells = "".join(
                    NUM_TD + _html_inline(c) + "</td>" if i >= b.numeric_from else "<td>" + _breakable(c) + "</td>"
                    for i, c in enumerate(row)
                )
                out.append(f"<tr{cls}>{cells}</tr>")
            out.append("</tbody></table>")
        elif isinstance(b, Bullets):
            out.append(
                "<ul>"
                + "".join(f"<li>{''.join(_html_inline(p) for p in item)}</li>" for item in b.items)
                + "</ul>"
            )
        elif isinstance(b, Pre):
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Banner):
            style = b.style if b.style in ("pass", "fail") else "none"
            items = "".join(f"<li>{''.join(_html_inline(p) for p in line)}</li>" for line in b.lines)
            out.append(f'<div class="banner {style}" id="verdict"><p>{html.escape(b.headline)}</p>'
                       + (f"<ul>{items}</ul>" if items else "") + "</div>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            out.append(f'<img alt="{html.escape(b.alt, quote=True)}" src="data:image/png;base64,{data}">')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_document(doc: Document, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write <stem>.md (+ its PNGs) and <stem>.html into out_dir; return both paths."""
    md, images = render_markdown(doc, image_prefix=f"{stem}-")
    for name, png in images.items():  # each file atomically (core/safe_io.py); the images first
        write_bytes_atomic(out_dir / name, png)
    md_path, html_path = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
    write_text_atomic(md_path, md)
    write_text_atomic(html_path, render_html(doc))
    return md_path, html_path
