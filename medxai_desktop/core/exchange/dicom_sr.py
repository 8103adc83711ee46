"""DICOM SR export/import: TID 1500 "Imaging Measurement Report" (Comprehensive 3D SR) built
with highdicom, for boxes on DICOM source images.

Design:

* **One SR per source image** that has at least one exported box (TID 1500 needs at least
  one measurement group, so images without boxes get no SR). All SRs of one study written by
  one call share one new SR series (series number 900, instance numbers 1, 2, ...). Files are
  named ``<SR SOP Instance UID>.dcm`` in ``out_dir``. The SR's SOP Instance UID is derived from
  its content (source image, each box at its revision) and the series UID from the study, so
  writing or sending the same revision again gives the same instance, never a second SR. The SR copies the patient and study
  modules from its source and records it as evidence and in the image library (with its
  Rows/Columns, which the importer uses as the image size).
* One TID 1410 measurement group per box: ``Image Region`` = SCOORD POLYLINE, the box as a
  closed 5-point polyline (x0,y0),(x1,y0),(x1,y1),(x0,y1),(x0,y0) in the source image's pixel
  coordinates (SCOORD's edge convention: (0,0) is the top-left corner of the top-left pixel,
  which is exactly our Box's), selected from the source image by SOP Class/Instance UID (and
  frame ``extra["frame"] + 1`` for multi-frame sources); ``Geometric purpose of region`` =
  SCT 75958009 "Bounded by" (``codes.SCT.BoundedBy``); ``Finding`` = the label as a coded
  concept (below); a ``Tracking Identifier`` text and a new ``Tracking Unique Identifier``.
  A label that a de-identifying export cleaned (``deidentifier=`` below) is free text, no
  class: no Finding code, the label in the Tracking Identifier only (read back from there).
* Proposals also carry TID 4019 Algorithm Identification (name = method, version = model, or
  "unspecified") and their score as a NUM "Proposal score" (99MEDXAI, unit UCUM "1"). On import
  a group with Algorithm Identification is a proposal, one without is a reviewed box.
* Observation context (TID 1001), document level: one person observer per distinct reviewer
  of the image's reviewed boxes, one device observer per distinct (model, method) of its
  proposals (UID derived from manufacturer + model + method, name = method, manufacturer,
  model name). With neither (reviewed boxes without a reviewer), the exporting application
  itself is the device observer. On import a reviewed box gets the reviewer only when the SR
  names exactly one person observer (per-box reviewer, state and revision are not kept).
* Finding codes: SNOMED CT codes that exist in ``pydicom.sr.codedict.codes.SCT`` for the
  labels in :data:`FINDING_CODE_NAMES` (at the time of writing: mass, nodule, effusion,
  pleural effusion, cardiomegaly, pneumothorax, fibrosis, edema, pulmonary edema, neoplasm;
  glioma, meningioma, pituitary adenoma, pneumonia, atelectasis, infiltration/infiltrate,
  lung opacity, consolidation, emphysema and others have no code there); every other label
  gets a local code: scheme designator ``99MEDXAI``, value ``MX`` + 12 hex digits of
  sha256(label), meaning = the label as written. On import, a local code's meaning is the
  label; a known SCT code maps back to our label (e.g. "Mass"; the original case is not kept).
* Measurements (``AnnotationSet.measurements``: lengths, rectangle and ellipse ROIs with their
  statistics) are written with the reviewed boxes ("reviewed", "both"), one TID 1410 group each
  after the boxes' (``dicom_sr_measurements.py``: Length in mm or pixels, Area, HU statistics
  with their Derivation, the pixel spacing used as Measurement Method); their reviewers join
  the person observers, and an image with measurements only gets an SR too. The reader gives
  them back as ``MeasurementRecord``s.
* SCOORD Graphic Data is 32-bit float (VR FL): corners come back rounded to float32 (exact for
  whole and half pixels; within ~1e-4 px at 1024 px otherwise). Scores are NUM values (VR DS,
  16 characters): ~1e-12 relative.
* ``deidentifier=`` (a :class:`~medxai_desktop.core.deidentification.Deidentifier`): each SR
  is de-identified as a whole once built (PS3.15 Basic Profile, Clean Structured Content: the
  copied patient/study modules, every UID, observer names, dates), so it references the images
  as the same site secret de-identifies them (``medxai deid files``).
"""
from __future__ import annotations

import hashlib
import re
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from medxai_desktop.core.atomic_files import atomic_folder, atomic_open, check_output
from medxai_desktop.core.exchange._common import (
    ExportError, check_export_box, check_which, export_images, make_box, outside_reason,
    select_boxes,
)
from medxai_desktop.core.exchange.person_names import from_person_name, to_person_name
from medxai_desktop.core.exchange.dicom_sr_measurements import (
    is_measurement_group, measurement_group, measurement_key, parse_measurement_group, region_source,
)
from medxai_desktop.core.exchange.records import (
    AnnotationSet, BoxRecord, ExchangeError, ImageRecord, MeasurementRecord,
)

LOCAL_SCHEME = "99MEDXAI"
_NAMESPACE = uuid.UUID("6f1d3c52-5a0e-4c8e-9a61-6d6564786169")  # MedXAI's own namespace
SR_SERIES_NUMBER = 900
UNSPECIFIED_MODEL = "unspecified"
# A box whose label is free text (cleaned by a de-identifying export) has no Finding code; its
# label is the rest of the Tracking Identifier we write ("reviewed box 2: mass for *** ***").
TRACKING_LABEL = re.compile(r"(?:AI proposal|reviewed box) \d+: (.+)", re.DOTALL)

# Our label (lower case) -> the name of its SNOMED CT code in pydicom's code dictionary. Names
# that pydicom lacks are skipped at import time (those labels get local codes).
FINDING_CODE_NAMES: dict[str, tuple[str, str]] = {
    # label: (display label on import, codes.SCT attribute)
    "mass": ("Mass", "Mass"),
    "nodule": ("Nodule", "Nodule"),
    "effusion": ("Effusion", "Effusion"),
    "pleural effusion": ("Pleural effusion", "PleuralEffusion"),
    "cardiomegaly": ("Cardiomegaly", "Cardiomegaly"),
    "pneumothorax": ("Pneumothorax", "Pneumothorax"),
    "fibrosis": ("Fibrosis", "Fibrosis"),
    "edema": ("Edema", "Edema"),
    "pulmonary edema": ("Pulmonary edema", "PulmonaryEdema"),
    "neoplasm": ("Neoplasm", "Neoplasm"),
    # Looked up too, absent from pydicom 3.0's dictionary (so local codes today):
    "glioma": ("Glioma", "Glioma"),
    "meningioma": ("Meningioma", "Meningioma"),
    "pituitary adenoma": ("Pituitary adenoma", "PituitaryAdenoma"),
    "pneumonia": ("Pneumonia", "Pneumonia"),
    "atelectasis": ("Atelectasis", "Atelectasis"),
    "infiltration": ("Infiltration", "Infiltration"),
    "lung opacity": ("Lung Opacity", "LungOpacity"),
    "consolidation": ("Consolidation", "Consolidation"),
    "emphysema": ("Emphysema", "Emphysema"),
}


def _sct_table():
    from pydicom.sr.codedict import codes

    table = {}
    for label, (display, attr) in FINDING_CODE_NAMES.items():
        try:
            code = getattr(codes.SCT, attr)
        except AttributeError:
            continue
        table[label] = (display, code)
    return table


def _norm(label: str) -> str:
    return " ".join(label.replace("_", " ").split()).lower()


def finding_code(label: str):
    """The coded concept a label is written as (SNOMED CT if pydicom has it, else local)."""
    from highdicom.sr import CodedConcept

    hit = _sct_table().get(_norm(label))
    if hit is not None:
        code = hit[1]
        return CodedConcept(code.value, code.scheme_designator, code.meaning)
    if len(label) > 64:
        raise ExportError(f"label {label[:40]!r}... is longer than 64 characters (DICOM Code Meaning)")
    value = "MX" + hashlib.sha256(label.encode()).hexdigest()[:12].upper()
    return CodedConcept(value, LOCAL_SCHEME, label)


def label_of(code) -> str:
    """Our label for a finding code read from an SR."""
    if code.scheme_designator == "SCT":
        for display, known in _sct_table().values():
            if known.value == code.value:
                return display
    return str(code.meaning)


def _score_code():
    from highdicom.sr import CodedConcept

    return CodedConcept("MX-SCORE", LOCAL_SCHEME, "Proposal score")


def _device_uid(manufacturer: str, model: str | None, method: str | None) -> str:
    """``2.25.`` + a name-based UUID (PS3.5 B.2): the same device always gets the same UID."""
    return "2.25." + str(uuid.uuid5(_NAMESPACE, "\x00".join(("device", manufacturer, model or "", method or ""))).int)


# ---------------------------------------------------------------------------- writing

def write_dicom_sr(annotations: AnnotationSet, source_datasets: Mapping[str, Any], out_dir: str | Path,
                   which: str = "reviewed", manufacturer: str = "MedXAI", *, deidentifier=None,
                   model: str | None = None,
                   series_description: str | None = None) -> list[Path]:
    """Write one TID 1500 SR per source image into ``out_dir``; returns the files in the order
    of the AnnotationSet's images. ``source_datasets`` maps image keys to the source images'
    pydicom data sets (headers suffice: ``stop_before_pixels=True`` is fine). ``model`` names
    the model of the proposals (else ``BoxRecord.extra["model"]``). Boxes on an image without a
    source data set, or outside it, are an ExportError (nothing is written). The set's
    measurements (lengths, ROIs) are written with the reviewed boxes ("reviewed", "both"), one
    group each (``dicom_sr_measurements.py``)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    series: dict[str, list] = {}  # study UID -> [series UID, next instance number]
    docs = []  # built in full before anything is written
    plan = _plan(annotations, source_datasets, which)
    clean = deidentifier.label_cleaner([p[1] for p in plan]) if deidentifier is not None else None
    sign_offs = {} if which == "proposals" else {i.key: i.verified for i in annotations.images if i.verified}
    for key, ds, image_boxes, measured in plan:
        groups = [_group(b, n, ds, model, clean) for n, b in enumerate(image_boxes, 1)]
        groups += [measurement_group(m, n, ds) for n, m in enumerate(measured, 1)]
        context = _observation_context(image_boxes, manufacturer, model, [m.reviewer for m in measured])
        try:
            report = hd.sr.MeasurementReport(observation_context=context,
                                             procedure_reported=codes.SCT.ImagingProcedure,
                                             imaging_measurements=groups, referenced_images=[ds])
        except (ValueError, AttributeError, KeyError):  # no image library entry for this source
            report = hd.sr.MeasurementReport(observation_context=context,
                                             procedure_reported=codes.SCT.ImagingProcedure,
                                             imaging_measurements=groups)
        slot = series.setdefault(str(ds.StudyInstanceUID), [
            content_uid("sr-series", str(ds.StudyInstanceUID), which, manufacturer), 1])
        with warnings.catch_warnings():
            # The patient's name is copied as the source has it; highdicom's hint about
            # single-component names is noise here.
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
            sr = hd.sr.Comprehensive3DSR(
                evidence=[ds], content=report, series_instance_uid=slot[0], series_number=SR_SERIES_NUMBER,
                sop_instance_uid=content_uid("sr", str(ds.SOPInstanceUID), which, manufacturer, model or "",
                                             *map(_box_key, image_boxes), *map(measurement_key, measured)),
                instance_number=slot[1], manufacturer=manufacturer,
                is_complete=True, **_verification(sign_offs.get(key), manufacturer))
        if key in sign_offs:    # verified when the reviewer signed the image off, not now
            sr.VerificationDateTime = _dicom_datetime(sign_offs[key][1])
        slot[1] += 1
        if deidentifier is not None:
            sr = deidentifier.dataset(sr)
        sr.SeriesDescription = series_description or f"MedXAI boxes ({which})"
        docs.append(sr)

    return save_instances(docs, out_dir)


def _verification(sign_off: tuple[str, str] | None, organisation: str) -> dict:
    """A signed-off image's SR is VERIFIED by the reviewer who signed it off; else UNVERIFIED."""
    if sign_off is None:
        return {"is_verified": False}
    return {"is_verified": True, "verifying_observer_name": sign_off[0].replace(",", "^"),
            "verifying_organization": organisation}


def _dicom_datetime(iso: str) -> str:
    from datetime import datetime, timezone

    moment = datetime.fromisoformat(iso)
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return moment.strftime("%Y%m%d%H%M%S.%f%z")


def _plan(annotations: AnnotationSet, source_datasets: Mapping[str, Any], which: str) -> list[tuple]:
    """(image key, source data set, its boxes, its measurements) of each image that gets an
    SR, checked (ExportError) before anything is built."""
    check_which(which)
    boxes = select_boxes(annotations, which)
    measured_all = [] if which == "proposals" else list(annotations.measurements)
    keys = [i.key for i in export_images(annotations, boxes)]
    keys += [k for k in dict.fromkeys(m.image_key for m in measured_all) if k not in keys]
    with_content = {b.image_key for b in boxes} | {m.image_key for m in measured_all}
    lacking = [k for k in keys if k in with_content and k not in source_datasets]
    if lacking:
        raise ExportError(f"no DICOM source data set for image(s) {', '.join(lacking[:5])}"
                          f"{' ...' if len(lacking) > 5 else ''}: DICOM SR needs the source images")
    plan = []
    for key in keys:
        if key not in with_content:
            continue
        ds = source_datasets[key]
        for attr in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns"):
            if attr not in ds:
                raise ExportError(f"image {key}: the source data set has no {attr}")
        image_boxes = [b for b in boxes if b.image_key == key]
        size_rec = ImageRecord(key, int(ds.Columns), int(ds.Rows))
        for b in image_boxes:
            check_export_box(b, size_rec)
        measured = [m for m in measured_all if m.image_key == key]
        for m in measured:
            if not all(0 <= x <= size_rec.width and 0 <= y <= size_rec.height for x, y in m.measurement.shape.points):
                raise ExportError(f"image {key}: a {m.measurement.kind} measurement lies outside the "
                                  f"{size_rec.width}x{size_rec.height} image")
        plan.append((key, ds, image_boxes, measured))
    return plan


def content_uid(*parts: str) -> str:
    """``2.25.`` + a name-based UUID of ``parts``: the same content always gets the same UID."""
    return "2.25." + str(uuid.uuid5(_NAMESPACE, "\x00".join(parts)).int)


def _box_key(b: BoxRecord) -> str:
    """What makes one exported box this box at this revision."""
    return repr((b.kind, b.label, b.box.x0, b.box.y0, b.box.x1, b.box.y1, b.score, b.method, b.reviewer,
                 b.state, b.revision, b.extra.get("frame"), b.extra.get("model")))


def save_instances(datasets, out_dir) -> list[Path]:
    """Write each DICOM instance as OUT/<SOPInstanceUID>.dcm; a file appears whole or not at all."""
    out_dir = check_output(out_dir, folder=True)
    written: list[Path] = []
    with atomic_folder(out_dir) as tmp:   # all of them, or none
        for ds in datasets:
            name = f"{ds.SOPInstanceUID}.dcm"
            with atomic_open(tmp / name, "wb") as stream:
                ds.save_as(stream, enforce_file_format=True)
            written.append(out_dir / name)
    return written


def _group(b: BoxRecord, n: int, src: Any, model: str | None, clean=None):
    """The box's TID 1410 group; ``clean``: the de-identifying export's label cleaner. A label it
    changes is no class any more: it is written in the Tracking Identifier text only, no Finding
    code (whose local code value would be a hash of the original)."""
    import highdicom as hd
    import numpy as np
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    x0, y0, x1, y1 = b.box.x0, b.box.y0, b.box.x1, b.box.y1
    frames = None
    if int(src.get("NumberOfFrames", 1) or 1) > 1:
        frames = [int(b.extra.get("frame", 0)) + 1]
    source = hd.sr.SourceImageForRegion(referenced_sop_class_uid=src.SOPClassUID,
                                        referenced_sop_instance_uid=src.SOPInstanceUID,
                                        referenced_frame_numbers=frames)
    region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                               graphic_data=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]),
                               source_image=source)
    kind_text = "AI proposal" if b.kind == "proposal" else "reviewed box"
    label = b.label if clean is None else clean(b.label)
    tracking = hd.sr.TrackingIdentifier(uid=str(generate_uid()), identifier=f"{kind_text} {n}: {label}")
    kwargs: dict[str, Any] = {}
    if b.kind == "proposal":
        box_model = model or b.extra.get("model")
        kwargs["algorithm_id"] = hd.sr.AlgorithmIdentification(
            name=b.method or "unknown", version=str(box_model) if box_model else UNSPECIFIED_MODEL)
        if b.score is not None:
            kwargs["measurements"] = [hd.sr.Measurement(name=_score_code(), value=float(b.score),
                                                        unit=codes.UCUM.NoUnits)]
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, referenced_region=region,
        finding_type=finding_code(label) if label == b.label else None,
        geometric_purpose=codes.SCT.BoundedBy, **kwargs)


def _observation_context(boxes: list[BoxRecord], manufacturer: str, model: str | None,
                         measurers: Iterable[str | None] = ()):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    context = hd.sr.ObservationContext()
    reviewers: list[str] = []
    devices: list[tuple[str | None, str | None]] = []
    for name in [b.reviewer for b in boxes if b.kind == "reviewed"] + list(measurers):
        if name and name not in reviewers:
            reviewers.append(name)
    for b in boxes:
        if b.kind == "proposal":
            dev = (model or b.extra.get("model"), b.method)
            if dev not in devices:
                devices.append(dev)
    for name in reviewers:
        context.extend(hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=to_person_name(name))))
    if not reviewers and not devices:
        devices.append((None, None))
    for dev_model, method in devices:
        attrs = hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_device_uid(manufacturer, dev_model, method),
            name=method or "MedXAI Desktop", manufacturer_name=manufacturer,
            model_name=str(dev_model) if dev_model else None)
        context.extend(hd.sr.ObserverContext(observer_type=codes.DCM.Device,
                                             observer_identifying_attributes=attrs))
    return context


# ---------------------------------------------------------------------------- reading

def read_dicom_sr(path: str | Path, images_dir: str | Path | None = None, *,
                  images: Iterable[ImageRecord] | None = None) -> AnnotationSet:
    """Read one SR file, or every ``*.dcm`` below a folder: TID 1500 reports whose planar ROI
    groups are axis-aligned rectangles (POLYLINE of 4 corners, or 5 with the first repeated),
    or measurements (lengths, rectangle and ellipse ROIs: ``dicom_sr_measurements.py``).
    Image keys: the key of the ImageRecord in ``images`` with the referenced SOP Instance UID,
    else the path (relative to ``images_dir``) of the DICOM file with that UID there, else the
    SOP Instance UID itself. Sizes: from those, else the SR's image library, else unknown (0)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.dcm") if p.is_file())
        if not files:
            raise ExchangeError(path, None, "no .dcm files in this folder")
    else:
        files = [path]
    lookup = _ImageLookup(images, images_dir)
    result = AnnotationSet()
    for sr_path in files:
        doc = _read_sr(sr_path)
        sizes, series_of, study, spacing_of = _library_and_evidence(doc)
        persons, _ = _observers(doc)
        try:
            groups = doc.content.get_planar_roi_measurement_groups()
        except Exception as exc:  # noqa: BLE001
            raise ExchangeError(sr_path, None, f"cannot read the measurement groups ({exc})") from None
        for n, group in enumerate(groups, 1):
            where = f"measurement group {n}"
            try:
                if is_measurement_group(group):
                    sop_uid, frame, measurement = parse_measurement_group(group, spacing_of)
                else:
                    sop_uid, box, label, kind, score, method, model, frame = _parse_group(group)
            except ValueError as exc:
                raise ExchangeError(sr_path, where, str(exc)) from None
            rec = lookup(sop_uid, sizes, series_of, study)
            extra: dict[str, Any] = {} if frame is None else {"frame": frame}
            if is_measurement_group(group):
                result.measurements.append(MeasurementRecord(
                    rec.key, measurement, persons[0] if len(persons) == 1 else None, extra=extra))
                continue
            reason = outside_reason(box, rec.width, rec.height)
            if reason:
                raise ExchangeError(sr_path, where, f"{reason} ({rec.key})")
            if model and model != UNSPECIFIED_MODEL:
                extra["model"] = model
            reviewer = persons[0] if kind == "reviewed" and len(persons) == 1 else None
            result.boxes.append(BoxRecord(rec.key, label, box, kind=kind, score=score, method=method,
                                          reviewer=reviewer, extra=extra))
            if label not in result.labels:
                result.labels.append(label)
    result.images = list(lookup.found.values())
    return result


class _ImageLookup:
    """The ImageRecord of a SOP Instance UID an SR refers to (see ``read_dicom_sr``); ``found``:
    the records handed out, by key, in order."""

    def __init__(self, images: Iterable[ImageRecord] | None, images_dir: str | Path | None):
        self.by_uid: dict[str, ImageRecord] = {r.sop_uid: r for r in (images or []) if r.sop_uid}
        self.images_dir = images_dir
        self.dir_index: dict[str, ImageRecord] | None = None
        self.found: dict[str, ImageRecord] = {}

    def __call__(self, sop_uid: str, sizes, series_of, study) -> ImageRecord:
        rec = self.by_uid.get(sop_uid)
        if rec is None and self.images_dir is not None:
            if self.dir_index is None:
                self.dir_index = _index_dicom_dir(Path(self.images_dir))
            rec = self.dir_index.get(sop_uid)
        if rec is None:
            width, height = sizes.get(sop_uid, (0, 0))
            rec = ImageRecord(sop_uid, width, height, study_uid=study,
                              series_uid=series_of.get(sop_uid), sop_uid=sop_uid)
        return self.found.setdefault(rec.key, rec)


def _read_sr(sr_path: Path):
    import highdicom as hd
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not sr_path.is_file():
        raise ExchangeError(sr_path, None, "file not found")
    if sr_path.stat().st_size == 0:
        raise ExchangeError(sr_path, None, "empty file")
    try:
        ds = pydicom.dcmread(sr_path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ExchangeError(sr_path, None, f"not a DICOM file ({exc})") from None
    if str(ds.get("SOPClassUID", "")) not in {str(u) for u in hd.sr.SOP_CLASS_UIDS}:
        raise ExchangeError(sr_path, None, f"not a DICOM SR document (SOP class {ds.get('SOPClassUID')})")
    try:
        doc = hd.sr.srread(sr_path)
        doc.content  # noqa: B018 - parses the root template
    except Exception as exc:  # noqa: BLE001
        raise ExchangeError(sr_path, None, f"not a TID 1500 Measurement Report ({exc})") from None
    return doc


def _observers(doc) -> tuple[list[str], list[str]]:
    from pydicom.sr.codedict import codes

    persons, devices = [], []
    try:
        for ctx in doc.content.get_observer_contexts():
            attrs = ctx.observer_identifying_attributes
            if ctx.observer_type == codes.DCM.Person:
                persons.append(from_person_name(str(attrs.name)))
            else:
                devices.append(str(attrs.uid))
    except Exception:  # noqa: BLE001 - observers are informative only
        pass
    return persons, devices


_LIBRARY_NUMBERS = {"110910": "rows", "110911": "columns", "111066": "row_spacing", "111026": "column_spacing"}


def _library_and_evidence(doc) -> tuple[dict[str, tuple[int, int]], dict[str, str], str | None,
                                        dict[str, tuple[float, float]]]:
    """Sizes (Columns, Rows) and pixel spacings (row, column: Vertical / Horizontal Pixel
    Spacing) from the image library; series UIDs from the evidence."""
    sizes: dict[str, tuple[int, int]] = {}
    spacings: dict[str, tuple[float, float]] = {}

    def walk(items) -> None:
        for item in items:
            if getattr(item, "ValueType", None) == "IMAGE" and "ReferencedSOPSequence" in item:
                uid = str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
                found: dict[str, float] = {}
                for sub in item.get("ContentSequence", []):
                    name = sub.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in sub else None
                    if getattr(sub, "ValueType", None) == "NUM" and name in _LIBRARY_NUMBERS:
                        found[_LIBRARY_NUMBERS[name]] = float(sub.MeasuredValueSequence[0].NumericValue)
                if found.get("rows") and found.get("columns"):
                    sizes[uid] = (int(found["columns"]), int(found["rows"]))
                if found.get("row_spacing", 0) > 0 and found.get("column_spacing", 0) > 0:
                    spacings[uid] = (found["row_spacing"], found["column_spacing"])
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(doc.get("ContentSequence", []))
    series_of: dict[str, str] = {}
    study = str(doc.StudyInstanceUID) if "StudyInstanceUID" in doc else None
    for ev_name in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study_item in doc.get(ev_name, []):
            for series_item in study_item.get("ReferencedSeriesSequence", []):
                for sop in series_item.get("ReferencedSOPSequence", []):
                    series_of[str(sop.ReferencedSOPInstanceUID)] = str(series_item.SeriesInstanceUID)
    return sizes, series_of, study, spacings


def _parse_group(group) -> tuple[str, Any, str, str, float | None, str | None, str | None, int | None]:
    import highdicom as hd

    roi = group.roi
    if roi is None:
        raise ValueError("no Image Region (only SCOORD rectangles are boxes)")
    if not isinstance(roi, hd.sr.ImageRegion):
        raise ValueError("a 3-D region (SCOORD3D), not a box on an image")
    if roi.graphic_type != hd.sr.GraphicTypeValues.POLYLINE:
        raise ValueError(f"graphic type {roi.graphic_type.value}, not a POLYLINE rectangle")
    pts = [(float(x), float(y)) for x, y in roi.value]
    if len(pts) == 5 and pts[0] == pts[-1]:
        pts = pts[:4]
    xs, ys = sorted({p[0] for p in pts}), sorted({p[1] for p in pts})
    if len(pts) != 4 or len(xs) > 2 or len(ys) > 2 or not all(
            (x, y) in pts for x in (xs[0], xs[-1]) for y in (ys[0], ys[-1])):
        raise ValueError(f"the region is not an axis-aligned rectangle ({len(roi.value)} points)")
    box = make_box(xs[0], ys[0], xs[-1], ys[-1])
    sop_uid, frame = region_source(roi)
    finding = group.finding_type
    text_label = TRACKING_LABEL.match(group.tracking_identifier or "")
    if finding is None and text_label is None:
        raise ValueError("no Finding code (the box's label)")
    label = label_of(finding) if finding is not None else text_label.group(1)
    algorithm = _algorithm_of(group)
    if algorithm is None:
        return sop_uid, box, label, "reviewed", None, None, None, frame
    name, version = algorithm
    score = None
    for m in group.get_measurements(name=_score_code()):
        score = float(m.value)
    return sop_uid, box, label, "proposal", score, (None if name == "unknown" else name), version, frame


def _algorithm_of(group) -> tuple[str, str] | None:
    """(name, version) of the group's TID 4019 Algorithm Identification, if any."""
    from pydicom.sr.codedict import codes

    name = version = None
    for item in group[0].ContentSequence:
        concept = item.ConceptNameCodeSequence[0]
        if concept.CodeValue == codes.DCM.AlgorithmName.value and concept.CodingSchemeDesignator == "DCM":
            name = str(item.TextValue)
        elif concept.CodeValue == codes.DCM.AlgorithmVersion.value and concept.CodingSchemeDesignator == "DCM":
            version = str(item.TextValue)
    if name is None:
        return None
    return name, version or UNSPECIFIED_MODEL


def _index_dicom_dir(images_dir: Path) -> dict[str, ImageRecord]:
    """SOP Instance UID -> ImageRecord (key = path relative to ``images_dir``) for the DICOM
    files there (headers only)."""
    import pydicom

    out: dict[str, ImageRecord] = {}
    if not images_dir.is_dir():
        return out
    for p in sorted(images_dir.rglob("*")):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True,
                                 specific_tags=["SOPInstanceUID", "Rows", "Columns", "StudyInstanceUID",
                                                "SeriesInstanceUID"])
        except Exception:  # noqa: BLE001 - not DICOM: skip
            continue
        uid = str(ds.get("SOPInstanceUID", "") or "")
        if uid and "Rows" in ds and "Columns" in ds and uid not in out:
            out[uid] = ImageRecord(p.relative_to(images_dir).as_posix(), int(ds.Columns), int(ds.Rows), path=p,
                                   study_uid=str(ds.get("StudyInstanceUID", "") or "") or None,
                                   series_uid=str(ds.get("SeriesInstanceUID", "") or "") or None, sop_uid=uid)
    return out


__all__ = ["FINDING_CODE_NAMES", "LOCAL_SCHEME", "finding_code", "label_of", "read_dicom_sr", "write_dicom_sr"]
