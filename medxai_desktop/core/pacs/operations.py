"""The operations of a node, whatever it speaks: verify, find, send files."""
from __future__ import annotations

from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, ProgressFn

from . import dimse, web
from .credentials import PromptFn
from .errors import PacsError
from .nodes import Node
from .query import Match, Query


def verify(node: Node, prompt: PromptFn | None = None) -> float:
    """C-ECHO (DIMSE) or a one-study QIDO-RS search (DICOMweb); seconds of the round trip."""
    return dimse.echo(node) if node.kind == "dimse" else web.echo(node, prompt)


def find(node: Node, query: Query, prompt: PromptFn | None = None,
         cancelled: CancelFn | None = None) -> list[Match]:
    """Studies or series matching the query, as the node orders them."""
    if node.kind == "dimse":
        return dimse.find(node, query, cancelled)
    return web.find(node, query, prompt)


def send_files(node: Node, paths: list[str | Path], progress: ProgressFn | None = None,
               cancelled: CancelFn | None = None, prompt: PromptFn | None = None) -> list[str]:
    """C-STORE (DIMSE) or STOW-RS (DICOMweb) of DICOM files; their SOP Instance UIDs."""
    from medxai_desktop.core.errors import InputFileError

    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise InputFileError(path, "no such file")
    if not files:
        raise PacsError(node.name, "nothing to send")
    _check_dicom(files)
    if node.kind == "dimse":
        return dimse.store_files(node, files, progress, cancelled)
    return web.stow(node, files, progress, cancelled, prompt)


def _check_dicom(files: list[Path]) -> None:
    import pydicom
    from pydicom.errors import InvalidDicomError

    from medxai_desktop.core.errors import InputFileError

    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as exc:
            raise InputFileError(path, f"not a DICOM file ({exc})") from None
        if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
            raise InputFileError(path, "a DICOM file without SOP Class/Instance UID cannot be sent")
