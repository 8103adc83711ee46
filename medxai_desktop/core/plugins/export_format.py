"""What an exporter plugin provides: a writer (and optionally a reader) under a format name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WHICH_ALL = ("reviewed", "proposals", "both")


@dataclass(frozen=True)
class ExportFormat:
    """``write(annotations, out, which) -> Path | list[Path]`` with the signature of the
    built-in writers in :mod:`medxai_desktop.core.exchange`; ``which`` lists the ``which``
    values it accepts; ``read(path, images_dir=None) -> AnnotationSet`` if it can import.

    ``deidentifies``: the writer takes ``deidentifier=`` (a
    :class:`medxai_desktop.core.deidentification.Deidentifier` or None) and passes every DICOM
    object it writes through ``deidentifier.dataset``. Writers without it get, when the user asks
    for de-identification, annotations whose keys, paths and reviewers are already pseudonymised
    (``deidentifier.annotations``), so they need nothing to support it."""

    name: str
    write: Callable
    which: tuple[str, ...] = WHICH_ALL
    description: str = ""
    read: Callable | None = None
    deidentifies: bool = False
