"""Opening a file the user names, safely: the one check every reader of a user file makes first.

A path may be a FIFO (``open`` would wait forever for a writer), a link to ``/dev/zero`` (reads
never end), a folder, or a multi-gigabyte file named ``boxes.csv``. :func:`check_user_file`
resolves links and refuses anything that is not a regular file, or is larger than the limit for
its kind, before anything is opened; :func:`read_user_bytes` reads at most ``limit + 1`` bytes
from a descriptor opened without blocking and checked again (the file may have been swapped or
may grow). The limits are documented defaults a site moves with environment variables:

==============  ===============================  ==========================================
kind            default                          variable
==============  ===============================  ==========================================
image           1 GiB (DICOM, PNG, NIfTI...)     ``MEDXAI_MAX_IMAGE_BYTES``
annotations     256 MiB (CSV, COCO, VOC, YOLO)   ``MEDXAI_MAX_ANNOTATION_BYTES``
text            16 MiB (model cards, plugins)    ``MEDXAI_MAX_TEXT_BYTES``
model           4 GiB (checkpoints)              ``MEDXAI_MAX_MODEL_BYTES``
==============  ===============================  ==========================================
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from medxai_desktop.core.errors import InputFileError

LIMITS = {"image": (1 << 30, "MEDXAI_MAX_IMAGE_BYTES"),
          "annotations": (256 << 20, "MEDXAI_MAX_ANNOTATION_BYTES"),
          "text": (16 << 20, "MEDXAI_MAX_TEXT_BYTES"),
          "model": (4 << 30, "MEDXAI_MAX_MODEL_BYTES")}

_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class UserFileError(InputFileError):
    """A path that cannot be read as a user file: not found, not a regular file, too large."""


def positive_int_from_env(variable: str, default: int) -> int:
    """A site's limit: ``$variable`` when it is a whole number above 0, else ``default``."""
    value = os.environ.get(variable, "")
    return int(value) if value.isdigit() and int(value) > 0 else default


def max_bytes(kind: str) -> int:
    default, variable = LIMITS[kind]
    return positive_int_from_env(variable, default)


def _check_stat(path: Path, info: os.stat_result, kind: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UserFileError(path, "a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        what = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "a special file")
        raise UserFileError(path, f"not a regular file but {what}; not read")
    limit = max_bytes(kind)
    if info.st_size > limit:
        raise UserFileError(path, f"{info.st_size:,} bytes is larger than the limit of {limit:,} for "
                                  f"{kind} files ({LIMITS[kind][1]}); not read")


def check_user_file(path: str | os.PathLike[str], kind: str) -> Path:
    """``path`` if it is, after following links, a regular file within the size limit of
    ``kind``; else :class:`UserFileError` naming it. Nothing is opened (a FIFO is never waited on)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserFileError(path, "file not found" + (" (a link to nowhere)" if path.is_symlink() else "")) from None
    except OSError as exc:
        raise UserFileError(path, f"cannot open file ({exc.strerror or exc})") from None
    _check_stat(path, info, kind)
    return path


def read_user_bytes(path: str | os.PathLike[str], kind: str, count: int | None = None) -> bytes:
    """The bytes of the user file ``path`` (the first ``count`` if given), at most its kind's
    limit: the file is checked (:func:`check_user_file`), opened without blocking, checked again
    through the descriptor, and read up to ``limit + 1`` bytes, so a file that grew past the limit
    is refused too."""
    path = check_user_file(path, kind)
    limit = max_bytes(kind)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UserFileError(path, f"cannot open file ({exc.strerror or exc})") from None
    try:
        _check_stat(path, os.fstat(fd), kind)   # swapped for a FIFO or device since the check?
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(limit + 1 if count is None else min(count, limit + 1))
    except OSError as exc:
        raise UserFileError(path, f"cannot read file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UserFileError(path, f"grew past the limit of {limit:,} bytes for {kind} files while being "
                                  f"read ({LIMITS[kind][1]}); not read")
    return data
