"""``read_image``: any supported file -> MedicalImage, chosen by content first, then by name."""
from __future__ import annotations

import os
from pathlib import Path

from medxai_desktop.core.imaging.dicom_reader import read_dicom
from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.limits import out_of_memory
from medxai_desktop.core.imaging.file_types import DICOM_SUFFIXES, FileKind, classify, read_head, suffix_of
from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.raster_reader import read_raster
from medxai_desktop.core.imaging.volume_reader import read_volume


def read_image(path: str | os.PathLike[str], frame: int | None = None) -> MedicalImage:
    """Read one 2-D image: a DICOM frame (default 0), a raster file, or a volume slice
    (default: the middle one). Every failure is an :class:`ImageReadError`."""
    path = Path(path)
    try:
        kind = classify(path, read_head(path))
        if kind is FileKind.DICOM:
            return read_dicom(path, frame)
        if kind is FileKind.VOLUME:
            return read_volume(path, frame)
        if kind is FileKind.UNKNOWN and suffix_of(path) in DICOM_SUFFIXES:
            # A DICOM data set that starts unusually: let pydicom judge.
            try:
                return read_dicom(path, frame)
            except ImageReadError as exc:
                if not exc.reason.startswith("not a"):
                    raise
        return read_raster(path, frame)  # OpenCV, then Pillow; else "not an image (...)"
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise out_of_memory(path, exc) from None
    except Exception as exc:  # noqa: BLE001 - a reader bug still names the file
        raise ImageReadError(path, f"unexpected {type(exc).__name__} while reading: {exc}") from exc
