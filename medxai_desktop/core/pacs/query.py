"""What a search asks for and what it finds, the same for DIMSE (C-FIND) and DICOMweb (QIDO-RS)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydicom.multival import MultiValue

LEVELS = ("study", "series")
_DATE_RE = re.compile(r"^\d{8}$")
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")

# Return keys asked for at each level (besides the filters).
_RETURN_KEYS = {
    "study": ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyDescription",
              "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"),
    "series": ("StudyInstanceUID", "SeriesInstanceUID", "PatientName", "PatientID", "StudyDate",
               "SeriesDescription", "StudyDescription", "AccessionNumber", "Modality",
               "SeriesNumber", "NumberOfSeriesRelatedInstances"),
}


def check_uid(uid: str, what: str = "UID") -> str:
    """``uid`` when it is a DICOM UID (digits and dots, at most 64 characters), else ValueError."""
    uid = (uid or "").strip()
    if len(uid) > 64 or not _UID_RE.match(uid):
        raise ValueError(f"{what} {uid[:70]!r} is not a DICOM UID (digits and dots, at most 64)")
    return uid


@dataclass(frozen=True)
class Query:
    """Filters of a search; empty ones are not sent. ``patient_name`` may hold * and ?
    wildcards; dates are YYYYMMDD (either end of the range may be left open)."""
    level: str = "study"
    patient_id: str = ""
    patient_name: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    accession: str = ""
    description: str = ""
    study_uid: str = ""

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"level must be study or series, not {self.level!r}")
        for name in ("date_from", "date_to"):
            value = getattr(self, name).replace("-", "")
            if value and not _DATE_RE.match(value):
                raise ValueError(f"{name.replace('_', ' ')} {getattr(self, name)!r}: give YYYYMMDD")
            object.__setattr__(self, name, value)
        if self.study_uid:
            check_uid(self.study_uid, "study UID")

    def filters(self) -> dict[str, str]:
        """DICOM keyword -> matching value, for the filters that are set."""
        out: dict[str, str] = {}
        if self.patient_id:
            out["PatientID"] = self.patient_id
        if self.patient_name:
            out["PatientName"] = self.patient_name
        if self.date_from or self.date_to:
            out["StudyDate"] = (self.date_from if self.date_from == self.date_to
                                else f"{self.date_from}-{self.date_to}")
        if self.modality:
            out["ModalitiesInStudy" if self.level == "study" else "Modality"] = self.modality
        if self.accession:
            out["AccessionNumber"] = self.accession
        if self.description:
            out["StudyDescription" if self.level == "study" else "SeriesDescription"] = self.description
        if self.study_uid:
            out["StudyInstanceUID"] = self.study_uid
        return out

    def return_keys(self) -> tuple[str, ...]:
        return _RETURN_KEYS[self.level]


@dataclass(frozen=True)
class Match:
    """One study or series found."""
    level: str
    study_uid: str
    series_uid: str = ""
    patient_name: str = ""
    patient_id: str = ""
    date: str = ""
    description: str = ""
    modalities: str = ""
    accession: str = ""
    series_number: str = ""
    instances: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None) or k == "instances"}


def _text(ds, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def match_from_dataset(ds, level: str) -> Match:
    """A C-FIND identifier or a QIDO-RS result (as a pydicom Dataset) as a :class:`Match`."""
    count = _text(ds, "NumberOfStudyRelatedInstances" if level == "study" else "NumberOfSeriesRelatedInstances")
    return Match(
        level=level, study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID") if level == "series" else "",
        patient_name=_text(ds, "PatientName"), patient_id=_text(ds, "PatientID"),
        date=_text(ds, "StudyDate"),
        description=_text(ds, "StudyDescription" if level == "study" else "SeriesDescription"),
        modalities=_text(ds, "ModalitiesInStudy" if level == "study" else "Modality"),
        accession=_text(ds, "AccessionNumber"), series_number=_text(ds, "SeriesNumber"),
        instances=int(count) if count.strip().isdigit() else None)
