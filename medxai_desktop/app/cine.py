"""Cine: play through the frames of a multi-frame image (or the slices of a volume) and the images
of its series at a chosen rate.

View > Cine play/pause (P; Help > Keyboard shortcuts changes it) starts and stops it; the Cine
tool bar holds the same action, the rate (1-30 frames per second) and Loop, both remembered.
Each tick steps with the viewer's own stepping (``ImageOpener.step``: the frames of the file,
then the files of its series), so cine never crosses into another series: at the series' last
image it stops, or with Loop starts again at the series' first. Decoding stays on the io pool:
a tick that finds the frame it asked for still decoding only counts itself, and the next step
moves on by every tick counted, so frames are skipped, never queued, when decoding is slower
than the rate. Opening another listing stops it.
"""
from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QSpinBox, QStyle, QToolBar

from medxai_desktop.core.imaging import ImageRef
from medxai_desktop.core.imaging.annotations import series_text

MIN_FPS, MAX_FPS = 1, 30
STALL_S = 5.0      # the frame asked for is not shown after this long (unreadable?): cine stops


class Cine(QObject):
    """Cine of ``window`` (the MainWindow: its opener, browser, settings and status bar)."""

    def __init__(self, window, menu):
        super().__init__(window)
        self.window = window
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.behind = 0            # ticks while the frame asked for was still decoding
        self.skipped = 0           # frames skipped since play (decoding slower than the rate)
        self.waiting_since: float | None = None
        fps, loop = window.settings.cine()
        self._build(menu, min(max(fps, MIN_FPS), MAX_FPS), loop)
        self.timer.setInterval(round(1000 / self.fps))
        window.browser.model().modelReset.connect(self._new_listing)

    def _build(self, menu, fps: int, loop: bool) -> None:
        window = self.window
        style = window.style()
        self.icons = {playing: style.standardIcon(icon) for playing, icon in (
            (False, QStyle.StandardPixmap.SP_MediaPlay), (True, QStyle.StandardPixmap.SP_MediaPause))}
        self.play_action = QAction(self.icons[False], "Cine &play/pause", window, checkable=True)
        self.play_action.setToolTip("Cine: play the frames of the image, or the images of its series (stops at "
                                    "the series' end, or loops)")
        window.shortcuts.bind("view.cine", self.play_action)
        self.play_action.toggled.connect(self._toggled)
        self.loop_action = QAction("&Loop cine", window, checkable=True)
        self.loop_action.setIconText("Loop")
        self.loop_action.setChecked(loop)
        self.loop_action.setToolTip("At the series' last image start again at its first (else cine stops there)")
        self.loop_action.toggled.connect(lambda _: self._remember())
        self.rate_box = QSpinBox()
        self.rate_box.setRange(MIN_FPS, MAX_FPS)
        self.rate_box.setValue(fps)
        self.rate_box.setSuffix(" fps")
        self.rate_box.setToolTip("Cine rate: frames per second")
        self.rate_box.valueChanged.connect(self._rate_changed)
        menu.addAction(self.play_action)
        menu.addAction(self.loop_action)
        bar = QToolBar("Cine", window)
        bar.setObjectName("Cine")
        bar.addAction(self.play_action)
        bar.addWidget(self.rate_box)
        bar.addAction(self.loop_action)
        self.toolbar = bar      # added to the window after the Tools bar (window_menus.build_toolbar)

    # -- state -------------------------------------------------------------------------------------

    @property
    def fps(self) -> int:
        return self.rate_box.value()

    @property
    def loop(self) -> bool:
        return self.loop_action.isChecked()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def play(self) -> None:
        self.play_action.setChecked(True)

    def pause(self, why: str = "") -> None:
        if self.play_action.isChecked():
            self.play_action.setChecked(False)
            if why:
                self._say(f"Cine stopped: {why}")

    def _new_listing(self) -> None:
        """Another folder was listed (or the window is closing): stop, saying nothing."""
        if self.play_action.isChecked():
            self.play_action.setChecked(False)

    def toggle(self) -> None:
        self.play_action.setChecked(not self.play_action.isChecked())

    def _remember(self) -> None:
        self.window.settings.set_cine(self.fps, self.loop)

    def _rate_changed(self, fps: int) -> None:
        self.timer.setInterval(round(1000 / fps))
        self._remember()

    def _toggled(self, on: bool) -> None:
        self.play_action.setIcon(self.icons[on])
        if not on:
            self.timer.stop()
            return
        ref = self.current()
        if ref is None or self._length(ref) <= 1:
            self.play_action.setChecked(False)
            self._say("Cine: nothing to play (open an image with several frames, or a series of several images)")
            return
        self.behind = self.skipped = 0
        self.waiting_since = None
        if self._left(ref) == (0, 0):
            self._rewind(ref)            # at the end: play from the start again
        self.timer.start()
        self._say(f"Cine: {self.fps} fps, {'looping' if self.loop else 'stops at the end of the series'}")

    # -- where cine is ---------------------------------------------------------------------------

    def current(self) -> ImageRef | None:
        """The image asked for last (perhaps still decoding), else the one shown."""
        opener = self.window.opener
        return opener.requested if opener.requested is not None else self.window.ref

    def decoding(self) -> bool:
        """The image asked for last is not shown yet."""
        requested = self.window.opener.requested
        return requested is not None and requested != self.window.ref

    def _left(self, ref: ImageRef) -> tuple[int, int]:
        """(frames of ``ref``'s file after it, files of its series after it)."""
        frames = ref.n_frames - 1 - ref.frame if ref.n_frames > 1 else 0
        position = self.window.opener.series_position(ref)
        return max(frames, 0), (position[1] - 1 - position[0] if position is not None else 0)

    def _length(self, ref: ImageRef) -> int:
        """Frames and files cine can show in ``ref``'s series (at least its own frames)."""
        series = self.window.browser.series_refs(ref) or [ref]
        return max(sum(r.n_frames for r in series), ref.n_frames)

    # -- playing ---------------------------------------------------------------------------------

    def tick(self) -> None:
        ref = self.current()
        if ref is None:
            self.pause("no image open")
            return
        if self.decoding():
            self.behind += 1
            self.waiting_since = self.waiting_since or time.monotonic()
            if time.monotonic() - self.waiting_since > STALL_S:
                self.pause(f"{ref.path.name} is not shown (see the Log)")
            return
        steps, self.behind, self.waiting_since = 1 + self.behind, 0, None
        frames, files = self._left(ref)
        if frames or files:
            delta = min(steps, frames or files)
            self.skipped += delta - 1
            self.window.opener.step(delta)
        elif self.loop:
            self._rewind(ref)
        else:
            self.pause()
            image = self.window.image
            name = (series_text(image) if image is not None else None) or "this series"
            self._say(f"Cine stopped at the last {'frame' if ref.n_frames > 1 else 'image'} of {name}")

    def _rewind(self, ref: ImageRef) -> None:
        """The first frame of the first image of ``ref``'s series (never another series)."""
        window = self.window
        series = window.browser.series_refs(ref)
        first = series[0] if series else ref
        if first.path != ref.path:
            window.browser.select_index(window.browser.image_refs().index(first))   # opens it
        if first.frame != 0 or first.path == ref.path:
            window.opener.open_ref(replace(first, frame=0))

    def _say(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 5000)


def install_cine(window, menu) -> Cine:
    """View > Cine play/pause and Loop cine, and the Cine tool bar; the controller."""
    menu.addSeparator()
    return Cine(window, menu)
