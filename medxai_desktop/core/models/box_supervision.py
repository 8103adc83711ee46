"""Training with reference boxes as extra supervision: a CAM-in-box loss.

In the spirit of GAIN (Li et al. 2018) and "right for the right reasons" (Ross et al. 2017):
the class activation map of an image's true class at the card's target layer,

    A = the layer's output (N x C x h x w),   cam = relu(sum_c A_c * d logit_y / d A_c),

(for a global-average-pool + linear head this is the classic CAM) is normalised per image, and
the share of its mass outside the image's reference boxes is a loss:

    loss_box = 1 - sum(cam * mask) / (sum(cam) + eps),

``mask`` the union of the image's boxes of its label, rasterised at the input size (each pixel
the fraction of it a box covers), moved by the same random flip/rotation/scale/shift as the
image, and area-downsampled to h x w. The training loss is cross-entropy + ``box_weight`` x the
mean ``loss_box`` over the batch's images that have boxes; the others are trained on their
label alone. The gradient reaches the map through ``autograd.grad(..., create_graph=True)``.

Boxes come from a box file (any importable format) or the review store's reference boxes
(latest revision of every reviewed, non-rejected box); either is matched to the training
images by file, and what was used is recorded for the card's lineage.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.errors import InputFileError, MedXAIError

from .box_head import LayerOutputs
from .card import sha256_of_file
from .datasets import LabelledImages

EPS = 1e-6


class BoxSupervisionError(MedXAIError):
    """Reference boxes that cannot supervise this training (a database source: names it)."""


# ------------------------------------------------------------------------------ the boxes

@dataclass
class ReferenceBoxes:
    """The reference boxes of training-set images: per image file (resolved path), the boxes of
    the image's own label in image pixels, the image's (height, width), and the record of where
    they came from (the card's ``lineage["boxes"]``)."""
    boxes: dict[str, list[Box]]
    sizes: dict[str, tuple[int, int]]
    record: dict[str, Any] = field(default_factory=dict)

    def masks(self, paths, size: tuple[int, int]) -> "BoxMasks":
        """The box masks of the images at ``paths`` (in that order) at the input ``size`` (an
        image whose boxes cover no input pixel to 1/255 counts as one without boxes)."""
        from medxai_desktop.core.evaluation.localisation import box_weights

        slot = np.full(len(paths), -1, np.int64)
        rows = []
        for i, path in enumerate(paths):
            key = _resolved(path)
            if self.boxes.get(key):
                mask = np.uint8(np.rint(box_weights(self.boxes[key], tuple(size), self.sizes[key]) * 255))
                if mask.any():
                    slot[i] = len(rows)
                    rows.append(mask)
        masks = np.stack(rows) if rows else np.zeros((0, *size), np.uint8)
        return BoxMasks(masks, slot)


@dataclass
class BoxMasks:
    """Box masks of a split's images: ``masks`` (M x H x W uint8, coverage x 255) of the M
    boxed images; ``slot`` (N,) each image's row in ``masks``, -1 for an image without boxes."""
    masks: np.ndarray
    slot: np.ndarray

    @property
    def count(self) -> int:
        return len(self.masks)

    def batch(self, chosen: np.ndarray) -> torch.Tensor | None:
        """The masks of the images ``chosen`` (N x 1 x H x W float in [0, 1]; zeros for an image
        without boxes), or None when none of them has a box."""
        rows = self.slot[chosen]
        boxed = rows >= 0
        if not boxed.any():
            return None
        out = np.zeros((len(chosen), 1, *self.masks.shape[1:]), np.float32)
        out[boxed, 0] = self.masks[rows[boxed]]
        return torch.from_numpy(out).div_(255)


@dataclass
class BoxTraining:
    """What the training loop needs: the target ``layer``, the loss ``weight`` and the masks of
    the training and validation images."""
    layer: str
    weight: float
    train: BoxMasks
    val: BoxMasks

    def check(self, module: torch.nn.Module, arch: str) -> None:
        """ValueError unless the target layer is one of ``module``'s."""
        try:
            if not self.layer:
                raise AttributeError(self.layer)
            module.get_submodule(self.layer)
        except AttributeError:
            raise ValueError(f"target layer {self.layer!r} does not exist in {arch}") from None


BoxSource = Callable[[LabelledImages], ReferenceBoxes]


@dataclass(frozen=True)
class BoxFile:
    """Reference boxes from a file or folder in any importable format (COCO, VOC, YOLO,
    NIH/boxes CSV, flat CSV); image names relative to ``images_dir`` (default: its folder).
    Every boxed image must be one of the training data's, every label one of its classes."""
    path: str | Path
    images_dir: str | Path | None = None

    def __call__(self, dataset: LabelledImages) -> ReferenceBoxes:
        from medxai_desktop.core.evaluation.localisation import read_reference_file

        path = Path(self.path)
        annotations = read_reference_file(path, self.images_dir)

        def fail(reason: str):
            raise InputFileError(path, reason)

        found = _match(annotations, dataset, fail, strict=True)
        record = {"source": "file", "path": path.name, "sha256": _digest(path), **found.counts}
        return ReferenceBoxes(found.boxes, found.sizes, record)


@dataclass(frozen=True)
class StoreBoxes:
    """The review store's reference boxes (the latest revision of every reviewed, non-rejected
    box, as ``medxai export --which reviewed`` writes them) of the training data's images; boxed
    images of the store outside the data are left out and counted. ``store``: an open
    ReviewStore, else the database at ``url`` is opened for the read."""
    url: str | None = None
    store: Any = None

    def __call__(self, dataset: LabelledImages) -> ReferenceBoxes:
        from medxai_desktop.core.store import ReviewStore, StoreError, mask_url, missing_sqlite_file

        where = mask_url(self.store.url if self.store is not None else self.url)

        def fail(reason: str):
            raise BoxSupervisionError(f"{where}: {reason}")

        if self.store is None and missing_sqlite_file(self.url) is not None:
            fail("no review database there")
        try:
            if self.store is not None:
                annotations = self.store.reference_annotations()
            else:
                with ReviewStore(self.url, upgrade=False) as store:
                    annotations = store.reference_annotations()
        except StoreError as exc:
            fail(f"cannot read its reference boxes ({exc})")

        found = _match(annotations, dataset, fail, strict=False)
        used = found.records
        record = {"source": "database", "url": where,
                  "revisions": sorted([int(b.extra["box_id"]), int(b.revision)] for b in used),
                  "reviewers": sorted({b.reviewer for b in used if b.reviewer}),
                  "latest_review": max((str(b.extra.get("reviewed_at", "")) for b in used), default=None),
                  **found.counts}
        return ReferenceBoxes(found.boxes, found.sizes, record)


@dataclass
class _Matched:
    boxes: dict[str, list[Box]]
    sizes: dict[str, tuple[int, int]]
    counts: dict[str, int]
    records: list  # the BoxRecords used


def _match(annotations, dataset: LabelledImages, fail: Callable[[str], None], strict: bool) -> _Matched:
    """The reviewed boxes of ``annotations`` on the images of ``dataset``, by file. ``strict``:
    a boxed image outside the data is an error (else counted). A label that is not a class is an
    error; a box of a class other than its image's label is left out and counted."""
    from medxai_desktop.core.evaluation.localisation import references_from_annotations

    references = references_from_annotations(annotations)
    label_of = {_resolved(p): dataset.classes[y] for p, y in zip(dataset.paths, dataset.labels)}
    outside = [k for k in references.images if _resolved(references.paths.get(k)) not in label_of]
    if strict and outside:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        fail(f"{len(outside)} boxed image(s) are not among the training images of "
             f"{dataset.source}: {shown}")
    boxes: dict[str, list[Box]] = defaultdict(list)
    sizes, other, used = {}, 0, []
    for key in references.images:
        path = _resolved(references.paths.get(key))
        if path not in label_of:
            continue
        for record in references.boxes[key]:
            if record.label not in dataset.classes:
                fail(f"box label {record.label!r} (image {key}) is not a class of the model and "
                     f"data ({', '.join(dataset.classes)})")
            if record.label != label_of[path]:
                other += 1
                continue
            boxes[path].append(record.box)
            used.append(record)
        height, width = references.sizes[key]
        if boxes.get(path) and (height <= 0 or width <= 0):
            fail(f"the size of image {key} is unknown, so its boxes cannot be scaled")
        sizes[path] = (height, width)
    counts = {"images_with_boxes": len(boxes), "boxes": sum(len(v) for v in boxes.values()),
              "boxes_other_label": other, "images_outside_data": len(outside)}
    return _Matched(dict(boxes), sizes, counts, used)


def _resolved(path) -> str | None:
    return None if path is None else str(Path(path).resolve())


def _digest(path: Path) -> str:
    """sha256 of a file; of a folder (VOC, YOLO), of its files' relative paths and hashes."""
    if path.is_file():
        return sha256_of_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_of_file(file)}\n".encode())
    return digest.hexdigest()


# ------------------------------------------------------------------------------ the loss

class TargetActivations(LayerOutputs):
    """Keeps the output of ``module``'s layer ``name`` from each forward pass (``value``) while
    the ``with`` block lasts."""

    def __init__(self, module: torch.nn.Module, name: str):
        super().__init__(module, [name])

    @property
    def value(self) -> torch.Tensor | None:
        return self.values[0]


def true_class_cams(activations: torch.Tensor, logits: torch.Tensor, y: torch.Tensor,
                    rows: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """relu(sum_c A_c * d logit_y / d A_c) of the images ``rows`` (K x h x w). Each image's
    logit depends on its own activations only, so one gradient of their sum serves all."""
    score = logits[rows].gather(1, y[rows, None]).sum()
    grads, = torch.autograd.grad(score, activations, create_graph=create_graph)
    return F.relu((activations[rows] * grads[rows]).sum(1))


def energy_in_box(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per image, the share of the (per-image normalised) map's mass inside the box mask
    (K x 1 x H x W at the input size, area-downsampled to the maps' size)."""
    small = F.interpolate(masks, size=cams.shape[-2:], mode="area")[:, 0]
    peak = cams.flatten(1).amax(1).view(-1, 1, 1)
    cams = cams / peak.clamp_min(1e-12)  # the maximum 1 wherever the map is not all zero
    return (cams * small).flatten(1).sum(1) / (cams.flatten(1).sum(1) + EPS)


def box_supervised_forward(module: torch.nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor,
                           masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, the mean CAM-in-box loss over the images with a box, their energies in the box:
    detached). ``masks``: N x 1 x H x W, all zero for an image without boxes."""
    rows = masks.flatten(1).amax(1) > 0
    with TargetActivations(module, layer) as captured:
        logits = module(x)
    if not rows.any():  # the augmentation moved every box out of the frame
        return logits, logits.new_zeros(()), logits.new_zeros((0,))
    cams = true_class_cams(captured.value, logits, y, rows, create_graph=True)
    energy = energy_in_box(cams, masks[rows])
    return logits, (1 - energy).mean(), energy.detach()


def box_energies(module: torch.nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor,
                 masks: torch.Tensor) -> np.ndarray:
    """The energy in the box of each image of ``x`` that has one (the module as it is set:
    call ``eval()`` first for held-out images); no weight is changed."""
    rows = masks.flatten(1).amax(1) > 0
    if not rows.any():
        return np.zeros(0, np.float32)
    with torch.enable_grad(), TargetActivations(module, layer) as captured:
        logits = module(x.detach().requires_grad_(True))
        cams = true_class_cams(captured.value, logits, y, rows, create_graph=False)
    return energy_in_box(cams.detach(), masks[rows]).cpu().numpy()
