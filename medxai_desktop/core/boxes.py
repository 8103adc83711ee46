"""Box geometry in image pixel coordinates: corners (x0, y0) inclusive, (x1, y1) exclusive."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self):
        if not (self.x1 >= self.x0 and self.y1 >= self.y0):
            raise ValueError(f"box corners out of order: {self}")

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float) -> "Box":
        if w < 0 or h < 0:
            raise ValueError(f"negative box size: w={w}, h={h}")
        return cls(x, y, x + w, y + h)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.width * self.height

    def xywh(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.width, self.height)

    def intersection(self, other: "Box") -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(0.0, w) * max(0.0, h)

    def iou(self, other: "Box") -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def iobb(self, other: "Box") -> float:
        """Intersection over this (predicted) box's area (Wang et al. 2017)."""
        return self.intersection(other) / self.area if self.area > 0 else 0.0

    def scaled(self, sx: float, sy: float) -> "Box":
        return Box(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)

    def clipped(self, width: float, height: float) -> "Box":
        return Box(min(max(self.x0, 0), width), min(max(self.y0, 0), height),
                   min(max(self.x1, 0), width), min(max(self.y1, 0), height))


@dataclass(frozen=True)
class BoxProposal:
    """A box a method proposed: immutable, with everything needed to reproduce it."""
    box: Box
    score: float
    label: str
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.box.x0, "y": self.box.y0, "w": self.box.width, "h": self.box.height,
                "x0": self.box.x0, "y0": self.box.y0, "x1": self.box.x1, "y1": self.box.y1,
                "score": self.score, "label": self.label, "method": self.method,
                "parameters": dict(self.parameters)}


def box_to_dict(box: Box) -> dict[str, float]:
    return asdict(box)
