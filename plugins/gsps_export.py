"""DICOM Grayscale Softcopy Presentation State (GSPS) export, as an exporter plugin:
`medxai export gsps --out FOLDER`.

One GSPS per DICOM source image that has boxes, built with highdicom: every box is a closed
POLYLINE graphic object (PIXEL units: (0,0) is the top-left corner of the top-left pixel, the
same convention as our boxes) with a text object carrying its label (and score, for
proposals), on a graphic layer per kind (``REVIEWED``, ``PROPOSALS``). PACS viewers display
the boxes over the image; the source's window and rescale are copied by highdicom. The GSPS
copies the patient and study of its source. Sources are read from ``ImageRecord.path``
(headers only); an image with boxes that is not a DICOM file is an error naming it. With
``deidentifier=`` (``medxai export gsps --deidentify``) each GSPS is de-identified as a whole
(PS3.15 Basic Profile, Clean Graphics: the box labels stay, cleaned of the patient's identifiers).
"""
from __future__ import annotations

from pathlib import Path

from medxai_desktop.core.exchange import AnnotationSet, ExportError, ImageRecord
from medxai_desktop.core.exchange._common import (
    check_export_box,
    export_images,
    select_boxes,
)
from medxai_desktop.core.plugins import ExportFormat

MEDXAI_PLUGIN = {
    "kind": "exporter",
    "name": "gsps",
    "version": "1.1.0",
    "description": "DICOM GSPS: boxes as graphic annotations over the source images (PACS viewers)",
    "object": "plugin",
}

SERIES_NUMBER = 901
LAYERS = {"reviewed": ("REVIEWED", "Boxes reviewed by a radiologist"),
          "proposal": ("PROPOSALS", "Boxes proposed by MedXAI (not reviewed)")}


def _source(image: ImageRecord):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if image.path is None:
        return None
    try:
        return pydicom.dcmread(image.path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, TypeError):
        return None


def _text(record, clean=None) -> str:
    """The box's text object: its label (cleaned by a de-identifying export) and score."""
    label = record.label if clean is None else clean(record.label)
    if record.kind == "proposal" and record.score is not None:
        return f"{label} {record.score:.2f}"
    return label


def write_gsps(annotations: AnnotationSet, out_dir: str | Path, which: str = "reviewed",
               deidentifier=None) -> list[Path]:
    """Write one GSPS per DICOM source image with boxes into ``out_dir``; nothing is written
    if any image with boxes has no DICOM source or a box lies outside its image."""
    import highdicom as hd
    import numpy as np
    from pydicom.uid import generate_uid

    boxes = select_boxes(annotations, which)
    with_boxes = {b.image_key for b in boxes}
    plan, lacking = [], []
    for image in export_images(annotations, boxes):
        if image.key not in with_boxes:
            continue
        ds = _source(image)
        if ds is None or "SOPInstanceUID" not in ds or "Rows" not in ds:
            lacking.append(image.key)
            continue
        image_boxes = [b for b in boxes if b.image_key == image.key]
        for b in image_boxes:
            check_export_box(b, ImageRecord(image.key, int(ds.Columns), int(ds.Rows)))
        plan.append((ds, image_boxes))
    if lacking:
        raise ExportError(f"GSPS needs DICOM source images; not a DICOM file (or not found): "
                          f"{', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}")
    if not plan:
        raise ExportError(f"no {which} boxes to write as GSPS")

    series: dict[str, list] = {}   # study UID -> [series UID, next instance number]
    states = []
    clean = deidentifier.label_cleaner([p[0] for p in plan]) if deidentifier is not None else None
    for ds, image_boxes in plan:
        layers, annotations_out = [], []
        for order, kind in enumerate(("reviewed", "proposal"), 1):
            records = [b for b in image_boxes if b.kind == kind]
            if not records:
                continue
            layer = hd.pr.GraphicLayer(layer_name=LAYERS[kind][0], order=order, description=LAYERS[kind][1])
            layers.append(layer)
            by_frame: dict[int | None, list] = {}
            for b in records:
                frame = b.extra.get("frame")
                by_frame.setdefault(None if frame is None else int(frame) + 1, []).append(b)
            for frame, frame_boxes in by_frame.items():
                graphics = [hd.pr.GraphicObject(
                    graphic_type=hd.pr.GraphicTypeValues.POLYLINE, units=hd.pr.AnnotationUnitsValues.PIXEL,
                    graphic_data=np.array([[b.box.x0, b.box.y0], [b.box.x1, b.box.y0], [b.box.x1, b.box.y1],
                                           [b.box.x0, b.box.y1], [b.box.x0, b.box.y0]], dtype=float))
                    for b in frame_boxes]
                texts = [hd.pr.TextObject(text_value=_text(b, clean), units=hd.pr.AnnotationUnitsValues.PIXEL,
                                          anchor_point=(float(b.box.x0), float(b.box.y0)),
                                          anchor_point_visible=False) for b in frame_boxes]
                annotations_out.append(hd.pr.GraphicAnnotation(
                    referenced_images=[ds], graphic_layer=layer, referenced_frame_number=frame,
                    graphic_objects=graphics, text_objects=texts))
        slot = series.setdefault(str(ds.StudyInstanceUID), [str(generate_uid()), 1])
        state = hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=[ds], series_instance_uid=slot[0], series_number=SERIES_NUMBER,
            sop_instance_uid=str(generate_uid()), instance_number=slot[1], manufacturer="MedXAI",
            manufacturer_model_name="MedXAI Desktop gsps plugin", software_versions=MEDXAI_PLUGIN["version"],
            device_serial_number="0", content_label="MEDXAI_BOXES",
            content_description=f"MedXAI boxes ({which})", graphic_annotations=annotations_out,
            graphic_layers=layers)
        slot[1] += 1
        if "Laterality" in ds:   # General Series, Type 2C: present when the source has it
            state.Laterality = ds.Laterality
        states.append(deidentifier.dataset(state) if deidentifier is not None else state)

    from medxai_desktop.core.exchange.dicom_sr import save_instances

    return save_instances(states, out_dir)


def plugin() -> ExportFormat:
    return ExportFormat("gsps", write_gsps, ("reviewed", "proposals", "both"), MEDXAI_PLUGIN["description"],
                        deidentifies=True)
