"""YOLO (darknet / Ultralytics) txt labels: one ``<image stem>.txt`` per image in an output
folder, one line per box

    class x_center y_center width height          (reviewed boxes)
    class x_center y_center width height score    (proposals: Ultralytics' ``save_conf`` layout)

with the centre and size divided by the image width/height (0..1), and ``classes.txt`` (one
label per line; the class id is the 0-based line number). Numbers are written with 17
significant digits, so de-normalised corners come back to ~1e-12 px. An image key with folders
("a/b.png") is written to ``<out>/a/b.txt``. Images without boxes get an empty txt (YOLO's
background images).

YOLO files hold no image size and no image suffix, so importing needs the images: pass
``images_dir`` (each label ``a/b.txt`` is matched with the one image ``a/b.*`` there, or the one
image named ``b.*`` anywhere below it, and its size is read from the file header), or
``images=`` the ImageRecords (keys and sizes) of a store; their keys are matched by stem.
VOC-like rule: ``which="both"`` is refused (YOLO cannot hold provenance).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from medxai_desktop.core.exchange._common import (
    check_label,
    prepare_export,
    ExportError, atomic_write, check_which, make_box,
    outside_reason, parse_float, prepare_out_dir, read_bytes, read_text, relative_target,
)
from medxai_desktop.core.atomic_files import atomic_folder
from medxai_desktop.core.exchange._images import ImageFinder
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord

CLASSES_FILE = "classes.txt"


def _num(value: float) -> str:
    return format(float(value), ".17g")


def write_yolo(annotations: AnnotationSet, out_path: str | Path, which: str = "reviewed",
               overwrite: bool = False) -> Path:
    """Write ``classes.txt`` and one txt per image into the folder ``out_path`` (created;
    must be empty unless ``overwrite``, which replaces the .txt files there); every file or
    none (written beside it first)."""
    check_which(which, ("reviewed", "proposals"), "YOLO")
    out_dir = Path(out_path)
    boxes, images, by_key = prepare_export(annotations, which, "YOLO normalises by the image size")
    labels = annotations.all_labels()
    for label in labels:
        if not label.strip() or "\n" in label or "\r" in label:
            raise ExportError(f"label {label!r} cannot be a line of classes.txt")
    class_ids = {label: n for n, label in enumerate(labels)}
    taken: dict[Path, str] = {out_dir / CLASSES_FILE: "(classes)"}
    targets = [(img, relative_target(out_dir, img.key, ".txt", taken)) for img in images]
    stale = prepare_out_dir(out_dir, (".txt",), overwrite)
    with atomic_folder(out_dir, stale) as tmp:
        with atomic_write(tmp / CLASSES_FILE) as f:
            f.writelines(f"{label}\n" for label in labels)
        for img, target in targets:
            with atomic_write(tmp / target.relative_to(out_dir)) as f:
                f.writelines(_label_lines(img, boxes, class_ids))
    return out_dir


def _label_lines(img: ImageRecord, boxes: list[BoxRecord], class_ids: dict[str, int]) -> list[str]:
    lines = []
    for b in boxes:
        if b.image_key != img.key:
            continue
        w, h = img.width, img.height
        fields = [str(class_ids[b.label]), _num((b.box.x0 + b.box.x1) / 2 / w),
                  _num((b.box.y0 + b.box.y1) / 2 / h), _num(b.box.width / w), _num(b.box.height / h)]
        if b.kind == "proposal":
            fields.append(_num(b.score if b.score is not None else 1.0))
        lines.append(" ".join(fields) + "\n")
    return lines


def read_yolo(path: str | Path, images_dir: str | Path | None = None, *,
              images: Iterable[ImageRecord] | None = None,
              classes: str | Path | None = None) -> AnnotationSet:
    """Read a YOLO label folder (every ``*.txt`` below it except ``classes.txt``) with its
    ``classes.txt`` (or the ``classes`` file given). Image keys and sizes come from
    ``images`` (ImageRecords, matched by stem) or ``images_dir``; one of them is required.
    Lines with 5 numbers are reviewed boxes, with 6 proposals (the 6th is the score)."""
    path = Path(path)
    if not path.is_dir():
        raise ExchangeError(path, None, "a YOLO export is a folder of .txt files (plus classes.txt)")
    classes_path = Path(classes) if classes is not None else path / CLASSES_FILE
    if not classes_path.is_file():
        raise ExchangeError(classes_path, None, "classes.txt not found: YOLO class ids need their names")
    labels = _read_classes(classes_path)
    if images_dir is None and images is None:
        raise ExchangeError(path, None, "YOLO labels hold no image sizes or file names: pass images_dir "
                                        "(or the ImageRecords) to import them")
    known = list(images or [])
    by_stem: dict[str, list[ImageRecord]] = {}
    for rec in known:
        for stem in {Path(rec.key).with_suffix("").as_posix(), Path(rec.key).stem}:
            by_stem.setdefault(stem, []).append(rec)
    finder = ImageFinder.for_annotations(path, images_dir, known)
    files = sorted(p for p in path.rglob("*.txt") if p.is_file() and p.resolve() != classes_path.resolve()
                   and p.name != CLASSES_FILE)
    out_images: list[ImageRecord] = []
    out_boxes: list[BoxRecord] = []
    for txt in files:
        stem_path = txt.relative_to(path).with_suffix("").as_posix()
        img = _image_for(txt, stem_path, by_stem, finder)
        out_images.append(img)
        out_boxes.extend(_read_label_file(txt, img, labels))
    keys = [i.key for i in out_images]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ExchangeError(path, None, f"two label files match the image {dup!r}")
    return AnnotationSet(images=out_images, boxes=out_boxes, labels=labels)


def _read_classes(classes_path: Path) -> list[str]:
    text = read_text(classes_path)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    labels: list[str] = []
    for n, line in enumerate(lines, 1):
        label = line.strip()
        if not label:
            raise ExchangeError(classes_path, f"line {n}", "empty class name")
        if label in labels:
            raise ExchangeError(classes_path, f"line {n}", f"duplicate class name {label!r}")
        try:
            check_label(label, "class name")
        except ValueError as exc:
            raise ExchangeError(classes_path, f"line {n}", str(exc)) from None
        labels.append(label)
    return labels


def _image_for(txt: Path, stem_path: str, by_stem: dict[str, list[ImageRecord]], finder: ImageFinder) -> ImageRecord:
    for stem in (stem_path, Path(stem_path).name):
        hits = by_stem.get(stem, [])
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ExchangeError(txt, None, f"several images match {stem!r}: "
                                           f"{', '.join(h.key for h in hits[:5])}")
    found = finder.find_stem(stem_path)
    if found is None:
        raise ExchangeError(txt, None, f"no single image named {Path(stem_path).name}.* found "
                                       f"in {finder.images_dir or 'the given images'}")
    key, image_path = found
    try:
        rec = finder.record(key, image_path)
    except Exception as exc:  # noqa: BLE001 - ImageReadError and friends
        raise ExchangeError(txt, None, f"cannot read the size of {image_path}: {exc}") from None
    assert rec is not None
    return rec


def _read_label_file(txt: Path, img: ImageRecord, labels: list[str]) -> list[BoxRecord]:
    data = read_bytes(txt)
    if not data.strip():
        return []  # a background image
    text = read_text(txt)
    boxes = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            boxes.append(_read_line(line, img, labels))
        except ValueError as exc:
            raise ExchangeError(txt, f"line {n}", str(exc)) from None
    return boxes


def _read_line(line: str, img: ImageRecord, labels: list[str]) -> BoxRecord:
    fields = line.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields (class x_center y_center width height) or 6 (+ score), "
                         f"got {len(fields)}")
    try:
        cls = int(fields[0])
    except ValueError:
        raise ValueError(f"class id {fields[0]!r} is not an integer") from None
    if not 0 <= cls < len(labels):
        raise ValueError(f"unknown class id {cls} (classes.txt has {len(labels)} classes)")
    xc, yc, w, h = (parse_float(v, name) for v, name in zip(fields[1:5], ("x_center", "y_center", "width", "height")))
    if w < 0 or h < 0:
        raise ValueError(f"negative box size (width {w:g}, height {h:g})")
    W, H = img.width, img.height
    box = make_box((xc - w / 2) * W, (yc - h / 2) * H, (xc + w / 2) * W, (yc + h / 2) * H)
    reason = outside_reason(box, W, H)
    if reason:
        raise ValueError(f"{reason} (normalised centre {fields[1]} {fields[2]}, size {fields[3]} {fields[4]})")
    box = box.clipped(W, H)  # only float dust (< 1e-6 px) past an edge gets here
    if len(fields) == 6:
        return BoxRecord(img.key, labels[cls], box, kind="proposal", score=parse_float(fields[5], "score"))
    return BoxRecord(img.key, labels[cls], box)


__all__ = ["CLASSES_FILE", "read_yolo", "write_yolo"]
