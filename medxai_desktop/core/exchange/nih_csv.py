"""The NIH ChestX-ray14 box list (``BBox_List_2017.csv``) layout, and the chest-X-ray
``boxes.csv`` layout of MedXAI's shared data.

NIH layout (what NIH ships, header verbatim)::

    Image Index,Finding Label,Bbox [x,y,w,h],,,
    00013118_008.png,Atelectasis,225.08,547.02,86.78,79.19,,,

The header's third cell is the unquoted text ``Bbox [x,y,w,h]``, so a CSV parser sees nine
cells; x, y, w, h (top-left corner and size, pixels of the 1024 x 1024 NIH images) are the
3rd-6th columns of each row and the trailing cells are empty. Rows with just six cells are
read too.

``boxes.csv`` layout (read only unless ``layout="boxes"``): a header naming at least
``image,label,x,y,w,h`` (MedXAI's file has ``image,source,label,x,y,w,h``); other columns
(``source``) go to ``BoxRecord.extra``.

Image sizes: NIH coordinates are in the 1024 x 1024 space, so images get ``image_size``
(default 1024 x 1024) unless ``images_dir`` is given, in which case each image's real size is
read from its header (and a missing image is an error). Boxes outside the image are rejected.

Neither layout can hold provenance or scores: export ``which="reviewed"`` or ``"proposals"``
(the scores are dropped; use COCO or the flat CSV to keep them), never ``"both"``. Images
without boxes cannot be written (one row per box).
"""
from __future__ import annotations

from pathlib import Path

from medxai_desktop.core.exchange._common import (
    atomic_write, check_export_box, check_which, export_images, fmt_num, make_box,
    SafeCsvWriter, check_key, check_label, outside_reason, parse_float, read_csv_rows, select_boxes, xywh,
)
from medxai_desktop.core.exchange._images import ImageFinder
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord

NIH_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,"
NIH_IMAGE_SIZE = (1024, 1024)
BOXES_COLUMNS = ("image", "source", "label", "x", "y", "w", "h")


def write_nih_csv(annotations: AnnotationSet, out_path: str | Path, which: str = "reviewed",
                  layout: str = "nih") -> Path:
    """Write the boxes in the NIH layout (``layout="nih"``) or the shared-data ``boxes.csv``
    layout (``layout="boxes"``: image,source,label,x,y,w,h; ``source`` from ``extra``)."""
    check_which(which, ("reviewed", "proposals"), "the NIH box list")
    if layout not in ("nih", "boxes"):
        raise ValueError(f"layout must be 'nih' or 'boxes', got {layout!r}")
    out_path = Path(out_path)
    boxes = select_boxes(annotations, which)
    by_key = {i.key: i for i in export_images(annotations, boxes)}
    for b in boxes:
        check_export_box(b, by_key.get(b.image_key))
    with atomic_write(out_path) as f:
        writer = SafeCsvWriter(f)
        if layout == "nih":
            f.write(NIH_HEADER + "\n")
        else:
            writer.writerow(BOXES_COLUMNS)
        for b in boxes:
            x, y, w, h = (fmt_num(v) for v in xywh(b.box))
            if layout == "nih":
                writer.writerow([b.image_key, b.label, x, y, w, h, "", "", ""])
            else:
                writer.writerow([b.image_key, str(b.extra.get("source", "")), b.label, x, y, w, h])
    return out_path


def read_nih_csv(path: str | Path, images_dir: str | Path | None = None, *,
                 image_size: tuple[int, int] | None = NIH_IMAGE_SIZE) -> AnnotationSet:
    """Read an NIH ``BBox_List_2017.csv`` or a ``boxes.csv`` (image,source,label,x,y,w,h) file:
    reviewed boxes (``method="import"``). ``image_size`` (width, height) is used for every
    image unless ``images_dir`` gives real sizes; ``None`` leaves sizes unknown (0)."""
    path = Path(path)
    header, rows = read_csv_rows(path)
    cells = [c.strip() for c in header]
    lower = [c.lower() for c in cells]
    if len(lower) >= 2 and lower[0] == "image index" and lower[1] == "finding label":
        layout = "nih"
        cols = {"image": 0, "label": 1, "x": 2, "y": 3, "w": 4, "h": 5}
        extra_cols: dict[str, int] = {}
    elif {"image", "label", "x", "y", "w", "h"} <= set(lower):
        layout = "boxes"
        if len(set(lower)) != len(lower):
            raise ExchangeError(path, "line 1", "duplicate column names in the header")
        cols = {name: lower.index(name) for name in ("image", "label", "x", "y", "w", "h")}
        extra_cols = {cells[i]: i for i, name in enumerate(lower) if name not in cols and name}
    else:
        raise ExchangeError(path, "line 1", "unknown header: expected NIH's 'Image Index,Finding Label,"
                                            "Bbox [x,y,w,h],,,' or columns image,label,x,y,w,h")
    finder = ImageFinder.for_annotations(path, images_dir)
    images: dict[str, ImageRecord] = {}
    boxes: list[BoxRecord] = []
    labels: list[str] = []
    for line, row in rows:
        where = f"line {line}"
        try:
            need = 6 if layout == "nih" else len(header)
            if len(row) < need:
                raise ValueError(f"expected {need} columns, got {len(row)}")
            if layout == "nih" and any(c.strip() for c in row[6:]):
                raise ValueError(f"unexpected values after the box in columns 7+: {row[6:]!r}")
            if layout == "boxes" and len(row) > len(header):
                raise ValueError(f"expected {len(header)} columns, got {len(row)}")
            key, label = row[cols["image"]].strip(), row[cols["label"]].strip()
            if not key:
                raise ValueError("image name is missing")
            check_key(key, "image")
            if not label:
                raise ValueError("finding label is missing")
            check_label(label, "finding label")
            x, y, w, h = (parse_float(row[cols[c]], c) for c in ("x", "y", "w", "h"))
            if w < 0 or h < 0:
                raise ValueError(f"negative box size (w={w:g}, h={h:g})")
            box = make_box(x, y, x + w, y + h)
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
        img = images.get(key)
        if img is None:
            img = _image(path, where, key, finder, image_size)
            images[key] = img
        reason = outside_reason(box, img.width, img.height)
        if reason:
            raise ExchangeError(path, where, f"{reason} ({key})")
        extra = {name: row[i].strip() for name, i in extra_cols.items() if i < len(row) and row[i].strip()}
        boxes.append(BoxRecord(key, label, box, kind="reviewed", method="import", extra=extra))
        if label not in labels:
            labels.append(label)
    return AnnotationSet(images=list(images.values()), boxes=boxes, labels=labels)


def _image(path: Path, where: str, key: str, finder: ImageFinder,
           image_size: tuple[int, int] | None) -> ImageRecord:
    if finder.images_dir is None:
        width, height = image_size if image_size is not None else (0, 0)
        return ImageRecord(key, int(width), int(height))
    try:
        rec = finder.record(key)
    except Exception as exc:  # noqa: BLE001 - ImageReadError and friends
        raise ExchangeError(path, where, f"cannot read the size of image {key}: {exc}") from None
    if rec is None:
        raise ExchangeError(path, where, f"image {key} not found in {finder.images_dir}")
    return rec


__all__ = ["NIH_HEADER", "NIH_IMAGE_SIZE", "read_nih_csv", "write_nih_csv"]
