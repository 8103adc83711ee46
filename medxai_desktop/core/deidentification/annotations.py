"""De-identify what a non-DICOM export carries: image keys (file names and relative paths,
which often hold a name or a record number), reviewers, box labels and the source UIDs."""
from __future__ import annotations

from dataclasses import replace

from medxai_desktop.core.exchange.records import AnnotationSet

from .labels import clean_label, export_cleaner, image_headers
from .pseudonyms import Pseudonymizer

KEPT_EXTRA = ("frame", "model")   # box provenance that names no one


def deidentify_annotations(annotations: AnnotationSet, p: Pseudonymizer) -> AnnotationSet:
    """A copy with every image key pseudonymised (suffix kept), image paths dropped, reviewer
    names pseudonymised, labels cleaned (:func:`.labels.clean_label`, with the identifiers of the
    DICOM images among them), UIDs mapped as :func:`deidentify_dataset` maps them, and box
    extras reduced to :data:`KEPT_EXTRA`."""
    cleaner = export_cleaner(image_headers(annotations.images))
    images = [replace(i, key=p.image_key(i.key), path=None, study_uid=p.uid(i.study_uid),
                      series_uid=p.uid(i.series_uid), sop_uid=p.uid(i.sop_uid)) for i in annotations.images]
    boxes = [replace(b, image_key=p.image_key(b.image_key), reviewer=p.person(b.reviewer) if b.reviewer else None,
                     label=clean_label(b.label, cleaner), extra={k: v for k, v in b.extra.items() if k in KEPT_EXTRA})
             for b in annotations.boxes]
    labels = list(dict.fromkeys(clean_label(label, cleaner) for label in annotations.labels))
    return AnnotationSet(images, boxes, labels)
