"""Window/level presets that fit one image, by what the image is (no Qt; the app renders them).

CT (Modality CT, values in HU): the file's windows, then the usual CT windows in HU (lung,
bone, soft tissue, brain) where they overlap the image's values. Every other grey image (CR,
DX, MR, a raster, a volume): the file's windows (all of them, PS3.3 C.11.2.1.2) or its VOI LUT,
then percentile windows (1–99 %, 5–95 %). Last, the full range. Identical windows are offered
once; at most :data:`MAX_PRESETS` (keys 1-9). A CT window on a CR (values 0..32767) would
show it black: it is never offered there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from medxai_desktop.core.imaging.medical_image import MedicalImage
from medxai_desktop.core.imaging.windowing import full_range_window

MAX_PRESETS = 9
# name, centre, width (HU)
CT_WINDOWS = (("Lung", -600.0, 1500.0), ("Bone", 300.0, 1500.0), ("Soft tissue", 40.0, 400.0),
              ("Brain", 40.0, 80.0))
PERCENTILE_WINDOWS = ((1.0, 99.0), (5.0, 95.0))
_PERCENTILE_SAMPLES = 1 << 20      # percentiles of at most ~1M evenly spread pixels


@dataclass(frozen=True)
class WindowPreset:
    """One window to offer: ``kind`` is "file" (stored in the file), "voi_lut" (the file's VOI
    LUT; ``center``/``width`` span its input range), "default" (the reader's window when the
    file stores none), "ct", "percentile" or "range"."""

    name: str
    center: float
    width: float
    kind: str

    @property
    def uses_voi_lut(self) -> bool:
        return self.kind == "voi_lut"

    def describe(self, unit: str | None = None) -> str:
        """"Lung  W 1500 L -600 HU"; a VOI LUT is named, not given numbers."""
        if self.uses_voi_lut:
            return self.name
        return f"{self.name}  {format_window(self.center, self.width, unit)}"


def window_presets(image: MedicalImage) -> list[WindowPreset]:
    """The presets that fit ``image``, in key order (1 = the image's own default)."""
    full = full_range_window(image.pixels)
    presets = _named_default(_file_presets(image), full)
    if image.is_color:
        presets.append(WindowPreset("Full range", *full, "range"))
        return _unique(presets)
    lo, hi = value_range(image.pixels)
    if is_ct(image, lo, hi):
        presets += [WindowPreset(name, c, w, "ct") for name, c, w in CT_WINDOWS if _overlaps(c, w, lo, hi)]
    else:
        presets += _percentile_presets(image.pixels)
    presets.append(WindowPreset("Full range", *full, "range"))
    return _unique(presets)[:MAX_PRESETS]


def _named_default(presets: list[WindowPreset], full: tuple[float, float]) -> list[WindowPreset]:
    """The reader's default is the full range when the file stores no window: say so."""
    first = presets[0]
    if first.kind == "default" and (first.center, first.width) == full:
        presets[0] = WindowPreset("Full range (default)", first.center, first.width, "default")
    return presets


def is_ct(image: MedicalImage, lo: float, hi: float) -> bool:
    """A CT in HU: Modality CT (an image without a modality, a volume file, when its values
    run from air to bone as HU do: min <= -900, max >= 300)."""
    modality = (image.modality or "").strip().upper()
    if modality:
        return modality == "CT" and image.unit in (None, "HU")
    return lo <= -900 and hi >= 300


def value_range(pixels: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values; (0, 0) when there are none."""
    finite = pixels[np.isfinite(pixels)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def format_window(center: float, width: float, unit: str | None = None) -> str:
    """"W 19957 L 6966 HU": decimals by the width's magnitude (whole numbers from a width of
    100 up, two significant decimals below), trailing zeros dropped."""
    decimals = 0 if width >= 100 else min(4, max(0, 2 - math.floor(math.log10(max(width, 1e-4)))))
    text = f"W {_number(width, decimals)} L {_number(center, decimals)}"
    return f"{text} {unit}" if unit else text


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _file_presets(image: MedicalImage) -> list[WindowPreset]:
    windows = image.windows
    if windows:
        several = len(windows) > 1
        return [WindowPreset(explanation or (f"File window {i}" if several else "File window"), c, w, "file")
                for i, (c, w, explanation) in enumerate(windows, 1)]
    if image.voi_lut is not None:
        explanation = image.voi_lut.explanation.strip()
        return [WindowPreset(f"File VOI LUT{': ' + explanation if explanation else ''}",
                             *image.voi_lut.window, "voi_lut")]
    return [WindowPreset("Default", image.window_center, image.window_width, "default")]


def _percentile_presets(pixels: np.ndarray) -> list[WindowPreset]:
    values = pixels.ravel()
    if values.size > _PERCENTILE_SAMPLES:
        values = values[::math.ceil(values.size / _PERCENTILE_SAMPLES)]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    presets = []
    for low, high in PERCENTILE_WINDOWS:
        lo, hi = (float(v) for v in np.percentile(values, (low, high)))
        if hi > lo:   # a LINEAR window is at least 1 wide (C.11.2.1.2.1)
            presets.append(WindowPreset(f"{low:g}–{high:g} %", (lo + hi) / 2.0, max(hi - lo, 1.0), "percentile"))
    return presets


def _overlaps(center: float, width: float, lo: float, hi: float) -> bool:
    """Whether the window's grey ramp covers part of [lo, hi] (else the image is one grey)."""
    return center - width / 2.0 < hi and center + width / 2.0 > lo


def _unique(presets: list[WindowPreset]) -> list[WindowPreset]:
    seen, out = set(), []
    for preset in presets:
        key = (preset.uses_voi_lut, round(preset.center, 6), round(preset.width, 6))
        if key not in seen:
            seen.add(key)
            out.append(preset)
    return out
