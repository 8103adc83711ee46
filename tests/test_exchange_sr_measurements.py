"""Measurements in the DICOM SR (issue 15): TID 1500 measurement groups (a Length on a 2-point
POLYLINE, ROI area and HU statistics on a POLYGON-like POLYLINE / ELLIPSE), mm or pixels as the
image states, validated by dcmtk's dsrdump, read back by our importer, and exported from the
store with the reviewed boxes."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.deidentification import Deidentifier, Pseudonymizer
from medxai_desktop.core.exchange import AnnotationSet, BoxRecord, ExportError, ImageRecord, read_dicom_sr, write_dicom_sr
from medxai_desktop.core.exchange.records import MeasurementRecord
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.measurements import ELLIPSE, LENGTH, RECTANGLE, Shape, measure
from tests.test_exchange_dicom_sr import _dsrdump_ok
from tests.test_measurements import CT, ct_copy

hd = pytest.importorskip("highdicom")
KEY = "ct/CT_small.dcm"


@pytest.fixture(scope="module")
def ct():
    return read_image(CT)


@pytest.fixture(scope="module")
def source():
    return pydicom.dcmread(CT)


def _set(ds, records, boxes=()) -> AnnotationSet:
    return AnnotationSet([ImageRecord(KEY, ds.Columns, ds.Rows, sop_uid=ds.SOPInstanceUID)], list(boxes),
                         measurements=list(records))


def _records(image, reviewer="Dr Test"):
    shapes = [Shape(LENGTH, ((10.5, 10), (40, 50.25))), Shape(ELLIPSE, ((30, 40), (70, 90))),
              Shape(RECTANGLE, ((20, 20), (60, 44)))]
    return [MeasurementRecord(KEY, measure(image, s), reviewer, revision=1) for s in shapes]


def _same(back, want) -> None:
    """The measurement read back is the one written, up to SCOORD's float32 and DS's 16 characters."""
    assert back.kind == want.kind and back.length_unit == want.length_unit and back.value_unit == want.value_unit
    assert np.allclose(back.shape.points, want.shape.points, rtol=0, atol=1e-4)
    for name in ("length", "area", "mean", "sd", "min", "max"):
        got, expected = getattr(back, name), getattr(want, name)
        assert (got is None) == (expected is None) and (got is None or got == pytest.approx(expected, rel=1e-9))
    assert back.spacing.source == want.spacing.source


def test_measurements_are_written_as_tid_1500_groups_and_read_back(ct, source, dsrdump, tmp_path):
    records = _records(ct)
    box = BoxRecord(KEY, "Mass", Box(1, 2, 30, 40), reviewer="Dr Test", state="added", revision=1)
    [path] = write_dicom_sr(_set(source, records, [box]), {KEY: source}, tmp_path)
    dump = _dsrdump_ok(dsrdump, path)
    assert dump.count('"Measurement Group"') == 4
    assert 'NUM:(,,"Length")="33.' in dump and '(mm,UCUM,"millimeter")' in dump
    assert '(mm2,UCUM,"square millimeter")' in dump and "(ELLIPSE," in dump
    assert dump.count("([hnsf'U],UCUM,\"Hounsfield unit\")") == 8     # mean, sd, min, max of two ROIs
    for derivation in ('"Mean"', '"Standard Deviation"', '"Minimum"', '"Maximum"'):
        assert '"Derivation")=(' in dump and derivation in dump
    assert '(MX-PIXELSPACING,99MEDXAI,"Calibrated by PixelSpacing")' in dump
    doc = hd.sr.srread(path)
    regions = [g.roi for g in doc.content.get_planar_roi_measurement_groups()]
    assert [(r.graphic_type.value, len(r.value)) for r in regions] == [
        ("POLYLINE", 5), ("POLYLINE", 2), ("ELLIPSE", 4), ("POLYLINE", 5)]
    back = read_dicom_sr(path, images=_set(source, []).images)
    assert [b.box for b in back.boxes] == [box.box]               # the box is still a box
    assert len(back.measurements) == 3
    for got, want in zip(back.measurements, records):
        assert got.image_key == KEY and got.reviewer == "Dr Test"
        _same(got.measurement, want.measurement)
        assert got.measurement.spacing.row == pytest.approx(0.661468)   # from the image library


def test_without_pixel_spacing_the_sr_says_pixels(ct, source, dsrdump, tmp_path):
    path = ct_copy(tmp_path)
    image, header = read_image(path), pydicom.dcmread(path, stop_before_pixels=True)
    assert image.pixel_spacing is None
    records = [MeasurementRecord(KEY, measure(image, Shape(LENGTH, ((0, 0), (30, 40))))),
               MeasurementRecord(KEY, measure(image, Shape(RECTANGLE, ((0, 0), (10, 10)))))]
    [sr] = write_dicom_sr(_set(header, records), {KEY: header}, tmp_path / "sr")
    dump = _dsrdump_ok(dsrdump, sr)
    assert 'NUM:(,,"Length")="50' in dump and '({pixels},UCUM,"pixels")' in dump
    assert '({pixels^2},UCUM,"square pixels")' in dump and "Uncalibrated: in pixels" in dump
    back = read_dicom_sr(sr)
    assert [m.measurement.length_unit for m in back.measurements] == ["px", "px"]
    assert back.measurements[0].measurement.summary() == "50 px (no pixel spacing)"


def test_imager_pixel_spacing_is_stated_in_the_sr(source, dsrdump, tmp_path):
    path = ct_copy(tmp_path, ImagerPixelSpacing=[0.2, 0.2])
    image, header = read_image(path), pydicom.dcmread(path, stop_before_pixels=True)
    record = MeasurementRecord(KEY, measure(image, Shape(LENGTH, ((0, 0), (30, 40)))))
    [sr] = write_dicom_sr(_set(header, [record]), {KEY: header}, tmp_path / "sr")
    dump = _dsrdump_ok(dsrdump, sr)
    assert "Calibrated by ImagerPixelSpacing (at the detector)" in dump and '"Length")="10' in dump
    [back] = read_dicom_sr(sr).measurements
    assert back.measurement.length == pytest.approx(10.0) and back.measurement.length_unit == "mm"
    assert back.measurement.spacing.source == "ImagerPixelSpacing"


def test_sr_uid_follows_the_measurements_and_deidentified_srs_keep_them(ct, source, dsrdump, tmp_path):
    records = _records(ct)
    [a] = write_dicom_sr(_set(source, records), {KEY: source}, tmp_path / "a")
    [again] = write_dicom_sr(_set(source, records), {KEY: source}, tmp_path / "b")
    moved = [MeasurementRecord(KEY, measure(ct, Shape(LENGTH, ((11, 10), (40, 50)))), "Dr Test", 2)] + records[1:]
    [other] = write_dicom_sr(_set(source, moved), {KEY: source}, tmp_path / "c")
    assert a.name == again.name != other.name
    assert write_dicom_sr(_set(source, records), {KEY: source}, tmp_path / "d", which="proposals") == []
    deidentifier = Deidentifier(Pseudonymizer(b"site secret for tests 0123456789"))
    [anonymous] = write_dicom_sr(_set(source, records), {KEY: source}, tmp_path / "e", deidentifier=deidentifier)
    dump = _dsrdump_ok(dsrdump, anonymous)
    assert dump.count('"Measurement Group"') == 3 and "Dr Test" not in dump


def test_a_measurement_outside_the_image_is_refused(ct, source, tmp_path):
    record = MeasurementRecord(KEY, measure(ct, Shape(LENGTH, ((0, 0), (129, 4)))))
    with pytest.raises(ExportError, match="outside the 128x128 image"):
        write_dicom_sr(_set(source, [record]), {KEY: source}, tmp_path)
    assert not list(tmp_path.iterdir())


def test_export_store_writes_the_signed_off_images_measurements(store, ct, dsrdump, tmp_path):
    from medxai_desktop.core.exchange.export import export_store
    from medxai_desktop.core.store import measurements as sm

    image_id = store.add_image(ct)
    kept = sm.add_measurement(store, image_id, measure(ct, Shape(ELLIPSE, ((30, 40), (70, 90)))), "Dr Test")
    store.set_status(image_id, "in_review", "Dr Test")
    with pytest.raises(ExportError):   # in review: nothing is reference yet, so no SR
        export_store(store, "dicom-sr", tmp_path / "early")
    store.set_status(image_id, "signed_off", "Dr Test")
    export_store(store, "dicom-sr", tmp_path / "sr")
    [path] = (tmp_path / "sr").glob("*.dcm")
    assert _dsrdump_ok(dsrdump, path).count('"Measurement Group"') == 1
    [back] = read_dicom_sr(path).measurements
    _same(back.measurement, kept.measurement)
    assert back.reviewer == "Dr Test"
