"""Background jobs: core calls run in thread pools, results come back to the GUI thread by signals.

Two pools: ``model`` has exactly one thread, so every torch call (loading, prediction,
explanation) is serialised on one worker and two jobs never fight for a device; ``io`` decodes
files and scans folders. The GUI thread only receives results.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from medxai_desktop.core.jobs import Cancelled, Progress

JobCancelled = Cancelled   # the one cancellation exception (core.jobs); kept as a name for old callers


def progress_emitter(signal) -> Callable[[Progress], None]:
    """The ``progress`` a job function receives: a core ProgressFn (called with a Progress),
    emitting ``p.fraction, p.message`` on the job's Qt signal."""
    def progress(p: Progress) -> None:
        signal.emit(p.fraction, p.message)
    return progress


class JobHandle(QObject):
    """What the GUI holds for one job: its signals and a cancel switch."""

    progress = Signal(float, str)      # fraction 0..1, message
    succeeded = Signal(object)         # the job function's return value
    failed = Signal(str)               # one line: what went wrong
    cancelled = Signal()
    finished = Signal()                # after any of the three above

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self._cancel = threading.Event()
        self.done = False

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()


class _Runnable(QRunnable):
    def __init__(self, handle: JobHandle, fn: Callable[..., Any]):
        super().__init__()
        self.setAutoDelete(True)
        self.handle, self.fn = handle, fn

    def run(self) -> None:  # worker thread
        handle = self.handle
        try:
            if handle.is_cancelled():
                raise Cancelled()
            result = self.fn(progress_emitter(handle.progress), handle.is_cancelled)
        except Cancelled:
            handle.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            detail = str(exc) or type(exc).__name__
            handle.failed.emit(f"{handle.name}: {detail}")
            traceback.print_exc()
        else:
            handle.succeeded.emit(result)
        handle.done = True
        handle.finished.emit()


class JobRunner(QObject):
    """Starts jobs. ``fn(progress, cancelled)`` runs on a worker thread; ``progress(Progress)``
    (a core ProgressFn) and ``cancelled() -> bool`` let it report and stop early (raising
    core.jobs.Cancelled). ``job_finished`` follows every job's own ``finished``."""

    job_finished = Signal(object)      # the JobHandle, after success, failure or cancellation

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.model_pool = QThreadPool(self)
        self.model_pool.setMaxThreadCount(1)   # torch work: one worker per device, serialised
        self.io_pool = QThreadPool(self)
        self.io_pool.setMaxThreadCount(2)
        self._active: set[JobHandle] = set()
        self.closed = False        # after close(): results of jobs still running are dropped

    def submit(self, name: str, fn: Callable[..., Any], *, model: bool = False,
               on_success: Callable[[Any], None] | None = None,
               on_failure: Callable[[str], None] | None = None) -> JobHandle:
        handle = JobHandle(name)
        if on_success is not None:
            handle.succeeded.connect(lambda result: None if self.closed else on_success(result))
        if on_failure is not None:
            handle.failed.connect(lambda message: None if self.closed else on_failure(message))
        self._active.add(handle)
        handle.finished.connect(lambda: self._active.discard(handle))
        handle.finished.connect(self._job_done)      # a slot: dropped if the runner is gone first
        (self.model_pool if model else self.io_pool).start(_Runnable(handle, fn))
        return handle

    def _job_done(self) -> None:
        self.job_finished.emit(self.sender())

    @property
    def busy(self) -> bool:
        return bool(self._active)

    def cancel_all(self) -> None:
        for handle in list(self._active):
            handle.cancel()

    def close(self) -> None:
        """The window is closing: cancel every job and drop the results of those that still
        finish (their widgets are gone)."""
        self.closed = True
        self.cancel_all()

    def wait(self, msecs: int = -1) -> bool:
        """Block until both pools are idle (for shutdown and scripts, not for the GUI)."""
        return self.model_pool.waitForDone(msecs) and self.io_pool.waitForDone(msecs)
