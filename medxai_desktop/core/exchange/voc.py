"""Pascal VOC XML: one ``<annotation>`` file per image in an output folder.

Pixel convention: VOC corners are 1-based and inclusive (the top-left pixel is (1, 1) and
``xmax`` is the last pixel column inside the box). Our boxes are 0-based with (x0, y0)
inclusive and (x1, y1) exclusive, so

    xmin = x0 + 1,  ymin = y0 + 1,  xmax = x1,  ymax = y1      (and back: x0 = xmin - 1, x1 = xmax)

For whole-pixel boxes that is the classic VOC encoding; float boxes are written as exact
decimals (``x0 + 1`` computed in decimal, not binary floating point), so reading back gives
bit-identical floats. Whole numbers are written without ``.0``.

Each XML holds ``folder``, ``filename`` (the image file name), ``size`` (width, height,
depth = 1: the depth is not known to the exchange layer), ``segmented`` 0 and one ``object``
per box (``name``, ``pose`` Unspecified, ``truncated`` 0, ``difficult`` 0, ``bndbox``). An
image key with folders ("a/b.png") is written to ``<out>/a/b.xml`` and read back as "a/b.png".
Images without boxes get an XML without objects (negatives survive the round trip).

VOC cannot hold provenance: export ``which="reviewed"`` or ``"proposals"``, not ``"both"``.
Proposals carry their score in a non-standard ``<score>`` element of the object (VOC tools
ignore it; on import an object with ``<score>`` is a proposal).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from medxai_desktop.core.exchange._common import (
    check_key, check_label,
    prepare_export,
    atomic_write, check_which, fmt_num, fmt_shifted,
    make_box, outside_reason, parse_float, parse_size, prepare_out_dir, read_bytes,
    relative_target, unshift,
)
from medxai_desktop.core.atomic_files import atomic_folder
from medxai_desktop.core.exchange._images import ImageFinder
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord


def write_voc(annotations: AnnotationSet, out_path: str | Path, which: str = "reviewed",
              overwrite: bool = False) -> Path:
    """Write one VOC XML per image into the folder ``out_path`` (created; must be empty
    unless ``overwrite``, which replaces the .xml files there). Every file or none is written:
    they go to a temporary folder beside it first. Returns the folder."""
    check_which(which, ("reviewed", "proposals"), "Pascal VOC")
    out_dir = Path(out_path)
    boxes, images, by_key = prepare_export(annotations, which, "VOC needs width and height")
    taken: dict[Path, str] = {}
    targets = [(img, relative_target(out_dir, img.key, ".xml", taken)) for img in images]
    stale = prepare_out_dir(out_dir, (".xml",), overwrite)
    with atomic_folder(out_dir, stale) as tmp:
        for img, target in targets:
            tree = _annotation_xml(img, [b for b in boxes if b.image_key == img.key])
            ET.indent(tree)
            with atomic_write(tmp / target.relative_to(out_dir), "wb") as f:
                tree.write(f, encoding="utf-8", xml_declaration=True)
    return out_dir


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _annotation_xml(img: ImageRecord, boxes: list[BoxRecord]) -> ET.ElementTree:
    root = ET.Element("annotation")
    key = Path(img.key)
    _sub(root, "folder", key.parent.as_posix() if key.parent != Path(".") else "")
    _sub(root, "filename", key.name)
    size = _sub(root, "size")
    _sub(size, "width", str(img.width))
    _sub(size, "height", str(img.height))
    _sub(size, "depth", "1")
    _sub(root, "segmented", "0")
    for b in boxes:
        obj = _sub(root, "object")
        _sub(obj, "name", b.label)
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", "0")
        _sub(obj, "difficult", "0")
        if b.kind == "proposal":
            if b.score is not None:
                _sub(obj, "score", repr(float(b.score)))
            else:
                _sub(obj, "score", "")
            if b.method:
                _sub(obj, "method", b.method)
        bnd = _sub(obj, "bndbox")
        _sub(bnd, "xmin", fmt_shifted(b.box.x0, 1))
        _sub(bnd, "ymin", fmt_shifted(b.box.y0, 1))
        _sub(bnd, "xmax", fmt_num(b.box.x1))
        _sub(bnd, "ymax", fmt_num(b.box.y1))
    return ET.ElementTree(root)


# ---------------------------------------------------------------------------- reading

def read_voc(path: str | Path, images_dir: str | Path | None = None) -> AnnotationSet:
    """Read one VOC XML file, or every ``*.xml`` below a folder (sorted). The image key is
    the XML's folder relative to ``path`` plus ``<filename>``. ``images_dir`` (optional)
    sets ``ImageRecord.path``. Problems raise ExchangeError naming the XML file and the
    object ("object 2"), e.g. a box outside ``<size>``."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.xml") if p.is_file())
        if not files:
            raise ExchangeError(path, None, "no .xml files in this folder")
        base = path
    else:
        files, base = [path], path.parent
    finder = ImageFinder.for_annotations(path, images_dir)
    images: list[ImageRecord] = []
    boxes: list[BoxRecord] = []
    labels: list[str] = []
    seen: dict[str, Path] = {}
    for xml_path in files:
        img, file_boxes = _read_one(xml_path, base, finder)
        if img.key in seen:
            raise ExchangeError(xml_path, None, f"image {img.key!r} is also annotated in {seen[img.key]}")
        seen[img.key] = xml_path
        images.append(img)
        boxes.extend(file_boxes)
        for b in file_boxes:
            if b.label not in labels:
                labels.append(b.label)
    return AnnotationSet(images=images, boxes=boxes, labels=labels)


def _text(el: ET.Element, tag: str, where: str) -> str:
    child = el.find(tag)
    if child is None:
        raise ValueError(f"missing <{tag}>" + (f" in {where}" if where else ""))
    return (child.text or "").strip()


def _read_one(xml_path: Path, base: Path, finder: ImageFinder) -> tuple[ImageRecord, list[BoxRecord]]:
    data = read_bytes(xml_path)
    if not data.strip():
        raise ExchangeError(xml_path, None, "empty file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # XML may declare another encoding; ElementTree honours the declaration.
        if b"encoding=" not in data[:200]:
            line = data[:exc.start].count(b"\n") + 1
            raise ExchangeError(xml_path, f"line {line}",
                                f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0]
        raise ExchangeError(xml_path, f"line {line}", f"not well-formed XML ({exc})") from None
    except (LookupError, ValueError, RecursionError) as exc:  # e.g. a declared encoding nobody knows
        raise ExchangeError(xml_path, None, f"cannot parse the XML ({type(exc).__name__}: {exc})") from None
    if root.tag != "annotation":
        raise ExchangeError(xml_path, None, f"root element is <{root.tag}>, not <annotation>")
    try:
        filename = _text(root, "filename", "")
        if not filename:
            raise ValueError("<filename> is empty")
        size = root.find("size")
        if size is None:
            raise ValueError("missing <size>")
        width = parse_size(_text(size, "width", "<size>"), "size width")
        height = parse_size(_text(size, "height", "<size>"), "size height")
        depth = size.find("depth")
        if depth is not None and (depth.text or "").strip():
            parse_size(depth.text, "size depth")
    except ValueError as exc:
        raise ExchangeError(xml_path, None, str(exc)) from None
    rel_dir = xml_path.parent.relative_to(base) if xml_path.parent != base else Path()
    key = (rel_dir / filename).as_posix() if rel_dir != Path() else filename
    try:
        found = finder.find(check_key(key, "<filename>"))
    except ValueError as exc:
        raise ExchangeError(xml_path, None, str(exc)) from None
    img = ImageRecord(key, width, height, path=found)
    boxes = []
    for n, obj in enumerate(root.findall("object"), 1):
        where = f"object {n}"
        try:
            boxes.append(_read_object(obj, img))
        except ValueError as exc:
            raise ExchangeError(xml_path, where, str(exc)) from None
    return img, boxes


def _read_object(obj: ET.Element, img: ImageRecord) -> BoxRecord:
    label = _text(obj, "name", "")
    if not label:
        raise ValueError("<name> is empty")
    check_label(label, "<name>")
    bnd = obj.find("bndbox")
    if bnd is None:
        raise ValueError("missing <bndbox>")
    texts = {t: _text(bnd, t, "<bndbox>") for t in ("xmin", "ymin", "xmax", "ymax")}
    x0 = unshift(texts["xmin"], 1, "xmin")
    y0 = unshift(texts["ymin"], 1, "ymin")
    x1 = parse_float(texts["xmax"], "xmax")
    y1 = parse_float(texts["ymax"], "ymax")
    box = make_box(x0, y0, x1, y1)
    reason = outside_reason(box, img.width, img.height)
    if reason:
        raise ValueError(f"{reason} (VOC xmin={texts['xmin']}, ymin={texts['ymin']}, "
                         f"xmax={texts['xmax']}, ymax={texts['ymax']}; 1-based)")
    score_el = obj.find("score")
    kind, score, method = "reviewed", None, None
    if score_el is not None:
        kind = "proposal"
        if (score_el.text or "").strip():
            score = parse_float(score_el.text, "score")
        m = obj.find("method")
        method = (m.text or "").strip() or None if m is not None else None
    extra = {}
    difficult = obj.find("difficult")
    if difficult is not None and (difficult.text or "").strip() not in ("", "0"):
        extra["difficult"] = (difficult.text or "").strip()
    return BoxRecord(img.key, label, box, kind=kind, score=score, method=method, extra=extra)


__all__ = ["read_voc", "write_voc"]
