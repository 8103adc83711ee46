"""Cleaning retained text (PS3.15 E.3.3/E.3.5: Clean Graphics, Clean Structured Content) and box
labels: what identifies the patient or the people and places around them becomes ``***``.

Masked, case-insensitively and as whole words (so "Li" masks "Li" but not "Liver"):

* values of the data set: the patient's name parts, IDs, birth date, accession number, study ID,
  admission ID, record locator; every part of every person name (PN) anywhere in it (referring,
  performing and reading physicians, operators, observers...); institution name, address and
  department, station name;
* patterns, whoever's they are: dates (``1961-04-23``, ``1961/04/23``, ``23/04/1961``,
  ``23.04.1961``, ``23-04-1961``, ``23/04/61``, ``19610423``, ``23 Apr 1961``, ``April 23, 1961``),
  phone numbers (``+44 20 7946 0958``, ``(555) 123-4567``, ``555-123-4567``, any number after
  "tel", "phone", "fax", "mobile"), e-mail addresses, and "Dr"/"Dr." with the name after it.

Not masked: one-letter name parts (initials: they would blank every "a" or "x" of a text), names
and places the data set does not hold and no pattern finds ("seen by Anna at St Mary's"), times
of day, and text burned into pixels (``deid files`` refuses such images).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MASK = "***"
_WHOLE_VALUES = ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "MedicalRecordLocator",
                 "StudyID", "AdmissionID", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
                 "StationName", "IssuerOfPatientID")
MIN_PART = 2   # one-letter name parts (initials) are not masked
_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
           r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_D, _M, _Y = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:1[89]|20)\d\d"
PATTERNS = (
    rf"{_Y}(?P<s1>[-/.]){_M}(?P=s1){_D}",                              # 1961-04-23, 1961/04/23
    rf"{_D}(?P<s2>[-/.]){_D}(?P=s2){_Y}",                              # 23/04/1961, 04/23/1961, 23.04.1961
    rf"{_D}/{_D}/\d\d",                                     # 23/04/61
    rf"{_Y}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])",       # 19610423
    rf"{_D}(?:st|nd|rd|th)?[ -]{_MONTHS}[ -,]*{_Y}",        # 23 Apr 1961, 23-Apr-1961
    rf"{_MONTHS} {_D}(?:st|nd|rd|th)?,? {_Y}",             # April 23, 1961
    r"(?:tel|phone|ph|fax|mobile|cell)\.?(?:\s*(?:no|number)\.?)?\s*[:#]?\s*\+?[\d()][\d ()./-]{5,}\d",
    r"\+\d{1,3}[ -]?(?:\(\d{1,5}\)[ -]?)?\d{1,5}(?:[ -]\d{2,5}){1,4}",   # +44 20 7946 0958
    r"\(\d{2,5}\)[ -]?\d{2,5}(?:[ -]\d{2,5}){0,3}",           # (555) 123-4567
    r"\d{3}-\d{3}-\d{4}|\d{3}-\d{4}",                         # 555-123-4567, 555-1234
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",                          # e-mail
    r"dr\.?\s+(?-i:[A-Z])[\w'-]*(?:\s+(?-i:[A-Z])[\w'-]*)?",              # Dr Smith, Dr. Anna Smith
)


def _strings(value) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in (value if isinstance(value, (MultiValue, list, tuple)) else [value]) if str(v)]


def _person_names(ds: Dataset) -> Iterable[str]:
    """Every PN value in ``ds``, sequences included."""
    for elem in ds:
        if elem.VR == "PN":
            yield from _strings(elem.value)
        elif elem.VR == "SQ":
            for item in elem.value or []:
                yield from _person_names(item)


def identifiers(ds: Dataset) -> set[str]:
    """What of ``ds`` a cleaned text must not carry: whole values and the parts of every name."""
    found: set[str] = set()
    for keyword in _WHOLE_VALUES:
        found.update(v.strip() for v in _strings(ds.get(keyword)))
    for item in ds.get("OtherPatientIDsSequence", []) or []:
        found.update(v.strip() for v in _strings(item.get("PatientID")))
    for name in _person_names(ds):
        found.update(p.strip(".") for p in re.split(r"[\^=\s,]+", name) if len(p.strip(".")) >= MIN_PART)
    return {v for v in found if v and v != MASK}


class TextCleaner:
    def __init__(self, identifiers: Iterable[str] = ()):
        words = sorted(set(identifiers), key=len, reverse=True)
        # Whole words: no letter or digit right before or after (a value's own spaces may be any run
        # of spaces). Patterns first, so an e-mail address goes whole, not only the name in it.
        alternatives = list(PATTERNS) + [r"\s+".join(map(re.escape, w.split())) for w in words]
        self._pattern = re.compile("|".join(rf"(?<![^\W_])(?:{a})(?![^\W_])" for a in alternatives), re.IGNORECASE)

    @classmethod
    def of(cls, ds: Dataset) -> TextCleaner:
        """A cleaner for the identifiers in ``ds`` (its patient, people and institution)."""
        return cls(identifiers(ds))

    @classmethod
    def of_all(cls, datasets: Iterable[Dataset]) -> TextCleaner:
        """A cleaner for the identifiers of every data set (an export's patients)."""
        found: set[str] = set()
        for ds in datasets:
            found |= identifiers(ds)
        return cls(found)

    def clean(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if text else text
