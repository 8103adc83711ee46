"""Raster (PNG/JPEG/BMP/TIFF/...) and volume (NIfTI/MHA/NRRD) reading."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from medxai_desktop.core.imaging import ImageReadError, read_image

from .helpers import shared_data


def first_with_channels(folder: Path, pattern: str, channels: int, equal: bool | None = None) -> Path:
    """The first file under ``folder`` that OpenCV decodes with ``channels`` channels
    (and, when ``equal`` is given, whose colour channels are / are not all equal)."""
    for path in sorted(folder.glob(pattern)):
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        n = array.shape[2] if array.ndim == 3 else 1
        if n != channels:
            continue
        if equal is None or equal == (np.array_equal(array[..., 0], array[..., 1])
                                      and np.array_equal(array[..., 0], array[..., 2])):
            return path
    pytest.skip(f"no {channels}-channel image matching {pattern} in {folder}")


def reason_for(path: Path, frame: int | None = None) -> str:
    with pytest.raises(ImageReadError) as caught:
        read_image(path, frame=frame)
    assert caught.value.path == path
    return caught.value.reason


# --- Real files ------------------------------------------------------------------------------------

def test_brain_mri_grayscale_jpeg():
    path = first_with_channels(shared_data("brain_mri", "images", "glioma"), "*.jpg", 1)
    image = read_image(path)
    expected = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (512, 512) and image.photometric == "MONOCHROME2" and not image.is_color
    assert np.array_equal(image.pixels, expected)
    # 8-bit files: the default window shows the stored values unchanged.
    assert np.array_equal(image.display(), expected)
    assert np.array_equal(image.as_rgb01(), np.repeat(expected[:, :, None], 3, axis=2) / np.float32(255))
    assert (image.frame, image.n_frames, image.pixel_spacing, image.study_uid) == (0, 1, None, None)
    assert image.metadata["Format"] == "JPEG"


def test_nih_chest_png():
    path = first_with_channels(shared_data("chest_xray", "images"), "*.png", 1)
    image = read_image(path)
    assert image.shape == (1024, 1024) and not image.is_color
    assert np.array_equal(image.pixels, cv2.imread(str(path), cv2.IMREAD_UNCHANGED))


def test_nih_rgba_png_with_equal_channels_is_grayscale():
    path = first_with_channels(shared_data("chest_xray", "images"), "*.png", 4)
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert (stored[:, :, 3] == 255).all()  # opaque: compositing on black changes nothing
    image = read_image(path)
    assert not image.is_color and image.shape == (1024, 1024)
    assert np.array_equal(image.pixels, stored[:, :, 0])
    assert image.metadata["StoredChannels"] == "4"


def test_rgb_jpeg_is_rgb_not_bgr():
    path = first_with_channels(shared_data("brain_mri", "images", "no_tumor"), "*.jpg", 3, equal=False)
    image = read_image(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image.is_color and image.photometric == "RGB"
    assert np.array_equal(image.pixels, bgr[:, :, ::-1])


def test_skin_dermoscopy_jpeg_is_colour():
    path = sorted(shared_data("skin", "ph2", "images").glob("*.jpg"))[0]
    image = read_image(path)
    assert image.is_color and image.as_rgb01().shape == (*image.shape, 3)
    assert image.pixels[..., 0].mean() > image.pixels[..., 2].mean()  # skin is redder than blue


# --- Synthetic files with known values ---------------------------------------------------------------

@pytest.fixture
def ramp16() -> np.ndarray:
    return (np.arange(120 * 80, dtype=np.uint32).reshape(120, 80) * 7 + 1000).astype(np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_values_are_preserved_and_windowed_over_their_range(tmp_path, ramp16, suffix):
    path = tmp_path / f"ramp{suffix}"
    assert cv2.imwrite(str(path), ramp16)
    image = read_image(path)
    assert np.array_equal(image.pixels, ramp16)
    lo, hi = int(ramp16.min()), int(ramp16.max())
    assert (image.window_center, image.window_width) == ((lo + hi + 1) / 2, hi - lo + 1)
    shown = image.display()
    assert shown[ramp16 == lo].item() == 0 and shown[ramp16 == hi].item() == 255
    assert image.metadata["StoredType"] == "uint16"


def test_content_hash_is_format_independent(tmp_path, ramp16):
    cv2.imwrite(str(tmp_path / "a.png"), ramp16)
    cv2.imwrite(str(tmp_path / "copy.tif"), ramp16)
    changed = ramp16.copy()
    changed[5, 5] += 1
    cv2.imwrite(str(tmp_path / "b.png"), changed)
    png, tif, other = (read_image(tmp_path / n) for n in ("a.png", "copy.tif", "b.png"))
    assert png.content_hash == tif.content_hash
    assert png.content_hash != other.content_hash


def test_bmp_and_non_ascii_path(tmp_path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[:, :6] = (200, 30, 10)  # red-ish left half (in RGB order)
    path = tmp_path / "bild_ü_脑.bmp"
    cv2.imencode(".bmp", rgb[:, :, ::-1])[1].tofile(str(path))  # works for non-ASCII names on every OS
    image = read_image(path)
    assert np.array_equal(image.pixels, rgb) and image.metadata["Format"] == "BMP"


def test_three_equal_channels_become_grayscale(tmp_path):
    gray = np.tile(np.arange(50, dtype=np.uint8), (20, 1))
    path = tmp_path / "gray_as_rgb.png"
    cv2.imwrite(str(path), np.dstack([gray] * 3))
    image = read_image(path)
    assert not image.is_color and image.photometric == "MONOCHROME2"
    assert np.array_equal(image.pixels, gray)


def test_rgba_is_composited_on_black(tmp_path):
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, :3] = (200, 100, 50)
    rgba[0, :, 3] = (255, 0, 51)  # opaque, transparent, 20 %
    path = tmp_path / "alpha.png"
    cv2.imwrite(str(path), rgba[:, :, [2, 1, 0, 3]])
    image = read_image(path)
    assert image.is_color
    assert np.allclose(image.pixels[0], [[200, 100, 50], [0, 0, 0], [40, 20, 10]])


def test_pillow_reads_what_opencv_cannot(tmp_path):
    rgb = np.zeros((8, 9, 3), np.uint8)
    rgb[..., 1] = 180
    path = tmp_path / "green.tga"
    Image.fromarray(rgb).save(path)
    assert cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED) is None
    image = read_image(path)
    assert image.metadata["Decoder"] == "Pillow" and np.array_equal(image.pixels, rgb)


def test_raster_failures(tmp_path):
    path = first_with_channels(shared_data("brain_mri", "images", "glioma"), "*.jpg", 1)
    assert reason_for(path, frame=1) == "frame 1 out of range (file has 1 frame)"
    cut = tmp_path / "cut.png"
    cv2.imwrite(str(tmp_path / "whole.png"), np.arange(4096, dtype=np.uint16).reshape(64, 64))
    cut.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    assert reason_for(cut).startswith("corrupt or truncated PNG file")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert reason_for(empty) == "not an image (empty file)"
    pdf = tmp_path / "report.png"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)))
    assert reason_for(pdf) == "not an image (PDF document)"


def test_copy_keeps_pixels_but_names_the_new_source(tmp_path):
    path = first_with_channels(shared_data("brain_mri", "images", "glioma"), "*.jpg", 1)
    copy = Path(shutil.copy(path, tmp_path / "copy.jpg"))
    a, b = read_image(path), read_image(copy)
    assert a.content_hash == b.content_hash and b.source == copy


# --- Volumes -------------------------------------------------------------------------------------------

@pytest.fixture
def volume() -> np.ndarray:
    """7 axial slices of 20x30 (z, y, x); slice k holds k*100 and a marker 1000+k at row 2, col 5."""
    data = np.zeros((7, 20, 30), np.int16)
    for k in range(7):
        data[k] = k * 100
        data[k, 2, 5] = 1000 + k
    return data


def write_volume(path: Path, data: np.ndarray, spacing=(0.5, 0.8, 2.5), direction=None) -> Path:
    image = sitk.GetImageFromArray(data)
    image.SetSpacing(spacing)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    return path


def test_nifti_volume_default_is_the_middle_slice(tmp_path, volume):
    path = write_volume(tmp_path / "vol.nii.gz", volume)
    image = read_image(path)
    assert (image.frame, image.n_frames, image.shape) == (3, 7, (20, 30))
    assert np.array_equal(image.pixels, volume[3])
    assert image.pixels[2, 5] == 1003  # rows are y, columns x
    assert image.pixel_spacing == pytest.approx((0.8, 0.5))  # (row, column) = (y, x)
    assert image.metadata["Format"] == "NIfTI"


def test_nifti_chosen_slice_and_one_window_for_all_slices(tmp_path, volume):
    path = write_volume(tmp_path / "vol.nii", volume)
    first, last = read_image(path, frame=0), read_image(path, frame=6)
    assert np.array_equal(first.pixels, volume[0]) and np.array_equal(last.pixels, volume[6])
    lo, hi = float(volume.min()), float(volume.max())
    for image in (first, last):
        assert (image.window_center, image.window_width) == ((lo + hi + 1) / 2, hi - lo + 1)
    assert reason_for(path, frame=7) == "frame 7 out of range (file has 7 frames)"


def test_volume_is_shown_in_radiological_orientation(tmp_path, volume):
    # First index axis pointing to the patient's right: LPS display flips the columns.
    path = write_volume(tmp_path / "rl.nrrd", volume, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    image = read_image(path, frame=4)
    assert np.array_equal(image.pixels, volume[4][:, ::-1])
    assert image.pixels[2, 30 - 1 - 5] == 1004


@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
def test_2d_metaimage_and_nrrd(tmp_path, ramp16, suffix):
    path = write_volume(tmp_path / f"plane{suffix}", ramp16, spacing=(0.25, 0.5))
    image = read_image(path)
    assert (image.frame, image.n_frames) == (0, 1)
    assert np.array_equal(image.pixels, ramp16)
    assert image.pixel_spacing == pytest.approx((0.5, 0.25))


def test_broken_volume(tmp_path):
    path = tmp_path / "broken.nii.gz"
    path.write_text("not a volume")
    assert reason_for(path).startswith("cannot read NIfTI file (")
