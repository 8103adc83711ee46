"""Measurements on the image (issue 15): lengths in mm through PixelSpacing (or
ImagerPixelSpacing, said so), in pixels without a spacing (said so), and rectangle / ellipse ROI
statistics equal to numpy's over the same pixels, in HU on a real CT."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medxai_desktop.core.imaging import MedicalImage, read_image
from medxai_desktop.core.measurements import (ELLIPSE, LENGTH, RECTANGLE, Measurement, Shape, Spacing, measure,
                                              roi_pixels)

CT = get_testdata_file("CT_small.dcm", download=False)


@pytest.fixture(scope="module")
def ct():
    return read_image(CT)


@pytest.fixture(scope="module")
def hu() -> np.ndarray:
    """CT_small's Hounsfield units, computed here from the file (not by our reader)."""
    ds = pydicom.dcmread(CT)
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def ct_copy(tmp_path, name: str = "copy.dcm", **attributes):
    """CT_small.dcm copied to ``tmp_path``, without PixelSpacing, with ``attributes`` set."""
    path = tmp_path / name
    shutil.copy(CT, path)
    ds = pydicom.dcmread(path)
    del ds.PixelSpacing
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    return path


def _grey(height=20, width=30, spacing=None, source=None) -> MedicalImage:
    pixels = np.arange(height * width, dtype=np.float32).reshape(height, width)
    return MedicalImage(pixels, "MONOCHROME2", 300, 600, "x.png", pixel_spacing=spacing,
                        pixel_spacing_source=source)


def test_a_length_on_a_ct_is_in_mm_through_its_pixel_spacing(ct):
    assert ct.pixel_spacing == (0.661468, 0.661468) and ct.pixel_spacing_source == "PixelSpacing"
    m = measure(ct, Shape(LENGTH, ((10, 10), (40, 50))))
    assert m.length == pytest.approx(50 * 0.661468)      # a 30-40-50 triangle: 50 px
    assert m.length_unit == "mm" and m.summary() == "33.1 mm"
    assert m.spacing.describe() == "PixelSpacing 0.6615 x 0.6615 mm"


def test_row_and_column_spacing_are_each_used_in_their_direction():
    image = _grey(spacing=(0.5, 2.0), source="PixelSpacing")   # 0.5 mm between rows, 2 mm between columns
    assert measure(image, Shape(LENGTH, ((0, 0), (10, 0)))).length == pytest.approx(20.0)
    assert measure(image, Shape(LENGTH, ((0, 0), (0, 10)))).length == pytest.approx(5.0)
    assert measure(image, Shape(LENGTH, ((0, 0), (3, 4)))).length == pytest.approx(math.hypot(6, 2))
    assert measure(image, Shape(RECTANGLE, ((2, 2), (12, 6)))).area == pytest.approx(20 * 2)
    assert measure(image, Shape(ELLIPSE, ((2, 2), (12, 6)))).area == pytest.approx(math.pi * 10 * 1)


def test_without_a_spacing_lengths_are_in_pixels_and_say_so():
    image = _grey()
    m = measure(image, Shape(LENGTH, ((1, 1), (4, 5))))
    assert m.length == pytest.approx(5.0) and m.length_unit == "px"
    assert m.summary() == "5 px (no pixel spacing)"
    assert m.spacing.describe() == "no pixel spacing in the image: lengths and areas in pixels"
    roi = measure(image, Shape(RECTANGLE, ((0, 0), (4, 2))))
    assert roi.area == 8 and roi.summary().startswith("area 8 px\u00b2")
    assert roi.value_unit is None and " HU" not in roi.summary()   # a PNG's values have no known unit


def test_imager_pixel_spacing_is_used_and_stated_as_at_the_detector(tmp_path):
    image = read_image(ct_copy(tmp_path, ImagerPixelSpacing=[0.2, 0.25]))
    assert image.pixel_spacing == (0.2, 0.25) and image.pixel_spacing_source == "ImagerPixelSpacing"
    m = measure(image, Shape(LENGTH, ((0, 0), (8, 0))))
    assert m.length == pytest.approx(2.0) and m.length_unit == "mm"
    assert m.spacing.describe() == "ImagerPixelSpacing 0.2 x 0.25 mm (at the detector, not corrected for magnification)"


def test_rectangle_roi_statistics_equal_numpys_in_hu(ct, hu):
    assert ct.unit == "HU"
    m = measure(ct, Shape(RECTANGLE, ((70, 90), (30, 40))))   # any two opposite corners
    inside = hu[40:90, 30:70]                                  # pixel centres in [30, 70] x [40, 90]
    assert m.pixels == inside.size == 2000
    assert (m.mean, m.sd, m.min, m.max) == pytest.approx(
        (inside.mean(), inside.std(), inside.min(), inside.max()), rel=1e-12)
    assert m.value_unit == "HU" and m.area == pytest.approx(40 * 50 * 0.661468 ** 2)
    assert f"mean {inside.mean():.1f} HU" in m.summary()


def _scanline_ellipse(x0: float, y0: float, x1: float, y1: float, height: int, width: int) -> np.ndarray:
    """An independent rasteriser: row by row, the ellipse's chord at the height of the pixel
    centres, and the pixels whose centres lie on it (no implicit equation over a grid)."""
    mask = np.zeros((height, width), bool)
    cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    for i in range(height):
        t = (i + 0.5 - cy) / b
        if abs(t) <= 1:
            half = a * math.sqrt(1 - t * t)
            first, last = math.ceil(cx - half - 0.5), math.floor(cx + half - 0.5)
            mask[i, max(first, 0):min(last, width - 1) + 1] = True
    return mask


def test_an_ellipse_roi_by_hand():
    image = _grey(6, 6)
    # The circle of radius 2 about (2, 2): the 4 x 4 pixels but their corners (centres 2.12 away).
    m = measure(image, Shape(ELLIPSE, ((0, 0), (4, 4))))
    expected = np.ones((4, 4), bool)
    expected[[0, 0, 3, 3], [0, 3, 0, 3]] = False
    assert m.pixels == 12 and m.mean == pytest.approx(image.pixels[:4, :4][expected].mean())
    assert np.array_equal(_scanline_ellipse(0, 0, 4, 4, 6, 6)[:4, :4], expected)
    # Half a pixel wider each side (semi-axes 2.5 and 2): the corners come in, (1.5 / 2.5)^2 +
    # (1.5 / 2)^2 = 0.9225; the column of centres at x = 4.5 stays out, (2.5 / 2.5)^2 + more > 1.
    assert measure(image, Shape(ELLIPSE, ((-0.5, 0), (4.5, 4)))).pixels == 16


def test_ellipse_roi_statistics_equal_numpys_over_the_pixel_centres_inside(ct, hu):
    x0, y0, x1, y1 = 30.0, 40.0, 71.0, 87.0
    m = measure(ct, Shape(ELLIPSE, ((x0, y0), (x1, y1))))
    a, b = (x1 - x0) / 2, (y1 - y0) / 2
    inside = hu[_scanline_ellipse(x0, y0, x1, y1, 128, 128)]
    assert m.pixels == inside.size and abs(inside.size - math.pi * a * b) < 0.05 * inside.size
    assert (m.mean, m.sd, m.min, m.max) == pytest.approx(
        (inside.mean(), inside.std(), inside.min(), inside.max()), rel=1e-12)
    assert m.area == pytest.approx(math.pi * a * b * 0.661468 ** 2)


def test_roi_pixels_are_those_whose_centres_lie_inside_clipped_to_the_image():
    image = _grey(4, 5)
    rows, cols, mask = roi_pixels(Shape(RECTANGLE, ((0.5, 0.6), (2.5, 9.0))), image.shape)
    assert (rows, cols) == (slice(1, 4), slice(0, 3)) and mask.all()   # centres 0.5..2.5 x 1.5..3.5
    m = measure(image, Shape(RECTANGLE, ((0.5, 0.6), (2.5, 9.0))))
    assert m.mean == pytest.approx(image.pixels[1:4, 0:3].mean())
    empty = measure(image, Shape(ELLIPSE, ((1.1, 1.1), (1.2, 1.2))))
    assert empty.pixels == 0 and empty.mean is None and "no pixel centre inside" in empty.summary()


def test_colour_images_get_lengths_but_no_statistics():
    rgb = MedicalImage(np.zeros((8, 8, 3), np.float32), "RGB", 128, 256, "c.png")
    m = measure(rgb, Shape(RECTANGLE, ((0, 0), (4, 4))))
    assert m.pixels == 16 and m.mean is None and "colour image" in m.summary()


def test_stored_values_give_the_same_measurement_back(ct):
    m = measure(ct, Shape(ELLIPSE, ((30, 40), (70, 90))))
    assert Measurement.from_values(m.shape, m.spacing, m.values(), m.value_unit) == m
    assert set(m.values()) == {"area", "mean", "sd", "min", "max", "pixels"}


@pytest.mark.parametrize("kind,points", [("angle", ((0, 0), (1, 1))), (LENGTH, ((0, 0),)),
                                         (LENGTH, ((0, 0), (1, float("nan"))))])
def test_bad_shapes_are_refused(kind, points):
    with pytest.raises(ValueError):
        Shape(kind, points)


def test_spacing_needs_both_positive_values():
    with pytest.raises(ValueError):
        Spacing(0.5, None)
    with pytest.raises(ValueError):
        Spacing(0.0, 1.0, "PixelSpacing")
