"""What a viewer's corner annotations say about one image (no Qt; the app lays the lines out).

``header_lines``: patient (DICOM person name as "Family, Given"), patient ID, study date
(YYYY-MM-DD), study description. ``position_lines``: modality and series, the image's place in
its series ("Im 12/40"), and the frame of a multi-frame file ("Fr 3/10") or the slice of a
volume ("Sl 20/40"). Absent values are left out, never shown as "None".
"""
from __future__ import annotations

import re

from medxai_desktop.core.imaging.medical_image import MedicalImage


def person_name(value: str | None) -> str | None:
    """A DICOM PN ("Doe^John^^Dr" or "Yamada^Tarou=山田^太郎") as "Doe, John" (its first
    component group); other text as it is."""
    if not value:
        return None
    alphabetic = value.split("=")[0] or value.split("=")[-1]
    parts = [p.strip() for p in alphabetic.split("^")]
    family, given = (parts + ["", ""])[:2]
    if "^" not in alphabetic:
        return alphabetic.strip() or None
    text = ", ".join(p for p in (family, given) if p)
    prefix, suffix = (parts + ["", "", "", ""])[3:5]
    return " ".join(p for p in (prefix, text, suffix) if p) or None


def dicom_date(value: str | None) -> str | None:
    """A DICOM DA ("20040826") as 2004-08-26; other text as it is."""
    if not value:
        return None
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value.strip())
    return "-".join(match.groups()) if match else value.strip()


def header_lines(image: MedicalImage) -> list[str]:
    """Patient, patient ID, study date and description: what identifies the study."""
    lines = [person_name(image.patient_name),
             f"ID {image.patient_id}" if image.patient_id else None,
             dicom_date(image.metadata.get("StudyDate")),
             image.study_description]
    return [line for line in lines if line]


def series_text(image: MedicalImage) -> str | None:
    """"MR  #3 T1 AX": modality, series number, series description."""
    number = image.metadata.get("SeriesNumber")
    parts = [image.modality, f"#{number}" if number else None, image.series_description]
    text = " ".join(p for p in parts if p)
    return text or None


def position_lines(image: MedicalImage, series_position: tuple[int, int] | None) -> list[str]:
    """Series, "Im i/n" (the image's place among its series' files, when known and n > 1 or the
    file is one image), and "Fr"/"Sl" for a multi-frame file or a volume."""
    lines = [series_text(image)]
    if series_position is not None:
        index, count = series_position
        if count > 1 or image.n_frames == 1:
            lines.append(f"Im {index + 1}/{count}")
    if image.n_frames > 1:
        kind = "Sl" if "Format" in image.metadata else "Fr"     # volume files record their format
        lines.append(f"{kind} {image.frame + 1}/{image.n_frames}")
    return [line for line in lines if line]
