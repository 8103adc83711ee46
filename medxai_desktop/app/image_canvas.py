"""The image viewer: a QGraphicsView with the image and a heatmap overlay, radiology mouse conventions.

Mouse: left-drag = the current tool (window/level by default, or pan, or zoom); middle-drag =
pan; right-drag = zoom; Ctrl+wheel = zoom; wheel = previous/next image (``step_requested``).
Keys: 1-9 the image's window presets (``core.imaging.presets``: by modality, the file's own
windows first; ``presets_changed`` when another image brings others), I = invert, F = fit,
0 or Ctrl+1 = 1:1. Corner annotations (patient, study, series, image and frame, W/L, zoom, the
map shown with a colour bar) are ``corners`` (corner_overlay.py).
A box editor (``editor``, see box_items.BoxEditor) gets every left press, drag, release and key
first; what it leaves goes on to the tools above. ``set_ai_hidden`` hides the heatmap overlay
(blinded review), its name and colour bar with it.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from medxai_desktop.core.imaging import MedicalImage
from medxai_desktop.core.imaging.presets import MAX_PRESETS, WindowPreset, window_presets

from .corner_overlay import CornerOverlay, corner_texts
from .rendering import WindowLut, overlay_rgba

TOOLS = ("window", "pan", "zoom")


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA) -> a QImage that owns a copy of the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    if array.ndim == 2:
        fmt, channels = QImage.Format.Format_Grayscale8, 1
    elif array.shape[2] == 3:
        fmt, channels = QImage.Format.Format_RGB888, 3
    else:
        fmt, channels = QImage.Format.Format_RGBA8888, 4
    return QImage(array.data, width, height, width * channels, fmt).copy()


def format_value(value) -> str:
    if np.ndim(value) == 0:
        v = float(value)
        return f"{v:.0f}" if v.is_integer() else f"{v:.4g}"
    return "(" + ", ".join(format_value(v) for v in value) + ")"


class ImageCanvas(QGraphicsView):
    window_changed = Signal(float, float, bool)   # centre, width, inverted
    cursor_moved = Signal(str)                    # "x 12  y 40  value 87" or ""
    step_requested = Signal(int)                  # wheel: -1 previous, +1 next image
    zoom_changed = Signal(float)
    presets_changed = Signal()                    # another image: ``presets`` are others
    notice = Signal(str)                          # a key that does nothing here, and why

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setZValue(1)
        self.overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.image_item)
        self.scene().addItem(self.overlay_item)
        self.overlay_on, self._ai_hidden = True, False   # the reader's O key; blinded review
        self.image: MedicalImage | None = None
        self.center = self.width_ = 0.0
        self.use_voi_lut = False
        self.inverted = False
        self.tool = "window"
        self.wl_per_pixel = 1.0    # modality units per screen pixel of a window/level drag
        self.heatmap: np.ndarray | None = None
        self.heatmap_name = ""
        self.colormap, self.threshold, self.opacity = "jet", 0.0, 0.45
        self.presets: list[WindowPreset] = []
        self.preset_name: str | None = None      # the preset shown, until the window is dragged
        self.series_position: tuple[int, int] | None = None   # (index, count) in the image's series
        self.corners = CornerOverlay(self)
        self.zoom_changed.connect(lambda _: self._update_corners())
        self.last_pixel: tuple[int, int, object] | None = None
        self._drag: tuple | None = None
        self._fit = True
        self.editor = None          # the box editor, offered mouse and key events first

    # -- image and window ------------------------------------------------------------------

    def set_image(self, image: MedicalImage | None) -> None:
        """Show ``image`` with its default window; keeps the zoom when the size is unchanged."""
        same_size = self.image is not None and image is not None and self.image.shape == image.shape
        self.image = image
        self.heatmap, self.heatmap_name = None, ""
        self.overlay_item.setPixmap(QPixmap())
        self._update_colour_bar()
        self.presets = [] if image is None else window_presets(image)
        self.presets_changed.emit()
        if image is None:
            self.image_item.setPixmap(QPixmap())
            self._update_corners()
            return
        lo, hi = float(np.nanmin(image.pixels)), float(np.nanmax(image.pixels))
        self.wl_per_pixel = max((hi - lo) / 512.0, 0.01)
        self.inverted = image.inverted
        self.apply_preset(0, emit=False)
        self.scene().setSceneRect(QRectF(0, 0, image.shape[1], image.shape[0]))
        self._render()
        if not same_size or self._fit:
            self.fit()

    def set_window(self, center: float, width: float, invert: bool | None = None) -> None:
        if self.image is None:
            return
        self.center, self.width_ = float(center), max(float(width), 1.0)
        self.use_voi_lut = False
        self.preset_name = next((p.name for p in self.presets if not p.uses_voi_lut
                                 and (p.center, p.width) == (self.center, self.width_)), None)
        if invert is not None:
            self.inverted = bool(invert)
        self._render()

    def apply_preset(self, index: int, emit: bool = True) -> bool:
        """Show preset ``index`` of ``presets`` (0 = the image's default); False, with a
        ``notice`` saying which presets there are, when the image has no such preset."""
        if self.image is None:
            return False
        if not 0 <= index < len(self.presets):
            self.notice.emit(f"no window preset {index + 1} for this {self.image.modality or 'image'}: "
                             f"its {len(self.presets)} presets are under View > Window presets")
            return False
        preset = self.presets[index]
        self.center, self.width_, self.use_voi_lut = preset.center, preset.width, preset.uses_voi_lut
        self.preset_name = preset.name
        if emit:
            self._render()
        return True

    def toggle_invert(self) -> None:
        self.inverted = not self.inverted
        self._render()

    def displayed(self) -> np.ndarray:
        """The uint8 display of the image in the current window and inversion."""
        source = WindowLut.for_image(self.image) or self.image   # same bytes, faster on big images
        if self.use_voi_lut:
            return source.display(invert=self.inverted)
        return source.display(self.center, self.width_, self.inverted)

    def _render(self) -> None:
        if self.image is None:
            return
        self.image_item.setPixmap(QPixmap.fromImage(numpy_to_qimage(self.displayed())))
        self.window_changed.emit(self.center, self.width_, self.inverted)
        self._update_corners()

    def set_series_position(self, position: tuple[int, int] | None) -> None:
        """(index, count) of the open image among its series' files, for the corner text."""
        self.series_position = position
        self._update_corners()

    def _update_corners(self) -> None:
        self.corners.set_texts(corner_texts(
            self.image, center=self.center, width=self.width_, voi_lut=self.use_voi_lut,
            preset=self.preset_name, zoom=self.zoom, series_position=self.series_position))

    # -- heatmap overlay -------------------------------------------------------------------

    def set_heatmap(self, heatmap: np.ndarray | None, name: str = "") -> None:
        """Overlay ``heatmap`` (None: none), named ``name`` over the colour bar."""
        self.heatmap, self.heatmap_name = heatmap, name if heatmap is not None else ""
        self._render_overlay()

    def set_overlay_style(self, colormap: str | None = None, opacity: float | None = None,
                          threshold: float | None = None) -> None:
        if colormap is not None:
            self.colormap = colormap
        if threshold is not None:
            self.threshold = threshold
        if opacity is not None:
            self.opacity = opacity
            self.overlay_item.setOpacity(opacity)
        if colormap is not None or threshold is not None:
            self._render_overlay()

    def set_ai_hidden(self, hidden: bool) -> None:
        """Hide (or show again) the heatmap overlay, its name and colour bar, without forgetting it."""
        self._ai_hidden = hidden
        self.overlay_item.setVisible(self.overlay_on and not hidden)
        self._update_colour_bar()

    def toggle_overlay(self) -> None:
        """The reader's overlay switch (O): the heatmap off or on again (never while blinded)."""
        self.overlay_on = not self.overlay_on
        self.set_ai_hidden(self._ai_hidden)

    def _update_colour_bar(self) -> None:
        shown = self.heatmap is not None and self.image is not None and self.overlay_item.isVisible()
        self.corners.set_map((self.heatmap_name or "heatmap") if shown else None, self.colormap, self.threshold)

    def _render_overlay(self) -> None:
        self._update_colour_bar()
        if self.heatmap is None or self.image is None:
            self.overlay_item.setPixmap(QPixmap())
            return
        # drawn at most OVERLAY_MAX_SIDE px a side (the map is ~224 px), stretched over the image
        rgba, sx, sy = overlay_rgba(self.heatmap, self.image.shape, self.colormap, self.threshold)
        self.overlay_item.setPixmap(QPixmap.fromImage(numpy_to_qimage(rgba)))
        self.overlay_item.setTransform(QTransform.fromScale(sx, sy))
        self.overlay_item.setOpacity(self.opacity)

    # -- zoom ------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        if self.image is not None:
            self._fit = True
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        new = self.zoom * factor
        if 0.02 <= new <= 64:
            self._fit = False
            self.scale(factor, factor)
            self.zoom_changed.emit(self.zoom)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    # -- mouse and keys --------------------------------------------------------------------

    def _pixel_at(self, pos) -> tuple[int, int] | None:
        if self.image is None:
            return None
        point = self.viewportTransform().inverted()[0].map(QPointF(pos))  # sub-pixel exact
        x, y = math.floor(point.x()), math.floor(point.y())
        height, width = self.image.shape
        return (x, y) if 0 <= x < width and 0 <= y < height else None

    def mousePressEvent(self, event) -> None:
        button = event.button()
        action = {Qt.MouseButton.LeftButton: self.tool, Qt.MouseButton.MiddleButton: "pan",
                  Qt.MouseButton.RightButton: "zoom"}.get(button)
        if action is None or self.image is None:
            return super().mousePressEvent(event)
        if self.editor is not None and self.editor.press(event):
            event.accept()
            return
        self._drag = (action, event.position(), self.center, self.width_)
        if action == "window" and self.use_voi_lut:
            self.use_voi_lut = False
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor if action == "pan"
                                  else Qt.CursorShape.SizeAllCursor)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        pixel = self._pixel_at(pos)
        if pixel is None:
            self.last_pixel = None
            self.cursor_moved.emit("")
        else:
            value = self.image.pixels[pixel[1], pixel[0]]
            self.last_pixel = (pixel[0], pixel[1], value)
            self.cursor_moved.emit(f"x {pixel[0]}  y {pixel[1]}  value {format_value(value)}")
        if self.editor is not None and self.editor.move(event):
            event.accept()
            return
        if self._drag is None:
            return super().mouseMoveEvent(event)
        action, start, center0, width0 = self._drag
        dx, dy = pos.x() - start.x(), pos.y() - start.y()
        if action == "window":
            # right = wider window (less contrast), down = higher centre (darker)
            self.set_window(center0 + dy * self.wl_per_pixel, width0 + dx * self.wl_per_pixel)
        elif action == "pan":
            self._drag = (action, pos, center0, width0)
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(dx))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(dy))
        elif action == "zoom":
            self._drag = (action, pos, center0, width0)
            self.zoom_by(1.01 ** -dy)
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self.editor is not None and self.editor.release(event):
            event.accept()
        elif self._drag is not None:
            self._drag = None
            self.viewport().unsetCursor()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.15 if delta > 0 else 1 / 1.15)
        else:
            self.step_requested.emit(-1 if delta > 0 else 1)
        event.accept()

    def keyPressEvent(self, event) -> None:
        key, ctrl = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if self.editor is not None and self.image is not None and self.editor.key(event):
            pass
        elif key == Qt.Key.Key_0 or (ctrl and key == Qt.Key.Key_1):
            self.actual_size()
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_1 + MAX_PRESETS - 1 and not ctrl:
            self.apply_preset(key - Qt.Key.Key_1)
        elif key == Qt.Key.Key_I:
            self.toggle_invert()
        elif key == Qt.Key.Key_F:
            self.fit()
        else:
            return super().keyPressEvent(event)
        event.accept()

    def scene_point_to_view(self, x: float, y: float):
        """Viewport coordinates of the centre of image pixel (x, y) (for tests and scripts)."""
        return self.viewportTransform().map(QPointF(x + 0.5, y + 0.5))
