"""Shared by the format modules: choosing boxes to export, checking boxes against image sizes,
reading text strictly (UTF-8, not empty), parsing numbers, and writing files atomically.

Conventions every format module follows:

* ``ImageRecord.width``/``height`` of ``0`` mean "size unknown" (formats such as a flat CSV
  without size columns do not carry it). Importers check boxes against the image size wherever
  it is known and reject boxes outside the image; exporters that must write a size (COCO, VOC,
  YOLO) raise :class:`ExportError` when it is unknown and the image file cannot be probed.
* A box is inside an image of ``width`` x ``height`` when ``0 <= x0 <= x1 <= width`` and
  ``0 <= y0 <= y1 <= height`` (with a 1e-6 px tolerance for float sums such as ``x + w``).
* Importers return a whole :class:`AnnotationSet` or raise :class:`ExchangeError`; never part.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

from medxai_desktop.core.atomic_files import atomic_open, check_output
from medxai_desktop.core.boxes import Box
from medxai_desktop.core.errors import OutputError
from medxai_desktop.core.exchange._images import check_key, control_characters, with_size  # noqa: F401 (check_key: the importers' name)
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord
from medxai_desktop.core.text_limits import LABEL_MAX
from medxai_desktop.core.user_files import UserFileError, read_user_bytes  # a label as the store keeps it

Which = Literal["reviewed", "proposals", "both"]
WHICH_VALUES: tuple[str, ...] = ("reviewed", "proposals", "both")
EDGE_TOLERANCE = 1e-6  # px; x + w may land a hair past the edge in floating point


class ExportError(OutputError, ValueError):
    """The annotations cannot be written in the asked format (e.g. ``which="both"`` to VOC,
    an image whose size is unknown, a box outside its image); says what and why."""


# ---------------------------------------------------------------------------- choosing boxes

def check_which(which: str, allowed: Sequence[str] = WHICH_VALUES, fmt: str = "") -> None:
    if which not in WHICH_VALUES:
        raise ExportError(f"which must be one of {', '.join(WHICH_VALUES)}; got {which!r}")
    if which not in allowed:
        raise ExportError(
            f"{fmt or 'this format'} cannot hold provenance (kind, method, score, reviewer, state, "
            f"revision), so which={which!r} is not supported; export "
            f"{' or '.join(repr(a) for a in allowed)} separately, or use COCO or the flat CSV for 'both'")


def _identity(record: BoxRecord) -> object | None:
    box_id = record.extra.get("box_id")
    return box_id if box_id is not None else record.proposal_id


def latest_reviewed(boxes: Iterable[BoxRecord]) -> list[BoxRecord]:
    """Reviewed boxes that are ground truth: of several revisions of one box (same image and
    ``extra["box_id"]``, else same ``proposal_id``) only the highest ``revision`` is kept, and
    boxes whose latest state is ``rejected`` are dropped. Order is kept."""
    reviewed = [b for b in boxes if b.kind == "reviewed"]
    best: dict[tuple[str, object], BoxRecord] = {}
    for b in reviewed:
        ident = _identity(b)
        if ident is None:
            continue
        key = (b.image_key, ident)
        cur = best.get(key)
        if cur is None or (b.revision if b.revision is not None else -1) >= (
                cur.revision if cur.revision is not None else -1):
            best[key] = b
    out = []
    for b in reviewed:
        ident = _identity(b)
        if ident is not None and best[(b.image_key, ident)] is not b:
            continue
        if (b.state or "").lower() == "rejected":
            continue
        out.append(b)
    return out


def select_boxes(annotations: AnnotationSet, which: str) -> list[BoxRecord]:
    """The boxes an export with ``which`` writes: ``reviewed`` = the latest reviewed boxes
    (rejected never appear), ``proposals`` = all proposals, ``both`` = both (reviewed first)."""
    check_which(which)
    reviewed = latest_reviewed(annotations.boxes) if which in ("reviewed", "both") else []
    proposals = [b for b in annotations.boxes if b.kind == "proposal"] if which in ("proposals", "both") else []
    return reviewed + proposals


def export_images(annotations: AnnotationSet, boxes: Iterable[BoxRecord]) -> list[ImageRecord]:
    """Every image of the set (images without boxes too: they are negatives), then any image
    a box names that the set lacks (size unknown)."""
    images = list(annotations.images)
    seen = {i.key for i in images}
    for b in boxes:
        if b.image_key not in seen:
            seen.add(b.image_key)
            images.append(ImageRecord(b.image_key, 0, 0))
    return images


# ---------------------------------------------------------------------------- geometry checks

def outside_reason(box: Box, width: int, height: int) -> str | None:
    """Why ``box`` is not inside a ``width`` x ``height`` image, or None (also None when the
    size is unknown, i.e. 0)."""
    if width <= 0 or height <= 0:
        return None
    tol = EDGE_TOLERANCE
    if box.x0 < -tol or box.y0 < -tol or box.x1 > width + tol or box.y1 > height + tol:
        return (f"box (x0={box.x0:g}, y0={box.y0:g}, x1={box.x1:g}, y1={box.y1:g}) is outside the "
                f"{width}x{height} image")
    return None


def make_box(x0: float, y0: float, x1: float, y1: float) -> Box:
    """A Box, or ValueError with a reason people can read (negative size)."""
    if x1 < x0 or y1 < y0:
        raise ValueError(f"negative box size (width {x1 - x0:g}, height {y1 - y0:g})")
    return Box(x0, y0, x1, y1)


def prepare_export(annotations: AnnotationSet, which: str, size_needed_for: str | None = None
                   ) -> tuple[list[BoxRecord], list[ImageRecord], dict[str, ImageRecord]]:
    """The boxes ``which`` selects, the images to write (sizes probed from disk where
    unknown) and the images by key; every box is checked to lie inside its image.
    ``size_needed_for`` names the format's reason when every image must have a size."""
    boxes = select_boxes(annotations, which)
    images = [with_size(i) for i in export_images(annotations, boxes)]
    if size_needed_for:
        for img in images:
            if img.width <= 0 or img.height <= 0:
                raise ExportError(f"image {img.key}: size unknown; {size_needed_for} "
                                  "(import with images_dir, or give the ImageRecord a size)")
    by_key = {i.key: i for i in images}
    for b in boxes:
        check_export_box(b, by_key.get(b.image_key))
    return boxes, images, by_key


def check_export_box(record: BoxRecord, image: ImageRecord | None) -> None:
    if image is None:
        return
    reason = outside_reason(record.box, image.width, image.height)
    if reason:
        raise ExportError(f"image {record.image_key}: {record.label} {reason}")


# ---------------------------------------------------------------------------- reading text

def read_bytes(path: Path) -> bytes:
    """The annotation file's bytes: a regular file (never a FIFO or a device) within the
    annotation size limit (core/user_files.py)."""
    try:
        return read_user_bytes(path, "annotations")
    except UserFileError as exc:
        raise ExchangeError(path, None, exc.reason) from None


def read_text(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is dropped), not empty; else ExchangeError naming the
    line of the first bad byte."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ExchangeError(path, f"line {line}",
                            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if not text.strip():
        raise ExchangeError(path, None, "empty file")
    return text


# ---------------------------------------------------------------------------- numbers

def parse_float(text: object, what: str) -> float:
    """A finite float from ``text`` (str or number), else ValueError naming ``what``."""
    if isinstance(text, bool):
        raise ValueError(f"{what} is not a number ({text!r})")
    if isinstance(text, (int, float)):
        value = float(text)
    elif isinstance(text, str):
        s = text.strip()
        if not s:
            raise ValueError(f"{what} is missing")
        try:
            value = float(s)
        except ValueError:
            raise ValueError(f"{what} is not a number ({text!r})") from None
    else:
        raise ValueError(f"{what} is not a number ({text!r})")
    if not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number ({text!r})")
    return value


def check_label(text: object, what: str = "label") -> str:
    """A label: a non-empty string of at most ``LABEL_MAX`` characters without control characters."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a non-empty string (got {text!r})")
    if control_characters(text):
        raise ValueError(f"{what} {text[:40]!r} holds a control character (NUL, tab, line break...)")
    if len(text) > LABEL_MAX:
        raise ValueError(f"{what} is {len(text)} characters long; at most {LABEL_MAX} are kept")
    return text


# The largest image side an annotation file may declare: the same for SQLite and PostgreSQL.
MAX_SIDE = 1 << 20


def parse_size(text: object, what: str) -> int:
    """A positive integer image size (``"1024"``, ``1024`` or ``1024.0``), at most ``MAX_SIDE``."""
    value = parse_float(text, what)
    if value <= 0:
        raise ValueError(f"{what} must be positive (got {text!r})")
    if value > MAX_SIDE:
        raise ValueError(f"{what} must be at most {MAX_SIDE:,} pixels (got {text!r})")
    if not value.is_integer():
        raise ValueError(f"{what} must be a whole number of pixels (got {text!r})")
    return int(value)


def fmt_num(value: float) -> str:
    """Shortest text that reads back to exactly ``value``; whole numbers without ``.0``."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _size_text_exact(start: float, end: float) -> float:
    """The size ``w`` with the shortest decimal text for which ``start + w == end`` exactly
    (so ``x, y, w, h`` files read back to the same corners, and 175.54 stays 175.54 rather
    than ``end - start`` = 175.53999999999996); ``end - start`` if no such text exists."""
    diff = end - start
    for digits in range(1, 18):
        cand = float(f"{diff:.{digits}g}")
        if start + cand == end:
            return cand
    return diff


def xywh(box: Box) -> tuple[float, float, float, float]:
    """``box`` as (x, y, w, h) for formats that store sizes (COCO, NIH CSV): see
    :func:`_size_text_exact`."""
    return (box.x0, box.y0, _size_text_exact(box.x0, box.x1), _size_text_exact(box.y0, box.y1))


def fmt_shifted(value: float, shift: int) -> str:
    """``value + shift`` as exact decimal text: ``float(Decimal(text) - shift) == value``
    (VOC's 1-based corners of float boxes read back bit-exactly)."""
    d = Decimal(repr(float(value))) + shift
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def unshift(text: str, shift: int, what: str) -> float:
    parse_float(text, what)  # the checks and messages
    value = float(Decimal(text.strip()) - shift)
    return value


# ---------------------------------------------------------------------------- writing

# The exchange writers' name for core.atomic_files.atomic_open (temporary file, fsync, rename).
atomic_write = atomic_open


def prepare_out_dir(out_dir: Path, suffixes: Sequence[str], overwrite: bool) -> list[Path]:
    """Check the export folder ``out_dir``: not a link, and if it already holds files, refuse
    unless ``overwrite``. Returns the files an overwrite replaces (those with ``suffixes``: a
    stale export must not be read back); they are removed when the new export is in place
    (:func:`medxai_desktop.core.atomic_files.atomic_folder`). Nothing is created here."""
    check_output(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    if not out_dir.exists():
        return []
    links = [p for p in out_dir.rglob("*") if p.is_symlink()]
    if links:  # rglob does not descend into a linked folder: it would look empty and be written through
        raise ExportError(f"{out_dir}: holds a symbolic link ({links[0].relative_to(out_dir)}); exports never "
                          "write through links: choose a folder without them")
    existing = [p for p in out_dir.rglob("*") if p.is_file()]
    if existing and not overwrite:
        raise ExportError(f"{out_dir}: folder is not empty ({len(existing)} files); "
                          f"choose an empty folder or pass overwrite=True")
    return [p for p in existing if p.suffix.lower() in suffixes]


def relative_target(out_dir: Path, key: str, suffix: str, taken: dict[Path, str]) -> Path:
    """``out_dir/<key with suffix replaced>`` for per-image files (VOC, YOLO); the key's
    folders are kept. Two keys that would share a file are an ExportError."""
    rel = Path(key)
    if rel.is_absolute() or ".." in rel.parts:
        rel = Path(rel.name)
    target = out_dir / rel.with_suffix(suffix)
    if not target.parent.resolve().is_relative_to(out_dir.resolve()):
        raise ExportError(f"{target}: would be written outside {out_dir} (through a link)")
    other = taken.get(target)
    if other is not None and other != key:
        raise ExportError(f"images {other!r} and {key!r} would both be written to {target}")
    taken[target] = key
    return target


# ---------------------------------------------------------------------------- CSV

# CSV injection (OWASP): a spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: object) -> str:
    """A CSV cell that no spreadsheet takes for a formula: text starting with = + - @ tab or CR
    gets a leading apostrophe (numbers stay as they are); ``csv_unsafe`` undoes it on import."""
    text = "" if cell is None else str(cell)
    if not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
        return text
    except ValueError:
        return "'" + text


def csv_unsafe(cell: str) -> str:
    """The cell ``csv_safe`` was given."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through ``csv_safe``."""

    def __init__(self, handle):
        import csv

        self._writer = csv.writer(handle, lineterminator="\n")

    def writerow(self, row) -> None:
        self._writer.writerow([csv_safe(cell) for cell in row])


def read_csv_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank rows of a UTF-8 CSV file, each with its line number
    (the physical line the record ends on; the header is line 1)."""
    import csv
    import io

    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        for row in reader:
            if header is None:
                if not any(c.strip() for c in row):
                    continue
                header = row
                continue
            if not any(c.strip() for c in row):
                continue
            rows.append((reader.line_num, [csv_unsafe(cell) for cell in row]))
    except csv.Error as exc:
        raise ExchangeError(path, f"line {reader.line_num}", f"malformed CSV ({exc})") from None
    if header is None:
        raise ExchangeError(path, None, "empty file")
    return header, rows
