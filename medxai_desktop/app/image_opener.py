"""Opening studies and images: scanning paths, decoding the chosen image in the background,
frame stepping, and drag and drop. The decoded image goes to ``window.show_image``.

The wheel steps through the frames of a file and the files of its series, and stops at the
series' first and last image with a notice: it never moves into another series (another
patient's, perhaps) unasked. The canvas shows where it is ("Im 12/40", "Fr 3/10").
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QPlainTextEdit, QTextEdit

from medxai_desktop.core.imaging import DiscoveryResult, ImageReadError, ImageRef, discover, read_image
from medxai_desktop.core.imaging.annotations import series_text

from .rendering import WindowLut

TEXT_INPUTS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)   # keys type there


class ImageOpener:
    """``window`` is the MainWindow: its settings, browser, store, jobs and messages are used."""

    def __init__(self, window):
        self.window = window
        self.token = 0              # changes each time another image is requested
        self.requested: ImageRef | None = None

    def focus_canvas(self) -> None:
        """An image was opened: the canvas takes the keyboard, unless the reader is moving
        through the study list (its arrow keys go on to the next image) or typing in a field."""
        focused = QApplication.focusWidget()
        if focused is self.window.browser or isinstance(focused, TEXT_INPUTS):
            return
        self.window.canvas.setFocus()

    # -- studies ----------------------------------------------------------------------------------

    def open_path(self, path, remember: bool = True) -> None:
        """Scan a folder, DICOMDIR or file (in the background), list it, show its first image;
        ``remember`` puts it on File > Open recent."""
        window, path = self.window, Path(path)
        if remember:
            window.settings.add_recent(path)
        window.info(f"scanning {path}")
        window.jobs.submit(f"scan {path}", lambda progress, cancelled: discover(path),
                           on_success=self.on_discovered, on_failure=window.error)

    def open_paths(self, paths) -> None:
        """Open one path as File > Open does; several (a drop) are scanned together and listed as one."""
        window, paths = self.window, [Path(p) for p in paths]
        if len(paths) == 1:
            self.open_path(paths[0])
            return
        for path in paths:
            window.settings.add_recent(path)
        window.info(f"scanning {len(paths)} paths")
        window.jobs.submit(f"scan {len(paths)} paths",
                           lambda progress, cancelled: merge_discoveries([discover(p) for p in paths]),
                           on_success=self.on_discovered, on_failure=window.error)

    def add_path(self, path) -> None:
        """Scan ``path`` and add what it holds to the studies listed (a PACS retrieve adds to the
        list, it does not replace it); its first image is shown."""
        window, path = self.window, Path(path)
        window.jobs.submit(f"scan {path}", lambda progress, cancelled: discover(path),
                           on_success=self._add_discovered, on_failure=window.error)

    def _add_discovered(self, result) -> None:
        listed = self.window.browser.listing
        merged = merge_discoveries([listed, result]) if listed is not None else result
        self.on_discovered(merged, show=result.images[0] if result.images else None)

    def on_discovered(self, result, show: ImageRef | None = None) -> None:
        """List ``result``; show ``show`` (one of its images), else its first image."""
        window = self.window
        window.browser.populate(result)
        window.review.on_discovered()
        for failure in result.failures:
            window.log.add(f"unreadable: {failure}", "warning")
        window.info(f"{len(result.images)} image(s), {len(result.failures)} unreadable file(s)")
        refs = window.browser.image_refs()
        if refs:
            window.browser.select_index(refs.index(show) if show in refs else 0)

    # -- one image --------------------------------------------------------------------------------

    def open_ref(self, ref: ImageRef) -> None:
        """Decode an image (and register it in the store) in the background, then show it."""
        self.token += 1
        self.requested = ref
        token, store = self.token, self.window.store

        def job(progress, cancelled):
            try:
                image = read_image(ref.path, ref.frame)
            except ImageReadError as exc:
                return None, None, exc
            WindowLut.for_image(image)   # the display table of a big image, built here, not on the GUI thread
            image_id, store_error = None, None
            if store is not None:
                try:
                    image_id = store.add_image(image)
                except Exception as exc:  # noqa: BLE001 - the image is still shown
                    store_error = f"review store: {exc}"
            return image, image_id, store_error

        self.window.jobs.submit(f"open {ref.path.name}", job,
                                on_success=lambda result: self._on_image(token, ref, *result),
                                on_failure=self.window.error)

    def _on_image(self, token: int, ref: ImageRef, image, image_id, store_error) -> None:
        if isinstance(store_error, ImageReadError):
            self._on_unreadable(token, ref, store_error)
            return
        if token != self.token:
            return  # the user has moved on to another image
        if store_error:
            self.window.error(store_error)
        self.window.canvas.set_series_position(self.series_position(ref))
        self.window.show_image(ref, image, image_id)

    def series_position(self, ref: ImageRef) -> tuple[int, int] | None:
        """(index, count) of ``ref``'s file among its series' listed files; None if not listed."""
        paths = [r.path for r in self.window.browser.series_refs(ref)]
        return (paths.index(ref.path), len(paths)) if ref.path in paths else None

    def _on_unreadable(self, token: int, ref: ImageRef, failure: ImageReadError) -> None:
        """Listed but not decodable: say why, move it under Failures, show a readable one."""
        window, browser = self.window, self.window.browser
        window.error(f"cannot open {failure}")
        index = browser.current_index()
        browser.mark_failed(ref, failure.reason)
        if token == self.token and window.image is None and browser.image_refs():
            browser.select_index(max(0, min(index, len(browser.image_refs()) - 1)))

    def step(self, delta: int) -> None:
        """The wheel: previous/next frame of a multi-frame image (or volume slice), past its
        first or last frame the previous/next file of the same series; at the series' end it
        stops and says so."""
        window = self.window
        ref = self.requested if self.requested is not None else window.ref
        if ref is None:
            return
        if ref.n_frames > 1 and 0 <= ref.frame + delta < ref.n_frames:
            self.open_ref(replace(ref, frame=ref.frame + delta))
            return
        series = window.browser.series_refs(ref)
        position = self.series_position(ref)
        if position is None:
            return
        target = position[0] + delta
        if 0 <= target < len(series):
            window.browser.select_index(window.browser.image_refs().index(series[target]))
        else:
            self.series_end(ref, delta, len(series))

    def series_end(self, ref: ImageRef, delta: int, count: int) -> None:
        """A visible notice (and nothing opened) when the wheel reaches a series' end."""
        window, image = self.window, self.window.image
        which = "last" if delta > 0 else "first"
        unit, n = ("frame", ref.n_frames) if count == 1 and ref.n_frames > 1 else ("image", count)
        name = (series_text(image) if image is not None else None) or "this series"
        message = (f"{which.capitalize()} {unit} of {name} ({n if delta > 0 else 1}/{n}): the wheel stops "
                   "at the end of a series; choose another series in Studies")
        window.statusBar().showMessage(message, 5000)
        if not (window.toast.isVisible() and window.toast.message == message):
            window.toast.show_message(message, "info")


def dropped_paths(mime) -> list[Path]:
    """The local files and folders of a drag (URLs that are not files are ignored)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def merge_discoveries(results: list[DiscoveryResult]) -> DiscoveryResult:
    """Several scans as one listing: the same study or series found twice is listed once."""
    studies: dict = {}
    failures = []
    for result in results:
        failures.extend(result.failures)
        for study in result.studies:
            known = studies.setdefault(study.study_uid, replace(study, series=[]))
            for series in study.series:
                same = next((s for s in known.series if s.series_uid == series.series_uid), None)
                if same is None:
                    known.series.append(replace(series, images=list(series.images)))
                else:
                    same.images.extend(ref for ref in series.images if ref not in same.images)
    return DiscoveryResult(list(studies.values()), failures)
