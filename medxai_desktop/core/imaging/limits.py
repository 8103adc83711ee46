"""How large an image the readers decode: checked from the header, before any pixel is decoded.

An image bomb (a 109 KB PNG of 30000 x 30000 pixels) must end in a clear refusal, not in a
MemoryError or a raw decoder assertion. The limit is per frame (a DICOM frame, a raster image)
or per volume; ``MEDXAI_MAX_PIXELS`` raises or lowers it for a site that reads larger images.
No side may be longer than ``MAX_SIDE`` (a 99-byte PNG declaring 1 x 100,000,000 pixels is
refused, however few pixels that is), and a volume's bytes (voxels x bytes per voxel) are
counted against ``MEDXAI_MAX_VOLUME_BYTES`` before it is decompressed: reading it takes about
twice that (the volume and its LPS reorientation).
"""
from __future__ import annotations

from pathlib import Path

from medxai_desktop.core.user_files import positive_int_from_env

from .errors import ImageReadError

# 2^25 pixels: 5,792 x 5,792; above every radiograph and mammogram (4,096 x 5,120 = 2^24.3;
# 4,728 x 5,928 = 2^24.7). Explaining an image writes full-resolution overlays: 8,192 x 8,192
# took 74 s and 7 GB on a 2-core machine, 11,000 x 11,000 longer.
DEFAULT_MAX_PIXELS = 1 << 25
# A volume is read whole: 16 times that in voxels (2^29: 512 slices of 1,024 x 1,024) ...
VOLUME_FACTOR = 16
# ... and at most 512 MiB of voxel data (a 512 x 512 x 1,024 int16 CT volume).
DEFAULT_MAX_VOLUME_BYTES = 1 << 29
# The longest side of any image or slice (no radiograph comes near it).
MAX_SIDE = 1 << 15


def max_pixels() -> int:
    return positive_int_from_env("MEDXAI_MAX_PIXELS", DEFAULT_MAX_PIXELS)


def max_volume_bytes() -> int:
    return positive_int_from_env("MEDXAI_MAX_VOLUME_BYTES", DEFAULT_MAX_VOLUME_BYTES)


def check_pixels(path: Path, *dims: int, what: str = "image", factor: int = 1) -> None:
    """ImageReadError naming ``path`` when the product of ``dims`` exceeds ``factor`` x the limit."""
    total, limit = 1, factor * max_pixels()
    for d in dims:
        total *= max(int(d), 1)
    if any(int(d) > MAX_SIDE for d in dims[:2]):
        raise ImageReadError(path, f"{what} of {' x '.join(str(int(d)) for d in dims)} pixels has a side longer "
                                   f"than {MAX_SIDE:,} pixels; not decoded")
    if total > limit:
        raise ImageReadError(path, f"{what} of {' x '.join(str(int(d)) for d in dims)} = {total:,} pixels "
                                   f"is larger than the limit of {limit:,} (MEDXAI_MAX_PIXELS); not decoded")


def check_volume_bytes(path: Path, voxels: int, bytes_per_voxel: int) -> None:
    """ImageReadError naming ``path`` when a volume's voxel data would exceed the byte limit."""
    total, limit = voxels * bytes_per_voxel, max_volume_bytes()
    if total > limit:
        raise ImageReadError(path, f"volume of {voxels:,} voxels x {bytes_per_voxel} bytes = {total:,} bytes is "
                                   f"larger than the limit of {limit:,} (MEDXAI_MAX_VOLUME_BYTES); not decoded")


def out_of_memory(path: Path, exc: MemoryError) -> ImageReadError:
    """The one error a reader gives when decoding ran out of memory."""
    return ImageReadError(path, f"not enough memory to decode the image ({exc or 'MemoryError'})")
