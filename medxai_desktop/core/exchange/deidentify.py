"""Optional de-identification of DICOM headers for SR export (it applies to DICOM SR exports
only; image keys in the other formats are written as they are).

What it does to a copy of a data set:

* ``PatientName`` -> ``"ANONYMOUS"``; ``PatientID`` -> a stable pseudonym
  ``"ANON-" + first 16 hex digits of sha256(salt + PatientID)`` (same patient, same pseudonym,
  so studies of one patient stay together);
* empties the birth date (type 2: present, empty) and removes birth time, address,
  telephone numbers, other IDs and names, mother's birth name, military rank, medical record locator, insurance, comments and
  similar obvious identifiers; empties (type 2) or removes institution, physician, operator,
  station and accession identifiers; removes private tags;
* UIDs: **mapped**, not kept. Every UID that is not a well-known DICOM UID (SOP classes,
  transfer syntaxes, coding schemes: anything in pydicom's UID dictionary is kept) is replaced
  by ``2.25.<decimal of a version-5 UUID of (salt, UID)>`` (:func:`hashed_uid`), everywhere
  in the data set including sequences and file meta. The mapping
  is deterministic: de-identifying the source images with :func:`deidentify_dataset` and the
  same ``salt`` gives them exactly the UIDs the de-identified SR references, so the SR still
  points at the (de-identified) images. Study/series grouping is preserved.
* sets ``PatientIdentityRemoved`` = YES and ``DeidentificationMethod``; dates other than the
  birth date are kept (``LongitudinalTemporalInformationModified`` = UNMODIFIED).

Use a secret ``salt`` for real data: without one, anyone holding a candidate PatientID or UID
can recompute its pseudonym. This is a basic profile, not a full PS3.15 Annex E
implementation (burned-in text in pixels, free-text descriptions and dates are not touched).
"""
from __future__ import annotations

import copy
import hashlib
import uuid

from pydicom.dataset import Dataset
from pydicom.uid import UID, UID_dictionary

ANONYMOUS_NAME = "ANONYMOUS"
METHOD = "MedXAI basic: identifiers removed, PatientID/UIDs hashed"

# Removed outright.
REMOVE = (
    "PatientBirthTime", "PatientBirthName", "PatientAddress",
    "PatientTelephoneNumbers", "PatientTelecomInformation", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "PatientMotherBirthName", "MilitaryRank",
    "BranchOfService", "MedicalRecordLocator", "PatientInsurancePlanCodeSequence",
    "PatientPrimaryLanguageCodeSequence", "PatientReligiousPreference", "PatientComments",
    "AdditionalPatientHistory", "CountryOfResidence", "RegionOfResidence", "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "ResponsiblePerson", "ResponsibleOrganization",
    "InstitutionAddress", "InstitutionalDepartmentName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician",
    "StationName", "DeviceSerialNumber", "InstitutionCodeSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
)
# Kept but emptied (type 2 in most IODs: present, may be empty).
_NAMESPACE = uuid.UUID("6f1d3c52-5a0e-4c8e-9a61-6d6564786169")  # MedXAI's own namespace
EMPTY = ("PatientBirthDate", "ReferringPhysicianName", "AccessionNumber", "StudyID", "InstitutionName")


def pseudonym(patient_id: str, salt: str = "") -> str:
    """The stable pseudonym a PatientID gets."""
    return "ANON-" + hashlib.sha256(f"{salt}{patient_id}".encode()).hexdigest()[:16].upper()


def hashed_uid(*parts: str) -> str:
    """A deterministic UID: ``2.25.`` + the decimal of a name-based (SHA-1, version 5) UUID of
    ``parts`` (PS3.5 B.2: UUID-derived UIDs under the 2.25 root)."""
    return "2.25." + str(uuid.uuid5(_NAMESPACE, "\x00".join(parts)).int)


def map_uid(uid: str, salt: str = "") -> str:
    """The UID a (non well-known) UID is replaced by: deterministic for a given salt."""
    if not uid or str(uid) in UID_dictionary:
        return uid
    return hashed_uid("deidentify", salt, str(uid))


def _map_uids(ds: Dataset, salt: str) -> None:
    def visit(dataset: Dataset) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.VR == "UI" and elem.value:
                if elem.VM > 1:
                    elem.value = [map_uid(v, salt) for v in elem.value]
                else:
                    elem.value = map_uid(elem.value, salt)

    visit(ds)


def deidentify_dataset(ds: Dataset, salt: str = "") -> Dataset:
    """A de-identified deep copy of ``ds`` (see the module docstring); ``ds`` is unchanged."""
    out = copy.deepcopy(ds)
    patient_id = str(ds.get("PatientID", "") or "")
    out.PatientName = ANONYMOUS_NAME
    out.PatientID = pseudonym(patient_id, salt) if patient_id else pseudonym("(none)", salt)
    for keyword in REMOVE:
        if keyword in out:
            delattr(out, keyword)
    for keyword in EMPTY:
        if keyword in out:
            setattr(out, keyword, "")
    out.remove_private_tags()
    _map_uids(out, salt)
    if getattr(out, "file_meta", None) is not None:
        _map_uids(out.file_meta, salt)
        if "SOPInstanceUID" in out:
            out.file_meta.MediaStorageSOPInstanceUID = UID(out.SOPInstanceUID)
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = METHOD
    out.LongitudinalTemporalInformationModified = "UNMODIFIED"
    return out


__all__ = ["ANONYMOUS_NAME", "deidentify_dataset", "hashed_uid", "map_uid", "pseudonym"]
