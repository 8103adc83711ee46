"""Flat CSV: one row per box, corners rather than sizes, all provenance in columns::

    image,label,x0,y0,x1,y1,kind,score,method,reviewer,state,revision,proposal_id,image_width,image_height[,extra...]

``x0,y0`` inclusive and ``x1,y1`` exclusive, float pixels (our Box); ``kind`` is ``reviewed``
or ``proposal``; ``score`` (proposals), ``method``, ``reviewer``, ``state``, ``revision``
(integer), ``proposal_id`` are empty where unknown; ``image_width``/``image_height`` are the
image size (empty when unknown). The same columns are written for every ``which`` (one
schema); ``which`` only chooses the rows. Scalar ``BoxRecord.extra`` entries (e.g. ``source``)
become further columns after these, and come back as text.

An image without boxes is a row with only ``image`` (and its size) filled in, so negatives
survive a round trip. Numbers are written in the shortest form that reads back exactly.

On import only ``image,label,x0,y0,x1,y1`` are required; a missing ``kind`` means reviewed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from medxai_desktop.core.exchange._common import (
    prepare_export,
    atomic_write, fmt_num, make_box, outside_reason,
    SafeCsvWriter, check_key, check_label, parse_float, parse_size, read_csv_rows,
)
from medxai_desktop.core.exchange._images import ImageFinder
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord

COLUMNS = ("image", "label", "x0", "y0", "x1", "y1", "kind", "score", "method", "reviewer", "state",
           "revision", "proposal_id", "image_width", "image_height")
REQUIRED = ("image", "label", "x0", "y0", "x1", "y1")
_BOX_FIELDS = ("label", "x0", "y0", "x1", "y1", "kind", "score", "method", "reviewer", "state",
               "revision", "proposal_id")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return fmt_num(value)
    return str(value)


def write_flat_csv(annotations: AnnotationSet, out_path: str | Path, which: str = "reviewed") -> Path:
    """Write the flat CSV (every ``which``: reviewed, proposals or both)."""
    out_path = Path(out_path)
    boxes, images, by_key = prepare_export(annotations, which)
    extra_cols: list[str] = []
    for b in boxes:
        for k, v in b.extra.items():
            if k not in COLUMNS and k not in extra_cols and (v is None or isinstance(v, (str, int, float, bool))):
                extra_cols.append(k)
    with atomic_write(out_path) as f:
        writer = SafeCsvWriter(f)
        writer.writerow(list(COLUMNS) + extra_cols)
        for b in boxes:
            img = by_key[b.image_key]
            writer.writerow([b.image_key, b.label, _cell(b.box.x0), _cell(b.box.y0), _cell(b.box.x1),
                             _cell(b.box.y1), b.kind, _cell(b.score), _cell(b.method), _cell(b.reviewer),
                             _cell(b.state), _cell(b.revision), _cell(b.proposal_id),
                             _size(img.width), _size(img.height)]
                            + [_cell(b.extra.get(k)) for k in extra_cols])
        with_boxes = {b.image_key for b in boxes}
        for img in images:  # images without boxes: after the boxes
            if img.key not in with_boxes:
                writer.writerow([img.key] + [""] * 12 + [_size(img.width), _size(img.height)]
                                + [""] * len(extra_cols))
    return out_path


def _size(value: int) -> str:
    return str(value) if value > 0 else ""


def read_flat_csv(path: str | Path, images_dir: str | Path | None = None) -> AnnotationSet:
    """Read a flat CSV. Sizes come from ``image_width``/``image_height`` where given, else from
    the image in ``images_dir`` (if given and found), else stay unknown (0)."""
    path = Path(path)
    header, rows = read_csv_rows(path)
    names = [c.strip() for c in header]
    lower = [n.lower() for n in names]
    missing = [c for c in REQUIRED if c not in lower]
    if missing:
        raise ExchangeError(path, "line 1", f"missing column(s) {', '.join(missing)} "
                                            f"(expected {','.join(COLUMNS)})")
    if len(set(lower)) != len(lower):
        raise ExchangeError(path, "line 1", "duplicate column names in the header")
    idx = {c: lower.index(c) for c in COLUMNS if c in lower}
    extra_idx = {names[i]: i for i, n in enumerate(lower) if n not in COLUMNS and n}
    finder = ImageFinder.for_annotations(path, images_dir)
    images: dict[str, ImageRecord] = {}
    boxes: list[BoxRecord] = []
    labels: list[str] = []
    for line, row in rows:
        where = f"line {line}"
        if len(row) != len(header):
            raise ExchangeError(path, where, f"expected {len(header)} columns, got {len(row)}")
        get = {c: row[i].strip() for c, i in idx.items()}
        key = get["image"]
        try:
            if not key:
                raise ValueError("image is missing")
            check_key(key, "image")
            width = parse_size(get["image_width"], "image_width") if get.get("image_width") else 0
            height = parse_size(get["image_height"], "image_height") if get.get("image_height") else 0
            if bool(width) != bool(height):
                raise ValueError("image_width and image_height must be given together")
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
        img = _image(path, where, key, width, height, images, finder)
        if not any(get.get(c) for c in _BOX_FIELDS) and not any(row[i].strip() for i in extra_idx.values()):
            continue  # an image without boxes
        try:
            record = _record(get, row, extra_idx, img)
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
        boxes.append(record)
        if record.label not in labels:
            labels.append(record.label)
    return AnnotationSet(images=list(images.values()), boxes=boxes, labels=labels)


def _image(path: Path, where: str, key: str, width: int, height: int,
           images: dict[str, ImageRecord], finder: ImageFinder) -> ImageRecord:
    img = images.get(key)
    if img is not None:
        if width and (img.width, img.height) != (width, height) and img.width:
            raise ExchangeError(path, where, f"image {key} given as {width}x{height} here but "
                                             f"{img.width}x{img.height} before")
        if width and not img.width:
            img = ImageRecord(key, width, height, path=img.path, study_uid=img.study_uid,
                              series_uid=img.series_uid, sop_uid=img.sop_uid)
            images[key] = img
        return img
    found = None
    if finder.images_dir is not None:
        try:
            found = finder.record(key)
        except Exception as exc:  # noqa: BLE001 - ImageReadError and friends
            raise ExchangeError(path, where, f"cannot read the size of image {key}: {exc}") from None
    if found is not None:
        if width and (found.width, found.height) != (width, height):
            raise ExchangeError(path, where, f"image {key} is {found.width}x{found.height} in "
                                             f"{finder.images_dir}, but the CSV says {width}x{height}")
        img = found
    else:
        img = ImageRecord(key, width, height)
    images[key] = img
    return img


def _record(get: dict[str, str], row: list[str], extra_idx: dict[str, int], img: ImageRecord) -> BoxRecord:
    label = get["label"]
    if not label:
        raise ValueError("label is missing")
    check_label(label)
    x0, y0, x1, y1 = (parse_float(get[c], c) for c in ("x0", "y0", "x1", "y1"))
    box = make_box(x0, y0, x1, y1)
    reason = outside_reason(box, img.width, img.height)
    if reason:
        raise ValueError(f"{reason} ({img.key})")
    kind = get.get("kind") or "reviewed"
    if kind not in ("reviewed", "proposal"):
        raise ValueError(f"kind must be 'reviewed' or 'proposal' (got {kind!r})")
    score = parse_float(get["score"], "score") if get.get("score") else None
    revision = None
    if get.get("revision"):
        try:
            revision = int(get["revision"])
        except ValueError:
            raise ValueError(f"revision is not an integer ({get['revision']!r})") from None
    extra = {name: row[i].strip() for name, i in extra_idx.items() if row[i].strip()}
    return BoxRecord(img.key, label, box, kind=kind, score=score, method=get.get("method") or None,
                     reviewer=get.get("reviewer") or None, state=get.get("state") or None,
                     revision=revision, proposal_id=get.get("proposal_id") or None, extra=extra)


__all__ = ["COLUMNS", "read_flat_csv", "write_flat_csv"]
