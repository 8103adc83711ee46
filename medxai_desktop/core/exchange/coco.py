"""COCO object-detection JSON: ``images`` (id, file_name, width, height), ``categories``
(id, name) and ``annotations`` (id, image_id, category_id, bbox [x, y, w, h], area, iscrowd).

Boxes map as ``bbox = [x0, y0, x1 - x0, y1 - y0]`` (COCO's bbox is the top-left corner and
size in float pixels, which is exactly our Box). Image and category ids are 1..N in the order
of the AnnotationSet (images, then ``all_labels()``); ``file_name`` is the image key.

Provenance rides in extra annotation keys that COCO tools ignore: ``kind`` ("reviewed" /
"proposal"), ``score`` (proposals: the standard key of COCO results), ``method``, ``reviewer``,
``state``, ``revision``, ``proposal_id`` and ``extra`` (a dict). On import an annotation
without ``kind`` is a proposal when it has a ``score``, else reviewed. DICOM UIDs of images
ride as ``study_uid``/``series_uid``/``sop_uid`` image keys.

``coco_eval`` runs pycocotools' COCOeval (bbox) of proposals against reviewed boxes.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from medxai_desktop.core.json_input import parse_json
from medxai_desktop.core.exchange._common import (
    prepare_export,
    ExportError, atomic_write, check_key, check_label, check_which, export_images, make_box,
    outside_reason, parse_float, parse_size, read_text, select_boxes, xywh,
)
from medxai_desktop.core.exchange._images import ImageFinder
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ExchangeError, ImageRecord

_PROVENANCE_KEYS = ("method", "reviewer", "state", "revision", "proposal_id")
COCO_EVAL_STAT_NAMES = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)


# ---------------------------------------------------------------------------- writing



def _bbox(bbox) -> tuple[float, float, float, float]:
    """A COCO ``bbox``: a list [x, y, w, h] of 4 numbers, w and h not negative."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError(f"bbox must be a list [x, y, w, h] of 4 numbers (got {bbox!r})")
    x, y, w, h = (parse_float(_number(v, f"bbox {name}"), f"bbox {name}") for v, name in zip(bbox, "xywh"))
    if w < 0 or h < 0:
        raise ValueError(f"negative box size in bbox {bbox!r}")
    return x, y, w, h

def _number(value: Any, what: str) -> Any:
    """A COCO number is a JSON number: a string ("12") or a boolean is refused, not converted."""
    if isinstance(value, (str, bool)):
        raise ValueError(f"{what} is not a number (got {value!r}; COCO numbers are JSON numbers, not strings)")
    return value


def _require_fields(entry, keys: tuple[str, ...]) -> None:
    """A COCO entry must be a JSON object holding ``keys`` (ValueError naming what is wrong)."""
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    for key in keys:
        if key not in entry:
            raise ValueError(f"missing {key!r}")

def coco_dict(annotations: AnnotationSet, which: str = "reviewed") -> dict[str, Any]:
    """The COCO dataset dict :func:`write_coco` writes."""
    check_which(which)
    boxes, images, _ = prepare_export(annotations, which, "COCO needs width and height")
    image_ids: dict[str, int] = {}
    coco_images = []
    for n, img in enumerate(images, 1):
        image_ids[img.key] = n
        entry: dict[str, Any] = {"id": n, "file_name": img.key, "width": img.width, "height": img.height}
        for attr in ("study_uid", "series_uid", "sop_uid"):
            if getattr(img, attr):
                entry[attr] = getattr(img, attr)
        coco_images.append(entry)
    labels = annotations.all_labels()
    cat_ids = {label: n for n, label in enumerate(labels, 1)}
    coco_anns = []
    for n, b in enumerate(boxes, 1):
        x, y, w, h = xywh(b.box)
        ann: dict[str, Any] = {"id": n, "image_id": image_ids[b.image_key], "category_id": cat_ids[b.label],
                               "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h),
                               "iscrowd": int(b.extra.get("iscrowd", 0) or 0), "kind": b.kind}
        if b.score is not None:
            ann["score"] = float(b.score)
        for key in _PROVENANCE_KEYS:
            value = getattr(b, key)
            if value is not None:
                ann[key] = value
        extra = {k: v for k, v in b.extra.items() if k != "iscrowd"}
        if extra:
            ann["extra"] = json.loads(json.dumps(extra, default=str))
        coco_anns.append(ann)
    return {
        "info": {"description": f"MedXAI Desktop export ({which})", "version": "1.0"},
        "licenses": [],
        "images": coco_images,
        "categories": [{"id": n, "name": label, "supercategory": "finding"} for label, n in cat_ids.items()],
        "annotations": coco_anns,
    }


def write_coco(annotations: AnnotationSet, out_path: str | Path, which: str = "reviewed",
               validate: bool = True) -> Path:
    """Write a COCO JSON file; with ``validate`` it is then loaded with pycocotools' COCO
    (an ExportError if that fails). Returns ``out_path``."""
    out_path = Path(out_path)
    data = coco_dict(annotations, which)
    with atomic_write(out_path) as f:
        json.dump(data, f, indent=1, allow_nan=False)
        f.write("\n")
    if validate:
        try:
            load_pycocotools(out_path)
        except Exception as exc:  # noqa: BLE001 - our bug, but say so clearly
            raise ExportError(f"{out_path}: pycocotools cannot load the written file: {exc}") from exc
    return out_path


def load_pycocotools(path: str | Path):
    """``pycocotools.coco.COCO(path)`` without its progress prints."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


# ---------------------------------------------------------------------------- reading

def _where_ann(ann: Any, index: int) -> str:
    if isinstance(ann, dict) and isinstance(ann.get("id"), (int, str)) and not isinstance(ann.get("id"), bool):
        return f"annotation id {ann['id']}"
    return f"annotations[{index}]"


def _id(value: Any, what: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise ValueError(f"{what} must be an integer or a string (got {value!r})")
    return value


def _load_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        raise ExchangeError(path, f"line {exc.lineno}", f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    except ValueError as exc:
        raise ExchangeError(path, None, str(exc)) from None


def read_coco(path: str | Path, images_dir: str | Path | None = None) -> AnnotationSet:
    """Read a COCO detection JSON file. ``images_dir`` (optional) sets ``ImageRecord.path``
    for images found there. Every image, category and annotation is checked; the first
    problem raises ExchangeError naming the record ("annotation id 7", "images[3]", ...)."""
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, list):
        raise ExchangeError(path, None, "a COCO results list (no images or categories), not a COCO "
                                        "dataset; use coco_eval to score it against a dataset")
    if not isinstance(data, dict):
        raise ExchangeError(path, None, f"expected a JSON object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ExchangeError(path, None, f"missing {key!r} list")
        if not isinstance(data[key], list):
            raise ExchangeError(path, key, f"must be a list, got {type(data[key]).__name__}")
    finder = ImageFinder.for_annotations(path, images_dir)

    images: list[ImageRecord] = []
    by_id: dict[int | str, ImageRecord] = {}
    keys: set[str] = set()
    for n, img in enumerate(data["images"]):
        where = f"images[{n}]"
        try:
            _require_fields(img, ("id", "file_name", "width", "height"))
            img_id = _id(img["id"], "id")
            where = f"image id {img_id}"
            name = check_key(img["file_name"])
            width, height = (parse_size(_number(img[k], k), k) for k in ("width", "height"))
            if img_id in by_id:
                raise ValueError("duplicate image id")
            if name in keys:
                raise ValueError(f"duplicate file_name {name!r}")
            uids = {a: img.get(a) if isinstance(img.get(a), str) and img.get(a) else None
                    for a in ("study_uid", "series_uid", "sop_uid")}
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
        rec = ImageRecord(name, width, height, path=finder.find(name), **uids)
        images.append(rec)
        by_id[img_id] = rec
        keys.add(name)

    cats: dict[int | str, str] = {}
    labels: list[str] = []
    for n, cat in enumerate(data["categories"]):
        where = f"categories[{n}]"
        try:
            _require_fields(cat, ("id", "name"))
            cat_id = _id(cat["id"], "id")
            where = f"category id {cat_id}"
            name = check_label(cat["name"], "name")
            if cat_id in cats:
                raise ValueError("duplicate category id")
            if name in labels:
                raise ValueError(f"duplicate category name {name!r}")
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
        cats[cat_id] = name
        labels.append(name)

    boxes: list[BoxRecord] = []
    ann_ids: set = set()
    for n, ann in enumerate(data["annotations"]):
        where = _where_ann(ann, n)
        try:
            if where.startswith("annotation id"):
                if ann["id"] in ann_ids:
                    raise ValueError("duplicate annotation id")
                ann_ids.add(ann["id"])
            boxes.append(_annotation(ann, by_id, cats))
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
    return AnnotationSet(images=images, boxes=boxes, labels=labels)


def _annotation(ann: Any, by_id: dict, cats: dict) -> BoxRecord:
    _require_fields(ann, ("image_id", "category_id", "bbox"))
    image_id, cat_id = ann["image_id"], ann["category_id"]
    if isinstance(image_id, bool) or image_id not in by_id:
        raise ValueError(f"unknown image_id {image_id!r}")
    if isinstance(cat_id, bool) or cat_id not in cats:
        raise ValueError(f"unknown category_id {cat_id!r}")
    x, y, w, h = _bbox(ann["bbox"])
    box = make_box(x, y, x + w, y + h)
    image = by_id[image_id]
    reason = outside_reason(box, image.width, image.height)
    if reason:
        raise ValueError(f"{reason} ({image.key})")
    score = parse_float(_number(ann["score"], "score"), "score") if ann.get("score") is not None else None
    kind = ann.get("kind")
    if kind is None:
        kind = "proposal" if score is not None else "reviewed"
    if kind not in ("reviewed", "proposal"):
        raise ValueError(f"kind must be 'reviewed' or 'proposal' (got {kind!r})")
    prov: dict[str, Any] = {}
    for key in ("method", "reviewer", "state", "proposal_id"):
        value = ann.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be a string (got {value!r})")
        prov[key] = value
    revision = ann.get("revision")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
        raise ValueError(f"revision must be an integer (got {revision!r})")
    extra = ann.get("extra", {})
    if not isinstance(extra, dict):
        raise ValueError(f"extra must be an object (got {extra!r})")
    extra = dict(extra)
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1) or isinstance(iscrowd, bool):
        raise ValueError(f"iscrowd must be 0 or 1 (got {iscrowd!r})")
    if iscrowd:
        extra["iscrowd"] = 1
    return BoxRecord(image_key=image.key, label=cats[cat_id], box=box, kind=kind, score=score,
                     revision=revision, extra=extra, **prov)


# ---------------------------------------------------------------------------- evaluation

def coco_eval(reference_path: str | Path, proposals_path: str | Path | None = None) -> dict[str, float]:
    """COCOeval (bbox) of proposals against reviewed boxes; returns the 12 standard stats by
    name (``AP``, ``AP50``, ``AP75``, ``AP_small`` ... ``AR100`` ...; -1 where undefined, e.g.
    no reference box in a size range) plus counts (``n_images``, ``n_reference_boxes``,
    ``n_proposals``, ``proposals_ignored``).

    ``reference_path``: a COCO dataset file (ours or anyone's); its reviewed annotations
    (``kind`` "reviewed", or no ``score``) are the ground truth and its images are the
    evaluated set (images without reviewed boxes count: proposals there are false positives).
    ``proposals_path``: a COCO dataset file whose proposals (``kind`` "proposal", or with a
    ``score``) are scored, or a COCO results list ``[{image_id, category_id, bbox, score}]``
    in the reference file's ids; default: the reference itself (a ``which="both"`` export).
    Images and categories are matched by ``file_name`` and category ``name``; proposals on
    images or with labels the reference lacks are counted in ``proposals_ignored``.
    """
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    reference_path = Path(reference_path)
    proposals_path = Path(proposals_path) if proposals_path is not None else reference_path
    ref = read_coco(reference_path)
    gt_boxes = [b for b in ref.boxes if b.kind == "reviewed"]
    img_ids = {img.key: n for n, img in enumerate(ref.images, 1)}
    cat_ids = {label: n for n, label in enumerate(ref.all_labels(), 1)}
    gt = {
        "images": [{"id": img_ids[i.key], "file_name": i.key, "width": i.width, "height": i.height}
                   for i in ref.images],
        "categories": [{"id": n, "name": label} for label, n in cat_ids.items()],
        "annotations": [
            {"id": n, "image_id": img_ids[b.image_key], "category_id": cat_ids[b.label],
             "bbox": list(b.box.xywh()), "area": b.box.area, "iscrowd": int(b.extra.get("iscrowd", 0))}
            for n, b in enumerate(gt_boxes, 1)],
    }
    data = _load_json(proposals_path)
    if isinstance(data, list):
        raw = _load_json(reference_path)  # already validated by read_coco
        file_img = {i["id"]: i["file_name"] for i in raw["images"]}
        file_cat = {c["id"]: c["name"] for c in raw["categories"]}
        proposals = _results_list(proposals_path, data, file_img, file_cat)
    else:
        proposals = [(b.image_key, b.label, b.box.xywh(), b.score)
                     for b in read_coco(proposals_path).boxes if b.kind == "proposal"]
    results, ignored = [], 0
    for key, label, bbox, score in proposals:
        if key not in img_ids or label not in cat_ids:
            ignored += 1
            continue
        results.append({"image_id": img_ids[key], "category_id": cat_ids[label],
                        "bbox": [float(v) for v in bbox], "score": 1.0 if score is None else float(score)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes cannot take an empty list: an empty detection set
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = {name: float(v) for name, v in zip(COCO_EVAL_STAT_NAMES, np.asarray(evaluator.stats))}
    stats.update({"n_images": float(len(gt["images"])), "n_reference_boxes": float(len(gt_boxes)),
                  "n_proposals": float(len(results)), "proposals_ignored": float(ignored)})
    return stats


def _results_list(path: Path, data: list, file_img: dict, file_cat: dict) -> list[tuple]:
    out: list[tuple] = []
    for n, r in enumerate(data):
        where = f"results[{n}]"
        try:
            _require_fields(r, ("image_id", "category_id", "bbox", "score"))
            x, y, w, h = _bbox(r["bbox"])
            score = parse_float(r["score"], "score")
        except ValueError as exc:
            raise ExchangeError(path, where, str(exc)) from None
        key = file_img.get(r["image_id"]) if not isinstance(r["image_id"], (list, dict)) else None
        label = file_cat.get(r["category_id"]) if not isinstance(r["category_id"], (list, dict)) else None
        out.append((key, label, (x, y, w, h), score))
    return out


def coco_results(annotations: AnnotationSet, which_ids: str = "both") -> list[dict[str, Any]]:
    """The proposals of ``annotations`` as a COCO results list, in the image/category ids that
    ``write_coco(annotations, ..., which=which_ids)`` gives."""
    boxes = select_boxes(annotations, which_ids)
    img_ids = {img.key: n for n, img in enumerate(export_images(annotations, boxes), 1)}
    cat_ids = {label: n for n, label in enumerate(annotations.all_labels(), 1)}
    return [{"image_id": img_ids[b.image_key], "category_id": cat_ids[b.label],
             "bbox": [float(v) for v in b.box.xywh()], "score": 1.0 if b.score is None else float(b.score)}
            for b in annotations.boxes if b.kind == "proposal" and b.image_key in img_ids]


__all__ = ["COCO_EVAL_STAT_NAMES", "coco_dict", "coco_eval", "coco_results", "load_pycocotools",
           "read_coco", "write_coco"]
