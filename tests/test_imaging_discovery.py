"""Discovery of studies in folders, DICOMDIRs and single files."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet
from pydicom.uid import MPEG4HP41

from medxai_desktop.core.imaging import DiscoveryResult, ImageRef, discover, read_image


def dicom_file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"DICOM test file {name} is not installed (pip install pydicom-data)")
    return Path(path)


def uid(name: str, keyword: str) -> str:
    return str(pydicom.dcmread(dicom_file(name), stop_before_pixels=True)[keyword].value)


@pytest.fixture
def tree(tmp_path) -> Path:
    """Two CR + two MR files (two studies), a multi-frame MR, PNGs, bad files and noise."""
    root = tmp_path / "inbox"
    for folder, names in {"chest": ["RG1_J2KR.dcm", "RG1_UNCR.dcm"],
                          "shoulder/deep": ["MR2_J2KI.dcm", "MR2_UNCR.dcm"],
                          "cine": ["emri_small.dcm"],
                          "plan": ["rtplan.dcm"]}.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            shutil.copyfile(dicom_file(name), root / folder / name)
    (root / "shoulder" / "deep" / "MR2_UNCR.dcm").rename(root / "shoulder" / "deep" / "no_extension")
    (root / "photos").mkdir()
    for i in range(2):
        cv2.imwrite(str(root / "photos" / f"p{i}.png"), np.full((8, 8), 40 * i, np.uint8))
    data = dicom_file("MR2_UNCR.dcm").read_bytes()
    (root / "photos" / "cut.dcm").write_bytes(data[: len(data) // 2])
    (root / "photos" / "fake.png").write_text("I am text, not a PNG")
    (root / "README.txt").write_text("ignored")
    (root / "labels.csv").write_text("a,b\n")
    (root / "report.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)))
    (root / "photos" / "export.zip").write_bytes(b"PK\x03\x04" + bytes(64))
    (root / "photos" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_text("hidden folder: ignored")
    shutil.copyfile(dicom_file("RG1_UNCR.dcm"), root / "DICOMDIR")  # the name alone means "index"
    shutil.copyfile(dicom_file("DICOMDIR"), root / "index.dcm")  # so does the SOP class
    return root


def test_studies_from_a_folder_tree(tree):
    assert uid("RG1_UNCR.dcm", "StudyInstanceUID") != uid("MR2_UNCR.dcm", "StudyInstanceUID")
    result = discover(tree)
    assert isinstance(result, DiscoveryResult)
    by_uid = {s.study_uid: s for s in result.studies}
    photos_uid = f"folder:{tree / 'photos'}"
    assert set(by_uid) == {uid("RG1_UNCR.dcm", "StudyInstanceUID"), uid("MR2_UNCR.dcm", "StudyInstanceUID"),
                           uid("emri_small.dcm", "StudyInstanceUID"), photos_uid}

    chest = by_uid[uid("RG1_UNCR.dcm", "StudyInstanceUID")]
    assert (chest.patient_name, chest.patient_id, chest.description) == ("CompressedSamples^RG1", "9RG1", "THORAX")
    assert chest.study_date == "20040826"
    [series] = chest.series
    assert (series.series_uid, series.modality, series.number) == (uid("RG1_UNCR.dcm", "SeriesInstanceUID"), "CR", 1)
    # Sorted by Instance Number (UNCR is 1, J2KR is 2), not by file name.
    assert [r.path.name for r in series.images] == ["RG1_UNCR.dcm", "RG1_J2KR.dcm"]
    assert [r.instance_number for r in series.images] == [1, 2]
    assert series.images[0].sop_uid == uid("RG1_UNCR.dcm", "SOPInstanceUID")

    shoulder = by_uid[uid("MR2_UNCR.dcm", "StudyInstanceUID")]
    assert [r.path.name for r in shoulder.series[0].images] == ["no_extension", "MR2_J2KI.dcm"]

    [cine] = by_uid[uid("emri_small.dcm", "StudyInstanceUID")].series
    assert cine.images == [ImageRef(tree / "cine" / "emri_small.dcm", 0, 10,
                                    uid("emri_small.dcm", "SOPInstanceUID"), 1)]

    photos = by_uid[photos_uid]
    assert photos.description == "photos" and photos.patient_name is None
    assert [r.path.name for r in photos.series[0].images] == ["p0.png", "p1.png"]
    assert photos.series[0].series_uid == photos_uid


def test_bad_files_are_failures_with_reasons_and_noise_is_ignored(tree):
    result = discover(tree)
    reasons = {f.path.relative_to(tree).as_posix(): f.reason for f in result.failures}
    assert set(reasons) == {"photos/cut.dcm", "photos/fake.png", "plan/rtplan.dcm"}
    assert reasons["photos/cut.dcm"].startswith("truncated file (pixel data has ")
    assert reasons["photos/fake.png"] == "not an image (text file)"
    assert reasons["plan/rtplan.dcm"] == "no pixel data (a RT Plan Storage object)"
    assert all(str(f).startswith(f"{f.path}: ") for f in result.failures)


def test_discovered_images_can_be_read(tree):
    result = discover(tree)
    assert len(result.images) == 7  # 2 CR + 2 MR + 1 multi-frame MR + 2 PNG
    for ref in result.images:
        image = read_image(ref.path, frame=ref.frame)
        assert image.n_frames == ref.n_frames
        if ref.sop_uid is not None:
            assert image.sop_uid == ref.sop_uid


def test_discovery_is_deterministic(tree):
    first, second = discover(tree), discover(tree)
    assert first.studies == second.studies
    assert [str(f) for f in first.failures] == [str(f) for f in second.failures]


def test_volumes_get_their_middle_axial_slice(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((9, 4, 5), np.float32)), str(tmp_path / "axial.nii.gz"))
    # Stored with the first index axis along S: 7 axial slices once shown in LPS.
    sagittal = sitk.GetImageFromArray(np.zeros((5, 4, 7), np.float32))
    sagittal.SetDirection((0, 1, 0, 0, 0, 1, 1, 0, 0))
    sitk.WriteImage(sagittal, str(tmp_path / "sagittal.nii.gz"))
    refs = {ref.path.name: ref for ref in discover(tmp_path).images}
    assert (refs["axial.nii.gz"].frame, refs["axial.nii.gz"].n_frames) == (4, 9)
    assert (refs["sagittal.nii.gz"].frame, refs["sagittal.nii.gz"].n_frames) == (3, 7)
    assert read_image(tmp_path / "sagittal.nii.gz").n_frames == 7


def test_dicomdir_yields_its_studies():
    result = discover(dicom_file("DICOMDIR"))
    assert result.failures == []
    assert len(result.images) == 31
    summary = {(s.patient_name, s.description): [(x.modality, x.number, len(x.images)) for x in s.series]
               for s in result.studies}
    assert summary == {
        ("Doe^Archibald", "XR C Spine Comp Min 4 Views"): [("CR", 1, 1), ("CR", 2, 1), ("CR", 3, 1)],
        ("Doe^Archibald", "CT, HEAD/BRAIN WO CONTRAST"): [("CT", 2, 4)],
        ("Doe^Peter", None): [("CT", 4, 2), ("CT", 5, 5)],
        ("Doe^Peter", "Carotids"): [("MR", 1, 1), ("MR", 2, 1)],
        ("Doe^Peter", "Brain"): [("MR", 1, 1), ("MR", 2, 3)],
        ("Doe^Peter", "Brain-MRA"): [("MR", 1, 1), ("MR", 2, 3), ("MR", 700, 7)],
    }
    # Sorted by patient, then study date.
    assert [s.study_date for s in result.studies[:2]] == ["19950903", "20010101"]


def test_dicomdir_skips_records_of_non_image_objects(tmp_path):
    ct = pydicom.dcmread(dicom_file("CT_small.dcm"))
    report = pydicom.dcmread(dicom_file("test-SR.dcm"))
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID"):
        setattr(report, keyword, ct[keyword].value)
    report.SeriesNumber = 99
    file_set = FileSet()
    file_set.add(ct)
    file_set.add(report)
    file_set.write(tmp_path)
    result = discover(tmp_path / "DICOMDIR")
    assert result.failures == []
    [study] = result.studies
    assert study.study_uid == ct.StudyInstanceUID and [len(s.images) for s in study.series] == [1]


def test_dicomdir_with_a_missing_referenced_file(tmp_path):
    copy = tmp_path / "cd"
    shutil.copytree(dicom_file("DICOMDIR").parent, copy)
    missing = copy / "77654033" / "CR1" / "6154"
    missing.unlink()
    result = discover(copy / "DICOMDIR")
    assert len(result.images) == 30
    [failure] = result.failures
    assert failure.path == missing and failure.reason.startswith("file not found (referenced by ")


def test_dicomdir_file_ids_match_names_case_insensitively(tmp_path):
    copy = tmp_path / "cd"
    shutil.copytree(dicom_file("DICOMDIR").parent, copy)
    (copy / "77654033" / "CR1").rename(copy / "77654033" / "cr1")  # file ID says CR1
    result = discover(copy / "DICOMDIR")
    assert result.failures == [] and len(result.images) == 31
    assert copy / "77654033" / "cr1" / "6154" in {ref.path for ref in result.images}


def test_header_checks_catch_undecodable_files_without_decoding(tmp_path):
    ds = pydicom.dcmread(dicom_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.save_as(tmp_path / "video.dcm", enforce_file_format=True)
    shutil.copyfile(dicom_file("badVR.dcm"), tmp_path / "bad_frames.dcm")
    reasons = {f.path.name: f.reason for f in discover(tmp_path).failures}
    assert reasons == {
        "video.dcm": "unsupported transfer syntax MPEG-4 AVC/H.264 High Profile / Level 4.1 "
                     "(no installed decoder can decode it)",
        "bad_frames.dcm": "invalid Number of Frames (invalid literal for int() with base 10: '1A')",
    }


def test_single_files_and_missing_paths(tmp_path):
    one = discover(dicom_file("CT_small.dcm"))
    assert [len(s.series) for s in one.studies] == [1] and one.failures == []
    assert one.images[0].path == dicom_file("CT_small.dcm")
    gone = discover(tmp_path / "nowhere")
    assert gone.studies == [] and [f.reason for f in gone.failures] == ["file not found"]
    text = tmp_path / "notes.txt"
    text.write_text("explicitly asked for, so reported")
    assert [f.reason for f in discover(text).failures] == ["not an image (text file)"]
