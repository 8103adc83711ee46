"""Cleaning retained text (PS3.15 E.3.3/E.3.5: Clean Graphics, Clean Structured Content): every
occurrence of the patient's identifiers (name parts, IDs, birth date, accession number, as the
source data set has them) becomes ``***``."""
from __future__ import annotations

import re

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MASK = "***"
_SOURCES = ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "PatientBirthName",
            "PatientMotherBirthName", "MedicalRecordLocator", "StudyID", "AdmissionID")
MIN_LENGTH = 3   # shorter parts ("Li", initials) would blank unrelated words


def _values(ds: Dataset) -> set[str]:
    found: set[str] = set()
    for keyword in _SOURCES + ("PatientName", "OtherPatientNames"):
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        for v in (list(value) if isinstance(value, MultiValue) else [value]):
            parts = re.split(r"[\^=\s,]+", str(v)) if "Name" in keyword else [str(v)]
            found.update(p.strip() for p in parts if len(p.strip()) >= MIN_LENGTH)
    return found


class TextCleaner:
    def __init__(self, identifiers: set[str]):
        words = sorted(identifiers, key=len, reverse=True)
        self._pattern = (re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in words), re.IGNORECASE)
                         if words else None)

    @classmethod
    def of(cls, ds: Dataset) -> TextCleaner:
        """A cleaner for the identifiers of the patient of ``ds``."""
        return cls(_values(ds))

    def clean(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern and text else text
