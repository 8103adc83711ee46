"""Grey-level display transforms: DICOM windowing (PS3.3 C.11.2.1.2) and VOI LUTs.

Every transform maps modality values to [0, 1] (``ymin = 0``, ``ymax = 1``);
:func:`to_uint8` turns that into display bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def apply_window(values: np.ndarray, center: float, width: float,
                 function: str = "LINEAR") -> np.ndarray:
    """Window ``values`` to float32 in [0, 1] with a DICOM VOI LUT Function.

    LINEAR (C.11.2.1.2.1): ``x <= c - 0.5 - (w-1)/2`` -> 0, ``x > c - 0.5 + (w-1)/2`` -> 1,
    else ``(x - (c - 0.5)) / (w - 1) + 0.5``; width must be >= 1 (width 1 is a threshold).
    LINEAR_EXACT (C.11.2.1.3.2): ``(x - c) / w + 0.5`` clipped; SIGMOID (C.11.2.1.3.1):
    ``1 / (1 + exp(-4 (x - c) / w))``.
    """
    function = function.upper()
    if function not in VOI_FUNCTIONS:
        raise ValueError(f"unknown VOI LUT function {function!r} (expected one of {VOI_FUNCTIONS})")
    x = np.asarray(values, dtype=np.float32)
    if function == "LINEAR":
        if width < 1:
            raise ValueError(f"LINEAR window width must be >= 1, got {width}")
        if width == 1:
            return (x > center - 0.5).astype(np.float32)
        scale = 1.0 / (width - 1)
        offset = 0.5 - (center - 0.5) * scale
    else:
        if width <= 0:
            raise ValueError(f"{function} window width must be > 0, got {width}")
        if function == "SIGMOID":
            with np.errstate(over="ignore"):
                y = 1.0 / (1.0 + np.exp(x * np.float32(-4.0 / width) + np.float32(4.0 * center / width)))
            return np.nan_to_num(y, copy=False)
        scale = 1.0 / width
        offset = 0.5 - center * scale
    y = x * np.float32(scale) + np.float32(offset)
    np.clip(y, 0.0, 1.0, out=y)
    return np.nan_to_num(y, copy=False)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255, rounding half up; NaN -> 0."""
    scaled = np.nan_to_num(np.asarray(unit, dtype=np.float32) * np.float32(255.0) + np.float32(0.5))
    return np.clip(scaled, 0, 255.5).astype(np.uint8)


def full_range_window(pixels: np.ndarray) -> tuple[float, float]:
    """The LINEAR window mapping the finite minimum to 0 and the maximum to 1 exactly."""
    lo, hi = float(np.nanmin(pixels)), float(np.nanmax(pixels))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        finite = pixels[np.isfinite(pixels)]
        if finite.size == 0:
            return 0.5, 1.0
        lo, hi = float(finite.min()), float(finite.max())
    return (lo + hi + 1.0) / 2.0, hi - lo + 1.0


def nominal_window(bits: int) -> tuple[float, float]:
    """The LINEAR window mapping 0..2**bits - 1 exactly onto [0, 1] (identity for 8 bits)."""
    return float(2 ** (bits - 1)), float(2**bits)


@dataclass(eq=False)
class VoiLut:
    """A DICOM VOI LUT (C.11.2.1.1): input ``first_mapped + i`` -> ``table[i]`` of ``bits`` bits."""

    first_mapped: int
    table: np.ndarray
    bits: int
    explanation: str = ""
    _unit_table: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.table = np.asarray(self.table)
        self._unit_table = (self.table.astype(np.float32) / np.float32(2**self.bits - 1)).clip(0, 1)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Values below the first mapped input take the first entry, above the range the last."""
        index = np.floor(np.asarray(values, dtype=np.float32)) - self.first_mapped
        np.clip(np.nan_to_num(index, copy=False), 0, len(self.table) - 1, out=index)
        return self._unit_table[index.astype(np.intp)]

    @property
    def window(self) -> tuple[float, float]:
        """The LINEAR window spanning the LUT's input range."""
        return self.first_mapped + len(self.table) / 2.0, float(len(self.table))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VoiLut):
            return NotImplemented
        return (self.first_mapped, self.bits, self.explanation) == (
            other.first_mapped, other.bits, other.explanation) and np.array_equal(self.table, other.table)

    __hash__ = None  # type: ignore[assignment]
