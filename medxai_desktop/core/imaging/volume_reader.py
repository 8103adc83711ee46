"""NIfTI / MetaImage / NRRD files (SimpleITK) -> MedicalImage of one axial slice.

3-D volumes are reoriented to LPS first, so slice k is axial (k grows towards the head) and
shows the patient's right on the left and anterior at the top, as radiologists read them.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medxai_desktop.core.imaging.limits import VOLUME_FACTOR, check_pixels, check_volume_bytes
from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.file_types import check_image_file, suffix_of
from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.windowing import full_range_window, nominal_window

_FORMATS = {".nii": "NIfTI", ".nii.gz": "NIfTI", ".mha": "MetaImage", ".mhd": "MetaImage",
            ".nrrd": "NRRD", ".nhdr": "NRRD"}


def read_volume(path: Path, frame: int | None = None) -> MedicalImage:
    """Slice ``frame`` of a 3-D volume (default: the middle one), or a 2-D image (frame 0)."""
    fmt = _FORMATS.get(suffix_of(path), "image")
    header = _header(path)
    size = header.GetSize()
    check_pixels(path, *size[:2], what="slice")
    check_pixels(path, *size, what="volume", factor=VOLUME_FACTOR)
    check_volume_bytes(path, int(np.prod(size, dtype=np.int64)), _bytes_per_voxel(header))
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageReadError(path, f"cannot read {fmt} file ({_sitk_message(exc)})") from None
    size = image.GetSize()
    if len(size) > 3:
        raise ImageReadError(path, f"unsupported {len(size)}-D image of size {'x'.join(map(str, size))}")
    if len(size) == 3:
        image = sitk.DICOMOrient(image, "LPS") if size[2] > 1 else image[:, :, 0]
    n_frames = image.GetSize()[2] if image.GetDimension() == 3 else 1
    index = n_frames // 2 if frame is None else frame
    if not 0 <= index < n_frames:
        raise ImageReadError(path, f"frame {index} out of range (file has {n_frames} "
                                   f"frame{'s' if n_frames != 1 else ''})")

    array = sitk.GetArrayFromImage(image[:, :, index] if image.GetDimension() == 3 else image)
    pixels, photometric = _pixels(path, array)
    if array.dtype == np.uint8:
        center, width = nominal_window(8)
    elif photometric == "RGB":
        center, width = full_range_window(pixels)
    else:
        # One window for every slice of a volume: scrolling must not change the grey levels.
        stats = sitk.MinimumMaximumImageFilter()
        stats.Execute(image)
        center, width = full_range_window(np.array([stats.GetMinimum(), stats.GetMaximum()]))
    spacing = image.GetSpacing()
    return MedicalImage(
        pixels=pixels, photometric=photometric, window_center=center, window_width=width,
        source=path, frame=index, n_frames=n_frames, pixel_spacing=(spacing[1], spacing[0]),
        pixel_spacing_source=f"{fmt} header spacing",
        metadata={"Format": fmt, "Size": "x".join(map(str, image.GetSize())),
                  "Spacing": "x".join(f"{s:g}" for s in spacing),
                  "PixelType": image.GetPixelIDTypeAsString()},
    )


def volume_frames(path: Path) -> int:
    """Number of axial slices (after LPS reorientation) from the header alone; 1 for 2-D."""
    reader = _header(path)
    size = reader.GetSize()
    if len(size) > 3:
        raise ImageReadError(path, f"unsupported {len(size)}-D image of size {'x'.join(map(str, size))}")
    if len(size) < 3 or size[2] == 1:
        return 1
    direction = np.asarray(reader.GetDirection(), dtype=float).reshape(3, 3)
    # Column i is the direction of index axis i; the axial axis is the one closest to S (z).
    return int(size[int(np.argmax(np.abs(direction[2])))])


def _header(path: Path) -> sitk.ImageFileReader:
    """The file's header (size, pixel type, direction) read without its voxels; the file is a
    regular file within the image size limit (never a FIFO or a device)."""
    check_image_file(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ImageReadError(path, f"cannot read {_FORMATS.get(suffix_of(path), 'image')} file "
                                   f"({_sitk_message(exc)})") from None
    return reader


def _bytes_per_voxel(header: sitk.ImageFileReader) -> int:
    """From the pixel type's name ("16-bit signed integer", "vector of 32-bit float", ...)."""
    name = sitk.GetPixelIDValueAsString(header.GetPixelID())
    bits = re.search(r"(\d+)-bit", name)
    per_component = int(bits.group(1)) // 8 if bits else 8
    return per_component * (2 if "complex" in name else 1) * max(header.GetNumberOfComponents(), 1)


def _pixels(path: Path, array: np.ndarray) -> tuple[np.ndarray, str]:
    if array.ndim == 2:
        return array.astype(np.float32), "MONOCHROME2"
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[:, :, :3].astype(np.float32)
        if array.shape[2] == 4:
            opaque = np.iinfo(array.dtype).max if np.issubdtype(array.dtype, np.integer) else 1.0
            rgb *= array[:, :, 3:].astype(np.float32) / np.float32(opaque)
        return rgb, "RGB"
    raise ImageReadError(path, f"unsupported pixel layout {array.shape} (expected 1, 3 or 4 components)")


def _sitk_message(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip()
    return lines[-1] if lines else "SimpleITK could not read it"
