"""Localisation metrics: how well predicted boxes and heatmaps agree with reference boxes.

METHODS.md §4 (ChestX-ray8 protocol, Wang et al. 2017) and §6.
- Boxes. A reference box is *localised at T* when some predicted box of its class on its image
  has IoU > T (or IoBB > T, intersection over the predicted box's area). Accuracy = localised
  reference boxes / reference boxes, at T(IoU) 0.1..0.7 and T(IoBB) 0.1/0.25/0.5/0.75/0.9;
  mean IoU = mean over reference boxes of the best IoU (0 when nothing was predicted). A
  predicted box is a *false positive at T* when no reference box of its class on its image has
  IoU (resp. IoBB) > T with it; AFP = false-positive boxes / images (Wang's "AFP").
- Maps. Per (image, class) with reference boxes: energy inside the boxes (share of the map's
  mass inside their union, pixels weighted by the fraction of their area a box covers) next to
  the uniform map's energy (the boxes' share of the image), and the pointing game (is the
  centre of the map's first maximum pixel inside a box).
- Reviews. IoU of every AI proposal with its final human revision (accepted / edited), and how
  many were rejected or are still unreviewed.
Boxes are (x0, y0, x1, y1) in image pixels, x1/y1 exclusive (``core.boxes``). Maps are at the
model's input resolution: the model sees the whole image resized without keeping the aspect
ratio, so box coordinates scale per axis.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord
from medxai_desktop.core.explain.box_step import (  # noqa: F401 (the box step, re-exported)
    BOX_SCORES,
    Components,
    boxes_from_components,
    component_boxes,
    map_components,
    select_components,
)

IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
IOBB_THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9)


def _as_array(boxes) -> np.ndarray:
    """Boxes (Box, BoxProposal, BoxRecord or 4-sequences) -> (N, 4) float64 x0, y0, x1, y1."""
    rows = []
    for b in boxes:
        b = getattr(b, "box", b)
        rows.append((b.x0, b.y0, b.x1, b.y1) if isinstance(b, Box) else tuple(b))
    return np.asarray(rows, np.float64).reshape(-1, 4)


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) boxes -> (N, M) intersection areas."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _area(a: np.ndarray) -> np.ndarray:
    return (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])


def iou_matrix(reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(N, M) IoU of N reference boxes with M predicted boxes (0 where the union is empty)."""
    inter = intersection_matrix(reference, predicted)
    union = _area(reference)[:, None] + _area(predicted)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iobb_matrix(reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(N, M) intersection over the *predicted* box's area (Wang et al. 2017)."""
    inter = intersection_matrix(reference, predicted)
    area = np.broadcast_to(_area(predicted)[None, :], inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


# ------------------------------------------------------------------------------ references

@dataclass
class References:
    """Reference boxes of the evaluated images. ``images`` lists every evaluated image (one
    without boxes still counts: every box predicted on it is a false positive); ``sizes`` is
    (height, width) per image; ``paths`` where the image file is, if known. ``targets`` maps a
    reference label to the label of the predictions that may match it (the model class that is
    explained for it); labels not in it match predictions of the same label."""
    images: list[str]
    boxes: dict[str, list[BoxRecord]]
    sizes: dict[str, tuple[int, int]]
    paths: dict[str, str | None] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)

    @property
    def n_boxes(self) -> int:
        return sum(len(v) for v in self.boxes.values())

    def labels(self) -> list[str]:
        seen: list[str] = []
        for key in self.images:
            for b in self.boxes.get(key, []):
                if b.label not in seen:
                    seen.append(b.label)
        return seen

    def target_of(self, label: str) -> str:
        return self.targets.get(label, label)

    def targets_of(self, key: str) -> list[str]:
        """The prediction labels wanted on an image: one per distinct target of its boxes."""
        return list(dict.fromkeys(self.target_of(b.label) for b in self.boxes.get(key, [])))

    def subset(self, keys: Iterable[str]) -> References:
        keys = [k for k in keys if k in self.sizes]
        return References(keys, {k: self.boxes.get(k, []) for k in keys},
                          {k: self.sizes[k] for k in keys}, {k: self.paths.get(k) for k in keys},
                          dict(self.targets))

    def with_targets(self, classes: Sequence[str], fallback: str | None = None) -> References:
        """Each reference label explained as itself when the model has that class, else as
        ``fallback`` (a class name, or "predicted"); MedXAIError when there is none."""
        from medxai_desktop.core.errors import MedXAIError

        targets = {}
        for label in self.labels():
            if label in classes:
                targets[label] = label
            elif fallback is None:
                raise MedXAIError(f"reference label {label!r} is not a class of the model "
                                  f"({', '.join(classes)}); say which class to explain for it "
                                  "(a class name, or 'predicted')")
            else:
                targets[label] = fallback
        return References(list(self.images), self.boxes, self.sizes, self.paths, targets)


def references_from_annotations(annotations: AnnotationSet, images: Iterable[str] | None = None,
                                with_boxes_only: bool = True) -> References:
    """The reviewed boxes of an AnnotationSet (an import, or ``ReviewStore.reference_annotations()``)
    as references. ``images``: restrict to these keys; ``with_boxes_only``: drop images that have
    no reference box (else they are evaluated as negatives)."""
    wanted = None if images is None else set(images)
    boxes: dict[str, list[BoxRecord]] = defaultdict(list)
    for b in annotations.boxes:
        if b.kind == "reviewed" and b.state != "rejected":
            boxes[b.image_key].append(b)
    keys, sizes, paths = [], {}, {}
    for image in annotations.images:
        if wanted is not None and image.key not in wanted:
            continue
        if with_boxes_only and not boxes.get(image.key):
            continue
        keys.append(image.key)
        sizes[image.key] = (int(image.height), int(image.width))
        paths[image.key] = None if image.path is None else str(image.path)
    return References(keys, {k: boxes.get(k, []) for k in keys}, sizes, paths)


# ------------------------------------------------------------------------------ box scores

def _mean_last(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis; NaN (and no warning) where that axis is empty."""
    if values.shape[-1]:
        return values.mean(axis=-1)
    return np.full(values.shape[:-1], np.nan)


def metrics_row(best_iou: np.ndarray, best_iobb: np.ndarray, n_predicted, fp_iou: np.ndarray,
                fp_iobb: np.ndarray, n_images: int) -> dict[str, np.ndarray]:
    """The box metrics from matches, for one row or many at once (leading axes): ``best_iou`` /
    ``best_iobb`` (..., R) each reference box's best match, ``n_predicted`` (...) the predicted
    boxes, ``fp_iou`` / ``fp_iobb`` (..., T) the false positives at each threshold, all over
    ``n_images`` images. Accuracies, mean and overall IoU are NaN without reference boxes."""
    per_image = max(n_images, 1)
    out = {"mean_iou": _mean_last(best_iou), "predicted_per_image": np.asarray(n_predicted) / per_image}
    for j, t in enumerate(IOU_THRESHOLDS):
        out[f"acc_iou_{t:g}"] = _mean_last(best_iou > t)
        out[f"afp_iou_{t:g}"] = fp_iou[..., j] / per_image
    for j, t in enumerate(IOBB_THRESHOLDS):
        out[f"acc_iobb_{t:g}"] = _mean_last(best_iobb > t)
        out[f"afp_iobb_{t:g}"] = fp_iobb[..., j] / per_image
    out["overall_iou"] = np.mean([out[f"acc_iou_{t:g}"] for t in IOU_THRESHOLDS], axis=0)
    return out


# the key order of a report row (BoxScores); metrics_row's own order is the tuning grid's
ROW_ORDER = ("predicted_per_image", "mean_iou", *(f"acc_iou_{t:g}" for t in IOU_THRESHOLDS),
             *(f"afp_iou_{t:g}" for t in IOU_THRESHOLDS), *(f"acc_iobb_{t:g}" for t in IOBB_THRESHOLDS),
             *(f"afp_iobb_{t:g}" for t in IOBB_THRESHOLDS), "overall_iou")


@dataclass
class BoxScores:
    """Per reference box: best IoU / IoBB with a predicted box of its class; per predicted box:
    its best IoU / IoBB with a reference box of its class. The summaries are computed from these."""
    method: str
    images: list[str]
    ref_image: np.ndarray          # (N,) index into images
    ref_label: np.ndarray          # (N,) str
    ref_best_iou: np.ndarray       # (N,)
    ref_best_iobb: np.ndarray      # (N,)
    pred_image: np.ndarray         # (M,)
    pred_label: np.ndarray         # (M,) str
    pred_best_iou: np.ndarray      # (M,)
    pred_best_iobb: np.ndarray     # (M,)

    def _row(self, ref_mask: np.ndarray, pred_mask: np.ndarray, n_images: int) -> dict:
        pred_iou, pred_iobb = self.pred_best_iou[pred_mask], self.pred_best_iobb[pred_mask]
        metrics = metrics_row(self.ref_best_iou[ref_mask], self.ref_best_iobb[ref_mask],
                              int(pred_mask.sum()),
                              (pred_iou[:, None] <= np.asarray(IOU_THRESHOLDS)).sum(axis=0),
                              (pred_iobb[:, None] <= np.asarray(IOBB_THRESHOLDS)).sum(axis=0),
                              n_images)
        row = {"method": self.method, "images": n_images, "boxes": int(ref_mask.sum())}
        return dict(row, **{key: float(metrics[key]) for key in ROW_ORDER})

    def summary(self) -> dict:
        """One row over every evaluated image and reference box."""
        return self._row(np.ones(len(self.ref_label), bool), np.ones(len(self.pred_label), bool),
                         len(self.images))

    def per_class(self, references: References | None = None) -> list[dict]:
        """One row per reference label. AFP per class = false-positive boxes predicted for
        that label's target on the images with a box of that label / those images."""
        rows = []
        for label in dict.fromkeys(self.ref_label.tolist()):
            ref_mask = self.ref_label == label
            images = np.unique(self.ref_image[ref_mask])
            target = references.target_of(label) if references is not None else label
            pred_mask = (self.pred_label == target) & np.isin(self.pred_image, images)
            rows.append(dict(self._row(ref_mask, pred_mask, len(images)), label=label))
        return rows

    def per_box(self, references: References) -> list[dict]:
        rows, index = [], 0
        for key in self.images:
            for b in references.boxes.get(key, []):
                rows.append({"method": self.method, "image": key, "label": b.label,
                             "x0": b.box.x0, "y0": b.box.y0, "x1": b.box.x1, "y1": b.box.y1,
                             "best_iou": float(self.ref_best_iou[index]),
                             "best_iobb": float(self.ref_best_iobb[index])})
                index += 1
        return rows


def score_boxes(references: References, predictions: Mapping[str, Sequence], method: str = "",
                match_labels: bool = True) -> BoxScores:
    """Match predicted boxes (BoxProposal, or anything with .box and .label) to the reference
    boxes image by image: a predicted box may match a reference box when its label is the
    reference's target (``References.targets``); ``match_labels=False`` lets any predicted box
    match any reference box."""
    ref_image, ref_label, ref_iou, ref_iobb = [], [], [], []
    pred_image, pred_label, pred_iou, pred_iobb = [], [], [], []
    for i, key in enumerate(references.images):
        refs = references.boxes.get(key, [])
        preds = list(predictions.get(key, ()))
        r_lab = np.asarray([b.label for b in refs], dtype=object)
        p_lab = np.asarray([p.label for p in preds], dtype=object)
        iou = iou_matrix(_as_array(refs), _as_array(preds))
        iobb = iobb_matrix(_as_array(refs), _as_array(preds))
        if match_labels and len(refs) and len(preds):
            wanted = np.asarray([references.target_of(label) for label in r_lab], dtype=object)
            same = wanted[:, None] == p_lab[None, :]
            iou, iobb = np.where(same, iou, 0.0), np.where(same, iobb, 0.0)
        ref_image += [i] * len(refs)
        ref_label += r_lab.tolist()
        ref_iou.append(iou.max(axis=1) if preds else np.zeros(len(refs)))
        ref_iobb.append(iobb.max(axis=1) if preds else np.zeros(len(refs)))
        pred_image += [i] * len(preds)
        pred_label += p_lab.tolist()
        pred_iou.append(iou.max(axis=0) if refs else np.zeros(len(preds)))
        pred_iobb.append(iobb.max(axis=0) if refs else np.zeros(len(preds)))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)
    return BoxScores(method, list(references.images), np.asarray(ref_image, int),
                     np.asarray(ref_label, dtype=object), cat(ref_iou), cat(ref_iobb),
                     np.asarray(pred_image, int), np.asarray(pred_label, dtype=object),
                     cat(pred_iou), cat(pred_iobb))


# ------------------------------------------------------------------------------ map metrics

def _coverage(lo: float, hi: float, n: int) -> np.ndarray:
    """Fraction of each of n unit pixels [i, i+1) covered by the interval [lo, hi)."""
    edges = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(edges + 1, hi) - np.maximum(edges, lo), 0, 1)


def box_weights(boxes: Sequence[Box], map_shape: tuple[int, int],
                image_size: tuple[int, int]) -> np.ndarray:
    """(h, w) weights in [0, 1]: the fraction of each map pixel the boxes (image pixels) cover;
    with several boxes, the largest fraction."""
    h, w = map_shape
    sy, sx = h / image_size[0], w / image_size[1]
    weights = np.zeros((h, w))
    for b in boxes:
        covered = np.outer(_coverage(b.y0 * sy, b.y1 * sy, h), _coverage(b.x0 * sx, b.x1 * sx, w))
        np.maximum(weights, covered, out=weights)
    return weights


def energy_inside(heatmap: np.ndarray, boxes: Sequence[Box], image_size: tuple[int, int]) -> float:
    """Share of the map's mass (negative values clipped to 0) inside the boxes; NaN for an
    all-zero map."""
    mass = np.clip(np.asarray(heatmap, np.float64), 0, None)
    total = mass.sum()
    if total <= 0:
        return float("nan")
    return float((mass * box_weights(boxes, mass.shape, image_size)).sum() / total)


def pointing_hit(heatmap: np.ndarray, boxes: Sequence[Box], image_size: tuple[int, int]) -> bool:
    """Is the centre of the map's first maximum pixel (row-major order) inside one of the boxes?"""
    heatmap = np.asarray(heatmap)
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    y = (row + 0.5) * image_size[0] / heatmap.shape[0]
    x = (col + 0.5) * image_size[1] / heatmap.shape[1]
    return any(b.x0 <= x < b.x1 and b.y0 <= y < b.y1 for b in boxes)


def uniform_energy(boxes: Sequence[Box], image_size: tuple[int, int]) -> float:
    """What a constant map scores: the boxes' (union) share of the image."""
    return float(box_weights(boxes, image_size, image_size).mean())


@dataclass
class MapScore:
    method: str
    image: str
    label: str
    energy: float
    uniform: float
    pointing: bool


def score_map(method: str, image: str, label: str, heatmap: np.ndarray, boxes: Sequence[Box],
              image_size: tuple[int, int]) -> MapScore:
    return MapScore(method, image, label, energy_inside(heatmap, boxes, image_size),
                    uniform_energy(boxes, image_size), pointing_hit(heatmap, boxes, image_size))


def summarise_map_scores(scores: Sequence[MapScore], by_label: bool = False) -> list[dict]:
    """Mean energy, uniform energy, energy / uniform and pointing accuracy per method (and label)."""
    groups: dict[tuple, list[MapScore]] = defaultdict(list)
    for s in scores:
        groups[(s.method, s.label) if by_label else (s.method,)].append(s)
    rows = []
    for key, items in groups.items():
        energy = np.asarray([s.energy for s in items], np.float64)
        uniform = np.asarray([s.uniform for s in items], np.float64)
        row = {"method": key[0]}
        if by_label:
            row["label"] = key[1]
        row.update(n=len(items), energy=float(np.nanmean(energy)) if np.isfinite(energy).any() else float("nan"),
                   uniform_energy=float(uniform.mean()),
                   energy_over_uniform=float(np.nanmean(energy / uniform)) if np.isfinite(energy).any() else float("nan"),
                   pointing=float(np.mean([s.pointing for s in items])))
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------ baselines

def mean_box_fractions(references: References, keys: Iterable[str] | None = None) -> np.ndarray:
    """Mean reference box as fractions of the image (x0/W, y0/H, x1/W, y1/H) over ``keys``."""
    rows = []
    for key in (references.images if keys is None else keys):
        h, w = references.sizes[key]
        rows += [(b.box.x0 / w, b.box.y0 / h, b.box.x1 / w, b.box.y1 / h)
                 for b in references.boxes.get(key, [])]
    if not rows:
        raise ValueError("no reference boxes to average for the fixed-box baseline")
    return np.asarray(rows).mean(axis=0)


def fixed_box_predictions(references: References, fractions: np.ndarray | None = None,
                          method: str = "fixed box") -> dict[str, list[BoxProposal]]:
    """The trivial baseline: one box per (image, target), at the mean reference-box
    position. ``fractions``: from training images; None = leave-one-image-out (each image gets
    the mean of the *other* images' boxes; an image with no other boxed image to learn from gets
    no box, i.e. the baseline misses it)."""
    out: dict[str, list[BoxProposal]] = {}
    for key in references.images:
        if fractions is None:
            others = [k for k in references.images if k != key and references.boxes.get(k)]
            if not others:
                out[key] = []
                continue
            f = mean_box_fractions(references, others)
        else:
            f = np.asarray(fractions, np.float64)
        h, w = references.sizes[key]
        box = Box(float(f[0] * w), float(f[1] * h), float(f[2] * w), float(f[3] * h))
        out[key] = [BoxProposal(box, 1.0, target, method, {"fractions": [float(v) for v in f]})
                    for target in references.targets_of(key)]
    return out


# ------------------------------------------------------------------------------ reviews

@dataclass(frozen=True)
class ProposalOutcome:
    """An AI proposal and what the reviewer made of it (state "proposed": not reviewed yet)."""
    image: str
    box_id: int
    method: str | None
    label: str
    proposal: Box
    final: Box | None
    state: str
    iou: float | None   # proposal vs final, for accepted and edited boxes


def proposal_outcomes(store) -> list[ProposalOutcome]:
    """Every proposal in the store with its latest revision (``ReviewStore.latest_boxes``)."""
    proposals = store.proposals_annotations()
    by_image: dict[str, list[BoxRecord]] = defaultdict(list)
    for record in proposals.boxes:
        by_image[record.image_key].append(record)
    ids = {}
    for info in store.images():
        ids.setdefault(info.key, info.id)
        if info.path:
            ids.setdefault(info.path, info.id)
    outcomes = []
    for key, records in by_image.items():
        views = {v.box_id: v for v in store.latest_boxes(ids[key])}
        for record in records:
            view = views.get(record.extra.get("box_id"))
            state = view.state if view is not None else "removed"
            final = view.box if view is not None and state in ("accepted", "edited") else None
            iou = None if final is None else float(record.box.iou(final))
            outcomes.append(ProposalOutcome(key, int(record.extra.get("box_id", -1)), record.method,
                                            record.label, record.box, final, state, iou))
    return outcomes


def summarise_outcomes(outcomes: Sequence[ProposalOutcome]) -> dict:
    reviewed = [o.iou for o in outcomes if o.iou is not None]
    counts = defaultdict(int)
    for o in outcomes:
        counts[o.state] += 1
    return {"proposals": len(outcomes), "accepted": counts["accepted"], "edited": counts["edited"],
            "rejected": counts["rejected"], "unreviewed": counts["proposed"],
            "mean_iou_with_final": float(np.mean(reviewed)) if reviewed else float("nan"),
            "median_iou_with_final": float(np.median(reviewed)) if reviewed else float("nan"),
            "share_iou_with_final_over_0.5": float(np.mean(np.asarray(reviewed) > 0.5)) if reviewed else float("nan")}


# ------------------------------------------------------------------------------ inputs

def read_reference_file(path, images_dir=None) -> AnnotationSet:
    """Reference boxes from any importable file (COCO, VOC, YOLO, NIH/boxes CSV, flat CSV),
    with image sizes and paths from ``images_dir`` (default: the file's folder)."""
    from pathlib import Path

    from medxai_desktop.core.exchange import FORMATS, detect_format

    path = Path(path)
    reader = FORMATS[detect_format(path)][0]
    return reader(path, images_dir=images_dir if images_dir is not None else path.parent)


def listed_images(data) -> set[str]:
    """Resolved paths of the images a development set names: every file below a folder, or the
    ``image`` (or ``path``/``file``) column of a CSV (relative to the CSV's folder)."""
    import csv
    from pathlib import Path

    from medxai_desktop.core.errors import InputFileError

    data = Path(data)
    if data.is_dir():
        return {str(p.resolve()) for p in data.rglob("*") if p.is_file()}
    if not data.is_file():
        raise InputFileError(data, "not found (expected a folder of images or a CSV listing them)")
    with open(data, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.lower().strip(): c for c in reader.fieldnames or []}
        column = columns.get("image") or columns.get("path") or columns.get("file")
        if column is None:
            raise InputFileError(data, f"CSV needs an 'image' column; found {reader.fieldnames}")
        return {str((data.parent / row[column].strip()).resolve()) for row in reader if row[column].strip()}


def restrict_to(annotations: AnnotationSet, paths: set[str]) -> list[str]:
    """Keys of the annotation set's images whose file is one of ``paths``."""
    from pathlib import Path

    return [i.key for i in annotations.images
            if i.path is not None and str(Path(i.path).resolve()) in paths]


def references_from_files(boxes, images_dir=None, data=None) -> tuple[References, np.ndarray | None]:
    """References from a box file, restricted to the images ``data`` lists (a folder or a CSV;
    None: every boxed image), and the fixed-box baseline's box from the file's *other* boxed
    images (the training images; None when every boxed image is evaluated: leave-one-out)."""
    annotations = read_reference_file(boxes, images_dir)
    keys = None if data is None else restrict_to(annotations, listed_images(data))
    references = references_from_annotations(annotations, keys)
    if not references.images:
        from medxai_desktop.core.errors import InputFileError

        raise InputFileError(boxes, "no boxed image of this file is among the images given"
                             + (f" by {data}" if data is not None else ""))
    everything = references_from_annotations(annotations)
    others = [k for k in everything.images if k not in set(references.images)]
    return references, (mean_box_fractions(everything, others) if others else None)
