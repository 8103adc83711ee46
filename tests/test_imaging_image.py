"""MedicalImage on synthetic pixels: the PS3.3 window formulas, inversion, hashing, errors."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.imaging import ImageReadError, MedicalImage, VoiLut, apply_window


def gray(values, *, center: float, width: float, photometric: str = "MONOCHROME2", **kwargs) -> MedicalImage:
    return MedicalImage(pixels=np.asarray(values, np.float32), photometric=photometric,
                        window_center=center, window_width=width, source=Path("synthetic.png"), **kwargs)


def test_linear_window_matches_hand_computed_values():
    # c=40, w=400 (CT soft tissue): x <= -160 -> 0, x > 239 -> 255,
    # else ((x - 39.5) / 399 + 0.5) * 255, rounded half up.
    x = [-1000, -160, -159, 0, 39, 40, 200, 239, 240]
    expected = [0, 0, 1, 102, 127, 128, 230, 255, 255]
    image = gray([x], center=40, width=400)
    assert image.display().tolist() == [expected]
    assert image.display().dtype == np.uint8


def test_linear_window_of_width_one_is_a_threshold_at_center_minus_half():
    image = gray([[9, 9.5, 9.6, 10, 11]], center=10, width=1)
    assert image.display().tolist() == [[0, 0, 255, 255, 255]]


def test_explicit_window_overrides_the_default():
    image = gray([[0, 100, 200]], center=100.5, width=201)
    assert image.display().tolist() == [[0, 128, 255]]
    # c=50, w=101: 0 -> ((0 - 49.5) / 100 + 0.5) * 255 = 1.275 -> 1; 100 > 99.5 -> 255
    assert image.display(center=50, width=101).tolist() == [[1, 255, 255]]


def test_linear_exact_and_sigmoid_functions():
    # LINEAR_EXACT: (x - c) / w + 0.5; SIGMOID: 1 / (1 + exp(-4 (x - c) / w)); c=100, w=200
    exact = gray([[0, 50, 100, 200, 300]], center=100, width=200, voi_function="LINEAR_EXACT")
    assert exact.display().tolist() == [[0, 64, 128, 255, 255]]
    sigmoid = gray([[100, 150, -10000]], center=100, width=200, voi_function="SIGMOID")
    assert sigmoid.display().tolist() == [[128, 186, 0]]


def test_window_rejects_widths_the_standard_forbids():
    with pytest.raises(ValueError, match="width must be >= 1"):
        apply_window(np.zeros((2, 2)), 0, 0.5)
    with pytest.raises(ValueError, match="unknown VOI LUT function"):
        apply_window(np.zeros((2, 2)), 0, 10, "GAMMA")


def test_monochrome1_is_inverted_by_default_and_invert_flag_overrides():
    values = [[0, 50, 100]]
    mono1 = gray(values, center=50.5, width=101, photometric="MONOCHROME1")
    mono2 = gray(values, center=50.5, width=101)
    assert mono2.display().tolist() == [[0, 128, 255]]
    assert mono1.inverted and not mono2.inverted
    assert mono1.display().tolist() == [[255, 127, 0]]
    assert mono1.display(invert=False).tolist() == mono2.display().tolist()
    assert mono2.display(invert=True).tolist() == [[255, 127, 0]]
    # Inversion is display-only: the stored values stay in modality units.
    assert mono1.pixels.tolist() == values


def test_as_rgb01_is_the_default_display_replicated_to_three_channels():
    image = gray([[0, 50, 100]], center=50.5, width=101, photometric="MONOCHROME1")
    rgb = image.as_rgb01()
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.float32
    for channel in range(3):
        assert np.array_equal(rgb[:, :, channel], image.display() / np.float32(255))
    assert rgb[0, 0, 0] == 1.0 and rgb[0, 2, 0] == 0.0


def test_color_image_windows_each_channel_alike():
    pixels = np.array([[[0, 128, 255], [255, 0, 10]]], np.float32)
    image = MedicalImage(pixels=pixels, photometric="RGB", window_center=128, window_width=256,
                         source=Path("c.png"))
    assert image.is_color and image.shape == (1, 2)
    assert np.array_equal(image.display(), pixels.astype(np.uint8))
    assert np.array_equal(image.as_rgb01(), pixels / np.float32(255))


def test_voi_lut_is_the_default_display_and_an_explicit_window_replaces_it():
    # 4 entries from input 10, 8-bit output: 9 and below -> entry 0, 14 and above -> last entry
    lut = VoiLut(first_mapped=10, table=np.array([0, 51, 204, 255]), bits=8)
    image = gray([[9, 10, 11, 12, 13, 14]], center=12, width=4, voi_lut=lut)
    assert image.display().tolist() == [[0, 0, 51, 204, 255, 255]]
    # LINEAR c=12, w=4: x <= 10 -> 0, x > 13 -> 255, else ((x - 11.5) / 3 + 0.5) * 255
    assert image.display(center=12, width=4).tolist() == [[0, 0, 85, 170, 255, 255]]
    assert lut.window == (12.0, 4.0)


def test_content_hash_depends_on_pixels_only_and_is_cached():
    a = gray([[1, 2], [3, 4]], center=0, width=10)
    same = MedicalImage(pixels=np.array([[1, 2], [3, 4]], np.uint16), photometric="MONOCHROME1",
                        window_center=5, window_width=3, source=Path("elsewhere/other.dcm"))
    changed = gray([[1, 2], [3, 5]], center=0, width=10)
    reshaped = gray([[1, 2, 3, 4]], center=0, width=10)
    assert len(a.content_hash) == 64 and int(a.content_hash, 16) >= 0
    assert a.content_hash == same.content_hash
    assert a.content_hash != changed.content_hash
    assert a.content_hash != reshaped.content_hash  # same bytes, other shape
    assert a._content_hash == a.content_hash  # computed once, then cached


def test_pixels_are_float32_and_read_only_without_freezing_the_callers_array():
    mine = np.array([[1.0, 2.0]], np.float32)
    image = gray(mine, center=0, width=10)
    assert image.pixels.dtype == np.float32
    with pytest.raises(ValueError):
        image.pixels[0, 0] = 7
    mine[0, 0] = 7  # the caller's array is still writable
    assert mine[0, 0] == 7


def test_shape_and_photometric_are_validated():
    with pytest.raises(ValueError, match="RGB pixels must be HxWx3"):
        MedicalImage(pixels=np.zeros((4, 4)), photometric="RGB", window_center=0, window_width=1,
                     source=Path("x"))
    with pytest.raises(ValueError, match="photometric"):
        MedicalImage(pixels=np.zeros((4, 4)), photometric="YBR_FULL", window_center=0, window_width=1,
                     source=Path("x"))


def test_equality_compares_pixels_and_ignores_the_dataset():
    a = gray([[1, 2]], center=0, width=10, dataset=object())
    b = gray([[1, 2]], center=0, width=10)
    c = gray([[1, 3]], center=0, width=10)
    assert a == b and a != c
    assert "dataset" not in repr(a) and "synthetic.png" in repr(a)


def test_image_read_error_names_the_file_and_survives_pickling(tmp_path):
    err = ImageReadError(tmp_path / "x.dcm", "no pixel data")
    assert isinstance(err, InputFileError)
    assert err.path == tmp_path / "x.dcm" and err.reason == "no pixel data"
    assert str(err) == f"{tmp_path / 'x.dcm'}: no pixel data"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.reason, str(copy)) == (err.path, err.reason, str(err))
