"""Corner annotations over an image view, as reading software shows them (OHIF, Weasis).

Top left: patient, ID, study date, study; top right: modality and series, image in series
(``Im 12/40``), frame or slice; bottom left: window/level (with its unit and preset) and zoom;
bottom right: the heatmap shown, its name over a colour bar. The texts come from core objects
(:func:`corner_texts` reads a MedicalImage and ``core.imaging.annotations``); this module only
lays them out. The labels take no mouse events, so the view under them works as before.

The labels are children of the view, laid over its viewport, not children of the viewport: a
pan scrolls the viewport's pixels and its child widgets with them, which carried the texts
into the middle of the image. Each text is drawn white inside a black outline, readable on
a white CR or an inverted CT as on black.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QVBoxLayout, QWidget

from medxai_desktop.core.imaging.annotations import header_lines, position_lines
from medxai_desktop.core.imaging.presets import format_window
from medxai_desktop.core.overlay import heatmap_rgba

CORNERS = ("top_left", "top_right", "bottom_left")      # bottom right: the map's colour bar
_ALIGN = {"top_left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
          "top_right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
          "bottom_left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom}
MARGIN = 8
BAR_WIDTH, BAR_HEIGHT = 12, 140


def corner_texts(image, *, center: float, width: float, voi_lut: bool, preset: str | None,
                 zoom: float, series_position: tuple[int, int] | None) -> dict[str, list[str]]:
    """The lines of the three text corners for ``image`` as shown."""
    if image is None:
        return {corner: [] for corner in CORNERS}
    window = "VOI LUT" if voi_lut else format_window(center, width, image.unit)
    if preset:
        window += f"  \u00b7  {preset}"
    return {"top_left": header_lines(image),
            "top_right": position_lines(image, series_position),
            "bottom_left": [window, f"Zoom {zoom * 100:.0f} %"]}


OUTLINE = 3          # pen width of the black ring around each letter, in pixels


class OutlinedLabel(QLabel):
    """Plain text, white letters in a black outline; no mouse events."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("color: #f0f0f0; background: transparent; font-size: 11px;")
        self.setMargin(OUTLINE)

    def paintEvent(self, event) -> None:
        metrics, area = self.fontMetrics(), self.contentsRect()
        path = QPainterPath()
        lines = self.text().split("\n")
        top = area.top() + (area.height() - metrics.height() * len(lines)) / 2 \
            if self.alignment() & Qt.AlignmentFlag.AlignVCenter else area.top()
        for number, line in enumerate(lines):
            width = metrics.horizontalAdvance(line)
            x = area.right() + 1 - width if self.alignment() & Qt.AlignmentFlag.AlignRight else area.left()
            path.addText(QPointF(x, top + number * metrics.height() + metrics.ascent()), self.font(), line)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.strokePath(path, QPen(QColor(0, 0, 0, 235), OUTLINE, Qt.PenStyle.SolidLine,
                                      Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.fillPath(path, QColor(240, 240, 240))


class ColourBar(QWidget):
    """The heatmap's name over a vertical colour scale from 1 (top) down to the overlay
    threshold (0 when none): the values drawn on the image, labelled at both ends."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.name = OutlinedLabel()
        self.name.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.top, self.bottom = OutlinedLabel("1.0"), OutlinedLabel("0")
        self.bar = QLabel()
        self.bar.setFixedSize(BAR_WIDTH, BAR_HEIGHT)
        self.bar.setStyleSheet("border: 1px solid #808080; background: transparent;")
        for widget in (self.name, self.top, self.bar, self.bottom):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignRight)
        self.hide()

    def show_map(self, name: str, colormap: str, threshold: float) -> None:
        # the scale of what is drawn: from 1 down to the threshold (below it the map is clear)
        ramp = np.linspace(1.0, threshold, BAR_HEIGHT, dtype=np.float32)[:, None].repeat(BAR_WIDTH, axis=1)
        rgba = np.ascontiguousarray(heatmap_rgba(ramp, (BAR_HEIGHT, BAR_WIDTH), colormap, 0.0))
        image = QImage(rgba.data, BAR_WIDTH, BAR_HEIGHT, BAR_WIDTH * 4, QImage.Format.Format_RGBA8888)
        self.bar.setPixmap(QPixmap.fromImage(image.copy()))
        self.name.setText(name)
        self.bottom.setText(f"{threshold:.2f}" if threshold > 0 else "0")
        self.adjustSize()


class CornerOverlay(QObject):
    """Four corner labels and a colour bar over the viewport of ``view``, kept in its corners on
    resize; they do not scroll with the image."""

    def __init__(self, view: QAbstractScrollArea):
        super().__init__(view)
        self.view, self.viewport = view, view.viewport()
        self.labels = {corner: OutlinedLabel(parent=view) for corner in CORNERS}
        for corner, label in self.labels.items():
            label.setAlignment(_ALIGN[corner])
        self.colour_bar = ColourBar(view)
        self.viewport.installEventFilter(self)

    def set_texts(self, texts: dict[str, list[str]]) -> None:
        for corner, lines in texts.items():
            label = self.labels[corner]
            label.setText("\n".join(lines))
            label.setVisible(bool(lines))
            label.adjustSize()
        self.place()

    def set_map(self, name: str | None, colormap: str = "jet", threshold: float = 0.0) -> None:
        """Show ``name`` over a colour bar, or nothing (None: no map, or the map is hidden)."""
        if name is None:
            self.colour_bar.hide()
        else:
            self.colour_bar.show_map(name, colormap, threshold)
            self.colour_bar.show()
        self.place()

    def texts(self) -> dict[str, str]:
        """What each corner shows now (for tests): the map's name with the bar, if shown."""
        shown = {corner: ("" if label.isHidden() else label.text()) for corner, label in self.labels.items()}
        shown["bottom_right"] = "" if self.colour_bar.isHidden() else self.colour_bar.name.text()
        return shown

    def place(self) -> None:
        area = self.viewport.geometry()          # in the view's coordinates (inside its frame)
        for corner, label in self.labels.items():
            size = label.sizeHint()
            x = area.left() + MARGIN if corner.endswith("left") else area.right() + 1 - size.width() - MARGIN
            y = area.top() + MARGIN if corner.startswith("top") else area.bottom() + 1 - size.height() - MARGIN
            label.setGeometry(x, y, size.width(), size.height())
        bar, size = self.colour_bar, self.colour_bar.sizeHint()
        bar.setGeometry(area.right() + 1 - size.width() - MARGIN, area.bottom() + 1 - size.height() - MARGIN,
                        size.width(), size.height())

    def eventFilter(self, watched, event) -> bool:
        if watched is self.viewport and event.type() == QEvent.Type.Resize:
            self.place()
        return False
