"""DICOM reading on pydicom's and pydicom-data's real test files (offline)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import MPEG4HP41

from medxai_desktop.core.imaging import ImageReadError, read_image


def dicom_file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"DICOM test file {name} is not installed (pip install pydicom-data)")
    return Path(path)


def raw_pixels(name: str) -> np.ndarray:
    """What pydicom itself decodes, before any modality or display transform."""
    return pydicom.dcmread(dicom_file(name)).pixel_array


# --- CR chest, MONOCHROME1 -------------------------------------------------------------------

def test_cr_chest_monochrome1_uncompressed():
    image = read_image(dicom_file("RG1_UNCR.dcm"))
    assert image.shape == (1955, 1841) and not image.is_color
    assert image.photometric == "MONOCHROME1" and image.inverted
    assert image.pixels.dtype == np.float32
    assert np.array_equal(image.pixels, raw_pixels("RG1_UNCR.dcm"))  # no rescale in this file
    assert (image.window_center, image.window_width) == (15000, 30000)
    assert (image.frame, image.n_frames) == (0, 1)
    assert image.modality == "CR" and image.patient_name == "CompressedSamples^RG1"
    assert image.study_description == "THORAX" and image.patient_id == "9RG1"
    assert image.sop_uid == "1.3.6.1.4.1.5962.1.1.9.1.1.20040826185059.5457"
    assert image.metadata["BodyPartExamined"] == "CHEST" and image.metadata["ViewPosition"] == "PA"
    # The file's Pixel Spacing is 0\0, which means nothing: no spacing rather than zero.
    assert [float(v) for v in image.dataset.PixelSpacing] == [0.0, 0.0]
    assert image.pixel_spacing is None


def test_cr_jpeg2000_lossless_is_identical_to_its_uncompressed_twin():
    # In this test set *_UNCR is the decompressed reversible (J2KR) file and *_UNCI the
    # decompressed irreversible (J2KI) one, so each compressed file has an exact twin.
    lossless, reference = read_image(dicom_file("RG1_J2KR.dcm")), read_image(dicom_file("RG1_UNCR.dcm"))
    assert np.array_equal(lossless.pixels, reference.pixels)
    assert lossless.content_hash == reference.content_hash
    assert lossless.metadata["TransferSyntax"] == "JPEG 2000 Image Compression (Lossless Only)"
    lossy = read_image(dicom_file("RG1_J2KI.dcm"))
    assert np.array_equal(lossy.pixels, read_image(dicom_file("RG1_UNCI.dcm")).pixels)


def test_cr_jpeg2000_lossy_is_close_to_but_not_the_original():
    lossy, original = read_image(dicom_file("RG1_J2KI.dcm")), read_image(dicom_file("RG1_UNCR.dcm"))
    difference = np.abs(lossy.pixels - original.pixels)
    value_range = float(original.pixels.max() - original.pixels.min())
    assert difference.max() > 0
    assert difference.mean() < 0.005 * value_range  # 10:1 compression, ~0.2 % of the range
    shown = np.abs(lossy.display().astype(int) - original.display().astype(int))
    assert shown.mean() < 1.0


def test_monochrome1_display_shows_high_values_dark():
    image = read_image(dicom_file("RG1_UNCR.dcm"))
    shown = image.display()
    high = image.pixels >= np.percentile(image.pixels, 95)
    low = image.pixels <= np.percentile(image.pixels, 5)
    assert shown[high].mean() < 100 < 200 < shown[low].mean()
    # Exactly the PS3.3 LINEAR window, then inverted: c=15000, w=30000.
    rows, cols = np.array([0, 500, 977, 1500, 1954]), np.array([0, 900, 920, 1200, 1840])
    x = image.pixels[rows, cols].astype(np.float64)
    linear = np.clip((x - 14999.5) / 29999 + 0.5, 0, 1) * 255
    assert shown[rows, cols].tolist() == (255 - np.floor(linear + 0.5)).astype(int).tolist()
    assert np.array_equal(image.display(invert=False), 255 - shown)
    assert np.array_equal(image.as_rgb01()[:, :, 1], shown / np.float32(255))


# --- MR and CT: rescale, window, spacing ------------------------------------------------------

@pytest.mark.parametrize("name", ["MR2_UNCR.dcm", "MR2_J2KR.dcm", "MR2_UNCI.dcm", "MR2_J2KI.dcm"])
def test_mr_rescale_window_and_spacing(name):
    image = read_image(dicom_file(name))
    ds = pydicom.dcmread(dicom_file(name))
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    assert slope != 1.0
    assert image.shape == (1024, 1024) and image.photometric == "MONOCHROME2"
    assert np.allclose(image.pixels, ds.pixel_array * slope + intercept, rtol=1e-6, atol=1e-3)
    assert (image.window_center, image.window_width) == (1000, 2000)
    assert image.pixel_spacing == pytest.approx((0.195313, 0.195313))
    assert image.modality == "MR"


def test_mr_jpeg2000_lossless_matches_uncompressed():
    assert np.array_equal(read_image(dicom_file("MR2_J2KR.dcm")).pixels,
                          read_image(dicom_file("MR2_UNCR.dcm")).pixels)


def test_ct_rescale_gives_hounsfield_units_and_full_range_default_window():
    image = read_image(dicom_file("CT_small.dcm"))
    raw = raw_pixels("CT_small.dcm")
    assert np.array_equal(image.pixels, raw.astype(np.float32) * 1 - 1024)  # slope 1, intercept -1024
    assert image.pixels.min() < 0
    lo, hi = float(image.pixels.min()), float(image.pixels.max())
    # No window in the file: the full range, min -> 0 and max -> 255 exactly.
    assert (image.window_center, image.window_width) == ((lo + hi + 1) / 2, hi - lo + 1)
    shown = image.display()
    assert shown[image.pixels == lo].max() == 0 and shown[image.pixels == hi].min() == 255
    assert image.pixel_spacing == pytest.approx((0.661468, 0.661468))


def test_enhanced_ct_takes_rescale_window_and_spacing_from_functional_groups():
    image = read_image(dicom_file("eCT_Supplemental.dcm"), frame=1)
    ds = pydicom.dcmread(dicom_file("eCT_Supplemental.dcm"))
    assert "RescaleIntercept" not in ds and "WindowCenter" not in ds and "PixelSpacing" not in ds
    assert np.array_equal(image.pixels, ds.pixel_array[1].astype(np.float32) - 1024)
    assert (image.window_center, image.window_width) == (49, 102)
    assert image.pixel_spacing == pytest.approx((0.388672, 0.388672))
    assert (image.frame, image.n_frames) == (1, 2)


def test_modality_lut_maps_stored_values_through_the_table():
    image = read_image(dicom_file("mlut_18.dcm"))
    ds = pydicom.dcmread(dicom_file("mlut_18.dcm"))
    entries, first, _ = ds.ModalityLUTSequence[0].LUTDescriptor
    table = np.asarray(ds.ModalityLUTSequence[0].LUTData)
    index = np.clip(ds.pixel_array.astype(np.int64) - first, 0, entries - 1)
    assert np.array_equal(image.pixels, table[index].astype(np.float32))
    assert first == -2048 and image.pixels.min() >= 0


def test_voi_lut_is_applied_for_the_default_display():
    image = read_image(dicom_file("vlut_04.dcm"))
    ds = pydicom.dcmread(dicom_file("vlut_04.dcm"))
    assert "WindowCenter" not in ds and image.voi_lut is not None
    item = ds.VOILUTSequence[0]
    entries, first, bits = item.LUTDescriptor
    table = np.asarray(item.LUTData, np.float64)
    expected = np.floor(table[np.clip(ds.pixel_array.astype(int) - first, 0, entries - 1)]
                        / (2**bits - 1) * 255 + 0.5)
    assert np.array_equal(image.display(), expected.astype(np.uint8))
    assert (image.window_center, image.window_width) == (first + entries / 2, entries)


# --- Multi-frame and every lossless transfer syntax -------------------------------------------

EMRI_SIBLINGS = ["emri_small_jpeg_2k_lossless.dcm", "emri_small_RLE.dcm", "emri_small_big_endian.dcm",
                 "emri_small_jpeg_ls_lossless.dcm"]


@pytest.fixture(scope="module")
def emri_frames() -> list[np.ndarray]:
    return [read_image(dicom_file("emri_small.dcm"), frame=f).pixels for f in range(10)]


def test_multiframe_frames_are_selected_by_index(emri_frames):
    image = read_image(dicom_file("emri_small.dcm"), frame=7)
    assert (image.frame, image.n_frames, image.shape) == (7, 10, (64, 64))
    raw = raw_pixels("emri_small.dcm")
    assert all(np.array_equal(emri_frames[f], raw[f]) for f in range(10))
    assert not np.array_equal(emri_frames[0], emri_frames[5])
    assert read_image(dicom_file("emri_small.dcm")).frame == 0


@pytest.mark.parametrize("name", EMRI_SIBLINGS)
def test_multiframe_compressed_siblings_give_identical_frames(name, emri_frames):
    for frame in range(10):
        assert np.array_equal(read_image(dicom_file(name), frame=frame).pixels, emri_frames[frame]), frame


@pytest.mark.parametrize("frame", [10, 99, -1])
def test_frame_out_of_range(frame):
    path = dicom_file("emri_small.dcm")
    with pytest.raises(ImageReadError) as caught:
        read_image(path, frame=frame)
    assert caught.value.path == path
    assert caught.value.reason == f"frame {frame} out of range (file has 10 frames)"


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
                                  "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm"])
def test_lossless_transfer_syntaxes_match_the_uncompressed_file(name):
    reference = read_image(dicom_file("MR_small.dcm"))
    image = read_image(dicom_file(name))
    assert np.array_equal(image.pixels, reference.pixels)
    assert (image.window_center, image.window_width) == (reference.window_center, reference.window_width)


@pytest.mark.parametrize("name, shape", [("image_dfl.dcm", (512, 512)),      # deflated
                                         ("JPGExtended.dcm", (1024, 256)),   # 12-bit JPEG extended
                                         ("JPEG-LL.dcm", (1024, 256)),       # JPEG lossless
                                         ("JPEGLSNearLossless_16.dcm", (50, 10))])
def test_other_transfer_syntaxes_decode(name, shape):
    image = read_image(dicom_file(name))
    assert image.shape == shape and image.pixels.std() > 0


# --- Colour ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, mean_tolerance", [
    ("SC_rgb_expb.dcm", 0), ("SC_rgb_rle.dcm", 0), ("SC_rgb_jpeg_gdcm.dcm", 0),  # lossless
    ("SC_rgb_gdcm_KY.dcm", 0),                                                  # JPEG 2000
    ("SC_ybr_full_uncompressed.dcm", 1), ("SC_ybr_full_422_uncompressed.dcm", 1),
    ("SC_rgb_jpeg_dcmtk.dcm", 1),                                               # YBR_FULL JPEG
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", 3.5),                                        # YBR_FULL_422 JPEG
])
def test_colour_files_give_rgb_close_to_the_uncompressed_reference(name, mean_tolerance):
    reference = read_image(dicom_file("SC_rgb.dcm"))
    image = read_image(dicom_file(name))
    assert image.photometric == "RGB" and image.is_color and image.pixels.shape == (100, 100, 3)
    difference = np.abs(image.pixels - reference.pixels)
    assert difference.mean() <= mean_tolerance
    # Top-left is pure red in the reference: catches BGR and un-converted YCbCr.
    assert np.abs(image.pixels[2, 2] - [255, 0, 0]).max() <= 8


def test_colour_reference_values_and_identity_display():
    image = read_image(dicom_file("SC_rgb.dcm"))
    assert image.pixels[2, 2].tolist() == [255, 0, 0] and image.pixels[50, 50].tolist() == [128, 128, 255]
    assert np.array_equal(image.display(), image.pixels.astype(np.uint8))


def test_planar_configuration_does_not_change_the_image():
    planar, interleaved = read_image(dicom_file("color-pl.dcm")), read_image(dicom_file("color-px.dcm"))
    assert planar.dataset.PlanarConfiguration == 1 and interleaved.dataset.PlanarConfiguration == 0
    assert np.array_equal(planar.pixels, interleaved.pixels) and planar.pixels.std() > 0


@pytest.mark.parametrize("compressed, reference", [("US1_J2KR.dcm", "US1_UNCR.dcm"),   # YBR_RCT
                                                   ("US1_J2KI.dcm", "US1_UNCI.dcm")])  # YBR_ICT
def test_jpeg2000_colour_transforms_give_rgb(compressed, reference):
    image = read_image(dicom_file(compressed))
    assert image.photometric == "RGB"
    assert np.array_equal(image.pixels, read_image(dicom_file(reference)).pixels)


def test_palette_colour_without_preamble_or_file_meta():
    path = dicom_file("OT-PAL-8-face.dcm")
    assert path.read_bytes()[128:132] != b"DICM"
    image = read_image(path)
    assert image.photometric == "RGB" and image.pixels.shape == (480, 640, 3)
    assert image.metadata["TransferSyntax"] == "Implicit VR Little Endian"  # inferred
    assert not np.array_equal(image.pixels[:, :, 0], image.pixels[:, :, 1])


def test_palette_with_8_bit_values_in_16_bit_entries_displays_like_the_16_bit_one():
    # OBXXXX1A_expb stores 0..255 in its 16-bit palette, OBXXXX1A 0..65280.
    wide, narrow = read_image(dicom_file("OBXXXX1A.dcm")), read_image(dicom_file("OBXXXX1A_expb.dcm"))
    assert wide.pixels.max() > 255 >= narrow.pixels.max()
    assert np.abs(wide.display().astype(int) - narrow.display().astype(int)).max() <= 1


def test_big_endian_data_set_without_preamble_or_file_meta(tmp_path):
    ds = pydicom.dcmread(dicom_file("MR_small_bigendian.dcm"))
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    path = tmp_path / "raw_big_endian.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=False, enforce_file_format=False)
    assert path.read_bytes()[:2] == b"\x00\x08"  # starts with the (0008,0008) tag, big endian
    image = read_image(path)
    assert image.metadata["TransferSyntax"] == "Explicit VR Big Endian"  # inferred from the data
    assert np.array_equal(image.pixels, read_image(dicom_file("MR_small.dcm")).pixels)


def test_unsupported_photometric_interpretation(tmp_path):
    ds = pydicom.dcmread(dicom_file("SC_rgb.dcm"))
    ds.PhotometricInterpretation = "HSV"  # retired
    path = tmp_path / "hsv.dcm"
    ds.save_as(path)
    assert reason_for(path) == "unsupported photometric interpretation HSV"


# --- Identity and the kept header ----------------------------------------------------------------

def test_dataset_is_kept_without_pixel_data():
    image = read_image(dicom_file("CT_small.dcm"))
    assert "PixelData" not in image.dataset
    assert str(image.dataset.PatientName) == image.patient_name == "CompressedSamples^CT1"
    assert image.study_uid == image.dataset.StudyInstanceUID
    assert image.series_uid == image.dataset.SeriesInstanceUID
    assert image.metadata["SOPClassUID"] == "CT Image Storage"
    assert image == read_image(dicom_file("CT_small.dcm"))


# --- Failures ------------------------------------------------------------------------------------

def reason_for(path: Path, frame: int | None = None) -> str:
    with pytest.raises(ImageReadError) as caught:
        read_image(path, frame=frame)
    assert caught.value.path == path and str(caught.value).startswith(f"{path}: ")
    return caught.value.reason


def test_undecodable_jpeg_extended_names_the_transfer_syntax():
    reason = reason_for(dicom_file("JPEG-lossy.dcm"))
    assert reason.startswith("cannot decode JPEG Extended (Process 2 and 4) pixel data: "
                             "no installed decoder could decode it")


def test_transfer_syntax_without_decoder(tmp_path):
    ds = pydicom.dcmread(dicom_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    path = tmp_path / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert reason_for(path) == ("unsupported transfer syntax MPEG-4 AVC/H.264 High Profile / Level 4.1 "
                                "(no installed decoder can decode it)")


def test_no_pixel_data(tmp_path):
    assert reason_for(dicom_file("rtplan.dcm")) == "no pixel data (a RT Plan Storage object)"
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    del ds.PixelData
    path = tmp_path / "header_only.dcm"
    ds.save_as(path)
    assert reason_for(path) == "no pixel data (a CT Image Storage object)"


@pytest.mark.parametrize("name, keep, expected", [
    ("RG1_UNCR.dcm", 0.5, "truncated file (pixel data has "),         # native pixel data cut
    ("RG1_J2KR.dcm", 0.5, "truncated file (ends inside a sequence or compressed pixel data)"),
    ("CT_small.dcm", 0.5, "truncated file (pixel data has "),
    ("rtplan.dcm", 0.5, "truncated file (element "),                    # cut inside a value
    ("CT_small.dcm", 1960, "truncated file (ends inside an element header)"),  # 2 bytes of a tag
])
def test_truncated_copies(tmp_path, name, keep, expected):
    """``keep``: the fraction (< 1) or number of bytes kept."""
    data = dicom_file(name).read_bytes()
    path = tmp_path / f"cut_{name}"
    path.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    assert reason_for(path).startswith(expected)


def test_pydicom_truncated_sample():
    assert reason_for(dicom_file("MR_truncated.dcm")) == "truncated file (pixel data has 8130 of 8192 bytes)"


@pytest.mark.parametrize("name", ["notes.png", "notes.dcm", "notes"])
def test_text_files_are_not_images(tmp_path, name):
    path = tmp_path / name
    path.write_text("Patient history: nothing to see here.\n")
    assert reason_for(path) == "not an image (text file)"


def test_missing_file(tmp_path):
    assert reason_for(tmp_path / "absent.dcm") == "file not found"
