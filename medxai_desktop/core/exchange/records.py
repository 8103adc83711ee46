"""What crosses between the review store and the exchange formats: plain records.

Importers turn a file into an ``AnnotationSet``; exporters write one. The store builds an
``AnnotationSet`` from its latest revisions and/or its proposals, and imports one as
reviewed reference boxes. Neither side knows the other's internals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.measurements import Measurement

BoxKind = Literal["reviewed", "proposal"]


@dataclass(frozen=True)
class ImageRecord:
    """An image the boxes refer to. ``key`` is how formats name it (a file name such as
    "00000100_000.png", or a relative path); ``path`` is where it is on disk, if known."""
    key: str
    width: int
    height: int
    path: Path | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    verified: tuple[str, str] | None = None   # (reviewer, ISO time) of its sign-off, when signed off


@dataclass(frozen=True)
class BoxRecord:
    image_key: str
    label: str
    box: Box                        # image pixels, top-left origin
    kind: BoxKind = "reviewed"
    score: float | None = None      # proposals: the method's score
    method: str | None = None       # proposals: e.g. "crosseai"; reviewed: None or "import"
    reviewer: str | None = None
    state: str | None = None        # reviewed: accepted / edited / added (rejected are not exported as truth)
    revision: int | None = None
    proposal_id: str | None = None  # links a reviewed box to the proposal it revises
    extra: dict[str, Any] = field(default_factory=dict)  # provenance columns, source dataset, ...


@dataclass(frozen=True)
class MeasurementRecord:
    """A reviewer's measurement (a length, or a rectangle / ellipse ROI with its statistics) on
    an image; only DICOM SR writes and reads them (TID 1500 measurement groups)."""
    image_key: str
    measurement: Measurement
    reviewer: str | None = None
    revision: int | None = None
    measurement_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # "frame": the frame of a multi-frame source


@dataclass
class AnnotationSet:
    images: list[ImageRecord] = field(default_factory=list)
    boxes: list[BoxRecord] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # category order for formats that need ids
    measurements: list[MeasurementRecord] = field(default_factory=list)

    def image(self, key: str) -> ImageRecord | None:
        return next((i for i in self.images if i.key == key), None)

    def boxes_of(self, key: str, kind: BoxKind | None = None) -> list[BoxRecord]:
        return [b for b in self.boxes if b.image_key == key and (kind is None or b.kind == kind)]

    def measurements_of(self, key: str) -> list[MeasurementRecord]:
        return [m for m in self.measurements if m.image_key == key]

    def all_labels(self) -> list[str]:
        seen = list(self.labels)
        for b in self.boxes:
            if b.label not in seen:
                seen.append(b.label)
        return seen


class ExchangeError(InputFileError):
    """A malformed annotation file: names the file, the line or record, and the reason."""

    def __init__(self, path: str | Path, where: str | None, reason: str):
        self.where = where
        super().__init__(path, f"{where}: {reason}" if where else reason)
