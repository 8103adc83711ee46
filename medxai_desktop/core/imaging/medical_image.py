"""One decoded 2-D image (a DICOM frame, a raster file, a volume slice) and its display."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medxai_desktop.core.imaging.windowing import VoiLut, apply_window, to_uint8

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB")


@dataclass(eq=False, repr=False)
class MedicalImage:
    """Pixels in modality units (float32, HxW or HxWx3, never inverted) plus how to show them.

    ``window_center``/``window_width`` are the default LINEAR window; when ``voi_lut`` is set
    (a DICOM VOI LUT without a window) the default display applies the LUT instead.
    ``windows`` holds every (centre, width, explanation) the file stores for the frame, the
    default first (empty when the file stores none: a raster, a volume, a DICOM without one).
    MONOCHROME1 images are shown (and given to models) inverted: high values dark.
    ``pixels`` is read-only, so ``content_hash`` (sha256 of dtype, shape and bytes) stays valid.
    ``pixel_spacing`` (row, column) in mm where known, and ``pixel_spacing_source``: where it
    came from ("PixelSpacing", "ImagerPixelSpacing": at the detector, or a volume header's).
    """

    pixels: np.ndarray
    photometric: str
    window_center: float
    window_width: float
    source: Path
    frame: int = 0
    n_frames: int = 1
    voi_lut: VoiLut | None = None
    voi_function: str = "LINEAR"
    windows: tuple[tuple[float, float, str], ...] = ()
    pixel_spacing: tuple[float, float] | None = None   # mm between rows, between columns
    pixel_spacing_source: str | None = None            # the attribute it came from
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    study_description: str | None = None
    series_description: str | None = None
    modality: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    dataset: Dataset | None = field(default=None, compare=False)
    _content_hash: str | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        # A view, so freezing it never freezes the caller's array.
        pixels = np.ascontiguousarray(self.pixels, dtype=np.float32).view()
        if self.photometric not in PHOTOMETRICS:
            raise ValueError(f"photometric must be one of {PHOTOMETRICS}, got {self.photometric!r}")
        expected_ndim = 3 if self.photometric == "RGB" else 2
        if pixels.ndim != expected_ndim or (pixels.ndim == 3 and pixels.shape[2] != 3):
            raise ValueError(f"{self.photometric} pixels must be {'HxWx3' if expected_ndim == 3 else 'HxW'}, "
                             f"got shape {pixels.shape}")
        pixels.flags.writeable = False
        self.pixels = pixels
        self.source = Path(self.source)

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape[0], self.pixels.shape[1]

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 3

    @property
    def unit(self) -> str | None:
        """The unit of the pixel values where known: the file's Rescale Type (unless "US",
        unspecified), else HU for CT (PS3.3 C.8.2.1: CT values are Hounsfield units)."""
        rescale_type = (self.metadata.get("RescaleType") or "").strip().upper()
        if rescale_type and rescale_type != "US":
            return rescale_type
        return "HU" if (self.modality or "").strip().upper() == "CT" and not self.is_color else None

    @property
    def inverted(self) -> bool:
        """Whether the default display inverts (MONOCHROME1: high values dark)."""
        return self.photometric == "MONOCHROME1"

    @property
    def content_hash(self) -> str:
        """sha256 hex of the decoded pixels (dtype, shape, bytes): same pixels, same hash."""
        if self._content_hash is None:
            digest = hashlib.sha256(f"{self.pixels.dtype.str}{self.pixels.shape}".encode())
            digest.update(self.pixels.data)
            self._content_hash = digest.hexdigest()
        return self._content_hash

    def display(self, center: float | None = None, width: float | None = None,
                invert: bool | None = None) -> np.ndarray:
        """uint8 HxW (or HxWx3) for the screen: the window (default: the image's), then inversion
        (default: MONOCHROME1 only); 0..1 maps to 0..255 rounding half up."""
        if center is None and width is None and self.voi_lut is not None:
            unit = self.voi_lut.apply(self.pixels)
        else:
            unit = apply_window(self.pixels,
                                self.window_center if center is None else center,
                                self.window_width if width is None else width,
                                self.voi_function)
        out = to_uint8(unit)
        if self.inverted if invert is None else invert:
            np.subtract(255, out, out=out)
        return out

    def as_rgb01(self) -> np.ndarray:
        """What models receive: the default display as float32 HxWx3 in [0, 1]."""
        shown = self.display()
        if shown.ndim == 2:
            shown = np.repeat(shown[:, :, None], 3, axis=2)
        return shown.astype(np.float32) / np.float32(255.0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MedicalImage):
            return NotImplemented
        for f in dataclasses.fields(self):
            if f.compare and f.name != "pixels" and getattr(self, f.name) != getattr(other, f.name):
                return False
        return self.pixels.shape == other.pixels.shape and np.array_equal(self.pixels, other.pixels)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"MedicalImage(source={str(self.source)!r}, shape={self.pixels.shape}, "
                f"photometric={self.photometric!r}, frame={self.frame}/{self.n_frames}, "
                f"window=({self.window_center:g}, {self.window_width:g}), modality={self.modality!r})")
