"""What an exporter plugin provides: a writer (and optionally a reader) under a format name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WHICH_ALL = ("reviewed", "proposals", "both")


@dataclass(frozen=True)
class ExportFormat:
    """``write(annotations, out, which) -> Path | list[Path]`` with the signature of the
    built-in writers in :mod:`medxai_desktop.core.exchange`; ``which`` lists the ``which``
    values it accepts; ``read(path, images_dir=None) -> AnnotationSet`` if it can import."""

    name: str
    write: Callable
    which: tuple[str, ...] = WHICH_ALL
    description: str = ""
    read: Callable | None = None
