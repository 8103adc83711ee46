"""Measurements in the DICOM SR (TID 1500): one TID 1410 planar ROI measurement group each.

* **Length**: ``Image Region`` = SCOORD POLYLINE of the two ends; NUM ``Length`` (SCT 410668003)
  in mm (UCUM ``mm``), or in pixels (UCUM ``{pixels}``, as highdicom's image library writes
  pixel counts) when the image states no pixel spacing.
* **Rectangle / ellipse ROI**: ``Image Region`` = SCOORD POLYLINE (the closed 5-point rectangle)
  or ELLIPSE (major axis ends, then minor axis ends); NUM ``Area`` (SCT 42798000, ``mm2`` or
  ``{pixels^2}``) and, on grey images, four NUMs of the pixel values with a ``Derivation``
  (DCM 121401) of Mean / Standard Deviation / Minimum / Maximum (SCT 373098007, 386136009,
  255605001, 56851009; the population SD). Their concept: ``Attenuation Coefficient`` (DCM
  112031) in Hounsfield units (UCUM ``[hnsf'U]``) on CT, else ``Pixel value`` (99MEDXAI) in the
  modality unit where known (UCUM annotation ``{unit}``), else UCUM ``1``.
* The pixel spacing used is stated in each group's ``Measurement Method`` (a 99MEDXAI code:
  calibrated by PixelSpacing, by ImagerPixelSpacing at the detector, by a volume header's
  spacing, or uncalibrated: pixels); its values are the image library's Horizontal / Vertical
  Pixel Spacing where highdicom records them.
* Groups carry no Finding (they are not boxes) and a Tracking Identifier "measurement N:
  <kind>". The reader takes a group for a measurement when it has a Length or Area NUM.
"""
from __future__ import annotations

from typing import Any

from medxai_desktop.core.measurements import (
    ELLIPSE, LENGTH, MM, PX, RECTANGLE, STATISTICS, Measurement, Shape, Spacing,
)

from .records import MeasurementRecord

LOCAL_SCHEME = "99MEDXAI"
_STAT_CODES = {"mean": "Mean", "sd": "StandardDeviation", "min": "Minimum", "max": "Maximum"}
_SPACING_CODES = {"PixelSpacing": ("MX-PIXELSPACING", "Calibrated by PixelSpacing"),
                  "ImagerPixelSpacing": ("MX-IMAGERSPACING", "Calibrated by ImagerPixelSpacing (at the detector)"),
                  None: ("MX-NOSPACING", "Uncalibrated: in pixels (no pixel spacing)")}
_OTHER_SPACING = "MX-HEADERSPACING"


def _code(value: str, scheme: str, meaning: str):
    from highdicom.sr import CodedConcept

    return CodedConcept(value, scheme, meaning[:64])


def _length_unit(unit: str, squared: bool):
    if unit == MM:
        return _code("mm2", "UCUM", "square millimeter") if squared else _code("mm", "UCUM", "millimeter")
    return _code("{pixels^2}", "UCUM", "square pixels") if squared else _code("{pixels}", "UCUM", "pixels")


def _value_concept_and_unit(value_unit: str | None):
    from pydicom.sr.codedict import codes

    if value_unit == "HU":
        return codes.DCM.AttenuationCoefficient, _code("[hnsf'U]", "UCUM", "Hounsfield unit")
    concept = _code("MX-PIXVAL", LOCAL_SCHEME, "Pixel value")
    if value_unit:
        return concept, _code("{" + value_unit.replace("{", "").replace("}", "") + "}", "UCUM", value_unit)
    return concept, codes.UCUM.NoUnits


def _method(spacing: Spacing):
    """The Measurement Method code that states the spacing used."""
    source = spacing.source if spacing.known else None
    value, meaning = _SPACING_CODES.get(source, (_OTHER_SPACING, f"Calibrated by {source}"))
    return _code(value, LOCAL_SCHEME, meaning)


def _spacing_source(method) -> str | None:
    """The spacing source a Measurement Method code names (None: uncalibrated or unknown)."""
    if method is None or method.scheme_designator != LOCAL_SCHEME:
        return None
    for source, (value, _) in _SPACING_CODES.items():
        if method.value == value:
            return source
    prefix = "Calibrated by "
    meaning = str(method.meaning)
    return meaning[len(prefix):] if method.value == _OTHER_SPACING and meaning.startswith(prefix) else None


def measurement_key(record: MeasurementRecord) -> str:
    """What makes an exported measurement this one at this revision (for the SR's UID)."""
    m = record.measurement
    return repr(("measurement", m.kind, m.shape.points, sorted(m.values().items()), m.length_unit, m.value_unit,
                 m.spacing, record.reviewer, record.revision, record.extra.get("frame")))


def measurement_group(record: MeasurementRecord, n: int, src: Any):
    """The TID 1410 group of one measurement on the source data set ``src``."""
    import highdicom as hd
    import numpy as np
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    m = record.measurement
    frames = [int(record.extra.get("frame", 0)) + 1] if int(src.get("NumberOfFrames", 1) or 1) > 1 else None
    source = hd.sr.SourceImageForRegion(referenced_sop_class_uid=src.SOPClassUID,
                                        referenced_sop_instance_uid=src.SOPInstanceUID,
                                        referenced_frame_numbers=frames)
    graphic = hd.sr.GraphicTypeValues.ELLIPSE if m.kind == ELLIPSE else hd.sr.GraphicTypeValues.POLYLINE
    region = hd.sr.ImageRegion(graphic_type=graphic, graphic_data=np.array(m.shape.outline(), dtype=float),
                               source_image=source)
    if m.kind == LENGTH:
        numbers = [hd.sr.Measurement(name=codes.SCT.Length, value=float(m.length),
                                     unit=_length_unit(m.length_unit, False))]
    else:
        numbers = [hd.sr.Measurement(name=codes.SCT.Area, value=float(m.area), unit=_length_unit(m.length_unit, True))]
        if m.has_statistics:
            concept, unit = _value_concept_and_unit(m.value_unit)
            numbers += [hd.sr.Measurement(name=concept, value=float(getattr(m, stat)), unit=unit,
                                          derivation=getattr(codes.SCT, _STAT_CODES[stat]))
                        for stat in STATISTICS]
    kind = m.kind if m.kind == LENGTH else f"{m.kind} ROI"
    tracking = hd.sr.TrackingIdentifier(uid=str(generate_uid()), identifier=f"measurement {n}: {kind}")
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, referenced_region=region, method=_method(m.spacing), measurements=numbers)


# ---------------------------------------------------------------------------- reading

def region_source(roi) -> tuple[str, int | None]:
    """(SOP Instance UID, frame from 0 or None) of the image an SCOORD region is selected from."""
    from pydicom.multival import MultiValue

    ref = roi.ContentSequence[0].ReferencedSOPSequence[0]
    frames = ref.get("ReferencedFrameNumber")
    frame = None
    if frames is not None and frames != "":
        frame = int(frames[0] if isinstance(frames, MultiValue) else frames) - 1
    return str(ref.ReferencedSOPInstanceUID), frame


def is_measurement_group(group) -> bool:
    from pydicom.sr.codedict import codes

    names = {(codes.SCT.Length.value, "SCT"), (codes.SCT.Area.value, "SCT")}
    return any((m.name.value, m.name.scheme_designator) in names for m in group.get_measurements())


def _shape(roi) -> Shape:
    import highdicom as hd

    points = [(float(x), float(y)) for x, y in roi.value]
    if roi.graphic_type == hd.sr.GraphicTypeValues.ELLIPSE and len(points) == 4:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return Shape(ELLIPSE, ((min(xs), min(ys)), (max(xs), max(ys))))
    if roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE and len(points) == 2:
        return Shape(LENGTH, (points[0], points[1]))
    if roi.graphic_type == hd.sr.GraphicTypeValues.POLYLINE and len(points) in (4, 5):
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if len(set(xs)) <= 2 and len(set(ys)) <= 2:
            return Shape(RECTANGLE, ((min(xs), min(ys)), (max(xs), max(ys))))
    raise ValueError(f"a measurement on a {roi.graphic_type.value} of {len(points)} points: "
                     "only lengths (2 points), rectangles and ellipses are read")


def _numbers(group) -> tuple[dict[str, float], str, str | None]:
    """(values by name, the length unit, the statistics' unit) of a measurement group."""
    from pydicom.sr.codedict import codes

    values: dict[str, float] = {}
    length_unit, value_unit = PX, None
    derivations = {getattr(codes.SCT, name).value: stat for stat, name in _STAT_CODES.items()}
    for m in group.get_measurements():
        unit = str(m.unit.value)
        if m.name.value in (codes.SCT.Length.value, codes.SCT.Area.value) and m.name.scheme_designator == "SCT":
            values["length" if m.name.value == codes.SCT.Length.value else "area"] = float(m.value)
            length_unit = MM if unit in ("mm", "mm2") else PX
        elif m.derivation is not None and m.derivation.value in derivations:
            values[derivations[m.derivation.value]] = float(m.value)
            value_unit = "HU" if unit == "[hnsf'U]" else (None if unit == "1" else str(m.unit.meaning))
    return values, length_unit, value_unit


def parse_measurement_group(group, spacing_of: dict[str, tuple[float, float]]) -> tuple[str, int | None, Measurement]:
    """(source SOP Instance UID, frame or None, the measurement) of a measurement group;
    ``spacing_of``: (row, column) spacing by SOP Instance UID from the image library."""
    roi = group.roi
    if roi is None or not hasattr(roi, "graphic_type") or not hasattr(roi, "ContentSequence"):
        raise ValueError("a measurement without an image region")
    shape = _shape(roi)
    sop_uid, frame = region_source(roi)
    values, length_unit, value_unit = _numbers(group)
    source = _spacing_source(group.method) if length_unit == MM else None
    known = spacing_of.get(sop_uid) if length_unit == MM else None
    spacing = Spacing(*known, source or "image library") if known else Spacing(source=source)
    return sop_uid, frame, Measurement.from_values(shape, spacing, values, value_unit, length_unit)
