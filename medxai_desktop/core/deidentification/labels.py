"""Box labels in de-identified exports: one cleaner for every format (COCO categories, both
CSVs, VOC names, YOLO ``classes.txt``, the SR's Finding), the same as for other free text
(:mod:`.text_cleaner`). A label names a class shared by many images, so it is cleaned of the
identifiers of every patient in the export, not only of its own image's."""
from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset

from .text_cleaner import TextCleaner


def image_headers(images) -> list[Dataset]:
    """The DICOM headers of the export's images (``ImageRecord.path``) that are DICOM files."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    headers = []
    for image in images:
        if image.path is None:
            continue
        try:
            headers.append(pydicom.dcmread(image.path, stop_before_pixels=True))
        except (InvalidDicomError, OSError, ValueError, EOFError, TypeError):
            continue   # not DICOM (PNG, ...): no identifiers to take, the patterns still apply
    return headers


def export_cleaner(headers: Iterable[Dataset]) -> TextCleaner:
    """The cleaner for the labels of an export whose images have these DICOM headers."""
    return TextCleaner.of_all(headers)


def clean_label(label: str, cleaner: TextCleaner) -> str:
    """``label`` as a de-identified export writes it; a result other than ``label`` is free
    text, no longer one of the model's classes (the SR writes it as text, not as a code)."""
    return cleaner.clean(label)
