"""What a PACS may cost us: bytes of one instance, instances of one retrieve, the free disk left,
matches of one search, and how long a transfer may go without progress.

Each limit has a default, an environment variable that overrides it for every node, and a key
of the node's ``limits`` object (``pacs_nodes.json``) that overrides both for that node. A
breach ends the operation with one :class:`~.errors.PacsError` naming the node and the limit;
nothing partial is left in the cache.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import PacsError

MIB = 1 << 20
PROGRESS_BYTES = MIB   # a MiB received counts as progress for the stall timeout
MAX_PDU = 16 * MIB     # the largest DIMSE P-DATA we ask peers for: bytes are counted per PDU


@dataclass(frozen=True)
class Limits:
    max_instance_mb: float = 1024        # one instance (a DICOM file) at most 1 GiB
    max_instances: int = 100_000         # instances one retrieve may bring
    min_free_mb: float = 1024            # free disk left in the cache after each write
    max_matches: int = 10_000            # studies or series one search may find
    stall_seconds: float = 60.0          # no instance and no MiB received for this long: abort

    @property
    def max_instance_bytes(self) -> int:
        return int(self.max_instance_mb * MIB)


ENV = {f.name: f"MEDXAI_PACS_{f.name.upper()}" for f in fields(Limits)}


def _number(name: str, value, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number > 0 or number == float("inf"):
        raise ValueError(f"{where}: limit {name} must be a positive number, not {value!r}")
    return int(number) if name in ("max_instances", "max_matches") else number


def check_limits(overrides: Mapping | None, where: str) -> None:
    """ValueError naming the key when ``overrides`` (a node's ``limits``) is not usable."""
    if overrides is None:
        return
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{where}: limits must be an object of {', '.join(ENV)}")
    unknown = sorted(set(overrides) - set(ENV))
    if unknown:
        raise ValueError(f"{where}: unknown limit(s) {', '.join(unknown)} (known: {', '.join(ENV)})")
    for name, value in overrides.items():
        _number(name, value, where)


def limits_for(node) -> Limits:
    """The defaults, then the environment, then the node's own ``limits``."""
    limits = Limits()
    for name, variable in ENV.items():
        value = os.environ.get(variable, "").strip()
        if value:
            limits = replace(limits, **{name: _number(name, value, f"${variable}")})
    for name, value in (getattr(node, "limits", None) or {}).items():
        limits = replace(limits, **{name: _number(name, value, f"PACS node {node.name!r}")})
    return limits


def breach(node_name: str, limit: str, detail: str) -> PacsError:
    """The one-line error of a limit reached."""
    return PacsError(node_name, f"{detail} (limit {limit}; set ${ENV[limit]} or the node's "
                                f"\"limits\" to change it)")


def check_free_disk(node_name: str, folder: Path, limits: Limits, adding: int = 0) -> None:
    """PacsError when writing ``adding`` more bytes under ``folder`` would leave less free disk
    than the margin."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free - adding < limits.min_free_mb * MIB:
        raise breach(node_name, "min_free_mb", f"only {free / MIB:.0f} MB free in {folder}, "
                                               f"{limits.min_free_mb:g} MB must stay free")


class StallClock:
    """Time since the last progress: an instance arrived, or another MiB of one."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._last = time.monotonic()
        self._bytes = 0

    def progressed(self) -> None:
        self._last, self._bytes = time.monotonic(), 0

    def received(self, count: int) -> None:
        self._bytes += count
        if self._bytes >= PROGRESS_BYTES:
            self.progressed()

    def stalled(self) -> bool:
        return time.monotonic() - self._last > self.seconds

    def error(self, node_name: str, what: str) -> PacsError:
        return breach(node_name, "stall_seconds", f"{what}: no progress for {self.seconds:g} s")


@contextmanager
def watching(fired: Callable[[], bool], act: Callable[[], None], period: float = 0.2) -> Iterator[None]:
    """Calls ``act`` once (from a watcher thread) when ``fired()`` turns true inside the block,
    for transfers whose reads we do not drive ourselves (pynetdicom's)."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(period):
            if fired():
                act()
                return

    thread = threading.Thread(target=watch, daemon=True, name="medxai-pacs-watch")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
