"""What kind of file is this? Content first (magic bytes), then the name."""
from __future__ import annotations

import enum
from pathlib import Path

from medxai_desktop.core.imaging.errors import ImageReadError
from medxai_desktop.core.user_files import UserFileError, check_user_file, read_user_bytes

HEAD_BYTES = 4096

RASTER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".tif", ".tiff",
                             ".jp2", ".j2k", ".webp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm"})
VOLUME_SUFFIXES = frozenset({".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr"})
# Names that make an unrecognised file worth a forced DICOM read.
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima", ""})
# Never images: skipped silently by discovery (as are hidden files and DICOMDIR itself).
# .raw/.zraw hold the pixels of an .mhd header, which is what gets read.
NON_IMAGE_SUFFIXES = frozenset({".txt", ".csv", ".tsv", ".json", ".md", ".rst", ".xml", ".html", ".htm",
                                ".yaml", ".yml", ".ini", ".cfg", ".toml", ".log", ".py", ".ipynb",
                                ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".zip", ".tar", ".7z",
                                ".raw", ".zraw", ".db"})

_RASTER_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
# First element groups of DICOM data sets written without the 128-byte preamble.
_RAW_DICOM_GROUPS = frozenset({0x0002, 0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028})


class FileKind(enum.Enum):
    DICOM = "DICOM"
    RASTER = "raster"
    VOLUME = "volume"
    UNKNOWN = "unknown"


def suffix_of(path: Path) -> str:
    """Lower-case suffix, with the double suffix of ``.nii.gz``."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def check_image_file(path: Path) -> Path:
    """``path`` if it is a regular file within the image size limit (core/user_files.py), else
    an ImageReadError; nothing is opened, so a FIFO or a link to a device is never read."""
    try:
        return check_user_file(path, "image")
    except UserFileError as exc:
        raise ImageReadError(path, exc.reason) from None


def read_image_bytes(path: Path, count: int | None = None) -> bytes:
    """The bytes of the image file ``path`` (the first ``count``), bounded by the image size
    limit; an ImageReadError saying why it cannot be read otherwise."""
    try:
        return read_user_bytes(path, "image", count)
    except UserFileError as exc:
        raise ImageReadError(path, exc.reason) from None


def read_head(path: Path) -> bytes:
    """The first bytes of ``path``, or an ImageReadError saying why it cannot be opened."""
    head = read_image_bytes(path, HEAD_BYTES)
    if not head:
        raise ImageReadError(path, "not an image (empty file)")
    return head


def raster_format(head: bytes) -> str | None:
    for magic, name in _RASTER_MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


def has_dicom_preamble(head: bytes) -> bool:
    return head[128:132] == b"DICM"


def looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM data set without preamble starts with a low group number, in either byte order."""
    if len(head) < 8:
        return False
    little, big = int.from_bytes(head[:2], "little"), int.from_bytes(head[:2], "big")
    return little in _RAW_DICOM_GROUPS or big in _RAW_DICOM_GROUPS


def classify(path: Path, head: bytes) -> FileKind:
    suffix = suffix_of(path)
    if has_dicom_preamble(head):
        return FileKind.DICOM
    if raster_format(head):
        return FileKind.RASTER
    if suffix in VOLUME_SUFFIXES:
        return FileKind.VOLUME
    if looks_like_raw_dicom(head):
        return FileKind.DICOM
    return FileKind.UNKNOWN


def describe_content(head: bytes) -> str:
    """A short human name for what a non-image file holds, from its first bytes."""
    if not head:
        return "empty file"
    for magic, name in ((b"%PDF", "PDF document"), (b"PK\x03\x04", "ZIP archive"),
                        (b"\x1f\x8b", "gzip data"), (b"{\\rtf", "RTF document"),
                        (b"\x7fELF", "executable"), (b"SQLite format 3", "SQLite database")):
        if head.startswith(magic):
            return name
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still text.
            text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
        if text and sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.95 * len(text):
            return "text file"
    return "unrecognised binary data"
