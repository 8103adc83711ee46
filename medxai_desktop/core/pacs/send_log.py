"""Sending with the store's sent-log: what was sent where, when and by whom; reviewed boxes go
as the TID 1500 SR of :mod:`medxai_desktop.core.exchange.dicom_sr`, whose SOP Instance UID is
derived from the boxes' revisions, so a revision already sent to a node is not sent again."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, ProgressFn, report

from .credentials import PromptFn
from .nodes import Node
from .operations import send_files


@dataclass(frozen=True)
class SendResult:
    node: str
    sent: tuple[Path, ...]
    already_sent: tuple[Path, ...]    # the same instance was sent to this node before

    def summary(self) -> str:
        again = f"; {len(self.already_sent)} already sent before, not sent again" if self.already_sent else ""
        return f"sent {len(self.sent)} instance(s) to {self.node}{again}"


def _header(path: Path):
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True)


def referenced_uids(ds) -> list[str]:
    """The SOP Instance UIDs an SR's evidence lists (the images its boxes are on)."""
    uids = []
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in study.get("ReferencedSeriesSequence", []):
            uids += [str(item.ReferencedSOPInstanceUID) for item in series.get("ReferencedSOPSequence", [])]
    return uids


def send_logged(store, node: Node, files: list[Path], sent_by: str | None, *, skip_sent: bool,
                progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                prompt: PromptFn | None = None) -> SendResult:
    """Send ``files`` and log each one as it is stored; with ``skip_sent``, files whose instance
    the log holds for this node are not sent again."""
    from medxai_desktop.core.store.pacs_log import already_sent, record_sent

    headers = {Path(f): _header(Path(f)) for f in files}
    done_before = already_sent(store, node.name, [str(h.SOPInstanceUID) for h in headers.values()]) if skip_sent else set()
    todo = [p for p, h in headers.items() if str(h.SOPInstanceUID) not in done_before]
    skipped = tuple(p for p in headers if p not in todo)

    def logged(p) -> None:
        path = todo[int(p.done) - 1]
        ds = headers[path]
        kind = "sr" if str(ds.get("Modality", "")) == "SR" else "file"
        record_sent(store, node.name, node.describe(), kind, str(ds.SOPInstanceUID), referenced_uids(ds), sent_by)
        if progress is not None:
            progress(p)

    if todo:
        send_files(node, todo, logged, cancelled, prompt)
    return SendResult(node.name, tuple(todo), skipped)


def send_boxes(store, node: Node, sent_by: str | None, *, which: str = "reviewed", deidentify: bool = False,
               out_dir: str | Path | None = None, progress: ProgressFn | None = None,
               cancelled: CancelFn | None = None, prompt: PromptFn | None = None) -> SendResult:
    """Export the store's boxes as DICOM SR (to ``out_dir``, else a temporary folder) and send
    the SRs this node has not had yet."""
    from medxai_desktop.core.exchange.export import export_store

    with tempfile.TemporaryDirectory(prefix="medxai-sr-") as scratch:
        out = Path(out_dir) if out_dir else Path(scratch)
        report(progress, 0, 1, "export", "writing the DICOM SR")
        files = exported_files(out, lambda: export_store(store, "dicom-sr", out, which, deidentify))
        return send_logged(store, node, files, sent_by, skip_sent=True, progress=progress,
                           cancelled=cancelled, prompt=prompt)


def snapshot(out: Path) -> dict[Path, tuple[int, int]]:
    """(inode, mtime) of each ``*.dcm`` in ``out``: an atomic write is a new inode."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in Path(out).glob("*.dcm")} if Path(out).is_dir() else {}


def changed_since(out: Path, before: dict[Path, tuple[int, int]]) -> list[Path]:
    """The ``*.dcm`` files written or rewritten in ``out`` since ``before = snapshot(out)``."""
    return sorted(p for p, stamp in snapshot(out).items() if before.get(p) != stamp)


def exported_files(out: Path, export) -> list[Path]:
    """The ``*.dcm`` files that ``export()`` wrote or rewrote in ``out``."""
    before = snapshot(out)
    export()
    return changed_since(out, before)
