"""Labelled image sets for training and evaluation: a folder of class sub-folders, or a CSV
(image, label) with a root folder. Images of any readable format (8/16-bit PNG, JPEG, DICOM,
...) go through the same reader as everything else; unreadable ones are skipped, named."""
from __future__ import annotations

import csv
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.jobs import ProgressFn, report

from .preprocessing import resize_rgb01

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom", "",
                  ".nii", ".gz", ".mha", ".mhd", ".nrrd"}


class DatasetError(InputFileError):
    pass


@dataclass
class LabelledImages:
    paths: list[Path]
    labels: list[int]
    classes: list[str]
    source: Path
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        return {c: int(sum(1 for y in self.labels if y == i)) for i, c in enumerate(self.classes)}

    def subset(self, index) -> "LabelledImages":
        return LabelledImages([self.paths[i] for i in index], [self.labels[i] for i in index],
                              self.classes, self.source, self.skipped)


def find_labelled_images(data: str | Path, root: str | Path | None = None,
                         classes: list[str] | None = None) -> LabelledImages:
    """``data`` is a folder whose sub-folders are the classes, or a CSV with columns image,
    label (paths relative to ``root``, default: the CSV's folder)."""
    data = Path(data)
    if data.is_dir():
        folders = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise DatasetError(data, "no class sub-folders")
        pairs = [(f, p) for f in folders for p in sorted(f.rglob("*"))
                 if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
        names = classes or [f.name for f in folders]
        items = [(p, f.name) for f, p in pairs if f.name in names]
    elif data.is_file():
        base = Path(root) if root else data.parent
        items = []
        with open(data, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = {c.lower(): c for c in reader.fieldnames or []}
            image_col = columns.get("image") or columns.get("path") or columns.get("file")
            label_col = columns.get("label") or columns.get("class")
            if not image_col or not label_col:
                raise DatasetError(data, f"CSV needs columns image,label; found {reader.fieldnames}")
            for line, row in enumerate(reader, start=2):
                if not row[image_col] or not row[label_col]:
                    raise DatasetError(data, f"line {line}: empty image or label")
                items.append((base / row[image_col], row[label_col].strip()))
        names = classes or sorted({label for _, label in items})
        items = [(p, label) for p, label in items if label in names]
    else:
        raise DatasetError(data, "not found (expected a folder of class folders or a CSV)")
    if len(names) < 2:
        raise DatasetError(data, f"need at least two classes, found {names}")
    if not items:
        raise DatasetError(data, "no images found")
    index = {c: i for i, c in enumerate(names)}
    return LabelledImages([p for p, _ in items], [index[label] for _, label in items], list(names), data)


def load_resized(images: LabelledImages, size: tuple[int, int], workers: int = 4,
                 progress: ProgressFn | None = None) -> tuple[np.ndarray, np.ndarray, LabelledImages]:
    """Decode every image once into an N x H x W x 3 uint8 array at ``size``.

    Unreadable images are skipped with a warning that names them; the returned
    LabelledImages lists what was kept and, in ``skipped``, what was not and why."""
    from medxai_desktop.core.imaging import read_image

    def load(path: Path):
        try:
            rgb = read_image(path).as_rgb01()
        except InputFileError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a reader bug must not end a long run either
            return None, f"{path}: {type(exc).__name__}: {exc}"
        return np.uint8(np.clip(resize_rgb01(rgb, size), 0, 1) * 255 + 0.5), None

    arrays, kept, skipped = [], [], list(images.skipped)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (array, error) in enumerate(pool.map(load, images.paths)):
            if error is not None:
                warnings.warn(f"skipping unreadable image {error}", stacklevel=2)
                skipped.append(error)
            else:
                arrays.append(array)
                kept.append(i)
            report(progress, i + 1, len(images), "decode")
    if not arrays:
        raise DatasetError(images.source, "none of the images could be read")
    subset = images.subset(kept)
    subset.skipped = skipped
    return np.stack(arrays), np.asarray(subset.labels, np.int64), subset
