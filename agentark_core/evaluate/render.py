"""Rendering of the report's blocks: markdown tables and pages, and the same as one HTML page.

A block is ``(kind, body)``: a heading, a paragraph, a table (a DataFrame) or an image (path, caption);
``report.report_blocks`` builds them, ``report.write_report`` writes both renderings.

Example:
    >>> print(to_markdown_table(pd.DataFrame({"a": ["x"], "b": [0.5]}), index=False))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd


def _cell_text(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown_table(df: pd.DataFrame, digits: int = 3, index: bool = True) -> str:
    """Render a frame as a GitHub markdown table (no ``tabulate`` needed).

    Args:
        df: the frame; with ``index`` its index levels become the leading columns.
        digits: decimals for float cells; missing values show as ``-``.
        index: include the index.

    Returns:
        The table, one line per row, numeric columns right-aligned.

    Example:
        >>> print(to_markdown_table(pd.DataFrame({"a": ["x"], "b": [0.5]}), index=False))
        | a | b |
        | --- | ---: |
        | x | 0.500 |
    """
    frame = df.reset_index() if index else df
    if index and df.index.names == [None]:
        frame = frame.rename(columns={"index": ""})
    headers = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    lines = [
        "| " + " | ".join(h.replace("|", "\\|") for h in headers) + " |",
        "| " + " | ".join("---:" if n else "---" for n in numeric) + " |",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell_text(v, digits) for v in row) + " |")
    return "\n".join(lines)


def render_markdown(blocks: list[tuple], base: Path) -> str:
    """Markdown text of the blocks; image paths relative to ``base``."""
    parts = []
    for kind, *body in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append("#" * int(kind[1]) + " " + body[0])
        elif kind == "p":
            parts.append(body[0])
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in body[0]))
        elif kind == "table":
            parts.append(to_markdown_table(body[0]))
        elif kind == "img":
            parts.append(f"![{body[1]}]({Path(body[0]).relative_to(base).as_posix()})")
    return "\n\n".join(parts) + "\n"


def render_html(blocks: list[tuple], base: Path, title: str) -> str:
    """A self-contained HTML page of the blocks (images by relative path)."""
    esc = html.escape
    parts = []
    for kind, *body in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{esc(body[0])}</{kind}>")
        elif kind == "p":
            parts += [f"<p>{esc(p)}</p>" for p in body[0].split("\n\n")]
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in body[0]) + "</ul>")
        elif kind == "table":
            parts.append(_html_table(body[0]))
        elif kind == "img":
            rel = Path(body[0]).relative_to(base).as_posix()
            parts.append(f'<figure><img src="{esc(rel)}" alt="{esc(body[1])}"><figcaption>{esc(body[1])}'
                         "</figcaption></figure>")
    style = "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 8px}td.n{text-align:right}"
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{style}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _html_table(df: pd.DataFrame, digits: int = 3) -> str:
    frame = df.reset_index()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{_cell_text(v, digits)}</td>' if isinstance(v, float)
                         else f"<td>{html.escape(_cell_text(v, digits))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"
