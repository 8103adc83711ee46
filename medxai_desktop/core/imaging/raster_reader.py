"""PNG/JPEG/BMP/TIFF/... files -> MedicalImage: OpenCV first, Pillow for what OpenCV cannot read."""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.limits import check_pixels
from medxai_desktop.core.imaging.file_types import describe_content, raster_format, read_head, read_image_bytes
from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.windowing import full_range_window, nominal_window

# The readers say what is wrong with a file in one error naming it; OpenCV's own log lines
# ("[ WARN:0] ... read_chunk") would print on stderr before it.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def read_raster(path: Path, frame: int | None = None) -> MedicalImage:
    """Raw stored values (no EXIF rotation); RGBA is composited on black (RGB * alpha / max)
    and three equal channels become one grayscale channel. 8-bit files get the window that
    shows 0..255 as stored; deeper ones the full range of their values."""
    head = read_head(path)
    index = 0 if frame is None else frame
    if index != 0:
        raise ImageReadError(path, f"frame {index} out of range (file has 1 frame)")
    _check_header_size(path)
    data = np.frombuffer(read_image_bytes(path), dtype=np.uint8)  # bytes + imdecode: any path encoding
    try:
        array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error as exc:  # e.g. OpenCV's own pixel limit
        raise ImageReadError(path, f"OpenCV cannot decode it ({str(exc).strip().splitlines()[-1]})") from None
    decoder = "OpenCV"
    if array is None:
        array, decoder, error = _decode_with_pillow(path)
        if array is None:
            fmt = raster_format(head)
            if fmt is None:
                raise ImageReadError(path, f"not an image ({describe_content(head)})")
            raise ImageReadError(path, f"corrupt or truncated {fmt} file ({error})")
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[:, :, [2, 1, 0, 3][: array.shape[2]]]  # OpenCV's BGR(A) -> RGB(A)

    source_dtype = array.dtype
    pixels = _to_gray_or_rgb(path, array)
    if source_dtype == np.uint8:
        center, width = nominal_window(8)
    else:
        center, width = full_range_window(pixels)
    fmt = raster_format(head) or path.suffix.lstrip(".").upper()
    return MedicalImage(
        pixels=pixels, photometric="RGB" if pixels.ndim == 3 else "MONOCHROME2",
        window_center=center, window_width=width, source=path,
        metadata={"Format": fmt, "StoredType": str(source_dtype),
                  "StoredChannels": str(array.shape[2] if array.ndim == 3 else 1), "Decoder": decoder},
    )


def _check_header_size(path: Path) -> None:
    """Refuse an image whose header declares more pixels than the limit (core/imaging/limits.py);
    Pillow reads the size without decoding. A file Pillow cannot identify is left to OpenCV."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                width, height = image.size
                frames = getattr(image, "n_frames", 1)
        except Image.DecompressionBombError as exc:  # Pillow's own refusal: over 2 x its limit
            raise ImageReadError(path, f"larger than the pixel limit, not decoded ({exc})") from None
        except (OSError, ValueError, SyntaxError):
            return
    check_pixels(path, width, height)
    if frames > 1:
        check_pixels(path, width, height, frames, what="multi-page image")


def _decode_with_pillow(path: Path) -> tuple[np.ndarray | None, str, str]:
    """(RGB/RGBA/grayscale array or None, decoder name, error message)."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode == "1":
                image = image.convert("L")
            elif image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
            elif image.mode not in ("L", "RGB", "RGBA", "I", "F") and not image.mode.startswith("I;16"):
                image = image.convert("RGB")
            return np.asarray(image), "Pillow", ""
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, "Pillow", str(exc) or type(exc).__name__


def _to_gray_or_rgb(path: Path, array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return array.astype(np.float32)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageReadError(path, f"unsupported image layout {array.shape}")
    if array.shape[2] == 4:
        opaque = np.iinfo(array.dtype).max if np.issubdtype(array.dtype, np.integer) else 1.0
        alpha = array[:, :, 3:].astype(np.float32) / np.float32(opaque)
        rgb = array[:, :, :3].astype(np.float32) * alpha
    else:
        rgb = array.astype(np.float32)
    if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
        return rgb[:, :, 0]
    return rgb
