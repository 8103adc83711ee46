"""Where retrieved instances go: written whole into the cache as they arrive, counted, with
progress and cancel; the same for C-GET, C-MOVE and WADO-RS."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from medxai_desktop.core.jobs import CancelFn, ProgressFn, report

from .cache import InstanceCache


@dataclass
class Receiver:
    cache: InstanceCache
    study_uid: str
    skip: set[str]             # instances already in the cache
    total: int                 # instances expected, skipped ones included (0: not known yet)
    progress: ProgressFn | None = None
    cancelled: CancelFn | None = None
    written: list[str] = field(default_factory=list)
    failed: int = 0
    was_cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event) -> int:
        """pynetdicom's C-STORE handler: the bytes as received, not decoded and encoded again."""
        if self.stop_requested():
            return 0xA700   # the response loop aborts the association at the next response
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        if sop_uid in self.skip:
            return 0x0000
        try:
            self.cache.write(self.study_uid, sop_uid, event.encoded_dataset(include_meta=True))
        except (OSError, ValueError):
            with self.lock:
                self.failed += 1
            return 0xA700   # out of resources: the PACS counts the sub-operation as failed
        self._stored(sop_uid)
        return 0x0000

    def stop_requested(self) -> bool:
        if not self.was_cancelled and self.cancelled is not None and self.cancelled():
            self.was_cancelled = True
        return self.was_cancelled

    def store_bytes(self, data: bytes) -> None:
        """A DICOM file as received (WADO-RS): written as it is when it has its preamble and
        file meta, else decoded and written as a DICOM file."""
        from io import BytesIO

        import pydicom

        if data[128:132] != b"DICM":
            ds = pydicom.dcmread(BytesIO(data), force=True)
            sop_uid = str(ds.SOPInstanceUID)
            if sop_uid not in self.skip:
                self.cache.write_dataset(self.study_uid, ds)
                self._stored(sop_uid)
            return
        header = pydicom.dcmread(BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        sop_uid = str(header.SOPInstanceUID)
        if sop_uid not in self.skip:
            self.cache.write(self.study_uid, sop_uid, data)
            self._stored(sop_uid)

    def _stored(self, sop_uid: str) -> None:
        with self.lock:
            self.written.append(sop_uid)
            done = len(self.written) + len(self.skip)
        total = max(self.total, done)
        report(self.progress, done, total, "retrieve", f"{done} of {total} instances")
