"""Measurements on one image: a length (ruler), and rectangle and ellipse ROIs with statistics.

Coordinates are the image's pixel coordinates with DICOM SCOORD's convention (and our Box's):
(0, 0) is the top-left corner of the top-left pixel, pixel (row i, column j) covers
[j, j + 1) x [i, i + 1) and its centre is (j + 0.5, i + 0.5).

* Lengths and areas use the image's pixel spacing (``MedicalImage.pixel_spacing``: mm between
  rows, between columns) and say where it came from (``Spacing.source``: PixelSpacing, or
  ImagerPixelSpacing, which is at the detector, not corrected for magnification). Without a
  spacing they are in pixels, and ``Spacing.describe`` says so.
* ROI statistics are over the pixels whose centres lie inside the shape (the rectangle's edges
  and the ellipse's boundary included), in modality units: the image's rescaled values
  (``MedicalImage.pixels``: HU on CT, ``MedicalImage.unit``). ``sd`` is the population standard
  deviation (numpy's ``std``, ddof 0), as OHIF and Weasis show it. Colour images get no
  statistics (their values are not one quantity).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

LENGTH, RECTANGLE, ELLIPSE = "length", "rectangle", "ellipse"
KINDS = (LENGTH, RECTANGLE, ELLIPSE)
ROI_KINDS = (RECTANGLE, ELLIPSE)
STATISTICS = ("mean", "sd", "min", "max")
MM, PX = "mm", "px"

Point = tuple[float, float]


@dataclass(frozen=True)
class Spacing:
    """The pixel spacing measurements use: mm between rows (``row``) and between columns
    (``column``), and the attribute it came from; both None when the image has none."""
    row: float | None = None
    column: float | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if (self.row is None) != (self.column is None):
            raise ValueError("give both spacings or neither")
        if self.row is not None and not (_positive(self.row) and _positive(self.column)):
            raise ValueError(f"pixel spacing must be positive, got {self.row!r} x {self.column!r}")

    @classmethod
    def of(cls, image) -> "Spacing":
        """The spacing of a MedicalImage (none when it states none)."""
        if image.pixel_spacing is None:
            return cls()
        row, column = image.pixel_spacing
        return cls(float(row), float(column), image.pixel_spacing_source or "pixel spacing")

    @property
    def known(self) -> bool:
        return self.row is not None

    @property
    def unit(self) -> str:
        """What lengths are in: "mm", or "px" without a spacing."""
        return MM if self.known else PX

    def describe(self) -> str:
        """One line for the reader: which spacing measurements use, or that they are in pixels."""
        if not self.known:
            if self.source:   # read back from a report that names it without its values
                return f"{self.source} (values not stated)"
            return "no pixel spacing in the image: lengths and areas in pixels"
        where = " (at the detector, not corrected for magnification)" if self.source == "ImagerPixelSpacing" else ""
        return f"{self.source} {self.row:.4g} x {self.column:.4g} mm{where}"


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class Shape:
    """What was drawn: a length's two ends, or two opposite corners of a ROI's rectangle (the
    ellipse is the one inscribed in that rectangle)."""
    kind: str
    points: tuple[Point, Point]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a measurement is one of {', '.join(KINDS)}, not {self.kind!r}")
        points = tuple((float(x), float(y)) for x, y in self.points)
        if len(points) != 2 or not all(math.isfinite(v) for p in points for v in p):
            raise ValueError(f"a {self.kind} needs two finite points, got {self.points!r}")
        object.__setattr__(self, "points", points)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1), x0 <= x1 and y0 <= y1."""
        (ax, ay), (bx, by) = self.points
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)

    def moved(self, dx: float, dy: float) -> "Shape":
        return Shape(self.kind, tuple((x + dx, y + dy) for x, y in self.points))

    def outline(self) -> list[Point]:
        """The SCOORD points: a length's two ends; a rectangle's closed 5-point polyline; an
        ellipse's major axis ends, then its minor axis ends (ELLIPSE)."""
        x0, y0, x1, y1 = self.bounds
        if self.kind == LENGTH:
            return list(self.points)
        if self.kind == RECTANGLE:
            return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        horizontal, vertical = [(x0, cy), (x1, cy)], [(cx, y0), (cx, y1)]
        return horizontal + vertical if x1 - x0 >= y1 - y0 else vertical + horizontal


@dataclass(frozen=True)
class Measurement:
    """A shape and what was measured on it. ``length`` (a length) and ``area`` (a ROI) are in
    ``length_unit`` (default ``spacing.unit``: mm, or px without a spacing) and its square; the
    statistics (ROIs on grey images) in ``value_unit`` (the modality unit: "HU" on CT; None:
    not known), over ``pixels`` pixels."""
    shape: Shape
    spacing: Spacing = field(default_factory=Spacing)
    length_unit: str | None = None
    length: float | None = None
    area: float | None = None
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    pixels: int = 0
    value_unit: str | None = None

    def __post_init__(self) -> None:
        if self.length_unit is None:
            object.__setattr__(self, "length_unit", self.spacing.unit)
        if self.length_unit not in (MM, PX):
            raise ValueError(f"lengths are in {MM} or {PX}, not {self.length_unit!r}")

    @property
    def kind(self) -> str:
        return self.shape.kind

    @property
    def has_statistics(self) -> bool:
        return self.mean is not None

    def values(self) -> dict[str, float | int]:
        """The numbers measured, by name (what the store keeps), None left out."""
        names = ("length",) if self.kind == LENGTH else ("area", *STATISTICS, "pixels")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @classmethod
    def from_values(cls, shape: Shape, spacing: Spacing, values: dict, value_unit: str | None,
                    length_unit: str | None = None) -> "Measurement":
        """A measurement as stored (``values()``), not measured again."""
        known = {name: values[name] for name in ("length", "area", *STATISTICS) if values.get(name) is not None}
        return cls(shape, spacing, length_unit, **{k: float(v) for k, v in known.items()},
                   pixels=int(values.get("pixels", 0)), value_unit=value_unit)

    def moved_to(self, shape: Shape) -> "Measurement":
        return replace(self, shape=shape)

    def lines(self) -> list[str]:
        """What is shown beside the shape, a line each: "12.3 mm"; or a ROI's "area 45.6 mm2",
        "mean 40.1 HU  sd 3.2", "min 31  max 52"."""
        unit = self.length_unit
        if self.kind == LENGTH:
            text = f"{_number(self.length)} {unit}"
            return [text if unit == MM else f"{text} (no pixel spacing)"]
        lines = [f"area {_number(self.area)} {unit}\u00b2"]
        if self.has_statistics:
            value_unit = f" {self.value_unit}" if self.value_unit else ""
            lines += [f"mean {_number(self.mean)}{value_unit}  sd {_number(self.sd)}",
                      f"min {_number(self.min)}  max {_number(self.max)}"]
        else:
            lines.append("no pixel centre inside" if self.pixels == 0 else "colour image: no statistics")
        return lines

    def summary(self) -> str:
        """The lines on one line."""
        return "  ".join(self.lines())


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def measure(image, shape: Shape) -> Measurement:
    """``shape`` measured on a MedicalImage: its length or its area (mm where the image states
    a spacing), and for a ROI on a grey image the statistics of the pixels inside it."""
    spacing = Spacing.of(image)
    column, row = (spacing.column, spacing.row) if spacing.known else (1.0, 1.0)
    x0, y0, x1, y1 = shape.bounds
    if shape.kind == LENGTH:
        (ax, ay), (bx, by) = shape.points
        return Measurement(shape, spacing, length=math.hypot((bx - ax) * column, (by - ay) * row))
    width, height = (x1 - x0) * column, (y1 - y0) * row
    area = width * height if shape.kind == RECTANGLE else math.pi * width * height / 4
    inside = roi_pixels(shape, image.shape)
    result = Measurement(shape, spacing, area=area, pixels=int(inside[2].sum()), value_unit=image.unit)
    if image.is_color or result.pixels == 0:
        return result
    rows, columns, mask = inside
    values = np.asarray(image.pixels[rows, columns][mask], dtype=np.float64)
    return replace(result, mean=float(values.mean()), sd=float(values.std()), min=float(values.min()),
                   max=float(values.max()))


def roi_pixels(shape: Shape, image_shape: tuple[int, int]) -> tuple[slice, slice, np.ndarray]:
    """(rows, columns, mask): the pixels of a ROI, as slices of the image around the shape and a
    boolean mask over that window (True: the pixel's centre is inside the shape)."""
    height, width = image_shape[:2]
    x0, y0, x1, y1 = shape.bounds
    # pixel j's centre j + 0.5 lies in [x0, x1] for j in [ceil(x0 - 0.5), floor(x1 - 0.5)]
    j0, j1 = max(math.ceil(x0 - 0.5), 0), min(math.floor(x1 - 0.5), width - 1)
    i0, i1 = max(math.ceil(y0 - 0.5), 0), min(math.floor(y1 - 0.5), height - 1)
    rows, columns = slice(i0, max(i1 + 1, i0)), slice(j0, max(j1 + 1, j0))
    ys = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(columns.start, columns.stop, dtype=np.float64)[None, :] + 0.5
    if shape.kind == RECTANGLE:
        mask = np.ones((ys.size, xs.size), dtype=bool)
    else:
        a, b = (x1 - x0) / 2, (y1 - y0) / 2
        if a <= 0 or b <= 0:
            mask = np.zeros((ys.size, xs.size), dtype=bool)
        else:
            mask = ((xs - (x0 + a)) / a) ** 2 + ((ys - (y0 + b)) / b) ** 2 <= 1.0
    return rows, columns, mask
