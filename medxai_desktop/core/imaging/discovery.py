"""Find the images under a folder, a DICOMDIR or a file, grouped into studies and series.

Only headers are read. DICOM files are grouped by Study/Series Instance UID; other images
(PNG, JPEG, NIfTI, ...) get one synthetic study and series per folder, with the uid
``folder:<absolute folder path>``. Unreadable files become failures with the reason;
discovery itself never raises.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import MediaStorageDirectoryStorage

from medxai_desktop.core.imaging.dicom_reader import number_of_frames, read_dicom_header, text
from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.imaging.file_types import (DICOM_SUFFIXES, NON_IMAGE_SUFFIXES, RASTER_SUFFIXES,
                                                    VOLUME_SUFFIXES, FileKind, classify, describe_content,
                                                    has_dicom_preamble, read_head, suffix_of)
from medxai_desktop.core.imaging.volume_reader import volume_frames


# DICOMDIR record types of objects without images (PS3.3 F.5): not listed as failures.
_NON_IMAGE_RECORDS = frozenset({
    "SR DOCUMENT", "KEY OBJECT DOC", "PRESENTATION", "WAVEFORM", "RT PLAN", "RT STRUCTURE SET",
    "RT TREAT RECORD", "REGISTRATION", "FIDUCIAL", "SPECTROSCOPY", "RAW DATA", "ENCAP DOC",
    "HL7 STRUC DOC", "MEASUREMENT", "PLAN", "SURFACE", "ASSESSMENT", "TRACT", "HANGING PROTOCOL",
    "VALUE MAP", "STEREOMETRIC", "PALETTE", "IMPLANT", "IMPLANT GROUP", "IMPLANT ASSY",
})


@dataclass(frozen=True)
class ImageRef:
    """One file; ``frame`` is the frame to show first (the middle slice of a volume)."""

    path: Path
    frame: int = 0
    n_frames: int = 1
    sop_uid: str | None = None
    instance_number: int | None = None


@dataclass
class Series:
    series_uid: str
    modality: str | None
    description: str | None
    number: int | None
    images: list[ImageRef] = field(default_factory=list)


@dataclass
class Study:
    study_uid: str
    patient_name: str | None
    patient_id: str | None
    study_date: str | None
    description: str | None
    series: list[Series] = field(default_factory=list)


@dataclass
class DiscoveryResult:
    studies: list[Study]
    failures: list[ImageReadError]

    @property
    def images(self) -> list[ImageRef]:
        """Every image, in study, series, image order."""
        return [ref for study in self.studies for series in study.series for ref in series.images]


@dataclass
class _Found:
    study: Study
    series: Series
    image: ImageRef


def discover(path: str | os.PathLike[str]) -> DiscoveryResult:
    """Scan a folder (recursively; hidden files, DICOMDIR and obvious non-images such as
    .txt/.csv/.json/.md are skipped silently), a DICOMDIR file, or a single file."""
    root = Path(path).expanduser().absolute()
    failures: list[ImageReadError] = []
    if root.is_dir():
        files = _walk(root, failures)
    elif not root.exists():
        return DiscoveryResult([], [ImageReadError(root, "file not found")])
    elif _is_dicomdir(root):
        files = _dicomdir_files(root, failures)
    else:
        files = [root]
    found: list[_Found] = []
    seen: set[Path] = set()
    for file in files:
        if file in seen:
            continue
        seen.add(file)
        try:
            item = _probe(file, quiet=file != root)
        except ImageReadError as exc:
            failures.append(exc)
        except Exception as exc:  # noqa: BLE001 - one odd file must not end the scan
            failures.append(ImageReadError(file, f"unexpected {type(exc).__name__}: {exc}"))
        else:
            if item is not None:
                found.append(item)
    return DiscoveryResult(_group(found), sorted(failures, key=lambda e: (str(e.path), e.reason)))


def _walk(root: Path, failures: list[ImageReadError]) -> list[Path]:
    def on_error(exc: OSError) -> None:
        failures.append(ImageReadError(Path(exc.filename or root), f"cannot list folder ({exc.strerror})"))

    files = []
    for folder, dirs, names in os.walk(root, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(names):
            file = Path(folder, name)
            if not _skipped(file):
                files.append(file)
    return files


def _skipped(file: Path) -> bool:
    return (file.name.startswith(".") or file.name.upper() == "DICOMDIR"
            or suffix_of(file) in NON_IMAGE_SUFFIXES)


def _is_dicomdir(file: Path) -> bool:
    if file.name.upper() == "DICOMDIR":
        return True
    try:
        return has_dicom_preamble(read_head(file)) and _media_storage_class(file) == MediaStorageDirectoryStorage
    except ImageReadError:
        return False


def _media_storage_class(file: Path) -> str | None:
    try:
        meta = read_file_meta_info(file)
    except Exception:  # noqa: BLE001 - unreadable meta is "not a DICOMDIR"; reading will say why
        return None
    return meta.get("MediaStorageSOPClassUID")


def _dicomdir_files(dicomdir: Path, failures: list[ImageReadError]) -> list[Path]:
    """The files a DICOMDIR's records reference, except records of known non-image objects."""
    try:
        records = pydicom.dcmread(dicomdir).DirectoryRecordSequence
    except Exception as exc:  # noqa: BLE001 - pydicom raises several kinds for a bad DICOMDIR
        failures.append(ImageReadError(dicomdir, f"invalid DICOMDIR ({exc})"))
        return []
    files = []
    for record in records:
        file_id = record.get("ReferencedFileID")
        record_type = str(record.get("DirectoryRecordType", "")).strip().upper()
        if not file_id or record_type in _NON_IMAGE_RECORDS:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        file = _resolve(dicomdir.parent, parts)
        if file.exists():
            files.append(file)
        else:
            failures.append(ImageReadError(file, f"file not found (referenced by {dicomdir})"))
    return files


def _resolve(root: Path, parts: list[str]) -> Path:
    """``root/parts``, matching each part case-insensitively when the exact name is absent
    (file IDs are upper case; a disc copied to another file system may not be)."""
    path = root
    for part in parts:
        exact = path / part
        if not exact.exists() and path.is_dir():
            exact = next((child for child in path.iterdir() if child.name.upper() == part.upper()), exact)
        path = exact
    return path


def _probe(file: Path, quiet: bool) -> _Found | None:
    """What ``file`` holds; None for files to skip silently (when ``quiet``: found in a scan,
    not asked for by name)."""
    head = read_head(file)
    kind = classify(file, head)
    suffix = suffix_of(file)
    named_as_image = suffix in RASTER_SUFFIXES | VOLUME_SUFFIXES or (suffix in DICOM_SUFFIXES and suffix != "")
    if quiet and kind is FileKind.UNKNOWN and not named_as_image and describe_content(head) == "text file":
        return None  # README, notes, .dump...: text that does not claim to be an image
    if kind is FileKind.DICOM:
        if has_dicom_preamble(head) and _media_storage_class(file) == MediaStorageDirectoryStorage:
            return None  # a DICOMDIR under another name: an index, not an image
        return _dicom_found(file, read_dicom_header(file))
    if kind is FileKind.UNKNOWN and suffix in DICOM_SUFFIXES:
        try:
            return _dicom_found(file, read_dicom_header(file))
        except ImageReadError as exc:
            if not exc.reason.startswith("not a"):
                raise
    if kind is FileKind.VOLUME:
        n_frames = volume_frames(file)
        return _folder_found(file, ImageRef(file, n_frames // 2, n_frames))
    if kind is FileKind.UNKNOWN:
        try:
            with Image.open(file):
                pass
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            raise ImageReadError(file, f"not an image ({describe_content(head)})") from None
    return _folder_found(file, ImageRef(file))


def _dicom_found(file: Path, dataset: Dataset) -> _Found:
    study_uid = text(dataset, "StudyInstanceUID") or _folder_uid(file)
    series_uid = text(dataset, "SeriesInstanceUID") or _folder_uid(file)
    return _Found(
        Study(study_uid, text(dataset, "PatientName"), text(dataset, "PatientID"),
              text(dataset, "StudyDate"), text(dataset, "StudyDescription")),
        Series(series_uid, text(dataset, "Modality"), text(dataset, "SeriesDescription"),
               _integer(text(dataset, "SeriesNumber"))),
        ImageRef(file, 0, number_of_frames(file, dataset), text(dataset, "SOPInstanceUID"),
                 _integer(text(dataset, "InstanceNumber"))),
    )


def _folder_found(file: Path, image: ImageRef) -> _Found:
    uid = _folder_uid(file)
    name = file.parent.name or str(file.parent)
    return _Found(Study(uid, None, None, None, name), Series(uid, None, name, None), image)


def _folder_uid(file: Path) -> str:
    return f"folder:{file.parent}"


def _integer(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _group(found: list[_Found]) -> list[Study]:
    studies: dict[str, Study] = {}
    series: dict[tuple[str, str], Series] = {}
    for item in found:
        study = studies.setdefault(item.study.study_uid, item.study)
        key = (study.study_uid, item.series.series_uid)
        if key not in series:
            series[key] = item.series
            study.series.append(item.series)
        series[key].images.append(item.image)
    for study in studies.values():
        for s in study.series:
            s.images.sort(key=lambda r: (r.instance_number is None, r.instance_number or 0, str(r.path), r.frame))
        study.series.sort(key=lambda s: (s.number is None, s.number or 0, s.description or "", s.series_uid))
    return sorted(studies.values(), key=lambda s: (s.patient_name or "", s.patient_id or "",
                                                   s.study_date or "", s.study_uid))
