"""De-identify one DICOM data set by the profile (:mod:`.profile`), sequences included."""
from __future__ import annotations

import copy

from pydicom.dataelem import DataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID

from . import profile
from .pseudonyms import Pseudonymizer
from .text_cleaner import TextCleaner

TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"})
DUMMIES = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000D", "DS": "0", "IS": "0",
           "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
           "CS": "ANONYMIZED", "UR": "urn:x-anonymized"}
DUMMY_TEXT = "ANONYMIZED"
# File meta elements that name the file's content and encoding only (PS3.10 7.1).
FILE_META_KEPT = frozenset({0x00020000, 0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013})


class _Walk:
    def __init__(self, pseudonymizer: Pseudonymizer, cleaner: TextCleaner):
        self.p, self.cleaner = pseudonymizer, cleaner

    def dataset(self, ds: Dataset) -> None:
        for elem in list(ds):
            self.element(ds, elem)

    def element(self, ds: Dataset, elem: DataElement) -> None:
        act = profile.action(elem.tag, elem.VR)
        if act == profile.REMOVE or (act == profile.DUMMY and elem.VR in BINARY_VRS):
            del ds[elem.tag]
        elif act == profile.EMPTY:
            elem.value = Sequence([]) if elem.VR == "SQ" else empty_value_for_VR(elem.VR)
        elif act == profile.DUMMY:
            elem.value = self._dummy(elem)
        elif act == profile.UID:
            elem.value = self._map(elem.value, self.p.uid)
        elif act == profile.PSEUDONYM:   # the top level's name and ID are set to agree afterwards
            is_id = int(elem.tag) == profile.PATIENT_ID
            elem.value = self._map(elem.value, lambda v: self.p.patient_id(str(v)) if is_id else self.p.person(str(v)))
        elif elem.VR == "SQ":
            for item in elem.value:
                self.dataset(item)
                self._local_code(item)
        elif elem.VR in TEXT_VRS and int(elem.tag) not in profile.CODED and elem.value:
            elem.value = self._map(elem.value, self.cleaner.clean)

    def _local_code(self, item: Dataset) -> None:
        """A local code's meaning (scheme 99...: ours, or a site's) may be free text: cleaned too."""
        if str(item.get("CodingSchemeDesignator", "")).startswith("99") and item.get("CodeMeaning"):
            item.CodeMeaning = self.cleaner.clean(str(item.CodeMeaning))

    def _dummy(self, elem: DataElement):
        if elem.VR == "PN":
            return self._map(elem.value, lambda v: self.p.person(str(v)))
        if elem.VR == "UI":
            return self._map(elem.value, self.p.uid)
        return DUMMIES.get(elem.VR, DUMMY_TEXT)

    @staticmethod
    def _map(value, fn):
        if value is None or value == "":
            return value
        if isinstance(value, (MultiValue, list)):
            return [fn(v) for v in value]
        return fn(value)


def deidentify_dataset(ds: Dataset, pseudonymizer: Pseudonymizer, version: str = "") -> Dataset:
    """A de-identified deep copy of ``ds``; ``ds`` itself is unchanged."""
    out = copy.deepcopy(ds)
    out.remove_private_tags()
    patient = str(ds.get("PatientID", "") or "") or f"name:{ds.get('PatientName', '')}"
    walk = _Walk(pseudonymizer, TextCleaner.of(ds))
    walk.dataset(out)
    out.PatientID = pseudonymizer.patient_id(patient)
    out.PatientName = out.PatientID + "^"
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        for tag in [t for t in meta.keys() if int(t) not in FILE_META_KEPT]:
            del meta[tag]   # AE titles, presentation addresses, private information of the sender
        walk.dataset(meta)
        if "SOPInstanceUID" in out:
            meta.MediaStorageSOPInstanceUID = UID(out.SOPInstanceUID)
    _record(out, version)
    return out


def _record(ds: Dataset, version: str) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = profile.method_text(version)
    codes = []
    for value, meaning in profile.OPTIONS:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    ds.LongitudinalTemporalInformationModified = "REMOVED"
