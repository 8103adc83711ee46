"""De-identify what a non-DICOM export carries: image keys (file names and relative paths,
which often hold a name or a record number), reviewers, and the source UIDs."""
from __future__ import annotations

from dataclasses import replace

from medxai_desktop.core.exchange.records import AnnotationSet

from .pseudonyms import Pseudonymizer

KEPT_EXTRA = ("frame", "model")   # box provenance that names no one


def deidentify_annotations(annotations: AnnotationSet, p: Pseudonymizer) -> AnnotationSet:
    """A copy with every image key pseudonymised (suffix kept), image paths dropped, reviewer
    names pseudonymised, UIDs mapped as :func:`deidentify_dataset` maps them, and box extras
    reduced to :data:`KEPT_EXTRA`."""
    images = [replace(i, key=p.image_key(i.key), path=None, study_uid=p.uid(i.study_uid),
                      series_uid=p.uid(i.series_uid), sop_uid=p.uid(i.sop_uid)) for i in annotations.images]
    boxes = [replace(b, image_key=p.image_key(b.image_key), reviewer=p.person(b.reviewer) if b.reviewer else None,
                     extra={k: v for k, v in b.extra.items() if k in KEPT_EXTRA}) for b in annotations.boxes]
    return AnnotationSet(images, boxes, list(annotations.labels))
