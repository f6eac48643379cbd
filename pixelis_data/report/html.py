"""One self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no scripts, no external URLs."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape

from pixelis_data.report.figures import FigureOut

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; color: #222; background: #fafafa; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
.meta { color: #666; font-size: .9rem; } nav a { margin-right: 1rem; }
figure { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: .8rem; margin: 1rem 0; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: #444; font-size: .9rem; margin-top: .4rem; } figcaption b { color: #222; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; background: #fff; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; }
caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
.warn { color: #8a5a00; } .note { color: #555; }
"""


@dataclass(frozen=True)
class Table:
    """A titled table; columns whose name is in ``text_columns`` are left-aligned."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    text_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """A part of the page: paragraphs, figures, tables, then warnings."""

    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _table(t: Table) -> str:
    cls = ["text" if c in t.text_columns else "" for c in t.columns]
    head = "".join(f'<th class="{k}">{escape(c)}</th>' for c, k in zip(t.columns, cls, strict=True))
    body = "".join(
        "<tr>" + "".join(f'<td class="{k}">{escape(v)}</td>' for v, k in zip(row, cls, strict=True)) + "</tr>"
        for row in t.rows
    )
    return f"<table><caption>{escape(t.title)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(f: FigureOut) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<figure id="{escape(f.id)}"><img alt="{escape(f.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{escape(f.title)}.</b> {escape(f.caption)}</figcaption></figure>"
    )


def render_html(title: str, meta: str, sections: list[Section]) -> str:
    """The page: a header, a table of contents, then each section."""
    nav = "".join(f'<a href="#{escape(f.id)}">{escape(f.title)}</a>' for s in sections for f in s.figures)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f'<header><h1>{escape(title)}</h1><p class="meta">{escape(meta)}</p><nav>{nav}</nav></header>',
    ]
    for s in sections:
        parts.append(f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>')
        parts += [f"<p>{escape(p)}</p>" for p in s.paragraphs]
        parts += [_figure(f) for f in s.figures]
        parts += [_table(t) for t in s.tables]
        parts += [f'<p class="warn">warning: {escape(w)}</p>' for w in s.warnings]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
