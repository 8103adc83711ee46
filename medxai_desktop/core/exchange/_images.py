"""Finding the images that annotation files name, and reading their sizes cheaply (a header
read: Pillow for rasters, pydicom without pixels for DICOM; ``read_image`` for anything else)."""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from medxai_desktop.core.exchange.records import ExchangeError, ImageRecord
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.imaging.limits import check_pixels
from medxai_desktop.core.imaging.file_types import FileKind, NON_IMAGE_SUFFIXES, classify, read_head

_DICOM_TAGS = ["Rows", "Columns", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
_RESERVED_KEYS = {".", "..", "con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                  *(f"lpt{i}" for i in range(1, 10))}


def control_characters(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def check_key(name: object, what: str = "file_name") -> str:
    """An image's name in an annotation file, the rule every importer applies before anything
    is opened: a relative path whose parts are real names (no absolute path or drive, no '.',
    '..', empty or reserved device names, no control characters), so it can be exported again
    to any format and never names a file outside the images folder."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string (got {name!r})")
    if control_characters(name):
        raise ValueError(f"{what} {name[:40]!r} holds a control character")
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or re.match(r"[A-Za-z]:[/\\\\]", name) or any(
            p.strip() == "" or p.lower().split(".")[0] in _RESERVED_KEYS or p in (".", "..") for p in parts):
        raise ValueError(f"{what} {name!r} is not a relative file name (no absolute path, '.', '..', empty or "
                         "reserved parts)")
    return name


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, links resolved, lies inside the folder ``root`` (links resolved)."""
    return path.resolve().is_relative_to(root.resolve())


def probe_image(path: Path, key: str) -> ImageRecord:
    """An ImageRecord for the image at ``path``: size (and UIDs for DICOM). Raises
    ``ImageReadError`` (or ValueError) when the file is not a readable image."""
    head = read_head(path)
    kind = classify(path, head)
    if kind is FileKind.DICOM:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_DICOM_TAGS)
        if "Rows" in ds and "Columns" in ds:
            check_pixels(path, ds.Columns, ds.Rows, what="frame")
            return ImageRecord(key, int(ds.Columns), int(ds.Rows), path=path,
                               study_uid=_s(ds.get("StudyInstanceUID")),
                               series_uid=_s(ds.get("SeriesInstanceUID")),
                               sop_uid=_s(ds.get("SOPInstanceUID")))
    elif kind is FileKind.RASTER:
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    width, height = im.size
        except Exception:  # noqa: BLE001 - fall back to the full reader below
            pass
        else:
            check_pixels(path, width, height)   # an image no reader would decode has no size either
            return ImageRecord(key, int(width), int(height), path=path)
    image = read_image(path)
    height, width = image.shape
    return ImageRecord(key, width, height, path=path, study_uid=image.study_uid,
                       series_uid=image.series_uid, sop_uid=image.sop_uid)


def _s(value) -> str | None:
    return str(value) if value else None


class ImageFinder:
    """Looks up the image a key names under ``images_dir``: ``images_dir/key`` first, then any
    file of that name below it, then (``by_stem``) any image file with that stem (YOLO labels
    name images by stem only). Probes are cached."""

    def __init__(self, images_dir: str | Path | None, known: Iterable[ImageRecord] = ()):
        self.images_dir = Path(images_dir) if images_dir is not None else None
        if self.images_dir is not None and not self.images_dir.is_dir():
            raise NotADirectoryError(f"{self.images_dir}: images folder not found")
        self.known = {r.key: r for r in known}
        self._by_name: dict[str, list[Path]] | None = None
        self._by_stem: dict[str, list[Path]] | None = None
        self._cache: dict[str, ImageRecord] = {}

    @classmethod
    def for_annotations(cls, annotations_path: Path, images_dir: str | Path | None,
                        known: Iterable[ImageRecord] = ()) -> ImageFinder:
        """The finder an importer of ``annotations_path`` uses; a missing images folder is an
        ExchangeError naming the annotation file."""
        try:
            return cls(images_dir, known)
        except NotADirectoryError as exc:
            raise ExchangeError(annotations_path, None, str(exc)) from None

    def _index(self) -> None:
        self._by_name, self._by_stem = {}, {}
        assert self.images_dir is not None
        for p in sorted(self.images_dir.rglob("*")):
            if (p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in NON_IMAGE_SUFFIXES
                    and inside(self.images_dir, p)):
                self._by_name.setdefault(p.name, []).append(p)
                self._by_stem.setdefault(p.stem, []).append(p)

    def find(self, key: str) -> Path | None:
        """The image ``key`` names below the images folder; ValueError for a key that is not a
        relative file name (:func:`check_key`), checked before anything is opened. A file found
        through a link that leads outside the folder is not found."""
        if self.images_dir is None:
            return None
        direct = self.images_dir / check_key(key, "image")
        if direct.is_file() and inside(self.images_dir, direct):
            return direct
        if self._by_name is None:
            self._index()
        hits = self._by_name.get(Path(key).name, [])  # type: ignore[union-attr]
        return hits[0] if len(hits) == 1 else None

    def find_stem(self, stem_path: str) -> tuple[str, Path] | None:
        """For a YOLO label at relative path ``a/b`` (no suffix): the image key and path."""
        if self.images_dir is None:
            return None
        rel = Path(stem_path)
        folder = self.images_dir / rel.parent
        if folder.is_dir():
            cands = sorted(p for p in folder.glob(f"{_glob_escape(rel.name)}.*")
                           if p.is_file() and p.suffix.lower() not in NON_IMAGE_SUFFIXES
                           and inside(self.images_dir, p))
            if len(cands) == 1:
                return cands[0].relative_to(self.images_dir).as_posix(), cands[0]
        if self._by_stem is None:
            self._index()
        hits = self._by_stem.get(rel.name, [])  # type: ignore[union-attr]
        if len(hits) == 1:
            return hits[0].relative_to(self.images_dir).as_posix(), hits[0]
        return None

    def record(self, key: str, path: Path | None = None) -> ImageRecord | None:
        """The ImageRecord for ``key``: a known one, else probed from the image file found."""
        if key in self.known:
            return self.known[key]
        if key in self._cache:
            return self._cache[key]
        path = path or self.find(key)
        if path is None:
            return None
        rec = probe_image(path, key)
        self._cache[key] = rec
        return rec


def _glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def with_size(image: ImageRecord) -> ImageRecord:
    """``image`` with its size filled in from its file when unknown (0) and a path is set."""
    if image.width > 0 and image.height > 0 or image.path is None:
        return image
    try:
        probed = probe_image(Path(image.path), image.key)
    except Exception:  # noqa: BLE001 - the caller reports the unknown size
        return image
    return replace(image, width=probed.width, height=probed.height)
