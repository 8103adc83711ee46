"""The attribute list of DICOM PS3.15 Annex E, Table E.1-1 (Basic Application Level
Confidentiality Profile), and the actions we take for it.

The table itself comes from ``dicom-anonymizer`` (KitwareMedical), which transcribes the
standard release it names (:data:`STANDARD_RELEASE`) as lists of tags per action code. Where the
standard leaves a choice (``Z/D``, ``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``) we resolve it here,
once, towards keeping the output a valid instance without keeping information:

* ``Z/D``: dates and times get a dummy (``D``: Content Date/Time are Type 1 in SR and GSPS),
  Patient ID gets its pseudonym, anything else is emptied (``Z``);
* ``X/D``, ``X/Z/D``: a dummy (``D``), for a person name its pseudonym: valid whatever the
  attribute's Type in the IOD at hand (Acquisition DateTime is Type 1 in waveforms and 1C in
  enhanced MR, Device Serial Number Type 1 in Enhanced General Equipment, RT Plan Date/Time
  Type 2), and it says no more than removal would; sequences are removed (``X``);
* ``D`` on a sequence (Verifying Observer Sequence: Type 1C in a verified SR): kept, its items
  walked with the table, which dummies what they hold; but Person Identification Code
  Sequence, whose codes name a person, is removed;
* ``X/Z``: emptied (an empty value carries nothing and keeps Type 2 attributes);
* ``X/Z/U*``, and the two sequences of references among ``X/Z`` and ``X/Z/D``
  (:data:`REFERENCE_SEQUENCES`): kept with their UIDs replaced; other values emptied. Neither
  empty (invalid where Type 3: images) nor removed (invalid where Type 2: SR documents) fits
  every IOD, and their items hold nothing but references.

Beyond the table (PS3.15 leaves unlisted attributes to the implementer): every other person
name (PN: Evaluator Name, Secondary Reviewer Name, ...) gets its pseudonym, every other date
and time (Study Update DateTime, Procedure Creation Date, ...) a dummy, since Longitudinal
Temporal Information Modified says REMOVED; and overlays and curves (groups 60xx, 50xx) are
removed whole, as the table removes their data (a plane without its data is not valid).

Options (PS3.16 CID 7050), recorded in every output's DeidentificationMethodCodeSequence:
113100 the Basic Profile; 113103 Clean Graphics (text of graphic annotations kept but cleaned of
the patient's identifiers) and 113104 Clean Structured Content (SR content trees are kept,
walked with the same table, and their text cleaned the same way), because boxes, labels and
scores are the payload of what we export. Dates are not retained (no 113106/113107), so
LongitudinalTemporalInformationModified is ``REMOVED``.
"""
from __future__ import annotations

from dataclasses import dataclass

from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as _table

STANDARD_RELEASE = "DICOM 2026c"

REMOVE, EMPTY, DUMMY, UID, CLEAN, PSEUDONYM = "X", "Z", "D", "U", "C", "P"

_CATEGORIES = {  # the table's action codes, as dicom-anonymizer groups them
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}
# Sequences whose content the options keep and clean (113103, 113104) instead of replacing.
CLEANED_SEQUENCES = {0x0040A730: "Content Sequence", 0x00700001: "Graphic Annotation Sequence"}
CLEANED_TEXT = {0x00700006: "Unformatted Text Value"}
# Never rewritten by the text cleaner: codes must stay codes.
CODED = frozenset({0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080105})
# Listed X, but Type 1 in the presentation states we write: a dummy keeps them valid and says
# no more than removal would.
TYPE1_IN_OUTPUTS = {0x00700082: "Presentation Creation Date", 0x00700083: "Presentation Creation Time"}
DATE_VRS = frozenset({"DA", "DT", "TM"})
PERSON_CODE_SEQUENCE = 0x00401101
REFERENCE_SEQUENCES = {0x00081110: "Referenced Study Sequence",
                       0x00081111: "Referenced Performed Procedure Step Sequence"}
PATIENT_ID = 0x00100020
PATIENT_NAME = 0x00100010

OPTIONS = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113103", "Clean Graphics Option"),
    ("113104", "Clean Structured Content Option"),
)


@dataclass(frozen=True)
class Masked:
    """A repeating-group entry of the table (curves 50xx, overlays 60xx)."""
    tag: int
    mask: int
    code: str

    def matches(self, tag: int) -> bool:
        return tag & self.mask == self.tag


def _load() -> tuple[dict[int, str], list[Masked]]:
    exact: dict[int, str] = {}
    masked: list[Masked] = []
    for category, code in _CATEGORIES.items():
        for entry in getattr(_table, category):
            tag = (entry[0] << 16) | entry[1]
            if len(entry) == 4:
                masked.append(Masked(tag, (entry[2] << 16) | entry[3], code))
            else:
                exact[tag] = code
    return exact, masked


PROFILE_CODES, MASKED_CODES = _load()


def profile_code(tag: int) -> str | None:
    """The table's action code for ``tag`` (``None``: not listed, retained)."""
    code = PROFILE_CODES.get(int(tag))
    if code is None:
        code = next((m.code for m in MASKED_CODES if m.matches(int(tag))), None)
    return code


def is_overlay_or_curve(tag: int) -> bool:
    """In a repeating group of an overlay (6000-601E) or curve (5000-501E)."""
    return (int(tag) >> 16) & 0xFFE1 in (0x6000, 0x5000)


def action(tag: int, vr: str) -> str | None:
    """What we do with an element: one of REMOVE, EMPTY, DUMMY, UID, CLEAN, PSEUDONYM, or None
    (kept as it is)."""
    tag = int(tag)
    if tag in CLEANED_SEQUENCES or tag in CLEANED_TEXT:
        return CLEAN
    if tag in (PATIENT_ID, PATIENT_NAME):
        return PSEUDONYM
    if tag in TYPE1_IN_OUTPUTS:
        return DUMMY
    if is_overlay_or_curve(tag):
        return REMOVE
    code = profile_code(tag)
    if code is None:
        return PSEUDONYM if vr == "PN" else DUMMY if vr in DATE_VRS else None
    if code == "X/Z/U*" or tag in REFERENCE_SEQUENCES:
        return CLEAN if vr == "SQ" else (UID if vr == "UI" else EMPTY)
    if code in ("X/D", "X/Z/D"):
        return REMOVE if vr == "SQ" else DUMMY
    if code == "Z/D":
        return DUMMY if vr in DATE_VRS else EMPTY
    if code == "D" and vr == "SQ":
        return REMOVE if tag == PERSON_CODE_SEQUENCE else CLEAN
    return {"X": REMOVE, "Z": EMPTY, "D": DUMMY, "U": UID, "X/Z": EMPTY}[code]


def method_text(version: str) -> list[str]:
    """DeidentificationMethod values (LO: at most 64 characters each)."""
    return [f"PS3.15 E.1 Basic Profile ({STANDARD_RELEASE} table)",
            "Options: Clean Graphics, Clean Structured Content",
            "Pseudonyms: HMAC-SHA256 with a site secret",
            f"MedXAI Desktop {version}"[:64]]
