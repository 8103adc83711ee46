"""DICOM files (pydicom 3 + the pylibjpeg decoders) -> MedicalImage, and header checks for discovery."""
from __future__ import annotations

import math
import re
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.datadict import dictionary_has_tag
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder
from pydicom.pixels.decoders.base import Decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medxai_desktop.core.imaging.limits import check_pixels
from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.file_types import check_image_file
from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.windowing import (VOI_FUNCTIONS, VoiLut, full_range_window,
                                                   nominal_window)

PIXEL_DATA_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
# pydicom warns about a malformed file ("End of file reached before delimiter") before the
# reader turns the same problem into one error naming the file: its warnings are not shown.
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?$")

_REQUIRED_IMAGE_ATTRIBUTES = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation")
_UNDEFINED_LENGTH = 0xFFFFFFFF
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
# A few tags worth showing without a tag browser, as plain strings.
_METADATA_KEYWORDS = (
    "SOPClassUID", "Modality", "BodyPartExamined", "ViewPosition", "ImageLaterality", "Laterality",
    "StudyDate", "StudyTime", "SeriesDate", "AccessionNumber", "StudyID", "SeriesNumber", "InstanceNumber",
    "PatientSex", "PatientAge", "PatientBirthDate", "Manufacturer", "ManufacturerModelName",
    "InstitutionName", "ImageType", "Rows", "Columns", "BitsStored", "PhotometricInterpretation",
    "NumberOfFrames", "RescaleSlope", "RescaleIntercept", "RescaleType", "LossyImageCompression",
)


def read_dicom(path: Path, frame: int | None = None) -> MedicalImage:
    """Decode one frame (default 0) of a DICOM file, with modality LUT/rescale, VOI and colour."""
    dataset = _read_dataset(path)
    keyword = pixel_data_keyword(dataset)
    if keyword is None:
        raise ImageReadError(path, _truncation(dataset, path) or _no_pixel_data(dataset))
    truncated = _short_pixel_data(dataset, keyword)
    if truncated:
        raise ImageReadError(path, truncated)
    _check_image_attributes(path, dataset)
    transfer_syntax = _transfer_syntax(path, dataset, dataset[keyword].is_undefined_length)
    decoder = usable_decoder(path, transfer_syntax)
    n_frames = number_of_frames(path, dataset)
    check_pixels(path, dataset.Columns, dataset.Rows, what="frame")
    index = 0 if frame is None else frame
    if not 0 <= index < n_frames:
        raise ImageReadError(path, f"frame {index} out of range (file has {n_frames} "
                                   f"frame{'s' if n_frames != 1 else ''})")
    array, photometric = _decode(path, dataset, decoder, index)

    voi_lut, windows = None, ()
    voi_function = "LINEAR"
    if photometric == "RGB":
        if photometric_of(dataset) == "PALETTE COLOR":
            bits = _palette_bits(dataset)
        else:
            bits = int(dataset.get("BitsStored") or dataset.BitsAllocated)
        center, width = nominal_window(bits)
        pixels = array.astype(np.float32)
    else:
        pixels = _modality_values(dataset, array, index)
        windows, function = _windows(dataset, index)
        if windows:
            (center, width, _), voi_function = windows[0], function
        else:
            voi_lut = _voi_lut(dataset)
            center, width = voi_lut.window if voi_lut is not None else full_range_window(pixels)

    for tag in PIXEL_DATA_TAGS:
        if tag in dataset:
            del dataset[tag]
    return MedicalImage(
        pixels=pixels, photometric=photometric, window_center=center, window_width=width,
        source=path, frame=index, n_frames=n_frames, voi_lut=voi_lut, voi_function=voi_function,
        windows=windows, **_spacing_fields(dataset, index),
        study_uid=text(dataset, "StudyInstanceUID"), series_uid=text(dataset, "SeriesInstanceUID"),
        sop_uid=text(dataset, "SOPInstanceUID"), patient_name=text(dataset, "PatientName"),
        patient_id=text(dataset, "PatientID"), study_description=text(dataset, "StudyDescription"),
        series_description=text(dataset, "SeriesDescription"), modality=text(dataset, "Modality"),
        metadata=_metadata(dataset, transfer_syntax), dataset=dataset,
    )


def read_dicom_header(path: Path) -> Dataset:
    """Read the header only (up to the pixel data) and check the file can give an image.

    Raises ImageReadError for what reading would fail on without decoding: no pixel data,
    truncated pixel data, missing image attributes, a transfer syntax no installed decoder
    handles, an invalid number of frames.
    """
    check_image_file(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            dataset = read_partial(f, stop_when=_at_pixel_data, force=True)
            pixel_header = f.read(12)
            pixel_offset = f.tell() - len(pixel_header)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except (InvalidDicomError, EOFError, struct.error, OSError, ValueError) as exc:
        raise ImageReadError(path, _read_failure(exc)) from None
    _check_has_elements(path, dataset)
    pixel = _parse_pixel_header(pixel_header, dataset)
    if pixel is None:
        raise ImageReadError(path, _truncation(dataset, path) or _no_pixel_data(dataset))
    header_length, value_length = pixel
    if value_length != _UNDEFINED_LENGTH and pixel_offset + header_length + value_length > size:
        available = max(size - pixel_offset - header_length, 0)
        raise ImageReadError(path, f"truncated file (pixel data has {available} of {value_length} bytes)")
    _check_image_attributes(path, dataset)
    usable_decoder(path, _transfer_syntax(path, dataset, value_length == _UNDEFINED_LENGTH))
    number_of_frames(path, dataset)
    return dataset


def pixel_data_keyword(dataset: Dataset) -> str | None:
    for tag, keyword in PIXEL_DATA_TAGS.items():
        if tag in dataset:
            return keyword
    return None


def usable_decoder(path: Path, transfer_syntax: UID) -> Decoder:
    """The pydicom decoder for ``transfer_syntax``, if an installed plugin can run it."""
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        raise ImageReadError(path, f"unsupported transfer syntax {_ts_name(transfer_syntax)} "
                                   "(no installed decoder can decode it)")
    return decoder


def number_of_frames(path: Path, dataset: Dataset) -> int:
    try:
        raw = dataset.get("NumberOfFrames")
        n_frames = int(raw) if raw not in (None, "") else 1
    except (TypeError, ValueError) as exc:
        raise ImageReadError(path, f"invalid Number of Frames ({_first_line(exc)})") from None
    if n_frames < 0:
        raise ImageReadError(path, f"invalid Number of Frames {n_frames}")
    return max(n_frames, 1)


def text(dataset: Dataset, keyword: str) -> str | None:
    """An element's value as a stripped string (first of several), None when absent or empty."""
    try:
        value = dataset.get(keyword)
    except Exception:  # noqa: BLE001 - a malformed value is an absent value here
        return None
    if value is None:
        return None
    if isinstance(value, MultiValue):
        value = "\\".join(str(v) for v in value)
    value = str(value).strip()
    return value or None


def photometric_of(dataset: Dataset) -> str:
    return str(dataset.get("PhotometricInterpretation", "")).strip().upper()


def _read_dataset(path: Path) -> FileDataset:
    check_image_file(path)
    try:
        dataset = pydicom.dcmread(path, force=True)
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except (InvalidDicomError, EOFError, struct.error, OSError, ValueError) as exc:
        raise ImageReadError(path, _read_failure(exc)) from None
    _check_has_elements(path, dataset)
    return dataset


def _read_failure(exc: Exception) -> str:
    if isinstance(exc, (EOFError, struct.error)):
        return "truncated file (ends inside the DICOM header)"
    if isinstance(exc, OSError):
        return f"cannot open file ({exc.strerror or exc})"
    return f"not a valid DICOM file ({_first_line(exc)})"


def _check_has_elements(path: Path, dataset: Dataset) -> None:
    # pydicom drops every element it had read when the file ends inside an element of
    # undefined length (a sequence, or encapsulated pixel data): an empty data set after
    # the file meta is a truncated file.
    if len(dataset) == 0:
        if dataset.file_meta:
            raise ImageReadError(path, "truncated file (ends inside a sequence or compressed pixel data)")
        raise ImageReadError(path, "not a DICOM file (no data elements)")
    if not any(dictionary_has_tag(tag) for tag in dataset.keys()):
        raise ImageReadError(path, "not a DICOM file (no standard data elements)")


def _truncation(dataset: Dataset, path: Path) -> str | None:
    """Why a data set without pixel data looks cut short: its last element is incomplete."""
    last = dataset.get_item(list(dataset.keys())[-1])
    if not isinstance(last, RawDataElement) or last.length == _UNDEFINED_LENGTH:
        return None
    if last.value is not None and len(last.value) < last.length:
        return f"truncated file (element {last.tag} has {len(last.value)} of {last.length} bytes)"
    # Fewer than 8 bytes left after the last element: a cut element header.
    if last.value_tell + last.length < path.stat().st_size:
        return "truncated file (ends inside an element header)"
    return None


def _short_pixel_data(dataset: Dataset, keyword: str) -> str | None:
    raw = dataset.get_item(keyword)
    if isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH and raw.value is not None \
            and len(raw.value) < raw.length:
        return f"truncated file (pixel data has {len(raw.value)} of {raw.length} bytes)"
    return None


def _no_pixel_data(dataset: Dataset) -> str:
    sop_class = dataset.get("SOPClassUID")
    if sop_class:
        return f"no pixel data (a {UID(str(sop_class)).name} object)"
    return "no pixel data"


def _at_pixel_data(tag: int, vr: str | None, length: int) -> bool:
    return tag in PIXEL_DATA_TAGS


def _parse_pixel_header(header: bytes, dataset: Dataset) -> tuple[int, int] | None:
    """(header length, value length) of the pixel data element at the start of ``header``."""
    if len(header) < 8:
        return None
    implicit, little = _read_encoding(dataset)
    endian = "<" if little else ">"
    group, element = struct.unpack(f"{endian}HH", header[:4])
    if (group << 16 | element) not in PIXEL_DATA_TAGS:
        return None
    if implicit:
        return 8, struct.unpack(f"{endian}L", header[4:8])[0]
    if header[4:6] in _LONG_LENGTH_VRS:
        if len(header) < 12:
            return None
        return 12, struct.unpack(f"{endian}L", header[8:12])[0]
    return 8, struct.unpack(f"{endian}H", header[6:8])[0]


def _read_encoding(dataset: Dataset) -> tuple[bool, bool]:
    """(implicit VR, little endian) as pydicom actually parsed the data set, which differs from
    the transfer syntax when a writer got it wrong."""
    for tag in reversed(list(dataset.keys())):
        element = dataset.get_item(tag)
        if isinstance(element, RawDataElement):
            return element.is_implicit_VR, element.is_little_endian
    implicit, little = dataset.original_encoding
    return bool(implicit), little is not False


def _check_image_attributes(path: Path, dataset: Dataset) -> None:
    missing = [k for k in _REQUIRED_IMAGE_ATTRIBUTES if dataset.get(k) in (None, "")]
    if missing:
        raise ImageReadError(path, f"invalid image: missing {', '.join(missing)}")


def _transfer_syntax(path: Path, dataset: Dataset, encapsulated: bool) -> UID:
    """The file meta transfer syntax; for files without one, what pydicom read the data set as."""
    file_meta = getattr(dataset, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if uid:
        return UID(str(uid))
    if encapsulated:
        raise ImageReadError(path, "compressed pixel data but no transfer syntax in the file meta")
    implicit, little = _read_encoding(dataset)
    uid = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    dataset.file_meta = file_meta if file_meta is not None else FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = uid
    return uid


def _ts_name(uid: UID) -> str:
    return uid.name if uid.name != str(uid) else f"'{uid}'"


def _decode(path: Path, dataset: Dataset, decoder: Decoder, index: int) -> tuple[np.ndarray, str]:
    """One frame as HxW or HxWx3 and its photometric interpretation (MONOCHROME1/2 or RGB)."""
    ts = UID(str(dataset.file_meta.TransferSyntaxUID))
    try:
        array, properties = decoder.as_array(dataset, index=index, **as_pixel_options(dataset))
    except RuntimeError as exc:
        raise ImageReadError(path, f"cannot decode {_ts_name(ts)} pixel data: no installed decoder "
                                   f"could decode it ({_plugin_errors(exc)})") from None
    except ValueError as exc:
        found = re.search(r"less than expected \((\d+) vs (\d+) bytes\)", str(exc))
        if found:
            raise ImageReadError(path, f"pixel data shorter than expected ({found[1]} of {found[2]} "
                                       "bytes)") from None
        raise ImageReadError(path, f"invalid pixel data ({_first_line(exc)})") from None
    except (AttributeError, KeyError, TypeError, NotImplementedError) as exc:
        raise ImageReadError(path, f"cannot decode pixel data ({_first_line(exc)})") from None

    photometric = str(properties.get("photometric_interpretation", photometric_of(dataset))).upper()
    if photometric == "PALETTE COLOR":
        try:
            array = apply_color_lut(array, dataset)
        except (AttributeError, ValueError, KeyError) as exc:
            raise ImageReadError(path, f"invalid palette colour lookup table ({_first_line(exc)})") from None
        photometric = "RGB"
    # pydicom has already turned YBR_FULL/YBR_FULL_422 (and JPEG 2000's YBR_ICT/YBR_RCT) into RGB.
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB"):
        raise ImageReadError(path, f"unsupported photometric interpretation {photometric}")
    expected_ndim = 3 if photometric == "RGB" else 2
    if array.ndim != expected_ndim or (expected_ndim == 3 and array.shape[2] != 3):
        raise ImageReadError(path, f"{photometric} pixel data decoded to shape {array.shape}")
    return array, photometric


def _palette_bits(dataset: Dataset) -> int:
    """Palette entries are 16-bit by the standard, yet some files hold 8-bit values in them."""
    try:
        entries, first = (int(v) for v in dataset.RedPaletteColorLookupTableDescriptor[:2])
        indices = np.arange(first, first + (entries or 2**16))
        indices = indices.astype(np.uint8 if int(dataset.BitsStored) <= 8 else np.uint16)
        return 16 if int(apply_color_lut(indices, dataset).max()) > 255 else 8
    except (AttributeError, KeyError, TypeError, ValueError):
        return 16


def _plugin_errors(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    return "; ".join(lines) or _first_line(exc)


def _first_line(exc: Exception) -> str:
    message = str(exc).strip().splitlines()
    return message[0] if message else type(exc).__name__


def _frame_value(dataset: Dataset, index: int, sequence: str, keyword: str) -> Any:
    """``keyword`` from the frame's functional group ``sequence`` (enhanced multi-frame), the
    shared functional groups, or the top level, first found."""
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    shared = dataset.get("SharedFunctionalGroupsSequence")
    for items in ((per_frame[index],) if per_frame and index < len(per_frame) else (),
                  (shared[0],) if shared else ()):
        for item in items:
            group = item.get(sequence)
            if group and keyword in group[0]:
                return group[0][keyword].value
    return dataset.get(keyword)


def _first_number(value: Any) -> float | None:
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _modality_values(dataset: Dataset, array: np.ndarray, index: int) -> np.ndarray:
    if dataset.get("ModalityLUTSequence"):
        return apply_modality_lut(array, dataset).astype(np.float32)
    slope = _first_number(_frame_value(dataset, index, "PixelValueTransformationSequence", "RescaleSlope"))
    intercept = _first_number(_frame_value(dataset, index, "PixelValueTransformationSequence",
                                           "RescaleIntercept"))
    if slope in (None, 1.0) and intercept in (None, 0.0):
        return array.astype(np.float32)
    return (array.astype(np.float64) * (1.0 if slope is None else slope) + (intercept or 0.0)).astype(np.float32)


def _windows(dataset: Dataset, index: int) -> tuple[tuple[tuple[float, float, str], ...], str]:
    """Every valid (center, width, explanation) stored for the frame (Window Center and Width
    may hold several values, C.11.2.1.2), and the VOI LUT function they share."""
    centers = _numbers(_frame_value(dataset, index, "FrameVOILUTSequence", "WindowCenter"))
    widths = _numbers(_frame_value(dataset, index, "FrameVOILUTSequence", "WindowWidth"))
    explanations = _frame_value(dataset, index, "FrameVOILUTSequence", "WindowCenterWidthExplanation")
    if not isinstance(explanations, (list, tuple, MultiValue)):
        explanations = [] if explanations in (None, "") else [explanations]
    function = str(_frame_value(dataset, index, "FrameVOILUTSequence", "VOILUTFunction") or "LINEAR")
    function = function.strip().upper()
    function = function if function in VOI_FUNCTIONS else "LINEAR"
    windows = []
    for i, (center, width) in enumerate(zip(centers, widths)):
        if center is None or width is None or (width < 1 if function == "LINEAR" else width <= 0):
            continue
        explanation = str(explanations[i]).strip() if i < len(explanations) else ""
        windows.append((center, width, explanation))
    return tuple(windows), function


def _numbers(value: Any) -> list[float | None]:
    values = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    return [_first_number(v) for v in values]


def _voi_lut(dataset: Dataset) -> VoiLut | None:
    sequence = dataset.get("VOILUTSequence")
    if not sequence or "LUTDescriptor" not in sequence[0] or "LUTData" not in sequence[0]:
        return None
    try:
        entries, first_mapped, bits = (int(v) for v in sequence[0].LUTDescriptor)
        entries = entries or 2**16
        # pydicom knows the LUT encodings (US/OW, byte order): let it map every input once.
        table = apply_voi(np.arange(first_mapped, first_mapped + entries, dtype=np.int64), dataset)
    except (NotImplementedError, AttributeError, TypeError, ValueError, struct.error):
        return None  # an unusable VOI LUT: fall back to the full range
    return VoiLut(first_mapped=first_mapped, table=table, bits=bits,
                  explanation=str(sequence[0].get("LUTExplanation", "") or ""))


def _pixel_spacing(dataset: Dataset, index: int) -> tuple[tuple[float, float] | None, str | None]:
    """((row, column) spacing in mm, the attribute it came from), or (None, None): PixelSpacing
    (at the patient) first, else ImagerPixelSpacing (at the detector)."""
    for value, source in ((_frame_value(dataset, index, "PixelMeasuresSequence", "PixelSpacing"), "PixelSpacing"),
                          (dataset.get("ImagerPixelSpacing"), "ImagerPixelSpacing")):
        try:
            row, col = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if row > 0 and col > 0 and math.isfinite(row) and math.isfinite(col):
            return (row, col), source
    return None, None


def _spacing_fields(dataset: Dataset, index: int) -> dict:
    spacing, source = _pixel_spacing(dataset, index)
    return {"pixel_spacing": spacing, "pixel_spacing_source": source}


def _metadata(dataset: Dataset, transfer_syntax: UID) -> dict[str, str]:
    metadata = {"TransferSyntax": _ts_name(transfer_syntax)}
    for keyword in _METADATA_KEYWORDS:
        value = text(dataset, keyword)
        if value is not None:
            metadata[keyword] = UID(value).name if keyword == "SOPClassUID" else value
    return metadata
