"""DICOM SR (TID 1500) export of boxes on DICOM sources: re-read with highdicom, boxes equal to
the originals, dcmtk's dsrdump accepts it (de-identified too), codes and observers. The
de-identification itself: tests/test_deidentification.py."""
from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.sr.codedict import codes

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.exchange import (
    AnnotationSet, BoxRecord, ExportError, ImageRecord, read_dicom_sr, write_dicom_sr,
)
from medxai_desktop.core.deidentification import Deidentifier, Pseudonymizer
from medxai_desktop.core.exchange.dicom_sr import FINDING_CODE_NAMES, LOCAL_SCHEME, finding_code

hd = pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def sources() -> dict[str, pydicom.Dataset]:
    return {"ct/CT_small.dcm": pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False)),
            "mr/MR_small.dcm": pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))}


def _annotations(sources) -> AnnotationSet:
    ct, mr = sources["ct/CT_small.dcm"], sources["mr/MR_small.dcm"]
    images = [ImageRecord("ct/CT_small.dcm", ct.Columns, ct.Rows, sop_uid=ct.SOPInstanceUID),
              ImageRecord("mr/MR_small.dcm", mr.Columns, mr.Rows, sop_uid=mr.SOPInstanceUID)]
    boxes = [
        BoxRecord("ct/CT_small.dcm", "Mass", Box(10.25, 20.5, 30.1, 40.3), reviewer="Jane Doe", state="edited",
                  revision=2),
        BoxRecord("ct/CT_small.dcm", "glioma", Box(0, 0, 128, 128), reviewer="Jane Doe", state="added", revision=1),
        BoxRecord("ct/CT_small.dcm", "Nodule", Box(60, 61, 70.5, 75), reviewer="Jane Doe", state="rejected",
                  revision=3),
        BoxRecord("ct/CT_small.dcm", "Mass", Box(11, 21, 31, 41), kind="proposal", score=0.8125,
                  method="crosseai", extra={"model": "resnet50-chest"}),
        BoxRecord("mr/MR_small.dcm", "Lung Opacity", Box(1.5, 2, 63.75, 64), reviewer="alice", state="accepted"),
        BoxRecord("mr/MR_small.dcm", "Pituitary adenoma", Box(5, 6, 7, 8), kind="proposal", score=0.25,
                  method="gradcam"),
    ]
    return AnnotationSet(images=images, boxes=boxes)


def _only(ann: AnnotationSet, key: str) -> AnnotationSet:
    return AnnotationSet([i for i in ann.images if i.key == key], [b for b in ann.boxes if b.image_key == key])


def _graphic_boxes(path: Path) -> list[tuple[str, str, tuple[float, ...]]]:
    """Independent of our reader: highdicom's parse of each group's SCOORD back to a box."""
    doc = hd.sr.srread(path)
    out = []
    for group in doc.content.get_planar_roi_measurement_groups():
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        pts = np.asarray(region.value)
        assert pts.shape == (5, 2) and np.array_equal(pts[0], pts[-1]), "a closed 5-point polyline"
        x0, y0 = pts[0]
        x1, y1 = pts[2]
        assert np.array_equal(pts[1], [x1, y0]) and np.array_equal(pts[3], [x0, y1])
        uid = region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        out.append((str(uid), group.finding_type.meaning, (float(x0), float(y0), float(x1), float(y1))))
    return out


def _f32(box: Box) -> tuple[float, ...]:
    return tuple(float(np.float32(v)) for v in (box.x0, box.y0, box.x1, box.y1))


def test_sr_round_trip_gives_the_boxes_back(sources, tmp_path):
    ann = _annotations(sources)
    paths = write_dicom_sr(ann, sources, tmp_path / "sr", which="both", manufacturer="MedXAI Test")
    assert len(paths) == 2 and all(p.is_file() for p in paths)  # one SR per source image
    by_uid = {s.SOPInstanceUID: key for key, s in sources.items()}
    parsed = [item for p in paths for item in _graphic_boxes(p)]
    expected = [b for b in ann.boxes if b.state != "rejected"]
    assert sorted((by_uid[u], m, c) for u, m, c in parsed) == sorted(
        (b.image_key, finding_code(b.label).meaning, _f32(b.box)) for b in expected)
    # Our reader: keys through the ImageRecords' SOP UIDs; labels, kinds, scores, methods, reviewers.
    back = read_dicom_sr(tmp_path / "sr", images=ann.images)

    def meta(b):
        return (b.image_key, b.label, b.kind, b.score, b.method, b.reviewer if b.kind == "reviewed" else None,
                b.extra.get("model"))

    got = sorted((meta(b), _f32(b.box), (b.box.x0, b.box.y0, b.box.x1, b.box.y1)) for b in back.boxes)
    want = sorted((meta(b), _f32(b.box), (b.box.x0, b.box.y0, b.box.x1, b.box.y1)) for b in expected)
    assert [g[:2] for g in got] == [w[:2] for w in want]  # exact up to SCOORD's float32
    for g, w in zip(got, want):
        assert np.allclose(g[2], w[2], rtol=0, atol=1e-4)
    assert {(i.key, i.width, i.height) for i in back.images} == {("ct/CT_small.dcm", 128, 128),
                                                                 ("mr/MR_small.dcm", 64, 64)}


def test_sr_without_image_records_uses_sop_uids_and_the_image_library(sources, tmp_path):
    ann = _annotations(sources)
    write_dicom_sr(ann, sources, tmp_path / "sr", which="reviewed")
    back = read_dicom_sr(tmp_path / "sr")
    ct = sources["ct/CT_small.dcm"]
    img = back.image(ct.SOPInstanceUID)
    assert img is not None and (img.width, img.height) == (128, 128)
    assert img.study_uid == ct.StudyInstanceUID and img.series_uid == ct.SeriesInstanceUID
    assert {b.kind for b in back.boxes} == {"reviewed"} and len(back.boxes) == 3
    # ... and through an images folder holding the DICOM sources.
    images_dir = tmp_path / "images"
    (images_dir / "ct").mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm", download=False), images_dir / "ct" / "CT_small.dcm")
    back = read_dicom_sr(tmp_path / "sr", images_dir=images_dir)
    assert {b.image_key for b in back.boxes} == {"ct/CT_small.dcm", sources["mr/MR_small.dcm"].SOPInstanceUID}


def test_sr_structure_codes_and_observers(sources, tmp_path):
    ann = _annotations(sources)
    [ct_path] = write_dicom_sr(_only(ann, "ct/CT_small.dcm"), {"ct/CT_small.dcm": sources["ct/CT_small.dcm"]},
                               tmp_path, which="both", manufacturer="MedXAI Test")
    ds = pydicom.dcmread(ct_path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.Modality == "SR" and ds.StudyInstanceUID == sources["ct/CT_small.dcm"].StudyInstanceUID
    doc = hd.sr.srread(ct_path)
    groups = doc.content.get_planar_roi_measurement_groups()
    assert len(groups) == 3
    findings = {(g.finding_type.value, g.finding_type.scheme_designator, g.finding_type.meaning) for g in groups}
    assert ("4147007", "SCT", "Mass") in findings  # SNOMED CT where pydicom has the code
    assert any(s == LOCAL_SCHEME and m == "glioma" for _, s, m in findings)  # no SCT code in pydicom: local
    for g in groups:
        purpose = [item for item in g[0].ContentSequence
                   if item.ConceptNameCodeSequence[0].CodeMeaning == "Geometric purpose of region"]
        assert len(purpose) == 1 and purpose[0].ConceptCodeSequence[0].CodeValue == "75958009"
        assert purpose[0].ConceptCodeSequence[0].CodingSchemeDesignator == "SCT"
    persons = doc.content.get_observer_contexts(observer_type=codes.DCM.Person)
    devices = doc.content.get_observer_contexts(observer_type=codes.DCM.Device)
    assert [str(p.observer_identifying_attributes.name) for p in persons] == ["Doe^Jane"]
    [device] = devices
    attrs = device.observer_identifying_attributes
    assert (attrs.name, attrs.manufacturer_name, attrs.model_name) == ("crosseai", "MedXAI Test", "resnet50-chest")


def test_finding_codes_are_sct_exactly_where_pydicom_has_them():
    for label, (_, attr) in FINDING_CODE_NAMES.items():
        code = finding_code(label)
        if hasattr(codes.SCT, attr):
            assert (code.scheme_designator, code.value) == ("SCT", getattr(codes.SCT, attr).value)
        else:
            assert code.scheme_designator == LOCAL_SCHEME and code.meaning == label
    assert finding_code("Effusion").value == codes.SCT.Effusion.value
    assert finding_code("pneumonia").scheme_designator == LOCAL_SCHEME
    a, b = finding_code("Hernia"), finding_code("Hernia ")
    assert a.value != b.value and len(a.value) <= 16


def test_one_sr_per_image_one_series_per_study(sources, tmp_path):
    ct = sources["ct/CT_small.dcm"]
    twin = copy.deepcopy(ct)
    twin.SOPInstanceUID = pydicom.uid.generate_uid()
    srcs = {"a.dcm": ct, "b.dcm": twin, "c.dcm": sources["mr/MR_small.dcm"]}
    ann = AnnotationSet([ImageRecord("a.dcm", 128, 128), ImageRecord("b.dcm", 128, 128),
                         ImageRecord("c.dcm", 64, 64), ImageRecord("negative.dcm", 64, 64)],
                        [BoxRecord("a.dcm", "Mass", Box(1, 2, 3, 4), reviewer="x"),
                         BoxRecord("b.dcm", "Mass", Box(1, 2, 3, 4), reviewer="x"),
                         BoxRecord("b.dcm", "Nodule", Box(5, 6, 7, 8), reviewer="x"),
                         BoxRecord("c.dcm", "Mass", Box(1, 2, 3, 4), reviewer="x")])
    paths = write_dicom_sr(ann, srcs, tmp_path, which="reviewed")
    docs = [pydicom.dcmread(p) for p in paths]
    assert len(docs) == 3  # one per image with boxes; none for the negative (TID 1500 needs a group)
    assert docs[0].SeriesInstanceUID == docs[1].SeriesInstanceUID != docs[2].SeriesInstanceUID
    assert [d.InstanceNumber for d in docs] == [1, 2, 1]
    assert [len(hd.sr.srread(p).content.get_planar_roi_measurement_groups()) for p in paths] == [1, 2, 1]
    back = read_dicom_sr(tmp_path, images=[ImageRecord("a.dcm", 128, 128, sop_uid=ct.SOPInstanceUID),
                                           ImageRecord("b.dcm", 128, 128, sop_uid=twin.SOPInstanceUID)])
    assert {i.key for i in back.images} == {"a.dcm", "b.dcm", sources["mr/MR_small.dcm"].SOPInstanceUID}
    assert len(back.boxes) == 4


def test_multi_frame_source_references_the_frame(tmp_path):
    enhanced = pydicom.dcmread(get_testdata_file("emri_small.dcm", download=False), stop_before_pixels=True)
    assert int(enhanced.NumberOfFrames) > 3
    ann = AnnotationSet([], [BoxRecord("mf.dcm", "Mass", Box(1, 2, 3, 4), extra={"frame": 2})])
    [path] = write_dicom_sr(ann, {"mf.dcm": enhanced}, tmp_path)
    [group] = hd.sr.srread(path).content.get_planar_roi_measurement_groups()
    assert int(group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedFrameNumber) == 3  # 1-based
    [box] = read_dicom_sr(path).boxes
    assert box.extra["frame"] == 2 and box.box == Box(1, 2, 3, 4)


def test_sr_export_refusals(sources, tmp_path):
    ann = _annotations(sources)
    with pytest.raises(ExportError, match="no DICOM source data set for image.*mr/MR_small.dcm"):
        write_dicom_sr(ann, {"ct/CT_small.dcm": sources["ct/CT_small.dcm"]}, tmp_path / "a", which="both")
    outside = AnnotationSet([], [BoxRecord("mr/MR_small.dcm", "Mass", Box(60, 60, 65, 64))])
    with pytest.raises(ExportError, match="outside the 64x64 image"):
        write_dicom_sr(outside, sources, tmp_path / "b")
    long_label = AnnotationSet([], [BoxRecord("ct/CT_small.dcm", "Mass", Box(1, 2, 3, 4)),
                                    BoxRecord("mr/MR_small.dcm", "x" * 70, Box(1, 2, 3, 4))])
    with pytest.raises(ExportError, match="longer than 64 characters"):
        write_dicom_sr(long_label, sources, tmp_path / "c")
    assert not any((tmp_path / d).exists() for d in "abc"), "a refused export wrote files"


# ---------------------------------------------------------------------------- dcmtk

def _dsrdump_ok(exe: str, path: Path) -> str:
    done = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if line.startswith(("E:", "F:", "W:")) or "invalid" in line.lower()]
    assert done.returncode == 0 and not problems, f"dsrdump rc={done.returncode}: {problems or done.stderr}"
    return done.stdout


@pytest.mark.parametrize("which,deidentify,boxes", [("reviewed", False, 3), ("proposals", False, 2),
                                                    ("both", False, 5), ("both", True, 5)])
def test_sr_passes_dcmtk_dsrdump(which, deidentify, boxes, sources, dsrdump, tmp_path):
    deidentifier = Deidentifier(Pseudonymizer(b"site secret for tests 0123456789")) if deidentify else None
    paths = write_dicom_sr(_annotations(sources), sources, tmp_path, which=which, deidentifier=deidentifier)
    assert len(paths) == 2, paths                      # one SR per source image, each dumped below
    texts = [_dsrdump_ok(dsrdump, path) for path in paths]
    assert sum(text.count("POLYLINE") for text in texts) == boxes   # the rejected box is in none
    for text in texts:
        assert "Imaging Measurement Report" in text and "POLYLINE" in text
        assert ('"Bounded by"' in text) and ("Device Observer" in text) == (which != "reviewed")


def test_dsrdump_catches_a_broken_sr(sources, dsrdump, tmp_path):
    [path] = write_dicom_sr(_only(_annotations(sources), "ct/CT_small.dcm"), sources, tmp_path)
    ds = pydicom.dcmread(path)
    del ds.ContentSequence[0].RelationshipType  # break one content item
    broken = tmp_path / "broken.dcm"
    ds.save_as(broken)
    with pytest.raises(AssertionError):
        _dsrdump_ok(dsrdump, broken)


@pytest.mark.parametrize("display,pn", [("Dr Test", "Test^^^Dr"), ("Dr Ada Lovelace", "Lovelace^Ada^^Dr"),
                                        ("alice", "alice"), ("Doe^Jane", "Doe^Jane"),
                                        ("Prof Grace B Hopper PhD", "Hopper^Grace^B^Prof^PhD")])
def test_reviewers_are_written_in_person_name_form_and_read_back(display, pn, sources, tmp_path):
    """Issue 15: the observer "Dr Test" was written "Dr Test^" (the title as a family name)."""
    from medxai_desktop.core.exchange.person_names import from_person_name, to_person_name

    assert to_person_name(display) == pn
    assert from_person_name(pn) == (display if "^" not in display else "Jane Doe")
    ann = _only(_annotations(sources), "mr/MR_small.dcm")
    ann.boxes = [b if b.kind != "reviewed" else BoxRecord(b.image_key, b.label, b.box, reviewer=display,
                                                          state="accepted") for b in ann.boxes]
    [path] = write_dicom_sr(ann, sources, tmp_path, which="reviewed")
    persons = [c for c in hd.sr.srread(path).content.get_observer_contexts()
               if c.observer_type == codes.DCM.Person]
    assert [str(p.observer_identifying_attributes.name) for p in persons] == [pn]
