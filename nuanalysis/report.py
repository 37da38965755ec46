"""A report folder: ``report.md`` and ``index.html`` embedding the figures written beside them.

A report is a title and a list of :class:`Section` s, each with optional text
(paragraphs separated by blank lines), tables (header + rows of strings) and
:class:`Figure` s (a PNG and its caption, shown under it, with links to the PDF
and ROOT files of the same name when they exist); both pages show the same
content, the HTML one self-contained apart from the files next to it. Every
text (file names included) is escaped on both pages: ``<``, ``>`` and ``&`` as
HTML entities (Markdown renders them as the characters), ``|`` inside a
Markdown table cell, and link targets percent-encoded, so a file named
``<img src=x onerror=alert(1)>.root`` is shown, never run.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from nuanalysis.errors import InputError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
"""Executables tried, in order, to render a report page (:func:`render_page`)."""


def markdown_text(text: str) -> str:
    """``text`` safe in Markdown: HTML's special characters as entities (rendered as the
    characters themselves, never as tags)."""
    return html.escape(text, quote=False)


def _markdown_cell(text: str) -> str:
    return markdown_text(text).replace("|", "\\|")


@dataclass
class Table:
    """A header and rows of cells; ``numeric`` tables align their cells right, others left."""

    header: list[str]
    rows: list[list[str]]
    numeric: bool = True

    def markdown(self) -> str:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |"

        lines = [line(self.header), "|" + "---|" * len(self.header)]
        lines += [line(row) for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows
        )
        kind = "" if self.numeric else ' class="text"'
        return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def text(self) -> str:
        """Fixed-width rendering for the terminal, aligned by :func:`display_width`."""
        widths = [
            max(display_width(r[i]) for r in [self.header, *self.rows])
            for i in range(len(self.header))
        ]

        def line(row: list[str]) -> str:
            cells = zip(row, widths, strict=True)
            return "  ".join(c + " " * (w - display_width(c)) for c, w in cells)

        return "\n".join(line(row) for row in [self.header, *self.rows])


def display_width(text: str) -> int:
    """Terminal columns of ``text``: combining marks (the bar of ν̄, U+0304) take none."""
    return sum(not unicodedata.combining(c) for c in text)


@dataclass
class Figure:
    """A figure's PNG and the caption printed under it."""

    path: Path
    caption: str = ""


@dataclass
class Section:
    heading: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure | Path] = field(default_factory=list)


_STYLE = (
    "body{font-family:sans-serif;max-width:1500px;margin:auto;padding:1em;line-height:1.4}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
    "text-align:right}th{background:#eee}td:first-child,table.text td,table.text th"
    "{text-align:left}"
    "figure{display:inline-block;vertical-align:top;margin:0.5em 1em 1.5em 0;max-width:100%}"
    "figure img{max-width:100%;min-width:min(600px,100%);border:1px solid #ddd}"
    "figcaption{font-size:0.95em;color:#333;max-width:60em}"
)


def _figure_html(figure: Figure, name: str, out_dir: Path) -> str:
    """``<figure>`` with the image, its caption and links to the PDF / ROOT siblings."""
    links = [
        f'<a href="{html.escape(Path(name).with_suffix(s).as_posix())}">{s[1:].upper()}</a>'
        for s in (".pdf", ".root")
        if (out_dir / Path(name).with_suffix(s)).is_file()
    ]
    caption = html.escape(figure.caption) + (" (" + ", ".join(links) + ")" if links else "")
    alt = html.escape(figure.caption or Path(name).stem)
    return (
        f'<figure><img src="{html.escape(name)}" alt="{alt}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def write_report(out_dir: str | Path, title: str, sections: list[Section]) -> tuple[Path, Path]:
    """Write ``report.md`` and ``index.html`` into ``out_dir``; figures are linked relatively."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = [f"# {markdown_text(title)}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        md += [f"## {markdown_text(section.heading)}", ""]
        body.append(f"<h2>{html.escape(section.heading)}</h2>")
        for paragraph in filter(None, section.text.split("\n\n")):
            md += [markdown_text(paragraph), ""]
            body.append(f"<p>{html.escape(paragraph)}</p>")
        for table in section.tables:
            md += [table.markdown(), ""]
            body.append(table.html())
        for figure in section.figures:
            figure = figure if isinstance(figure, Figure) else Figure(Path(figure))
            name = Path(os.path.relpath(figure.path, out_dir)).as_posix()
            md += [
                f"![{markdown_text(Path(name).stem)}]({urllib.parse.quote(name)})",
                "",
                f"*{markdown_text(figure.caption)}*" if figure.caption else "",
                "",
            ]
            body.append(_figure_html(figure, name, out_dir))
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))
    html_path = out_dir / "index.html"
    html_path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    return md_path, html_path


def find_browser() -> str | None:
    """Path of the first headless-capable browser of :data:`BROWSERS` on ``PATH``, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def render_page(
    html_path: str | Path, png_path: str | Path, width: int = 1400, height: int = 3000
) -> Path:
    """Screenshot ``html_path`` as a ``width`` × ``height`` PNG with headless Chromium, as a user
    would see it in a browser window that wide (the page's top ``height`` pixels)."""
    browser = find_browser()
    if browser is None:
        raise InputError(f"no browser to render {html_path}: install one of {', '.join(BROWSERS)}")
    png_path = Path(png_path).resolve()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--window-size={width},{height}", f"--screenshot={png_path}",
        Path(html_path).resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not png_path.is_file():
        raise InputError(f"{browser} could not render {html_path}: {done.stderr.strip()[-500:]}")
    return png_path
