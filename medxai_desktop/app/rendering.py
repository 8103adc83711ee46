"""Pixel work the GUI thread does on every window/level change or overlay restyle, made cheap
enough for big images (a 1955x1841 CR and larger).

* :class:`WindowLut`: window/level of an integer-valued image by table lookup. Windowing is
  elementwise, so applying ``MedicalImage.display`` to each distinct value once and indexing
  gives the same bytes as windowing every pixel, in a fraction of the time.
* :func:`overlay_rgba`: the heatmap overlay at a capped size (the map itself is 224 px or
  so; more pixels add nothing) plus the scale that lays it over the whole image.
"""
from __future__ import annotations

import dataclasses
import threading
import weakref
from collections import OrderedDict

import numpy as np

from medxai_desktop.core.overlay import heatmap_rgba

LUT_MIN_PIXELS = 1 << 18      # below ~512x512 windowing directly is as fast
LUT_MAX_LEVELS = 1 << 16
OVERLAY_MAX_SIDE = 512      # the map itself is ~224 px: 512 keeps its detail, smooth scaling does the rest
_CACHE_SIZE = 4
_cache: OrderedDict = OrderedDict()    # id(image) -> (weak reference, WindowLut or None)
_lock = threading.Lock()


class WindowLut:
    """``display(center, width, invert)`` equal to ``image.display(...)`` for a big grey image
    whose pixels are whole numbers spanning fewer than 65536 values; ``build`` returns None
    for any other image (the caller then windows directly).

    ``for_image`` keeps the tables of the last few images: the io job that decodes an image
    builds its table there, so the GUI thread only looks values up."""

    def __init__(self, image, index: np.ndarray, values: np.ndarray):
        self.image, self.index = image, index
        # a 1 x N image of the distinct values, with the image's window, VOI LUT and function
        self._levels = dataclasses.replace(image, pixels=values[None, :], dataset=None)

    @classmethod
    def build(cls, image) -> WindowLut | None:
        pixels = image.pixels
        if pixels.ndim != 2 or pixels.size < LUT_MIN_PIXELS:
            return None
        lo, hi = float(pixels.min()), float(pixels.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo >= LUT_MAX_LEVELS:
            return None
        whole = pixels.astype(np.int32)
        if not np.array_equal(whole, pixels):
            return None
        whole -= int(lo)
        values = np.arange(int(lo), int(hi) + 1, dtype=np.float32)
        return cls(image, whole.astype(np.uint16), values)

    @classmethod
    def for_image(cls, image) -> WindowLut | None:
        """The (cached) table of ``image``, built now if needed; None if it cannot have one."""
        key = id(image)
        with _lock:
            entry = _cache.get(key)
            if entry is not None and entry[0]() is image:
                _cache.move_to_end(key)
                return entry[1]
        lut = cls.build(image)
        with _lock:
            _cache[key] = (weakref.ref(image), lut)
            _cache.move_to_end(key)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return lut

    def display(self, center: float | None = None, width: float | None = None,
                invert: bool | None = None) -> np.ndarray:
        table = self._levels.display(center, width, invert)[0]
        return np.take(table, self.index)


def overlay_rgba(heatmap: np.ndarray, shape: tuple[int, int], colormap: str, threshold: float,
                 max_side: int = OVERLAY_MAX_SIDE) -> tuple[np.ndarray, float, float]:
    """RGBA overlay of ``heatmap`` for an image of ``shape`` (height, width), at most
    ``max_side`` pixels on its longer side, and the x and y scales that stretch it onto the
    image (1, 1 when the image is small enough to be drawn at its own size)."""
    height, width = shape
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    rgba = heatmap_rgba(heatmap, size, colormap, threshold)
    return rgba, width / size[1], height / size[0]
