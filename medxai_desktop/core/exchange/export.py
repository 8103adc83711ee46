"""Export boxes: the one function behind ``medxai export`` and the app's Export > Boxes.

The writer comes from :func:`get_format`, so an enabled exporter plugin is found wherever the
export starts. DICOM SR needs the DICOM header of each image's source file; images without one
are left out and named in the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from medxai_desktop.core import registry_hooks
from medxai_desktop.core.atomic_files import check_output, output_errors

from ._common import ExportError
from .records import AnnotationSet

OVERWRITABLE = ("voc", "yolo")   # folder writers that refuse a non-empty folder unless told


@dataclass(frozen=True)
class ExportResult:
    summary: str                         # one line: what was written where
    skipped: list[str] = field(default_factory=list)   # image keys left out (not DICOM sources)
    included: str = ""                   # one line: which images and boxes (export_store)


def format_names() -> list[str]:
    """Every format an export can use: the built-ins, then the enabled exporter plugins'."""
    from . import FORMATS

    registry_hooks.load_plugins("exporter")
    return list(FORMATS)


def dicom_sources(annotations: AnnotationSet):
    """(the part of ``annotations`` on DICOM files, {image key: header}, keys left out)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    sources, skipped = {}, []
    for image in annotations.images:
        try:
            sources[image.key] = pydicom.dcmread(image.path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, TypeError):
            skipped.append(image.key)
    kept = AnnotationSet([i for i in annotations.images if i.key in sources],
                         [b for b in annotations.boxes if b.image_key in sources], annotations.labels,
                         [m for m in annotations.measurements if m.image_key in sources])
    return kept, sources, skipped


def export_annotations(annotations: AnnotationSet, fmt: str, out: str | Path, which: str = "reviewed",
                       deidentify: bool = False, overwrite: bool = False) -> ExportResult:
    """Write ``annotations`` (reviewed boxes, proposals or both) as ``fmt`` to ``out``;
    ``deidentify``: de-identified with the site secret (:mod:`medxai_desktop.core.deidentification`)."""
    check_output(out)   # never written through a link
    with output_errors(out):   # a full disk, a file-size limit: one line, nothing partial left
        return _export(annotations, fmt, out, which, deidentify, overwrite)


def _export(annotations: AnnotationSet, fmt: str, out: str | Path, which: str, deidentify: bool,
            overwrite: bool) -> ExportResult:
    from . import DEIDENTIFYING, get_format, write_dicom_sr

    deidentifier = _deidentifier() if deidentify else None
    if fmt == "dicom-sr":
        annotations, sources, skipped = dicom_sources(annotations)
        if not sources:
            raise ExportError(f"{out}: no image in the database is a DICOM file; DICOM SR needs DICOM sources")
        written = write_dicom_sr(annotations, sources, out, which, deidentifier=deidentifier)
        return ExportResult(f"wrote {len(written)} {'de-identified ' if deidentify else ''}DICOM SR file(s) "
                            f"to {out}", skipped)
    _, writer = get_format(fmt)
    extra = {"overwrite": True} if overwrite and fmt in OVERWRITABLE else {}
    if deidentifier is not None and fmt in DEIDENTIFYING:
        extra["deidentifier"] = deidentifier
    elif deidentifier is not None:
        annotations = deidentifier.annotations(annotations)
    written = writer(annotations, out, which=which, **extra)
    if isinstance(written, list):
        written = f"{len(written)} file(s) in {out}"
    return ExportResult(f"wrote {which} boxes as {fmt} to {written}{' (de-identified)' if deidentify else ''}")


def _deidentifier():
    from medxai_desktop.core.deidentification import Deidentifier, SecretError

    try:
        return Deidentifier.from_site_secret()
    except SecretError as exc:
        raise ExportError(f"cannot de-identify: {exc}") from None


def export_store(store, fmt: str, out: str | Path, which: str = "reviewed", deidentify: bool = False,
                 overwrite: bool = False) -> ExportResult:
    """:func:`export_annotations` of the review store's boxes: "reviewed" is the reference,
    signed-off images only ("both": with their proposals; "proposals": every image), as the
    store's ``export_set`` says; ``included`` says what that was, with counts."""
    annotations, scope = store.export_set(which)
    if fmt == "dicom-sr" and not annotations.images:
        raise ExportError(f"{out}: no image to write an SR for: {scope.describe(which)}")
    if fmt == "dicom-sr" and which != "proposals":   # the reviewers' lengths and ROIs on those images
        from medxai_desktop.core.store.measurements import measurement_records

        annotations.measurements = measurement_records(store, scope.image_ids)
    result = export_annotations(annotations, fmt, out, which, deidentify, overwrite)
    return replace(result, included=scope.describe(which))
