"""De-identification (issue 14 defect 3): DICOM PS3.15 Annex E Basic Profile over the profile's
whole attribute list (sequences included), HMAC pseudonyms under a site secret, every exporter
that carries patient data, and the outputs validated with dicom3tools' dciodvfy."""
from __future__ import annotations

import copy
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medxai_desktop.cli import main
from medxai_desktop.core import deidentification as deid
from medxai_desktop.core.boxes import Box
from medxai_desktop.core.deidentification import Deidentifier, Pseudonymizer, profile
from medxai_desktop.core.exchange import AnnotationSet, BoxRecord, ImageRecord, write_dicom_sr
from medxai_desktop.core.exchange.export import export_annotations

SECRET = bytes(range(32))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def deidentifier() -> Deidentifier:
    return Deidentifier(Pseudonymizer(SECRET))


@pytest.fixture()
def site_secret(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "config" / "deid_secret.key"
    monkeypatch.setenv("MEDXAI_DEID_SECRET_FILE", str(path))
    deid.init_secret()
    return path


# -- the profile's attribute list -------------------------------------------------------------

def _value(tag: int, vr: str):
    marker = f"PHI{tag:08X}"
    return {"DA": "20200102", "TM": "101010", "DT": "20200102101010", "PN": f"Phi^{marker}",
            "UI": f"1.2.826.0.1.3680043.2.1125.{tag}", "AS": "045Y", "CS": marker, "SH": marker,
            "DS": "12.5", "IS": "12", "US": 7, "SS": 7, "UL": 7, "SL": 7, "FL": 1.5, "FD": 1.5, "AT": 0x00100010,
            "OB": marker.encode(), "OW": marker.encode(), "UN": marker.encode(), "UR": f"http://x/{marker}",
            }.get(vr, f"text {marker}")


def _profile_dataset() -> tuple[Dataset, dict[int, str]]:
    """A data set holding every exactly-tagged attribute of Table E.1-1 that pydicom's dictionary
    knows (sequences hold one item with a marked Code Meaning and a nested Patient ID)."""
    ds, vrs = Dataset(), {}
    for tag in profile.PROFILE_CODES:
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue   # retired tags that pydicom's dictionary no longer holds
        if tag >> 16 in (0x0000, 0x0002) or vr == "SQ":   # command and file meta groups: not in a data set
            if vr == "SQ" and tag >> 16 not in (0x0000, 0x0002):
                item = Dataset()
                item.CodeMeaning = f"item PHI{tag:08X}"
                item.PatientID = "NESTED-ID-42"
                ds.add_new(tag, "SQ", Sequence([item]))
                vrs[tag] = vr
            continue
        ds.add_new(tag, vr, _value(tag, vr))
        vrs[tag] = vr
    ds.PatientName, ds.PatientID = "Doe^John", "MRN-0042"
    return ds, vrs


def _expect(out: Dataset, tag: int, vr: str, original) -> None:
    act = profile.action(tag, vr)
    elem = out.get(tag)
    if act == profile.REMOVE or (act == profile.DUMMY and vr in ("SQ", "OB", "OW", "UN")):
        assert elem is None, f"{tag:08X} ({act}) should be removed"
    elif act == profile.EMPTY:
        assert elem is not None and (len(elem.value) == 0 if vr == "SQ" else elem.value in ("", None, b"")), \
            f"{tag:08X} should be empty, is {elem and elem.value!r}"
    elif act in (profile.DUMMY, profile.UID, profile.PSEUDONYM):
        assert elem is not None and elem.value not in ("", None) and elem.value != original, f"{tag:08X} ({act})"
        if act == profile.UID:
            assert str(elem.value).startswith("2.25.") and len(str(elem.value)) <= 64
    elif act == profile.CLEAN and vr == "SQ":
        item = elem.value[0]
        assert item.PatientID != "NESTED-ID-42" and item.PatientID.startswith("ANON-")
    else:
        assert act == profile.CLEAN and elem is not None


def test_every_attribute_of_the_profile_is_acted_on(deidentifier, tmp_path):
    ds, vrs = _profile_dataset()
    assert len(vrs) > 550, "the table should give hundreds of attributes"
    out = deidentifier.dataset(ds)
    for tag, vr in vrs.items():
        _expect(out, tag, vr, ds[tag].value)
    # No marked value survives anywhere in the written file, but for what the Clean Graphics
    # option keeps on purpose (the text of graphic annotations) and Code Meanings nested in
    # sequences that the profile keeps (cleaned of the patient's identifiers only).
    out.file_meta = pydicom.dataset.FileMetaDataset()
    out.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    path = tmp_path / "out.dcm"
    out.save_as(path, enforce_file_format=False)
    raw = path.read_bytes()
    kept = {tag for tag in vrs if profile.action(tag, vrs[tag]) == profile.CLEAN}
    leaked = [f"{tag:08X}" for tag in vrs if tag not in kept and f"PHI{tag:08X}".encode() in raw]
    assert not leaked, f"values of {len(leaked)} profile attributes leaked: {leaked[:10]}"
    for word in (b"Doe", b"John", b"MRN-0042", b"NESTED-ID-42", b"20200102"):
        assert word not in raw
    assert ds.PatientName == "Doe^John"   # the input is untouched


def test_profile_entries_reach_into_sequences_and_repeating_groups(deidentifier):
    ds = Dataset()
    ds.PatientID = "MRN-7"
    item = Dataset()
    item.ReferencedPatientSequence = Sequence([Dataset()])
    item.ReferencedPatientSequence[0].PatientName = "Doe^John"
    item.StudyDescription = "CT head for John Doe"
    item.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ds.ReferencedSeriesSequence = Sequence([item])
    ds.add_new(0x60004000, "LT", "overlay comment John Doe")      # Overlay Comments, group 6000
    ds.add_new(0x60224000, "LT", "overlay comment John Doe")      # ... and 6022
    ds.add_new(0x00291010, "LO", "private John Doe")
    out = deidentifier.dataset(ds)
    nested = out.ReferencedSeriesSequence[0]
    assert "ReferencedPatientSequence" not in nested and "StudyDescription" not in nested
    assert nested.ReferencedSOPInstanceUID == Pseudonymizer(SECRET).uid("1.2.3.4.5")
    assert 0x60004000 not in out and 0x60224000 not in out and 0x00291010 not in out


def test_method_and_options_are_recorded(deidentifier):
    out = deidentifier.dataset(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    assert out.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100", "113103", "113104"]
    assert all(c.CodingSchemeDesignator == "DCM" for c in out.DeidentificationMethodCodeSequence)
    assert any("Basic Profile" in m for m in out.DeidentificationMethod)
    assert all(len(m) <= 64 for m in out.DeidentificationMethod)
    assert out.LongitudinalTemporalInformationModified == "REMOVED"


def test_free_text_is_dropped_and_kept_text_is_cleaned(deidentifier):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID, ds.PatientAge = "Doe^John", "MRN-0042", "045Y"
    ds.StudyDescription = "Head CT, John Doe"
    ds.ImageComments = "patient MRN-0042 moved"
    annotation = Dataset()
    annotation.UnformattedTextValue = "glioma near John's scar, see doe MRN-0042"
    ds.GraphicAnnotationSequence = Sequence([annotation])
    out = deidentifier.dataset(ds)
    assert "StudyDescription" not in out and "ImageComments" not in out and "PatientAge" not in out
    text = out.GraphicAnnotationSequence[0].UnformattedTextValue
    assert text == "glioma near ***'s scar, see *** ***"


# -- pseudonyms --------------------------------------------------------------------------------

def test_pseudonyms_are_keyed_stable_and_separate_per_kind():
    p, other = Pseudonymizer(SECRET), Pseudonymizer(bytes(32))
    assert p.patient_id("MRN-1") == Pseudonymizer(SECRET).patient_id("MRN-1") != other.patient_id("MRN-1")
    import hashlib
    assert hashlib.sha256(b"MRN-1").hexdigest()[:16].upper() not in p.patient_id("MRN-1")
    assert p.uid("1.2.3") != p.uid("1.2.4") and p.uid("1.2.840.10008.1.2") == "1.2.840.10008.1.2"
    assert p.image_key("Doe_John/0001.dcm").endswith(".dcm") and "Doe" not in p.image_key("Doe_John/0001.dcm")
    assert p.patient_id("x").removeprefix("ANON-") not in p.person("x")
    assert "Pseudonymizer(<site secret>)" == repr(p) and SECRET.hex() not in repr(p)


def test_site_secret_is_set_once_private_and_portable(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "secret.key"
    monkeypatch.setenv("MEDXAI_DEID_SECRET_FILE", str(path))
    with pytest.raises(deid.SecretError, match="medxai deid secret init"):
        deid.load_secret()
    value = deid.init_secret()
    assert deid.load_secret() == value and len(value) == 32
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)
        with pytest.raises(deid.SecretError, match="readable by other users"):
            deid.load_secret()
        path.chmod(0o600)
    with pytest.raises(deid.SecretError, match="already set"):
        deid.init_secret()
    other = tmp_path / "other.key"
    other.write_text(value.hex())
    assert deid.import_secret(other) == value      # the same secret again: fine
    other.write_text(bytes(32).hex())
    with pytest.raises(deid.SecretError, match="another site secret"):
        deid.import_secret(other)
    second = tmp_path / "ws2.key"
    assert deid.import_secret(tmp_path / "cfg" / "secret.key", second) == value


# -- exporters ---------------------------------------------------------------------------------

def _identified_source(tmp_path) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID, ds.PatientAge = "Doe^John", "MRN-0042", "045Y"
    ds.StudyDescription = "CT head John Doe"
    patient = Dataset()
    patient.PatientName, patient.PatientID = "Doe^John", "MRN-0042"
    ds.ReferencedPatientSequence = Sequence([patient])
    ds.BurnedInAnnotation = "NO"
    path = tmp_path / "Doe_John_MRN-0042.dcm"
    ds.save_as(path)
    return path


def _annotations(source: Path) -> AnnotationSet:
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    key = source.name
    return AnnotationSet([ImageRecord(key, int(ds.Columns), int(ds.Rows), path=source, sop_uid=ds.SOPInstanceUID)],
                         [BoxRecord(key, "glioma", Box(10, 12, 30, 40), reviewer="Smith^Anna", state="accepted"),
                          BoxRecord(key, "glioma", Box(11, 13, 31, 41), kind="proposal", score=0.8,
                                    method="crosseai", extra={"model": "demo", "note": "John Doe"})])


LEAKS = (b"Doe", b"John", b"MRN-0042", b"045Y", b"Smith", b"Anna")


def _assert_clean(paths, secret: bytes) -> None:
    for path in paths:
        raw = Path(path).read_bytes()
        leaked = [w for w in LEAKS + (secret.hex().encode(), secret) if w in raw]
        assert not leaked, f"{path}: {leaked}"


def test_dicom_sr_export_carries_no_patient_data(site_secret, tmp_path):
    source = _identified_source(tmp_path)
    original = pydicom.dcmread(source)
    export_annotations(_annotations(source), "dicom-sr", tmp_path / "sr", "both", deidentify=True)
    paths = list((tmp_path / "sr").glob("*.dcm"))
    assert len(paths) == 1
    _assert_clean(paths, deid.load_secret())
    sr = pydicom.dcmread(paths[0])
    assert "ReferencedPatientSequence" not in sr and "PatientAge" not in sr and "StudyDescription" not in sr
    assert sr.PatientID == Pseudonymizer(deid.load_secret()).patient_id("MRN-0042")
    # It references the image as `medxai deid files` de-identifies it with the same secret.
    assert main(["deid", "files", str(source), "--out", str(tmp_path / "images")]) == 0
    (image,) = (tmp_path / "images").glob("*.dcm")
    copy_ = pydicom.dcmread(image)
    _assert_clean([image], deid.load_secret())
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == copy_.SOPInstanceUID
    assert copy_.SOPInstanceUID != original.SOPInstanceUID and copy_.StudyInstanceUID == sr.StudyInstanceUID
    assert (copy_.pixel_array == original.pixel_array).all()


def test_gsps_export_supports_deidentification(site_secret, tmp_path, monkeypatch):
    from medxai_desktop.core import plugins

    monkeypatch.setenv("MEDXAI_PLUGIN_STATE", str(tmp_path / "state" / "plugins.json"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg_data"))
    monkeypatch.setenv("MEDXAI_PLUGIN_PATH", str(ROOT / "plugins"))
    plugins.reset()
    try:
        plugins.enable("gsps")
        source = _identified_source(tmp_path)
        export_annotations(_annotations(source), "gsps", tmp_path / "gsps", "both", deidentify=True)
    finally:
        plugins.reset()
    (path,) = (tmp_path / "gsps").glob("*.dcm")
    _assert_clean([path], deid.load_secret())
    state = pydicom.dcmread(path)
    texts = [t.UnformattedTextValue for a in state.GraphicAnnotationSequence for t in a.TextObjectSequence]
    assert sorted(texts) == ["glioma", "glioma 0.80"] and state.PatientIdentityRemoved == "YES"


@pytest.mark.parametrize("fmt", ["coco", "csv", "nih-csv", "voc", "yolo"])
def test_other_exporters_pseudonymise_keys_and_reviewers(site_secret, tmp_path, fmt):
    source = _identified_source(tmp_path)
    which = "reviewed" if fmt in ("voc", "yolo", "nih-csv") else "both"
    out = tmp_path / "out" / ("boxes.json" if fmt == "coco" else "boxes.csv" if "csv" in fmt else "folder")
    export_annotations(_annotations(source), fmt, out, which, deidentify=True)
    files = [p for p in out.parent.rglob("*") if p.is_file()]
    assert files
    _assert_clean(files, deid.load_secret())
    names = " ".join(str(p.relative_to(out.parent)) for p in files)
    assert "Doe" not in names and "MRN" not in names


def test_export_without_a_site_secret_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    from medxai_desktop.core.exchange import ExportError

    monkeypatch.setenv("MEDXAI_DEID_SECRET_FILE", str(tmp_path / "none.key"))
    with pytest.raises(ExportError, match="cannot de-identify.*medxai deid secret init"):
        export_annotations(_annotations(_identified_source(tmp_path)), "coco", tmp_path / "c.json", deidentify=True)
    assert not (tmp_path / "c.json").exists()


def test_deid_files_refuses_burned_in_pixels(site_secret, tmp_path, capsys):
    ds = pydicom.dcmread(_identified_source(tmp_path))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    (tmp_path / "notdicom.dcm").write_bytes(b"nothing")
    assert main(["deid", "files", str(tmp_path / "burned.dcm"), str(tmp_path / "notdicom.dcm"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "burned.dcm: BurnedInAnnotation is YES" in err and "notdicom.dcm: not a readable DICOM file" in err
    assert not list((tmp_path / "o").glob("*.dcm")) if (tmp_path / "o").exists() else True


# -- dciodvfy ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def dciodvfy() -> str:
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("!!! DE-IDENTIFIED OUTPUTS NOT VALIDATED: dciodvfy (Debian dicom3tools) is not installed; "
                    "scripts/test installs it")
    return exe


def _dciodvfy_errors(exe: str, path: Path) -> list[str]:
    done = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def test_deidentified_outputs_pass_dciodvfy(site_secret, tmp_path, dciodvfy, monkeypatch):
    source = _identified_source(tmp_path)
    ann = _annotations(source)
    export_annotations(ann, "dicom-sr", tmp_path / "sr", "both", deidentify=True)
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        import gsps_export
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    gsps_export.write_gsps(ann, tmp_path / "gsps", "both", deidentifier=Deidentifier.from_site_secret())
    assert main(["deid", "files", str(source), "--out", str(tmp_path / "images")]) == 0
    outputs = [*(tmp_path / "sr").glob("*.dcm"), *(tmp_path / "gsps").glob("*.dcm"), *(tmp_path / "images").glob("*.dcm")]
    assert len(outputs) == 3
    for path in outputs:
        assert _dciodvfy_errors(dciodvfy, path) == [], path


def test_dciodvfy_catches_what_a_careless_deidentifier_breaks(tmp_path, dciodvfy, deidentifier):
    sr_dir = tmp_path / "sr"
    source = _identified_source(tmp_path)
    [path] = write_dicom_sr(_annotations(source), {source.name: pydicom.dcmread(source)}, sr_dir, "both",
                            deidentifier=deidentifier)
    broken = copy.deepcopy(pydicom.dcmread(path))
    del broken.ContentDate      # what a plain "remove every listed date" would do (Type 1 in SR)
    broken.save_as(tmp_path / "broken.dcm")
    assert any("Content Date" in e or "ContentDate" in e for e in _dciodvfy_errors(dciodvfy, tmp_path / "broken.dcm"))


# -- the profile against an independent sample of Table E.1-1 (issue 24 item 7) ---------------
#
# Typed from DICOM PS3.15 Table E.1-1 (Basic Profile column), not read from the profile: a wrong
# transcription in the table we load, or a wrong mapping of a code to an action, fails here.
# (tag, keyword, VR, the standard's code (None: not listed, retained), our action). Where the
# action differs from the bare code it is our documented choice (profile.py): compound codes
# resolved towards a valid instance, dates that allow D dummied, Content Sequence and Graphic
# Annotation Sequence (D in the Basic column) kept and cleaned by the Clean Structured Content
# and Clean Graphics options (C), the patient's name and ID pseudonymised (P).
X, Z, D, U, C, P = (profile.REMOVE, profile.EMPTY, profile.DUMMY, profile.UID, profile.CLEAN,
                    profile.PSEUDONYM)
EXPECTED_ACTIONS = [
    # D
    (0x0040A123, "PersonName", "PN", "D", D),
    (0x0040A075, "VerifyingObserverName", "PN", "D", D),
    (0x0040A121, "Date", "DA", "D", D),
    (0x0040A122, "Time", "TM", "D", D),
    (0x0040A120, "DateTime", "DT", "D", D),
    (0x0040A730, "ContentSequence", "SQ", "D", C),
    (0x0040A073, "VerifyingObserverSequence", "SQ", "D", C),
    (0x00401101, "PersonIdentificationCodeSequence", "SQ", "D", X),
    (0x0040A027, "VerifyingOrganization", "LO", "D", D),
    (0x00700001, "GraphicAnnotationSequence", "SQ", "D", C),
    # Z
    (0x00100010, "PatientName", "PN", "Z", P),
    (0x00100030, "PatientBirthDate", "DA", "Z", Z),
    (0x00100040, "PatientSex", "CS", "Z", Z),
    (0x00080020, "StudyDate", "DA", "Z", Z),
    (0x00080030, "StudyTime", "TM", "Z", Z),
    (0x00080050, "AccessionNumber", "SH", "Z", Z),
    (0x00080090, "ReferringPhysicianName", "PN", "Z", Z),
    (0x00200010, "StudyID", "SH", "Z", Z),
    (0x0008009C, "ConsultingPhysicianName", "PN", "Z", Z),
    # X
    (0x00080081, "InstitutionAddress", "ST", "X", X),
    (0x00080092, "ReferringPhysicianAddress", "ST", "X", X),
    (0x00080094, "ReferringPhysicianTelephoneNumbers", "SH", "X", X),
    (0x00081030, "StudyDescription", "LO", "X", X),
    (0x0008103E, "SeriesDescription", "LO", "X", X),
    (0x00081040, "InstitutionalDepartmentName", "LO", "X", X),
    (0x00081048, "PhysiciansOfRecord", "PN", "X", X),
    (0x00081050, "PerformingPhysicianName", "PN", "X", X),
    (0x00081060, "NameOfPhysiciansReadingStudy", "PN", "X", X),
    (0x00081080, "AdmittingDiagnosesDescription", "LO", "X", X),
    (0x00101000, "OtherPatientIDs", "LO", "X", X),
    (0x00101001, "OtherPatientNames", "PN", "X", X),
    (0x00101010, "PatientAge", "AS", "X", X),
    (0x00101020, "PatientSize", "DS", "X", X),
    (0x00101030, "PatientWeight", "DS", "X", X),
    (0x00101040, "PatientAddress", "LO", "X", X),
    (0x00101060, "PatientMotherBirthName", "PN", "X", X),
    (0x00102160, "EthnicGroup", "SH", "X", X),
    (0x00102180, "Occupation", "SH", "X", X),
    (0x001021B0, "AdditionalPatientHistory", "LT", "X", X),
    (0x00104000, "PatientComments", "LT", "X", X),
    (0x00100032, "PatientBirthTime", "TM", "X", X),
    (0x00204000, "ImageComments", "LT", "X", X),
    (0x00321032, "RequestingPhysician", "PN", "X", X),
    (0x00380010, "AdmissionID", "LO", "X", X),
    (0x00181200, "DateOfLastCalibration", "DA", "X", X),
    (0x60003000, "OverlayData", "OW", "X", X),          # repeating group 60xx
    (0x60224000, "OverlayComments", "LT", "X", X),
    # U
    (0x00080018, "SOPInstanceUID", "UI", "U", U),
    (0x0020000D, "StudyInstanceUID", "UI", "U", U),
    (0x0020000E, "SeriesInstanceUID", "UI", "U", U),
    (0x00200052, "FrameOfReferenceUID", "UI", "U", U),
    (0x00081155, "ReferencedSOPInstanceUID", "UI", "U", U),
    (0x0040A124, "UID", "UI", "U", U),
    (0x00080014, "InstanceCreatorUID", "UI", "U", U),
    # compound codes
    (0x00100020, "PatientID", "LO", None, P),      # code not checked: see the note in the report
    (0x00080023, "ContentDate", "DA", "Z/D", D),
    (0x00080033, "ContentTime", "TM", "Z/D", D),
    (0x00180010, "ContrastBolusAgent", "LO", "Z/D", Z),
    (0x00080022, "AcquisitionDate", "DA", "X/Z", Z),
    (0x00080032, "AcquisitionTime", "TM", "X/Z", Z),
    (0x00081110, "ReferencedStudySequence", "SQ", "X/Z", C),   # references: UIDs replaced
    (0x00080021, "SeriesDate", "DA", "X/D", D),
    (0x00080031, "SeriesTime", "TM", "X/D", D),
    (0x00080012, "InstanceCreationDate", "DA", "X/D", D),
    (0x00181030, "ProtocolName", "LO", "X/D", D),
    (0x00081072, "OperatorIdentificationSequence", "SQ", "X/D", X),
    (0x300A0006, "RTPlanDate", "DA", "X/D", D),
    (0x300A0007, "RTPlanTime", "TM", "X/D", D),
    (0x0008002A, "AcquisitionDateTime", "DT", "X/Z/D", D),
    (0x00080013, "InstanceCreationTime", "TM", "X/Z/D", D),
    (0x00080080, "InstitutionName", "LO", "X/Z/D", D),
    (0x00081070, "OperatorsName", "PN", "X/Z/D", D),
    (0x00081010, "StationName", "SH", "X/Z/D", D),
    (0x00181000, "DeviceSerialNumber", "LO", "X/Z/D", D),
    (0x00080082, "InstitutionCodeSequence", "SQ", "X/Z/D", X),
    (0x00081111, "ReferencedPerformedProcedureStepSequence", "SQ", "X/Z/D", C),
    (0x00400555, "AcquisitionContextSequence", "SQ", "X/Z", Z),
    (0x300E0008, "ReviewerName", "PN", "X/Z", Z),
    (0x00081140, "ReferencedImageSequence", "SQ", "X/Z/U*", C),
    (0x00082112, "SourceImageSequence", "SQ", "X/Z/U*", C),
    # not listed: kept, but for person names and dates (beyond the table, profile.py)
    (0x00080016, "SOPClassUID", "UI", None, None),
    (0x00080060, "Modality", "CS", None, None),
    (0x00280010, "Rows", "US", None, None),
    (0x00280030, "PixelSpacing", "DS", None, None),
    (0x00280004, "PhotometricInterpretation", "CS", None, None),
    (0x00142006, "EvaluatorName", "PN", None, P),
    (0x00140104, "SecondaryReviewerName", "PN", None, P),
    (0x0008041F, "StudyUpdateDateTime", "DT", None, D),
    (0x00144076, "ProcedureCreationDate", "DA", None, D),
    (0x60000022, "OverlayDescription", "LO", None, X),   # overlays go whole
]


@pytest.mark.parametrize("tag, keyword, vr, code, expected", EXPECTED_ACTIONS, ids=[e[1] for e in EXPECTED_ACTIONS])
def test_profile_agrees_with_an_independent_sample_of_the_standard(tag, keyword, vr, code, expected):
    from pydicom.datadict import keyword_for_tag

    if tag >> 16 not in (0x6000, 0x6022):   # a typing error in the sample itself
        assert keyword_for_tag(tag) == keyword and dictionary_VR(tag).split(" or ")[0] == vr
    if keyword != "PatientID":
        assert profile.profile_code(tag) == code, f"{keyword}: the loaded table says {profile.profile_code(tag)}"
    assert profile.action(tag, vr) == expected


def test_the_independent_sample_spreads_over_every_code():
    codes = {e[3] for e in EXPECTED_ACTIONS}
    assert {"D", "Z", "X", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*", None} <= codes
    assert {X, Z, D, U, C, P, None} <= {e[4] for e in EXPECTED_ACTIONS} and len(EXPECTED_ACTIONS) >= 60


# -- labels: one cleaner in every format (issue 23 defect 2) ----------------------------------

NAMED_LABEL = "mass for Zebulon Quixotic"


def _two_patients(tmp_path) -> AnnotationSet:
    """Two images of two patients; the label naming the first patient sits on both images."""
    records, boxes = [], []
    for n, (name, mrn) in enumerate([("Quixotic^Zebulon", "MRN-7001"), ("Other^Person", "MRN-7002")]):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientName, ds.PatientID, ds.BurnedInAnnotation = name, mrn, "NO"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1125.77.{n}"
        path = tmp_path / f"img{n}.dcm"
        ds.save_as(path)
        records.append(ImageRecord(path.name, int(ds.Columns), int(ds.Rows), path=path, sop_uid=ds.SOPInstanceUID))
        boxes += [BoxRecord(path.name, NAMED_LABEL, Box(10, 12, 30, 40), reviewer="Smith^Anna", state="accepted"),
                  BoxRecord(path.name, "nodule", Box(5, 5, 20, 20), reviewer="Smith^Anna", state="accepted")]
    return AnnotationSet(records, boxes, ["nodule", NAMED_LABEL])


FORMAT_OUT = {"coco": "boxes.json", "csv": "boxes.csv", "nih-csv": "nih.csv", "voc": "voc", "yolo": "yolo",
              "dicom-sr": "sr"}


@pytest.mark.parametrize("fmt", list(FORMAT_OUT))
def test_a_patients_name_in_a_box_label_is_masked_in_every_format(site_secret, tmp_path, fmt):
    out = tmp_path / "out" / FORMAT_OUT[fmt]
    export_annotations(_two_patients(tmp_path), fmt, out, "reviewed", deidentify=True)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files
    for path in files:
        raw = path.read_bytes()
        assert b"Zebulon" not in raw and b"Quixotic" not in raw, path
    cleaned = "mass for *** ***"
    if fmt == "yolo":
        assert (out / "classes.txt").read_text().split("\n")[:2] == ["nodule", cleaned]
    elif fmt == "coco":
        import json

        assert {c["name"] for c in json.loads(out.read_text())["categories"]} == {"nodule", cleaned}
    elif fmt == "dicom-sr":   # the cleaned label is free text, no Finding code, and reads back
        from medxai_desktop.core.exchange import read_dicom_sr

        labels = sorted(b.label for b in read_dicom_sr(out).boxes)
        assert labels == ["Nodule", "Nodule", cleaned, cleaned]
        for path in files:
            meanings = {str(i.CodeMeaning) for i in _items(pydicom.dcmread(path)) if "CodeMeaning" in i}
            assert not any("mass for" in m for m in meanings)
    else:
        text = "".join(p.read_text() for p in files)
        assert text.count(cleaned) == 2


def test_a_patients_name_in_a_box_label_is_masked_in_gsps(tmp_path, deidentifier):
    sys.path.insert(0, str(ROOT / "plugins"))
    try:
        import gsps_export
    finally:
        sys.path.remove(str(ROOT / "plugins"))
    paths = gsps_export.write_gsps(_two_patients(tmp_path), tmp_path / "gsps", deidentifier=deidentifier)
    assert len(paths) == 2
    for path in paths:   # each state is cleaned of both patients' names: a label is a class of the export
        state = pydicom.dcmread(path)
        texts = sorted(t.UnformattedTextValue for a in state.GraphicAnnotationSequence for t in a.TextObjectSequence)
        assert texts == ["mass for *** ***", "nodule"]


def _items(ds):
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield item
                yield from _items(item)


# -- leftovers of the profile (issue 23 defect 3) ---------------------------------------------

def test_file_meta_names_no_sender(deidentifier, tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    meta = ds.file_meta
    meta.SourceApplicationEntityTitle = "HOSPITAL_CT7"
    meta.SendingApplicationEntityTitle = "ST_MARYS_PACS"
    meta.ReceivingApplicationEntityTitle = "RESEARCH_AE"
    meta.PrivateInformationCreatorUID = "1.2.826.0.1.3680043.2.1125.99"
    meta.PrivateInformation = b"MRN-0042 Doe"
    out = deidentifier.dataset(ds)
    out.save_as(tmp_path / "o.dcm", enforce_file_format=True)
    raw = (tmp_path / "o.dcm").read_bytes()
    for word in (b"HOSPITAL_CT7", b"ST_MARYS_PACS", b"RESEARCH_AE", b"1125.99", b"MRN-0042"):
        assert word not in raw
    back = pydicom.dcmread(tmp_path / "o.dcm").file_meta
    assert back.MediaStorageSOPInstanceUID == out.SOPInstanceUID and "TransferSyntaxUID" in back


def test_overlays_go_whole_descriptions_included(deidentifier):
    ds = pydicom.dcmread(get_testdata_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    ds.add_new(0x60000022, "LO", "overlay of John Doe")      # Overlay Description
    ds.add_new(0x60001500, "LO", "Doe J")                    # Overlay Label
    assert any(t.group == 0x6000 for t in ds.keys())
    out = deidentifier.dataset(ds)
    assert not [t for t in out.keys() if 0x6000 <= t.group <= 0x601E]


def test_person_names_and_dates_beyond_the_table(deidentifier):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.EvaluatorName = "Evans^Eve"
    ds.StudyUpdateDateTime = "20240305101010"
    item = Dataset()
    item.SecondaryReviewerName = "Li^Wu"
    item.ProcedureCreationDate = "20240306"
    ds.add_new(0x00409096, "SQ", Sequence([item]))     # Real World Value Mapping Sequence: kept, walked
    out = deidentifier.dataset(ds)
    p = Pseudonymizer(SECRET)
    assert out.EvaluatorName == p.person("Evans^Eve")
    assert out.StudyUpdateDateTime == "19000101000000"
    nested = out[0x00409096].value[0]
    assert nested.SecondaryReviewerName == p.person("Li^Wu") and nested.ProcedureCreationDate == "19000101"
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    dates = [e for e in _elements(out) if e.VR in ("DA", "DT") and e.value]
    assert all(str(e.value).startswith("1900") for e in dates), [(e.keyword, e.value) for e in dates]


def _elements(ds):
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _elements(item)


def test_structured_content_is_cleaned_of_people_places_numbers_and_dates(deidentifier):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID = "Li^Wu", "MRN-0042"
    ds.ReferringPhysicianName = "Jones^Peter"
    ds.InstitutionName = "St Mary's Hospital"
    ds.InstitutionAddress = "12 Harbour Road, Kingsbridge"
    operator = Dataset()
    operator.OperatorsName = "Okafor-Lindqvist^Kim"    # a name nested in a sequence counts too
    ds.add_new(0x00409096, "SQ", Sequence([operator]))
    text = ("Li Wu, DOB 1961-04-23 (23.04.1961, 23 Apr 1961, 19610423), referred by Peter Jones of "
            "St Mary's Hospital, tel. +44 20 7946 0958 or 555-123-4567, jones@stmarys.org; seen by Dr Grey "
            "in Kingsbridge, scanned by Kim Lindqvist. Liver lesion 12 mm, series 3.")
    item = Dataset()
    item.ValueType, item.TextValue = "TEXT", text
    ds.ContentSequence = Sequence([item])
    cleaned = deidentifier.dataset(ds).ContentSequence[0].TextValue
    for word in ("Li ", "Wu", "1961", "Peter", "Jones", "Mary", "7946", "4567", "stmarys", "Grey", "Kingsbridge",
                 "Kim", "Lindqvist"):
        assert word not in cleaned, (word, cleaned)
    assert "Liver lesion 12 mm, series 3." in cleaned


# -- dciodvfy on pydicom's test files: no new errors ---------------------------------------------

DCIODVFY_FILES = [
    "emri_small.dcm",                       # Acquisition DateTime, Type 1C (X/Z/D)
    "waveform_ecg.dcm",                     # Acquisition DateTime, Type 1
    "rtplan.dcm",                           # RT Plan Date/Time, Type 2 (X/D)
    "MR-SIEMENS-DICOM-WithOverlays.dcm",    # an overlay plane (its data is X)
    "liver.dcm",                            # Device Serial Number, Type 1 in Enhanced General Equipment (X/Z/D)
    "JPGLosslessP14SV1_1s_1f_8b.dcm",       # Referenced Study / PPS Sequence, Type 3 (X/Z, X/Z/D)
    "test-SR.dcm",                          # Verifying Observer Sequence, Type 1C (D)
    "CT_small.dcm",
]


@pytest.mark.parametrize("name", DCIODVFY_FILES)
def test_deidentified_copies_gain_no_dciodvfy_errors(name, deidentifier, dciodvfy, tmp_path):
    import re

    source = Path(get_testdata_file(name))
    out = deidentifier.dataset(pydicom.dcmread(source))
    out.save_as(tmp_path / name, enforce_file_format=True)

    def errors(path):   # UIDs are replaced: an error quoting one is the same error
        return [re.sub(r"\d+(\.\d+){2,}", "<uid>", e) for e in _dciodvfy_errors(dciodvfy, path)]

    before, after = errors(source), errors(tmp_path / name)
    assert [e for e in after if e not in before] == [], f"before {len(before)}, after {len(after)}"


# -- deid files never overwrites ------------------------------------------------------------------

def test_deid_files_never_overwrites_and_names_what_collided(site_secret, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    base = pydicom.dcmread(_identified_source(tmp_path))
    for n in range(10):   # files 7, 8, 9 repeat the SOP Instance UIDs of files 0, 1, 2
        base.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1125.55.{n % 7}"
        base.InstanceNumber = n
        base.save_as(inputs / f"f{n}.dcm")
    out = tmp_path / "o"
    assert main(["deid", "files", str(inputs), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(list(out.glob("*.dcm"))) == 7 and len(err) == 3
    for n in (7, 8, 9):
        line = next(e for e in err if f"f{n}.dcm" in e)
        assert f"f{n - 7}.dcm" in line and "same SOP Instance UID" in line
    kept = sorted(int(pydicom.dcmread(p).InstanceNumber) for p in out.glob("*.dcm"))
    assert kept == list(range(7))
    # Run again into the same folder: nothing is overwritten, each file says why.
    before = {p: p.read_bytes() for p in out.glob("*.dcm")}
    assert main(["deid", "files", str(inputs / "f0.dcm"), "--out", str(out)]) == 2
    assert "already exists and is not overwritten" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.glob("*.dcm")} == before


def test_sr_with_a_free_text_label_passes_dciodvfy(site_secret, tmp_path, dciodvfy):
    export_annotations(_two_patients(tmp_path), "dicom-sr", tmp_path / "sr", "reviewed", deidentify=True)
    paths = sorted((tmp_path / "sr").glob("*.dcm"))
    assert len(paths) == 2
    for path in paths:
        assert _dciodvfy_errors(dciodvfy, path) == [], path


def test_the_cleaner_has_no_unbounded_repetition():
    """Text comes from outside: with every repetition bounded, no text (200 kB of spaces after
    "tel", say) makes the scan quadratic or worse."""
    import re

    from medxai_desktop.core.deidentification.text_cleaner import TextCleaner

    pattern = TextCleaner(["St Mary's Hospital", "Li"])._pattern.pattern
    bare = re.sub(r"\\.", "", pattern)                       # escapes (\+, \s, \d, ...)
    bare = re.sub(r"\[[^\]]*\]", "", bare)                    # character classes ([\w.+-])
    assert "*" not in bare and "+" not in bare
    cleaned = TextCleaner(["Li"]).clean("tel" + " " * 20000 + "Li")
    assert cleaned.endswith(" ***") and len(cleaned) == 20006
