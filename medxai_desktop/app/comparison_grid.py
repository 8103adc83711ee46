"""Several methods' heatmaps side by side over the same image, with linked zoom and pan.

Each cell is a small view of the shared image pixmap (as the main canvas shows it) with one
method's overlay; zooming (wheel) or panning (drag) one cell moves all of them. A cell's title
is the method, its second line a score when one is known (``set_scores``, e.g. ROAD).
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFontMetrics, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .image_canvas import numpy_to_qimage
from .rendering import overlay_rgba


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for n cells: 1x1, 1x2, 2x2, 2x2, 2x3, 2x3, 3x3, ..."""
    if n <= 2:
        return 1, max(n, 1)
    columns = math.ceil(math.sqrt(n)) if n != 5 and n != 6 else 3
    return math.ceil(n / columns), columns


def overlay_pixmap(heatmap: np.ndarray, shape: tuple[int, int], colormap: str, threshold: float
                   ) -> tuple[QPixmap, QTransform]:
    """The RGBA overlay at a capped size, and the transform that lays it on the whole image."""
    rgba, sx, sy = overlay_rgba(heatmap, shape, colormap, threshold)
    return QPixmap.fromImage(numpy_to_qimage(rgba)), QTransform.fromScale(sx, sy)


class LinkedView(QGraphicsView):
    """A cell's view: wheel zooms under the mouse, left or middle drag pans."""

    view_changed = Signal()
    zoomed = Signal()
    resized = Signal()

    def __init__(self, scene: QGraphicsScene, parent=None):
        super().__init__(scene, parent)
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # small cells: no scroll bars (dragging pans; the bars would eat a tenth of the cell)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.horizontalScrollBar().valueChanged.connect(lambda _: self.view_changed.emit())
        self.verticalScrollBar().valueChanged.connect(lambda _: self.view_changed.emit())

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        if 0.02 <= self.zoom * factor <= 64:
            self.scale(factor, factor)
            # smooth scaling only helps when zoomed out; zoomed in, pixels should stay pixels
            self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 1)
            self.zoomed.emit()
            self.view_changed.emit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def center_point(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.15 if delta > 0 else 1 / 1.15)
        event.accept()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:   # middle drag pans too, as on the canvas
            event = type(event)(event.type(), event.position(), event.globalPosition(), Qt.MouseButton.LeftButton,
                                Qt.MouseButton.LeftButton, event.modifiers())
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.MiddleButton:
            event = type(event)(event.type(), event.position(), event.globalPosition(), Qt.MouseButton.NoButton,
                                Qt.MouseButton.LeftButton, event.modifiers())
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            event = type(event)(event.type(), event.position(), event.globalPosition(), Qt.MouseButton.LeftButton,
                                Qt.MouseButton.NoButton, event.modifiers())
        super().mouseReleaseEvent(event)


class TitleLabel(QLabel):
    """A cell's bold title, elided to the cell's width: six titles and their ROAD scores side by
    side must not make the grid (and with it the window) wider than the screen, which would
    squeeze the docks until their tabs read "Explanati..."."""

    def __init__(self, title: str, parent=None, bold: bool = True):
        super().__init__(parent)
        self.title, self.bold = title, bold
        self.setToolTip(title)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._show(title)

    def _show(self, text: str) -> None:
        self.setText(f"<b>{text}</b>" if self.bold else text)

    def resizeEvent(self, event) -> None:
        font = self.font()
        font.setBold(self.bold)
        self._show(QFontMetrics(font).elidedText(self.title, Qt.TextElideMode.ElideRight, self.width()))
        super().resizeEvent(event)


class MapCell(QFrame):
    def __init__(self, method: str, title: str, parent=None):
        super().__init__(parent)
        self.method = method
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.scene = QGraphicsScene(self)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.overlay_item.setZValue(1)
        self.scene.addItem(self.image_item)
        self.scene.addItem(self.overlay_item)
        self.view = LinkedView(self.scene)
        # the method on a line of its own, the class and the ROAD score under it: side by side
        # they left a laptop's narrow cells "EigenGrad-CA..."
        method_name, _, target = title.partition(" - ")
        self.title_label = TitleLabel(method_name)
        self.target_label = TitleLabel(target, bold=False)
        self.score_label = QLabel("")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header = QGridLayout()
        header.setContentsMargins(4, 2, 4, 0)
        header.setVerticalSpacing(0)
        header.addWidget(self.title_label, 0, 0, 1, 2)
        header.addWidget(self.target_label, 1, 0)
        header.addWidget(self.score_label, 1, 1)
        header.setColumnStretch(0, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(1)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)

    def set_image(self, pixmap: QPixmap) -> None:
        self.image_item.setPixmap(pixmap)
        self.scene.setSceneRect(QRectF(0, 0, pixmap.width(), pixmap.height()))

    def set_overlay(self, pixmap: QPixmap, transform: QTransform, opacity: float) -> None:
        self.overlay_item.setPixmap(pixmap)
        self.overlay_item.setTransform(transform)
        self.overlay_item.setOpacity(opacity)

    def set_score(self, text: str) -> None:
        self.score_label.setText(text)
        self.score_label.setToolTip(text)


class ComparisonGrid(QWidget):
    """``set_image`` (the displayed image), ``set_maps`` (method -> title and map), then
    ``set_scores``; the overlay style follows ``set_style``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cells: dict[str, MapCell] = {}
        self.maps: dict[str, np.ndarray] = {}
        self.scores: dict[str, str] = {}
        self.pixmap = QPixmap()
        self.colormap, self.opacity, self.threshold = "jet", 0.45, 0.0
        self._syncing = False
        self.fitted = True     # refit on resize until the user zooms
        bar = QHBoxLayout()
        self.info_label = QLabel("No maps yet: run explanations first.")
        self.fit_button = QPushButton("Fit all")
        self.fit_button.clicked.connect(self.fit)
        bar.addWidget(self.info_label, 1)
        bar.addWidget(self.fit_button)
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addLayout(self.grid, 1)

    def views(self) -> list[LinkedView]:
        return [cell.view for cell in self.cells.values()]

    def set_image(self, pixmap: QPixmap) -> None:
        resized = (pixmap.width(), pixmap.height()) != (self.pixmap.width(), self.pixmap.height())
        self.pixmap = pixmap
        for cell in self.cells.values():
            cell.set_image(pixmap)
        if resized:
            self._render_overlays()
            if self.fitted:
                self.fit()

    def set_maps(self, maps: list[tuple[str, str, np.ndarray]]) -> None:
        """(method, title, heatmap) per cell, in order; replaces the cells."""
        for cell in self.cells.values():
            self.grid.removeWidget(cell)
            cell.deleteLater()
        self.cells = {}
        self.maps = {method: heatmap for method, _, heatmap in maps}
        rows, columns = grid_shape(len(maps))
        for index, (method, title, _) in enumerate(maps):
            cell = MapCell(method, title)
            cell.set_image(self.pixmap)
            cell.view.view_changed.connect(lambda v=cell.view: self._follow(v))
            cell.view.zoomed.connect(lambda: setattr(self, "fitted", False))
            cell.view.resized.connect(lambda v=cell.view: self._fit_view(v) if self.fitted else None)
            self.grid.addWidget(cell, index // columns, index % columns)
            self.cells[method] = cell
        for r in range(rows):
            self.grid.setRowStretch(r, 1)
        for c in range(columns):
            self.grid.setColumnStretch(c, 1)
        self.info_label.setText(f"{len(maps)} map(s): wheel zooms, drag pans, all cells follow."
                                if maps else "No maps yet: run explanations first.")
        self._render_overlays()
        self.set_scores(self.scores)
        self.fit()

    def set_style(self, colormap: str, opacity: float, threshold: float) -> None:
        restyle = (colormap, threshold) != (self.colormap, self.threshold)
        self.colormap, self.opacity, self.threshold = colormap, opacity, threshold
        if restyle:
            self._render_overlays()
        else:
            for cell in self.cells.values():
                cell.overlay_item.setOpacity(opacity)

    def set_scores(self, scores: dict[str, str]) -> None:
        """A short text per method (e.g. "ROAD 0.42"); methods not named show none."""
        self.scores = dict(scores)
        for method, cell in self.cells.items():
            cell.set_score(self.scores.get(method, ""))

    def _render_overlays(self) -> None:
        if self.pixmap.isNull():
            return
        shape = (self.pixmap.height(), self.pixmap.width())
        for method, cell in self.cells.items():
            pixmap, transform = overlay_pixmap(self.maps[method], shape, self.colormap, self.threshold)
            cell.set_overlay(pixmap, transform, self.opacity)

    def fit(self) -> None:
        self.fitted = True
        for view in self.views():
            self._fit_view(view)

    def _fit_view(self, view: LinkedView) -> None:
        if self.pixmap.isNull():
            return
        self._syncing = True
        try:
            view.fitInView(view.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            view.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, view.zoom < 1)
        finally:
            self._syncing = False

    def _follow(self, source: LinkedView) -> None:
        """Every other cell takes ``source``'s zoom and centre."""
        if self._syncing:
            return
        self._syncing = True
        try:
            transform, center = source.transform(), source.center_point()
            for view in self.views():
                if view is not source:
                    view.setTransform(transform)
                    view.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, view.zoom < 1)
                    view.centerOn(center)
        finally:
            self._syncing = False
