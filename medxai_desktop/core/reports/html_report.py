"""A single-file HTML report: headings, paragraphs, tables and figures embedded as base64 PNG.

Nothing is fetched when the report opens (no scripts, fonts or stylesheets from the network), so
it can be mailed or archived as one file and read on an offline workstation.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #444;padding-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em}
h3{font-size:1.05em}table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}th{background:#eee}
td:first-child,th:first-child{text-align:left}caption{caption-side:top;text-align:left;font-weight:600;
padding:.3em 0}figure{margin:1em 0}figcaption{font-size:.88em;color:#444}img{max-width:100%}
.meta{color:#555;font-size:.85em}.gallery{display:flex;flex-wrap:wrap;gap:12px}
.gallery figure{margin:0;width:220px}
"""



def legend_beside(axis, **options):
    """The axis's legend to its right, outside the plot, so that it never covers a curve (the
    figure is saved with ``bbox_inches="tight"``, which keeps it)."""
    return axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **options)

def _format(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "n/a"
        if v != 0 and abs(v) < 10 ** -digits:
            return f"{v:.{max(1, digits - 1)}e}"
        return f"{v:.{digits}f}"
    return str(value)


def _png_bytes_from_figure(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return buffer.getvalue()


def _png_bytes_from_array(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class HtmlReport:
    """Build with add_* calls in reading order, then ``write(path)``."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self._parts: list[str] = []
        created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta = f"{html.escape(subtitle)} &middot; " if subtitle else ""
        self._parts.append(f'<p class="meta">{meta}generated {created} by MedXAI Desktop</p>')
        self._gallery_open = False

    def _close_gallery(self) -> None:
        if self._gallery_open:
            self._parts.append("</div>")
            self._gallery_open = False

    def add_heading(self, text: str, level: int = 2) -> None:
        self._close_gallery()
        level = min(max(level, 2), 4)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def add_paragraph(self, text: str) -> None:
        """Plain text (escaped); blank lines separate paragraphs."""
        self._close_gallery()
        for block in str(text).split("\n\n"):
            if block.strip():
                self._parts.append(f"<p>{html.escape(block.strip())}</p>")

    def add_table(self, rows: Sequence[Mapping[str, Any]], caption: str = "",
                  columns: Sequence[str] | None = None, digits: int = 3) -> None:
        """A table from a list of dicts (columns: the given order, else first-seen order)."""
        self._close_gallery()
        if columns is None:
            columns = []
            for row in rows:
                columns.extend(key for key in row if key not in columns)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_format(row.get(c), digits))}</td>"
                                        for c in columns) + "</tr>" for row in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def add_figure(self, figure, caption: str = "") -> None:
        """A matplotlib Figure, embedded as PNG (the figure is closed)."""
        self._add_png(_png_bytes_from_figure(figure), caption, gallery=False)

    def add_image(self, rgb: np.ndarray, caption: str = "", gallery: bool = True) -> None:
        """An HxWx3 uint8 image (e.g. an overlay with boxes); consecutive ones form a gallery."""
        self._add_png(_png_bytes_from_array(rgb), caption, gallery=gallery)

    def _add_png(self, data: bytes, caption: str, gallery: bool) -> None:
        if gallery and not self._gallery_open:
            self._parts.append('<div class="gallery">')
            self._gallery_open = True
        elif not gallery:
            self._close_gallery()
        encoded = base64.b64encode(data).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f'<figure><img alt="{html.escape(caption)}" '
                           f'src="data:image/png;base64,{encoded}">{cap}</figure>')

    def to_html(self) -> str:
        self._close_gallery()
        body = "\n".join(self._parts)
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
                f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")

    def write(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def write_csv(path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return path
