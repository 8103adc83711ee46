"""Window presets by modality, W/L text, every stored window, and corner annotation values
(core, no Qt)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medxai_desktop.core.imaging import MedicalImage, read_image
from medxai_desktop.core.imaging.annotations import dicom_date, header_lines, person_name, position_lines
from medxai_desktop.core.imaging.presets import MAX_PRESETS, format_window, window_presets
from medxai_desktop.core.imaging.windowing import full_range_window
from tests.helpers import pydicom_file


def image(pixels, modality=None, **kwargs) -> MedicalImage:
    pixels = np.asarray(pixels, np.float32)
    center, width = full_range_window(pixels)
    return MedicalImage(pixels=pixels, photometric=kwargs.pop("photometric", "MONOCHROME2"),
                        window_center=center, window_width=width, source=Path("x.dcm"), modality=modality, **kwargs)


@pytest.mark.parametrize("center, width, unit, text", [
    (6965.94, 19957.4, None, "W 19957 L 6966"),
    (40, 400, "HU", "W 400 L 40 HU"),
    (40, 80, "HU", "W 80 L 40 HU"),
    (40.26, 80.5, None, "W 80.5 L 40.3"),      # whole numbers from 100 up, one decimal from 10
    (0.5312, 1.5, None, "W 1.5 L 0.53"),
    (-0.0001, 200, None, "W 200 L 0"),
])
def test_window_text_has_sensible_precision(center, width, unit, text):
    assert format_window(center, width, unit) == text


def test_a_ct_gets_the_ct_windows_that_overlap_its_values():
    ct = image(np.linspace(-1000, 1500, 64 * 64).reshape(64, 64), "CT")
    names = [p.name for p in window_presets(ct)]
    assert names == ["Full range (default)", "Lung", "Bone", "Soft tissue", "Brain"]
    assert ct.unit == "HU"
    only_bone = image(np.linspace(700, 3000, 64 * 64).reshape(64, 64), "CT")   # no window reaches it: not offered
    assert "Lung" not in [p.name for p in window_presets(only_bone)]


def test_a_cr_gets_no_ct_window_but_percentiles():
    rng = np.random.default_rng(0)
    cr = image(rng.integers(800, 27000, (128, 128)), "CR", windows=((15000.0, 30000.0, ""),))
    presets = window_presets(cr)
    assert [p.name for p in presets] == ["File window", "1\u201399 %", "5\u201395 %", "Full range"]
    assert [p.kind for p in presets] == ["file", "percentile", "percentile", "range"]
    low, high = np.percentile(cr.pixels, (5, 95))
    assert presets[2].center == pytest.approx((low + high) / 2) and presets[2].width == pytest.approx(high - low)
    assert cr.unit is None and presets[0].describe(cr.unit) == "File window  W 30000 L 15000"


def test_hu_values_without_a_modality_count_as_ct_and_colour_has_no_percentiles():
    volume = image(np.linspace(-1024, 2000, 32 * 32).reshape(32, 32))       # a NIfTI CT: no modality
    assert "Lung" in [p.name for p in window_presets(volume)]
    rgb = image(np.zeros((8, 8, 3)), photometric="RGB")
    assert [p.kind for p in window_presets(rgb)] == ["default"]
    nan = MedicalImage(pixels=np.full((8, 8), np.nan, np.float32), photometric="MONOCHROME2", window_center=0.5,
                       window_width=1.0, source=Path("x.png"))
    assert window_presets(nan)                                               # no crash on no values


def test_at_most_nine_presets_and_no_duplicates():
    windows = tuple((float(c), 100.0, f"W{c}") for c in range(12)) + ((0.0, 100.0, "again"),)
    mr = image(np.arange(64 * 64).reshape(64, 64), "MR", windows=windows)
    presets = window_presets(mr)
    assert len(presets) == MAX_PRESETS
    assert len({(p.center, p.width) for p in presets}) == len(presets)


def test_the_reader_keeps_every_stored_window_and_the_voi_lut_is_a_preset():
    mr = read_image(pydicom_file("examples_overlay.dcm"))
    assert mr.windows == ((450.0, 790.0, "WINDOW1"), (200.0, 443.0, "WINDOW2"))
    assert (mr.window_center, mr.window_width) == (450.0, 790.0)
    lut = read_image(pydicom_file("vlut_04.dcm"))
    first = window_presets(lut)[0]
    assert first.uses_voi_lut and first.name.startswith("File VOI LUT") and first.describe() == first.name


def test_corner_values_are_read_from_the_image():
    assert person_name("Doe^John^^Dr") == "Dr Doe, John"
    assert person_name("Yamada^Tarou=\u5c71\u7530^\u592a\u90ce") == "Yamada, Tarou"
    assert person_name("Anonymous") == "Anonymous" and person_name("") is None
    assert dicom_date("20040119") == "2004-01-19" and dicom_date("2004") == "2004"
    mr = image(np.zeros((4, 4)), "MR", patient_name="Doe^Jane", patient_id="P1", study_description="Brain",
               series_description="T1 AX", n_frames=10, frame=2,
               metadata={"StudyDate": "20200102", "SeriesNumber": "3"})
    assert header_lines(mr) == ["Doe, Jane", "ID P1", "2020-01-02", "Brain"]
    assert position_lines(mr, (4, 12)) == ["MR #3 T1 AX", "Im 5/12", "Fr 3/10"]
    assert position_lines(mr, (0, 1)) == ["MR #3 T1 AX", "Fr 3/10"]
    assert header_lines(image(np.zeros((4, 4)))) == []
