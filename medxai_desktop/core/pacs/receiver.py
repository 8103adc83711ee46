"""Where retrieved instances go: checked against what was asked for, written whole into the
cache as they arrive, counted, with progress, cancel and the limits of :mod:`.limits`; the same
for C-GET, C-MOVE and WADO-RS.

An instance of another study, of a series not asked for or that is not one of the instances
asked for is refused: never written, counted and named (``refused``) in the result, since a
PACS that sends it would otherwise put another patient's image into this study.
"""
from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, ProgressFn, report

from .cache import InstanceCache
from .errors import PacsError
from .limits import MAX_PDU, MIB, Limits, StallClock, breach, check_free_disk

_IDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
DISK_CHECK_BYTES = 16 * MIB    # free disk checked again after this much of one part


@dataclass(frozen=True)
class Asked:
    """What a retrieve asked for: a study, maybe one series, maybe some instances."""
    study_uid: str
    series_uid: str | None = None
    sop_uids: frozenset[str] | None = None

    def refusal(self, study: str, series: str, sop: str) -> str | None:
        """Why an instance with these UIDs is not what was asked for; None when it is."""
        if study != self.study_uid:
            return f"study {study or '(none)'} is not the study asked for"
        if self.series_uid and series != self.series_uid:
            return f"series {series or '(none)'} is not the series asked for"
        if self.sop_uids is not None and sop not in self.sop_uids:
            return "not one of the instances asked for"
        return None


# What pydicom raises on bytes that only look like DICOM (InvalidDicomError is a ValueError).
READ_ERRORS = (ValueError, TypeError, KeyError, IndexError, EOFError, OSError, OverflowError,
               NotImplementedError, AttributeError, struct.error)


def _identify(source) -> tuple[str, str, str]:
    """(study, series, SOP Instance UID) of a DICOM file (path or file-like); ValueError when it
    is not one."""
    import pydicom

    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True, force=True, specific_tags=list(_IDS))
        ids = tuple(str(ds.get(k, "") or "").strip() for k in _IDS)
    except READ_ERRORS as exc:
        raise ValueError(f"not a DICOM instance ({type(exc).__name__})") from None
    if not ids[2]:
        raise ValueError("not a DICOM instance (no SOP Instance UID)")
    return ids   # type: ignore[return-value]


@dataclass
class Receiver:
    node: str
    cache: InstanceCache
    asked: Asked
    skip: set[str]             # instances already in the cache
    total: int                 # instances expected, skipped ones included (0: not known yet)
    progress: ProgressFn | None = None
    cancelled: CancelFn | None = None
    limits: Limits = field(default_factory=Limits)
    written: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)   # (SOP Instance UID, why)
    arrived: int = 0
    pending: int = 0           # DIMSE bytes received since the last instance arrived
    failed: int = 0
    was_cancelled: bool = False
    error: PacsError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.clock = StallClock(self.limits.stall_seconds)

    @property
    def study_uid(self) -> str:
        return self.asked.study_uid

    def __call__(self, event) -> int:
        """pynetdicom's C-STORE handler: the bytes as received, not decoded and encoded again."""
        if self.stop_requested():
            return 0xA700   # the response loop aborts the association at the next response
        try:
            return self._store_c_store(event)
        except PacsError as exc:
            self.fail(exc)
            return 0xA700

    def _store_c_store(self, event) -> int:
        from io import BytesIO

        affected = str(event.request.AffectedSOPInstanceUID)
        data = event.encoded_dataset(include_meta=True)
        self._arrive(f"C-STORE of {affected}", len(data))
        try:
            study, series, sop = _identify(BytesIO(data))
        except ValueError as exc:
            return self._refuse(affected, str(exc), 0xA900)
        why = self.asked.refusal(study, series, sop)
        if why is None and sop != affected:
            why = f"its SOP Instance UID {sop} is not the C-STORE's"
        if why is not None:
            return self._refuse(affected, why, 0xA900)
        if sop in self.skip:
            return 0x0000
        try:
            check_free_disk(self.node, self.cache.root, self.limits, len(data))
            self.cache.write(self.study_uid, sop, data)
        except (OSError, ValueError):
            with self.lock:
                self.failed += 1
            return 0xA700   # out of resources: the PACS counts the sub-operation as failed
        self._stored(sop)
        return 0x0000

    def received(self, count: int) -> None:
        """DIMSE bytes received (a PDU): progress, and an instance that grows past the size
        limit (and a PDU) before it is complete stops the retrieve."""
        self.clock.received(count)
        self.pending += count
        if self.pending > self.limits.max_instance_bytes + MAX_PDU:
            self.fail(self.too_large("an instance being received"))

    def _arrive(self, what: str, size: int) -> None:
        """Count an instance that came; PacsError when it breaks the count or size limit."""
        self.clock.progressed()
        with self.lock:
            self.arrived += 1
            self.pending = 0
            arrived = self.arrived
        if arrived > self.limits.max_instances:
            raise breach(self.node, "max_instances", f"more than {self.limits.max_instances} instances sent")
        if size > self.limits.max_instance_bytes:
            raise self.too_large(what)

    def too_large(self, what: str) -> PacsError:
        return breach(self.node, "max_instance_mb", f"{what} is larger than {self.limits.max_instance_mb:g} MB")

    def _refuse(self, sop_uid: str, why: str, status: int = 0) -> int:
        with self.lock:
            self.refused.append((sop_uid, why))
        return status

    def fail(self, error: PacsError) -> None:
        """Stop the retrieve with ``error`` (the first one wins)."""
        with self.lock:
            if self.error is None:
                self.error = error

    def stop_requested(self) -> bool:
        if self.error is not None:
            return True
        if not self.was_cancelled and self.cancelled is not None and self.cancelled():
            self.was_cancelled = True
        return self.was_cancelled

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def open_part(self) -> PartFile:
        """A temporary file in the cache for one WADO-RS part, written as its bytes arrive."""
        check_free_disk(self.node, self.cache.root, self.limits)
        with self.writing():
            return PartFile(self, self.cache.new_partial(self.study_uid))

    def store_part(self, part: Path, number: int) -> None:
        """A WADO-RS part, complete in its temporary file: moved into the cache when it is an
        instance asked for (rewritten as a DICOM file when it has no preamble), else removed."""
        try:
            self._arrive(f"WADO-RS part {number}", part.stat().st_size)
            try:
                study, series, sop = _identify(part)
            except ValueError as exc:
                raise PacsError(self.node, f"WADO-RS part {number} is {exc}") from None
            why = self.asked.refusal(study, series, sop)
            if why is not None:
                self._refuse(sop, why)
            elif sop not in self.skip:
                self._keep(part, sop, number)
                self._stored(sop)
        finally:
            part.unlink(missing_ok=True)

    def _keep(self, part: Path, sop_uid: str, number: int) -> None:
        """The part into the cache: renamed as it is when it has its preamble and file meta,
        else decoded and written as a DICOM file."""
        import pydicom

        with self.writing():
            with open(part, "rb") as stream:
                stream.seek(128)
                if stream.read(4) == b"DICM":
                    self.cache.adopt(self.study_uid, sop_uid, part)
                    return
            try:
                self.cache.write_dataset(self.study_uid, pydicom.dcmread(part, force=True))
            except READ_ERRORS as exc:
                if isinstance(exc, OSError):
                    raise
                raise PacsError(self.node, f"WADO-RS part {number} is not a DICOM instance "
                                           f"({type(exc).__name__})") from None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A failing write to the cache (a full disk, no permission) as one PacsError."""
        try:
            yield
        except OSError as exc:
            raise PacsError(self.node, f"cannot write to {self.cache.root}: {exc.strerror or exc}") from None

    def _stored(self, sop_uid: str) -> None:
        with self.lock:
            self.written.append(sop_uid)
            done = len(self.written) + len(self.skip)
        total = max(self.total, done)
        report(self.progress, done, total, "retrieve", f"{done} of {total} instances")


class PartFile:
    """One WADO-RS part on its way to the cache, within the size and free-disk limits."""

    def __init__(self, receiver: Receiver, path: Path):
        self.receiver, self.path, self.size = receiver, path, 0
        self._stream = open(path, "wb")
        self._checked_at = 0

    def write(self, data: bytes, number: int) -> None:
        receiver = self.receiver
        self.size += len(data)
        if self.size > receiver.limits.max_instance_bytes:
            raise receiver.too_large(f"WADO-RS part {number}")
        if self.size - self._checked_at >= DISK_CHECK_BYTES:
            check_free_disk(receiver.node, receiver.cache.root, receiver.limits)
            self._checked_at = self.size
        receiver.clock.received(len(data))
        with receiver.writing():
            self._stream.write(data)

    def close(self) -> None:
        with self.receiver.writing():
            self._stream.close()

    def discard(self) -> None:
        self._stream.close()
        self.path.unlink(missing_ok=True)
