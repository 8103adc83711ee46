"""Cleaning retained text (PS3.15 E.3.3/E.3.5: Clean Graphics, Clean Structured Content) and box
labels: what identifies the patient or the people and places around them becomes ``***``.

Masked, case-insensitively and as whole words (so "Li" masks "Li" but not "Liver"):

* values of the data set, sequences included: the patient's IDs, birth date, accession number,
  study ID, admission ID, record locator; every part of every person name (PN: the patient,
  referring, performing and reading physicians, operators, observers...; "Smith-Jones" also as
  "Smith" and "Jones"); institution name and department, station name; phone numbers; the
  addresses of the patient, the institution and the physicians, whole and line by line;
* patterns, whoever's they are: dates (``1961-04-23``, ``1961/04/23``, ``23/04/1961``,
  ``23.04.1961``, ``23-04-1961``, ``23/04/61``, ``19610423``, ``23 Apr 1961``, ``April 23, 1961``),
  phone numbers (``+44 20 7946 0958``, ``(555) 123-4567``, ``555-123-4567``, any number after
  "tel", "phone", "fax", "mobile"), e-mail addresses, and "Dr"/"Dr." with the name after it.

Not masked: one-letter name parts (initials: they would blank every "a" or "x" of a text), IDs
shorter than 3 characters, names and places the data set does not hold and no pattern finds
("seen by Anna at St Mary's"), a year alone or a month and year, times of day, and text burned
into pixels (``deid files`` refuses such images).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MASK = "***"
_WHOLE_VALUES = frozenset({
    "PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "MedicalRecordLocator", "StudyID",
    "AdmissionID", "IssuerOfPatientID", "InstitutionName", "InstitutionalDepartmentName", "StationName",
    "PatientTelephoneNumbers", "ReferringPhysicianTelephoneNumbers", "PersonTelephoneNumbers"})
_ADDRESSES = frozenset({"InstitutionAddress", "PatientAddress", "ReferringPhysicianAddress", "PersonAddress"})
MIN_VALUE = 3   # shorter IDs ("1", "42") would blank every such number in a text
MIN_PART = 2   # one-letter name parts (initials) are not masked
_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
           r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_D, _M, _Y = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:1[89]|20)\d\d"
PATTERNS = (
    rf"{_Y}(?P<s1>[-/.]){_M}(?P=s1){_D}",                    # 1961-04-23, 1961/04/23
    rf"{_D}(?P<s2>[-/.]){_D}(?P=s2){_Y}",                    # 23/04/1961, 04/23/1961, 23.04.1961
    rf"{_D}/{_D}/\d\d",                                      # 23/04/61
    rf"{_Y}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])",         # 19610423
    rf"{_D}(?:st|nd|rd|th)?[ -]{_MONTHS}[ ,-]{{1,2}}{_Y}",   # 23 Apr 1961, 23-Apr-1961
    rf"{_MONTHS} {_D}(?:st|nd|rd|th)?,? {_Y}",               # April 23, 1961
    r"(?:tel|phone|ph|fax|mobile|cell)\.?(?: ?(?:no|number)\.?)? ?[:#]? ?\+?[\d()][\d ()./-]{5,24}\d",
    r"\+\d{1,3}[ -]?(?:\(\d{1,5}\)[ -]?)?\d{1,5}(?:[ -]\d{2,5}){1,4}",   # +44 20 7946 0958
    r"\(\d{2,5}\)[ -]?\d{3,5}(?:[ -]\d{2,5}){1,3}",           # (555) 123-4567, (020) 7946 0958
    r"\d{3}-\d{3}-\d{4}|\d{3}-\d{4}",                        # 555-123-4567, 555-1234
    r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}",      # e-mail (bounded: no quadratic scans)
    r"dr\.? {1,2}(?-i:[A-Z])[\w'-]{0,40}(?: (?-i:[A-Z])[\w'-]{0,40})?",  # Dr Smith, Dr. Anna Smith
)


def _strings(value) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in (value if isinstance(value, (MultiValue, list, tuple)) else [value]) if str(v)]


def _name_parts(name: str) -> set[str]:
    parts = {p.strip(".") for p in re.split(r"[\^=\s,]+", name)}
    parts |= {q for p in parts if "-" in p for q in p.split("-")}   # Smith-Jones: also Smith, Jones
    return {p for p in parts if len(p) >= MIN_PART}


def _values(elem) -> set[str]:
    """What of one element a text must not carry."""
    if elem.VR == "PN":
        return set().union(*map(_name_parts, _strings(elem.value)))
    if elem.keyword not in _WHOLE_VALUES | _ADDRESSES:
        return set()
    values = {v.strip() for v in _strings(elem.value)}
    if elem.keyword in _ADDRESSES:   # each line of an address too
        values |= {line.strip() for v in values for line in re.split(r"[,;\r\n]+", v)}
    return {v for v in values if len(v) >= MIN_VALUE}


def identifiers(ds: Dataset) -> set[str]:
    """What of ``ds`` a cleaned text must not carry, sequences included: whole values (IDs, the
    institution, phone numbers), the lines of addresses, and the parts of every person name."""
    found: set[str] = set()
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                found |= identifiers(item)
        else:
            found |= _values(elem)
    found.discard(MASK)
    return found


class TextCleaner:
    def __init__(self, identifiers: Iterable[str] = ()):
        words = sorted(set(identifiers), key=len, reverse=True)
        # Whole words: no letter or digit right before or after; a value's own spaces match up to
        # 8 spaces or line breaks. Every repetition is bounded, so no text makes the scan
        # quadratic. Patterns first, so an e-mail address goes whole, not only the name in it.
        alternatives = list(PATTERNS) + [r"\s{1,8}".join(map(re.escape, w.split())) for w in words]
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
