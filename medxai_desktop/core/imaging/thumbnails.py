"""Series thumbnails: a small picture of the image that stands for a series (its middle image,
and of a multi-frame file its middle frame), shown as the image's own display shows it (its
window or VOI LUT, MONOCHROME1 inverted).

:func:`thumbnail` turns a decoded image into uint8 HxW (or HxWx3) whose longer side is ``size``
pixels; :class:`ThumbnailCache` decodes and keeps them per (file, frame, modification time) for a
session, from any thread. Plain numpy and OpenCV: the app turns the array into an icon.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from medxai_desktop.core.imaging.discovery import ImageRef
from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.reader import read_image

THUMBNAIL_SIZE = 64
MAX_CACHED = 4096      # thumbnails of 64 px are 4-12 KiB: a few thousand series fit in tens of MiB


def series_thumbnail_source(images: Sequence[ImageRef]) -> tuple[Path, int] | None:
    """(file, frame) of the image that stands for a series: the middle file, its middle frame
    (the listed frame of a single-frame file); None for a series without images."""
    if not images:
        return None
    ref = images[len(images) // 2]
    return ref.path, (ref.n_frames // 2 if ref.n_frames > 1 else ref.frame)


def thumbnail(image: MedicalImage, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """The image's default display, scaled so that its longer side is ``size`` pixels (averaged
    when shrinking, nearest pixel when enlarging), uint8 HxW or HxWx3, C-contiguous."""
    shown = image.display()
    height, width = shown.shape[:2]
    scale = size / max(height, width)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target != (width, height):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
        shown = cv2.resize(shown, target, interpolation=interpolation)
    return np.ascontiguousarray(shown, dtype=np.uint8)


class ThumbnailCache:
    """Thumbnails by (file, frame, modification time): a file changed on disk is decoded again.
    Unreadable files are remembered too (``get`` raises their ImageReadError again). Thread-safe;
    two threads asking for the same new thumbnail at once may both decode it."""

    def __init__(self, size: int = THUMBNAIL_SIZE, max_entries: int = MAX_CACHED):
        self.size, self.max_entries = size, max_entries
        self._entries: OrderedDict[tuple[Path, int, int], np.ndarray | ImageReadError] = OrderedDict()
        self._lock = threading.Lock()
        self.decoded = 0       # how many were decoded (not found in the cache), for tests

    def get(self, path: str | os.PathLike[str], frame: int = 0) -> np.ndarray:
        """The thumbnail of ``path``'s ``frame`` (read-only array); ImageReadError if unreadable."""
        path = Path(path)
        try:
            key = (path, int(frame), os.stat(path).st_mtime_ns)
        except OSError as exc:
            raise ImageReadError(path, f"cannot read: {exc.strerror or exc}") from None
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
        if found is None:
            found = self._make(path, int(frame))
            with self._lock:
                self.decoded += 1
                self._entries[key] = found
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        if isinstance(found, ImageReadError):
            raise ImageReadError(found.path, found.reason)   # a new one: no traceback piles up
        return found

    def _make(self, path: Path, frame: int) -> np.ndarray | ImageReadError:
        try:
            array = thumbnail(read_image(path, frame), self.size)
        except ImageReadError as exc:
            return exc
        array.flags.writeable = False
        return array
