"""How large an image the readers decode: checked from the header, before any pixel is decoded.

An image bomb (a 109 KB PNG of 30000 x 30000 pixels) must end in a clear refusal, not in a
MemoryError or a raw decoder assertion. The limit is per frame (a DICOM frame, a raster image)
or per volume; ``MEDXAI_MAX_PIXELS`` raises or lowers it for a site that reads larger images.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ImageReadError

# 2^27 pixels: 11,585 x 11,585; above every radiograph and mammogram (4,096 x 5,120 = 2^24.3).
DEFAULT_MAX_PIXELS = 1 << 27
# A volume is read whole: 8 times that (2^30 voxels: 1,024 slices of 1,024 x 1,024).
VOLUME_FACTOR = 8


def max_pixels() -> int:
    value = os.environ.get("MEDXAI_MAX_PIXELS", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_PIXELS


def check_pixels(path: Path, *dims: int, what: str = "image", factor: int = 1) -> None:
    """ImageReadError naming ``path`` when the product of ``dims`` exceeds ``factor`` x the limit."""
    total, limit = 1, factor * max_pixels()
    for d in dims:
        total *= max(int(d), 1)
    if total > limit:
        raise ImageReadError(path, f"{what} of {' x '.join(str(int(d)) for d in dims)} = {total:,} pixels "
                                   f"is larger than the limit of {limit:,} (MEDXAI_MAX_PIXELS); not decoded")


def out_of_memory(path: Path, exc: MemoryError) -> ImageReadError:
    """The one error a reader gives when decoding ran out of memory."""
    return ImageReadError(path, f"not enough memory to decode the image ({exc or 'MemoryError'})")
