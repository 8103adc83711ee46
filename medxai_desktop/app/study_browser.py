"""The study browser: patient/study -> series -> images (each with its review status), and a
Failures node for unreadable files.

Up/Down, Home/End and PageUp/PageDown move from image to image (over the study and series rows,
across series), so that each press opens the next image and the list keeps the keyboard."""
from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from medxai_desktop.core.imaging import DiscoveryResult, ImageRef

REF_ROLE = Qt.ItemDataRole.UserRole
_UID_NAME = re.compile(r"[0-9]+(\.[0-9]+){3,}")     # a DICOM UID as a file name (PACS caches)
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
NAVIGATION_KEYS = (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_PageUp,
                   Qt.Key.Key_PageDown)
# review status -> (suffix shown after the file name, dot colour, filled)
STATUS_LOOK = {"unread": ("", "#95a5a6", False), "in_review": ("in review", "#e67e22", True),
               "signed_off": ("signed off", "#27ae60", True)}
_icons: dict[str, QIcon] = {}


def status_icon(status: str) -> QIcon:
    if status not in _icons:
        _, color, filled = STATUS_LOOK[status]
        pixmap = QPixmap(12, 12)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(color))
        if filled:
            painter.setBrush(QColor(color))
        painter.drawEllipse(2, 2, 8, 8)
        painter.end()
        _icons[status] = QIcon(pixmap)
    return _icons[status]


def _study_label(study) -> str:
    who = study.patient_name or study.patient_id
    what = study.description or study.study_uid
    parts = [p for p in (who, what, study.study_date) if p]
    return " - ".join(parts) or "Study"


def _series_label(series) -> str:
    parts = [p for p in (series.modality, series.description) if p]
    if series.number is not None:
        parts.insert(0, f"#{series.number}")
    return f"{' '.join(parts) or 'Series'} ({len(series.images)})"


def _image_label(ref: ImageRef) -> str:
    label = ref.path.name
    if _UID_NAME.fullmatch(ref.path.stem) and ref.instance_number is not None:
        label = f"Image {ref.instance_number}"     # a PACS file named by its SOP Instance UID
    if ref.n_frames > 1:
        label += f" [{ref.n_frames} frames]"
    return label


class StudyBrowser(QTreeWidget):
    image_selected = Signal(object)   # ImageRef

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setUniformRowHeights(True)
        self.failures_item: QTreeWidgetItem | None = None
        self._image_items: list[QTreeWidgetItem] = []
        self.listing: DiscoveryResult | None = None     # what is listed (a retrieve adds to it)
        self.currentItemChanged.connect(self._on_current)

    def populate(self, result: DiscoveryResult) -> None:
        self.listing = result
        self.blockSignals(True)
        self.clear()
        self._image_items = []
        self.failures_item = None
        for study in result.studies:
            study_item = QTreeWidgetItem(self, [_study_label(study)])
            study_item.setToolTip(0, study.study_uid)
            for series in study.series:
                series_item = QTreeWidgetItem(study_item, [_series_label(series)])
                series_item.setToolTip(0, series.series_uid)
                for ref in series.images:
                    item = QTreeWidgetItem(series_item, [_image_label(ref)])
                    item.setData(0, REF_ROLE, ref)
                    self._show_status(item, "unread")
                    item.setToolTip(0, str(ref.path))
                    self._image_items.append(item)
        if result.failures:
            self.failures_item = QTreeWidgetItem(self, [f"Failures ({len(result.failures)})"])
            self.failures_item.setToolTip(0, "Files that could not be read, with the reason")
            self.failures_item.setForeground(0, Qt.GlobalColor.darkRed)
            for failure in result.failures:
                item = QTreeWidgetItem(self.failures_item, [f"{failure.path.name}: {failure.reason}"])
                item.setToolTip(0, str(failure))
        self.expandAll()
        self.blockSignals(False)

    def mark_failed(self, ref: ImageRef, reason: str) -> None:
        """An image that was listed but could not be decoded moves to the Failures node."""
        for item in self._image_items:
            if item.data(0, REF_ROLE) == ref:
                self.blockSignals(True)
                item.parent().removeChild(item)
                self._image_items.remove(item)
                self.blockSignals(False)
                break
        if self.failures_item is None:
            self.failures_item = QTreeWidgetItem(self, [""])
            self.failures_item.setForeground(0, Qt.GlobalColor.darkRed)
        failed = QTreeWidgetItem(self.failures_item, [f"{ref.path.name}: {reason}"])
        failed.setToolTip(0, f"{ref.path}: {reason}")
        self.failures_item.setText(0, f"Failures ({self.failures_item.childCount()})")
        self.failures_item.setExpanded(True)

    def _show_status(self, item: QTreeWidgetItem, status: str) -> None:
        suffix = STATUS_LOOK[status][0]
        ref = item.data(0, REF_ROLE)
        item.setText(0, _image_label(ref) + (f"  ({suffix})" if suffix else ""))
        item.setIcon(0, status_icon(status))
        item.setData(0, STATUS_ROLE, status)

    def set_status(self, ref: ImageRef, status: str) -> None:
        """Show an image's review status (unread, in_review, signed_off)."""
        for item in self._image_items:
            if item.data(0, REF_ROLE) == ref:
                self._show_status(item, status)

    def status_of(self, ref: ImageRef) -> str:
        for item in self._image_items:
            if item.data(0, REF_ROLE) == ref:
                return item.data(0, STATUS_ROLE)
        raise KeyError(ref)

    def image_refs(self) -> list[ImageRef]:
        return [item.data(0, REF_ROLE) for item in self._image_items]

    def failure_texts(self) -> list[str]:
        if self.failures_item is None:
            return []
        return [self.failures_item.child(i).text(0) for i in range(self.failures_item.childCount())]

    def current_index(self) -> int:
        item = self.currentItem()
        return self._image_items.index(item) if item in self._image_items else -1

    def select_index(self, index: int) -> None:
        if 0 <= index < len(self._image_items):
            item = self._image_items[index]
            if self.currentItem() is item:
                self.image_selected.emit(item.data(0, REF_ROLE))
            else:
                self.setCurrentItem(item)

    def series_refs(self, ref: ImageRef) -> list[ImageRef]:
        """The listed images of the series that holds ``ref``'s file, in order ([] if not listed)."""
        for item in self._image_items:
            if item.data(0, REF_ROLE).path == ref.path:
                series = item.parent()
                return [series.child(i).data(0, REF_ROLE) for i in range(series.childCount())]
        return []

    def step(self, delta: int) -> None:
        """Previous (-1) or next (+1) image, across series."""
        if self._image_items:
            current = max(self.current_index(), 0)
            self.select_index(min(max(current + delta, 0), len(self._image_items) - 1))

    def keyPressEvent(self, event) -> None:
        target = self._key_target(event.key()) if event.modifiers() in (
            Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier) else False
        if target is False:
            super().keyPressEvent(event)
            return
        event.accept()
        if target is not None and target is not self.currentItem():
            self.setCurrentItem(target)

    def _key_target(self, key):
        """The image item a navigation key moves to (None: none there), or False for other keys."""
        if not self._image_items:
            return False if key not in NAVIGATION_KEYS else None
        if key == Qt.Key.Key_Home:
            return self._image_items[0]
        if key == Qt.Key.Key_End:
            return self._image_items[-1]
        below, steps = {Qt.Key.Key_Down: (True, 1), Qt.Key.Key_Up: (False, 1),
                        Qt.Key.Key_PageDown: (True, self._page()), Qt.Key.Key_PageUp: (False, self._page())
                        }.get(key, (None, 0))
        if below is None:
            return False
        item, target = self.currentItem(), None
        for _ in range(steps):
            item = self._next_image(item, below)
            if item is None:
                break
            target = item
        return target

    def _next_image(self, item, below: bool):
        """The nearest image item below (or above) ``item`` in the shown tree; the first (last)
        image when nothing is current."""
        if item is None:
            return self._image_items[0] if below else self._image_items[-1]
        step = self.itemBelow if below else self.itemAbove
        item = step(item)
        while item is not None and item.data(0, REF_ROLE) is None:
            item = step(item)
        return item

    def _page(self) -> int:
        """Images a PageUp/PageDown moves: the rows the list shows, less one."""
        row = max(self.sizeHintForRow(0), 1)
        return max(self.viewport().height() // row - 1, 1)

    def _on_current(self, current: QTreeWidgetItem | None, _previous) -> None:
        ref = current.data(0, REF_ROLE) if current is not None else None
        if ref is not None:
            self.image_selected.emit(ref)
