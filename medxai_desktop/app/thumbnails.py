"""Series thumbnails in the study browser: each series row shows a 64 px picture of its middle
image (of a multi-frame file, its middle frame) in the image's own window.

The picture is decoded and windowed on the io pool (``core.imaging.thumbnails``), never on the
GUI thread, and kept per (file, frame, modification time) for the session. Only series rows on
screen get one, one job at a time (opening an image never waits behind a queue of thumbnails);
scrolling, expanding and resizing the list bring the next. A new listing cancels the job in
flight and ignores what it returns; a series whose picture cannot be decoded keeps its row
without one (its tool tip says why)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QTreeWidgetItem

from medxai_desktop.core.imaging import ImageReadError
from medxai_desktop.core.imaging.thumbnails import THUMBNAIL_SIZE, ThumbnailCache, series_thumbnail_source

from .image_canvas import numpy_to_qimage
from .study_browser import REF_ROLE

# a series row's thumbnail: None (a new row), "waiting" (a tile shown), "loading", "shown", "none"
STATE_ROLE = Qt.ItemDataRole.UserRole + 20


def thumbnail_icon(array, size: int = THUMBNAIL_SIZE) -> QIcon:
    """A square icon: the thumbnail centred on black, as a viewer's tile shows an image."""
    image = numpy_to_qimage(array)
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("black"))
    painter = QPainter(pixmap)
    painter.drawImage(QPoint((size - image.width()) // 2, (size - image.height()) // 2), image)
    painter.end()
    return QIcon(pixmap)


def placeholder_icon(size: int = THUMBNAIL_SIZE) -> QIcon:
    """The dark tile a series row shows until its picture arrives: the row has its final height
    from the start, so rows never move while thumbnails load."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("#2b2b2b"))
    return QIcon(pixmap)


class SeriesThumbnails(QObject):
    """Gives the series rows of ``browser`` (a StudyBrowser) their thumbnails, with ``jobs``."""

    def __init__(self, browser, jobs, size: int = THUMBNAIL_SIZE):
        super().__init__(browser)
        self.browser, self.jobs, self.size = browser, jobs, size
        self.cache = ThumbnailCache(size)
        self.generation = 0          # changes with every new listing: older results are ignored
        self.handle = None           # the job in flight
        self.placeholder = placeholder_icon(size)
        self.tiled = False           # every series row has its tile (or its picture)
        browser.setIconSize(QSize(size, size))
        browser.setUniformRowHeights(False)     # series rows are taller than the others
        self.timer = QTimer(self, singleShot=True, interval=30)
        self.timer.timeout.connect(self._next)
        browser.model().modelReset.connect(self._new_listing)
        browser.model().rowsInserted.connect(self._rows_added)
        browser.itemExpanded.connect(self.schedule)
        browser.verticalScrollBar().valueChanged.connect(self.schedule)
        browser.viewport().installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.schedule()
        return False

    def schedule(self, *_) -> None:
        """Look for series rows on screen without a thumbnail, soon (after the listing settles)."""
        self.timer.start()

    def _rows_added(self, *_) -> None:
        self.tiled = False
        self.schedule()

    def _new_listing(self) -> None:
        self.generation += 1
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.schedule()

    def series_rows(self, visible_only: bool = True) -> list[QTreeWidgetItem]:
        """The series rows (children of study rows) on screen, top to bottom; every one if not
        ``visible_only``."""
        browser = self.browser
        if not visible_only:
            return [study.child(j) for i in range(browser.topLevelItemCount())
                    if (study := browser.topLevelItem(i)) is not browser.failures_item
                    for j in range(study.childCount())]
        rows, bottom = [], browser.viewport().rect().bottom()
        item = browser.itemAt(QPoint(1, 1))
        while item is not None and browser.visualItemRect(item).top() <= bottom:
            parent = item.parent()
            if parent is not None and parent.parent() is None and parent is not browser.failures_item:
                rows.append(item)
            item = browser.itemBelow(item)
        return rows

    def _next(self) -> None:
        """Start the thumbnail of the first series row on screen that has none (one at a time)."""
        if not self.tiled:
            self.tiled = True
            for row in self.series_rows(visible_only=False):
                if row.data(0, STATE_ROLE) is None:      # new rows: a tile, until the picture comes
                    row.setIcon(0, self.placeholder)
                    row.setData(0, STATE_ROLE, "waiting")
        if self.handle is not None:
            return
        row = next((r for r in self.series_rows() if r.data(0, STATE_ROLE) == "waiting"), None)
        if row is None:
            return
        source = series_thumbnail_source([ref for i in range(row.childCount())
                                          if (ref := row.child(i).data(0, REF_ROLE)) is not None])
        if source is None:
            row.setData(0, STATE_ROLE, "none")
            self.schedule()
            return
        path, frame = source
        row.setData(0, STATE_ROLE, "loading")
        generation, cache = self.generation, self.cache

        def job(progress, cancelled):
            try:
                return cache.get(path, frame), ""
            except ImageReadError as exc:
                return None, exc.reason

        # on_success and on_failure are connected before the job starts and run on this thread
        self.handle = self.jobs.submit(
            f"thumbnail of {path.name}", job, on_success=lambda result: self._done(generation, row, *result),
            on_failure=lambda message: self._done(generation, row, None, message))

    def _done(self, generation: int, row: QTreeWidgetItem, array, reason: str) -> None:
        if generation != self.generation:
            return      # another listing (``row`` is gone); its own job, if any, is in flight
        self.handle = None
        if array is None:
            row.setData(0, STATE_ROLE, "none")
            row.setToolTip(0, f"{row.toolTip(0)}\nno thumbnail: {reason}")
        else:
            row.setIcon(0, thumbnail_icon(array, self.size))
            row.setData(0, STATE_ROLE, "shown")
        self._next()
