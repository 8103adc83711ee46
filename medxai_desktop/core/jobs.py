"""What every long job in core shares: one progress type and one cancellation exception.

A long job (explain, train, tune-boxes, ROAD, reports, export) takes ``progress`` (a
:data:`ProgressFn`, called with a :class:`Progress`) and ``cancelled`` (a :data:`CancelFn`
that answers True once the user asked to stop) and raises :class:`Cancelled` when it stops
early. The CLI turns progress into tqdm bars, the app's job runner into its progress bar; both
recognise a cancel by this one exception.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of one ``stage`` ("decode", "train", "maps", "ROAD", ...).
    ``message`` is what a person reads; ``info`` carries stage-specific values (epoch, loss,
    the image key, whether a result was reused)."""

    done: float
    total: float
    stage: str = ""
    message: str = ""
    info: Mapping = field(default_factory=lambda: MappingProxyType({}))

    @property
    def fraction(self) -> float:
        return min(max(self.done / self.total, 0.0), 1.0) if self.total else 0.0

    @property
    def finished(self) -> bool:
        return self.done >= self.total


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


class Cancelled(KeyboardInterrupt):
    """A job stopped because the user asked it to. Like asyncio's CancelledError it is not an
    ``Exception``, so no ``except Exception`` on the way up swallows it as a failure; as a
    KeyboardInterrupt, the CLI ends with "interrupted" (exit 130) as for Ctrl+C."""


def report(progress: ProgressFn | None, done: float, total: float, stage: str = "",
           message: str = "", **info) -> None:
    """Call ``progress`` (if any) with one :class:`Progress`."""
    if progress is not None:
        progress(Progress(done, total, stage, message or stage, MappingProxyType(info)))


def check_cancelled(cancelled: CancelFn | None, what: str = "") -> None:
    """Raise :class:`Cancelled` when ``cancelled()`` says so."""
    if cancelled is not None and cancelled():
        raise Cancelled(f"{what} cancelled" if what else "cancelled")


def sub_progress(progress: ProgressFn | None, stage: str) -> ProgressFn | None:
    """``progress`` for one stage of a larger job: the same reports, under ``stage``."""
    if progress is None:
        return None

    def forward(p: Progress) -> None:
        progress(Progress(p.done, p.total, stage, p.message or stage, p.info))

    return forward
