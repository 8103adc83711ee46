"""Corner annotations over an image view, as reading software shows them (OHIF, Weasis).

Top left: patient, ID, study date, study; top right: modality and series, image in series
(``Im 12/40``), frame or slice; bottom left: window/level (with its unit and preset) and zoom;
bottom right: the heatmap shown, its name over a colour bar. The texts come from core objects
(:func:`corner_texts` reads a MedicalImage and ``core.imaging.annotations``); this module only
lays them out. The labels take no mouse events, so the view under them works as before.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QGraphicsDropShadowEffect, QLabel, QVBoxLayout, QWidget

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


def _shadowed(label: QLabel) -> QLabel:
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.setStyleSheet("color: #f0f0f0; background: transparent; font-size: 11px;")
    shadow = QGraphicsDropShadowEffect(label)
    shadow.setBlurRadius(3)
    shadow.setOffset(1, 1)
    shadow.setColor(QColor(0, 0, 0, 230))
    label.setGraphicsEffect(shadow)
    return label


class ColourBar(QWidget):
    """The heatmap's name over a vertical colour scale from 1 (top) down to the overlay
    threshold (0 when none): the values drawn on the image, labelled at both ends."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.name = _shadowed(QLabel())
        self.name.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.top, self.bottom = _shadowed(QLabel("1.0")), _shadowed(QLabel("0"))
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
    """Four corner labels and a colour bar over ``viewport``, kept in its corners on resize."""

    def __init__(self, viewport: QWidget):
        super().__init__(viewport)
        self.viewport = viewport
        self.labels = {corner: _shadowed(QLabel(viewport)) for corner in CORNERS}
        for corner, label in self.labels.items():
            label.setAlignment(_ALIGN[corner])
        self.colour_bar = ColourBar(viewport)
        viewport.installEventFilter(self)

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
        width, height = self.viewport.width(), self.viewport.height()
        for corner, label in self.labels.items():
            size = label.sizeHint()
            x = MARGIN if corner.endswith("left") else width - size.width() - MARGIN
            y = MARGIN if corner.startswith("top") else height - size.height() - MARGIN
            label.setGeometry(x, y, size.width(), size.height())
        bar = self.colour_bar
        size = bar.sizeHint()
        bar.setGeometry(width - size.width() - MARGIN, height - size.height() - MARGIN, size.width(), size.height())

    def eventFilter(self, watched, event) -> bool:
        if watched is self.viewport and event.type() == QEvent.Type.Resize:
            self.place()
        return False
