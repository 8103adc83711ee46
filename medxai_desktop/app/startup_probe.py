"""Timing probe for benchmarks/bench_gui.py: with ``MEDXAI_STARTUP_PROBE=FILE`` set,
``medxai-desktop`` appends JSON lines to FILE: ``painted`` (wall clock of the main window's
first paint with the study listed), ``idle`` (model loaded, prediction shown) and ``close``
(when it was asked to quit, right after ``idle`` or, with ``MEDXAI_STARTUP_PROBE_QUIT=painted``,
right after the paint). The benchmark times the process from outside; nothing here runs
unless the variable is set."""
from __future__ import annotations

import json
import os
import time

from PySide6.QtCore import QEvent, QObject, QTimer

ENV, QUIT_ENV = "MEDXAI_STARTUP_PROBE", "MEDXAI_STARTUP_PROBE_QUIT"


class StartupProbe(QObject):
    def __init__(self, window, path: str, quit_after: str = "idle"):
        super().__init__(window)
        self.window, self.path, self.quit_after = window, path, quit_after
        self.seen: set[str] = set()
        window.installEventFilter(self)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._poll)
        self.timer.start(20)

    def mark(self, what: str) -> None:
        if what in self.seen:
            return
        self.seen.add(what)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": what, "time": time.time()}) + "\n")

    def eventFilter(self, obj, event) -> bool:   # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint and self.window.browser.image_refs():
            self.mark("painted")
            if self.quit_after == "painted":
                QTimer.singleShot(0, self._quit)
        return False

    def _poll(self) -> None:
        window = self.window
        if "painted" in self.seen and window.model is not None and window.session.prediction is not None \
                and not window.jobs.busy:
            self.mark("idle")
            self.timer.stop()
            if self.quit_after == "idle":
                self._quit()

    def _quit(self) -> None:
        self.mark("close")
        self.window.close()


def install(window) -> StartupProbe | None:
    path = os.environ.get(ENV)
    return StartupProbe(window, path, os.environ.get(QUIT_ENV, "idle")) if path else None
