"""Atomic file writes: the one helper every writer in core uses.

The content goes to a temporary file beside the target, is flushed to disk, and replaces the
target by a rename, so a crash or a full disk mid-write never leaves a torn file under the final
name and an older complete file stays until the new one is complete. A folder of outputs (VOC,
YOLO, DICOM SR, an explanation) is written into a temporary sibling folder and moved into place
at the end (:func:`atomic_folder`). :func:`output_errors` turns an ``OSError`` (a full disk,
a file-size limit) into one :class:`OutputError` naming the output; :func:`check_output`
refuses an output that is a symbolic link (never followed) or the wrong kind of thing.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from medxai_desktop.core.errors import OutputError


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """``with atomic_open(path, "wb") as f: ...``: ``f`` writes a temporary file that becomes
    ``path`` only when the block ends without an error. Text mode is UTF-8 with no newline
    translation."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        text = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w") as stream:
        stream.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as stream:
        stream.write(data)
    return Path(path)


def check_output(path: str | Path, folder: bool | None = None) -> Path:
    """``path`` as an output: an OutputError when it is a symbolic link (an output is never
    written through one), or exists but is a file where a ``folder`` is asked for (or the
    reverse; ``None``: either)."""
    path = Path(path)
    if path.is_symlink():
        raise OutputError(f"{path}: is a symbolic link (to {os.readlink(path)}); outputs are never written "
                          "through links: choose another path")
    if folder is not None and path.exists() and path.is_dir() != folder:
        raise OutputError(f"{path}: exists and is {'a file, not a folder' if folder else 'a folder, not a file'}")
    return path


@contextmanager
def output_errors(path: str | Path) -> Iterator[None]:
    """An OSError inside the block (no space left, file too large, permission) becomes one
    OutputError naming ``path`` and the reason."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if "requested and" in reason:   # numpy's short write: the disk or the file-size limit is full
            reason = f"the disk is full or a file-size limit was reached: {reason}"
        raise OutputError(f"{path}: cannot write ({reason}); nothing was written") from None


@contextmanager
def atomic_folder(out_dir: str | Path, stale: tuple[Path, ...] | list[Path] = ()) -> Iterator[Path]:
    """``with atomic_folder(out) as tmp: ...`` writes into ``tmp``, a temporary folder beside
    ``out``; when the block ends without an error, the ``stale`` files are removed and every file
    of ``tmp`` is moved to the same place under ``out`` (``out`` itself is created by a rename
    when it did not exist). On an error ``tmp`` is removed and ``out`` is as it was."""
    out_dir = Path(out_dir)
    created = [p for p in out_dir.parents if not p.exists()]     # innermost first
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name[:40]}.", suffix=".partial", dir=out_dir.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:          # the folders made for it, if still empty
            with suppress(OSError):
                folder.rmdir()
        raise
    try:
        _move_in(tmp, out_dir, stale)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_in(tmp: Path, out_dir: Path, stale) -> None:
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    for path in stale:
        path.unlink(missing_ok=True)
    for source in sorted(p for p in tmp.rglob("*") if not p.is_dir()):
        target = out_dir / source.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
