"""Measurements on the canvas: their graphics items and the drawing / moving gestures.

Scene coordinates are the image's pixels (as for boxes, box_items.py), so a core ``Shape``'s
points are scene points. A length is a line with short end ticks, a ROI its rectangle or
ellipse, all in one colour (yellow) with cosmetic pens; what was measured (``Measurement.lines``:
mm or px, HU) sits on a dark plate beside the shape and keeps its size at any zoom.

``MeasureEditor`` is offered the canvas's mouse and key events before the box editor
(``EditorChain``): after ``arm`` (L, Shift+R, E) a left-drag draws one shape; a press on a
measurement selects it, a drag moves it, a drag on one of its two handles (a length's ends, a
ROI's drawn corners) reshapes it; arrows nudge the selected one (Shift: 10 px); Escape cancels.
It only emits what the user did; the controller measures, stores and calls back ``set_item``.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem

from medxai_desktop.core.measurements import ELLIPSE, LENGTH, RECTANGLE, Shape

from .box_items import DRAG_START_PX, GRAB_PX, HandleItem, LabelItem, SceneEditor, _pen

YELLOW = QColor(255, 226, 60)
Z_MEASURE, Z_MEASURE_SELECTED = 6, 7
TICK_PX = 6          # half length of a length's end ticks, on screen
MIN_DRAG_PX = 3      # a drag shorter than this (on screen) draws nothing
KIND_NAMES = {LENGTH: "length", RECTANGLE: "rectangle ROI", ELLIPSE: "ellipse ROI"}


def a_kind(kind: str) -> str:
    """The kind's name with its article: "a length", "an ellipse ROI"."""
    name = KIND_NAMES[kind]
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def shape_path(shape: Shape, zoom: float = 1.0) -> QPainterPath:
    path = QPainterPath()
    (ax, ay), (bx, by) = shape.points
    if shape.kind == LENGTH:
        path.moveTo(ax, ay)
        path.lineTo(bx, by)
        length = math.hypot(bx - ax, by - ay)
        if length > 0:   # ticks across each end, TICK_PX on screen
            nx, ny = (ay - by) / length * TICK_PX / zoom, (bx - ax) / length * TICK_PX / zoom
            for x, y in ((ax, ay), (bx, by)):
                path.moveTo(x - nx, y - ny)
                path.lineTo(x + nx, y + ny)
        return path
    x0, y0, x1, y1 = shape.bounds
    rect = QRectF(x0, y0, x1 - x0, y1 - y0)
    if shape.kind == RECTANGLE:
        path.addRect(rect)
    else:
        path.addEllipse(rect)
    return path


class MeasurementItem(QGraphicsPathItem):
    """One stored measurement (a ``MeasurementRevision``): its shape, its values, two handles."""

    def __init__(self, revision, zoom: float = 1.0):
        super().__init__()
        self.label = LabelItem(self)
        self.handles = [HandleItem(self), HandleItem(self)]
        self.selected, self.zoom = False, zoom
        self.revision = revision
        self.shape_shown = revision.measurement.shape
        self.set_revision(revision)

    @property
    def measurement_id(self) -> int:
        return self.revision.measurement_id

    def set_revision(self, revision) -> None:
        self.revision = revision
        self.setPen(_pen(YELLOW, Qt.PenStyle.SolidLine, 3.0 if self.selected else 2.0))
        self.setZValue(Z_MEASURE_SELECTED if self.selected else Z_MEASURE)
        self.label.set_text("\n".join(revision.measurement.lines()), YELLOW)
        self.show_shape(revision.measurement.shape)

    def show_shape(self, shape: Shape) -> None:
        """Draw ``shape`` (during a drag, before it is measured and stored)."""
        self.shape_shown = shape
        self.setPath(shape_path(shape, self.zoom))
        for handle, (x, y) in zip(self.handles, shape.points):
            handle.setPos(QPointF(x, y))
            handle.setVisible(self.selected)
        x0, y0, x1, y1 = shape.bounds
        width = (self.label.boundingRect().width() + 4) / self.zoom   # image pixels
        right = self.scene().sceneRect().right() if self.scene() is not None else float("inf")
        # beside the shape on the right, or on its left where the image ends too soon
        self.label.place(QPointF(x1 + 4 / self.zoom if x1 + width <= right else x0 - width, y0), True)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = zoom
        self.show_shape(self.shape_shown)

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.set_revision(self.revision)


class EditorChain:
    """The canvas's ``editor``: offers each press, move, release and key to its editors in turn
    until one takes it (the measurement editor first, then the box editor)."""

    def __init__(self, *editors):
        self.editors = [e for e in editors if e is not None]

    def press(self, event) -> bool:
        return any(e.press(event) for e in self.editors)

    def move(self, event) -> bool:
        return any(e.move(event) for e in self.editors)

    def release(self, event) -> bool:
        return any(e.release(event) for e in self.editors)

    def key(self, event) -> bool:
        return any(e.key(event) for e in self.editors)


class MeasureEditor(SceneEditor):
    """The measurement gestures of one canvas (see the module's docstring); ``selection_changed``
    gives the selected measurement's id."""

    drawn = Signal(object)                 # Shape
    reshaped = Signal(int, object)         # measurement id, Shape
    armed_changed = Signal(object)         # the kind armed, or None

    def __init__(self, canvas):
        super().__init__(canvas)
        self.items: dict[int, MeasurementItem] = {}
        self.armed: str | None = None

    # -- items -------------------------------------------------------------------------------

    def set_revisions(self, revisions) -> None:
        """Show exactly these measurements (the open image's), keeping the selection if there."""
        self._replace(revisions, self.set_revision)

    def set_revision(self, revision) -> None:
        """Add or update one measurement; a removed one leaves the canvas."""
        item = self.items.get(revision.measurement_id)
        if revision.removed:
            if item is not None:
                self.canvas.scene().removeItem(item)
                del self.items[revision.measurement_id]
                if self.selected == revision.measurement_id:
                    self._select(None)
            return
        if item is None:
            item = self.items[revision.measurement_id] = MeasurementItem(revision, self.canvas.zoom)
            self.canvas.scene().addItem(item)
            item.show_shape(item.shape_shown)   # its label placed within the image
        else:
            item.set_revision(revision)

    def reset(self, measurement_id: int | None) -> None:
        """Redraw a measurement as stored (a change that was not written)."""
        item = self.items.get(measurement_id)
        if item is not None:
            item.set_revision(item.revision)

    def select(self, measurement_id: int | None) -> None:
        self._select(measurement_id if measurement_id in self.items else None)

    def selected_revision(self):
        return self.items[self.selected].revision if self.selected in self.items else None

    def arm(self, kind: str | None) -> None:
        """The next left-drag draws a ``kind`` (None: back to the viewer's tools)."""
        self.armed = kind if self.canvas.image is not None else None
        if self.armed is None:
            self.canvas.viewport().unsetCursor()
        else:
            self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.armed_changed.emit(self.armed)

    # -- geometry ----------------------------------------------------------------------------------

    def _clamped(self, pos) -> tuple[float, float]:
        """The image point under ``pos``, on the half-pixel grid, inside the image."""
        point = self._scene(pos)
        width, height = self._image_size()
        return min(max(round(point.x() * 2) / 2, 0.0), width), min(max(round(point.y() * 2) / 2, 0.0), height)

    def _view_distance(self, pos, x: float, y: float) -> float:
        v = self._view(QPointF(x, y))
        return math.hypot(v.x() - pos.x(), v.y() - pos.y())

    def _handle_at(self, pos) -> int | None:
        item = self.items.get(self.selected)
        if item is None:
            return None
        for index, (x, y) in enumerate(item.revision.measurement.shape.points):
            if self._view_distance(pos, x, y) <= GRAB_PX:
                return index
        return None

    def _measurement_at(self, pos) -> int | None:
        """The measurement under the cursor: within GRAB_PX of a length, inside a ROI (or its
        outline); the selected one first, then the smallest."""
        found = []
        transform = self.canvas.viewportTransform()
        for measurement_id, item in self.items.items():
            shape = item.revision.measurement.shape
            if shape.kind == LENGTH:
                (ax, ay), (bx, by) = shape.points
                line = QLineF(transform.map(QPointF(ax, ay)), transform.map(QPointF(bx, by)))
                hit = _segment_distance(line, QPointF(pos)) <= GRAB_PX
            else:
                rect = transform.mapRect(item.path().boundingRect())
                hit = rect.adjusted(-GRAB_PX, -GRAB_PX, GRAB_PX, GRAB_PX).contains(QPointF(pos))
            if hit:
                size = item.path().boundingRect().width() * item.path().boundingRect().height()
                found.append((measurement_id != self.selected, size, measurement_id))
        return min(found)[2] if found else None

    # -- gestures (called by the canvas through the chain) ----------------------------------------

    def press(self, event) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.image is None:
            return False
        pos = event.position()
        if self.armed is not None:
            start = self._clamped(pos)
            self._rubber = QGraphicsPathItem()
            self._rubber.setPen(_pen(YELLOW, Qt.PenStyle.DashLine, 2.0))
            self._rubber.setZValue(Z_MEASURE_SELECTED)
            self.canvas.scene().addItem(self._rubber)
            self._gesture = ("draw", self.armed, start, pos)
            return True
        handle = self._handle_at(pos)
        if handle is not None:
            self._gesture = ("handle", self.selected, handle, pos, False)
            return True
        found = self._measurement_at(pos)
        if found is None:
            if self.selected is not None:
                self._select(None)
            return False
        if found != self.selected:
            self._select(found)
        self._gesture = ("move", found, pos, pos, False)
        return True

    def move(self, event) -> bool:
        if self._gesture is None:
            return False
        pos = event.position()
        kind = self._gesture[0]
        if kind == "draw":
            _, shape_kind, start, _ = self._gesture
            if start != self._clamped(pos):
                self._rubber.setPath(shape_path(Shape(shape_kind, (start, self._clamped(pos))), self.canvas.zoom))
            return True
        _, measurement_id, detail, start_pos, started = self._gesture
        if not started and math.hypot(pos.x() - start_pos.x(), pos.y() - start_pos.y()) < DRAG_START_PX:
            return True
        item = self.items[measurement_id]
        shape = item.revision.measurement.shape
        if kind == "handle":
            points = list(shape.points)
            points[detail] = self._clamped(pos)
            item.show_shape(Shape(shape.kind, tuple(points)))
        else:
            a, b = self._scene(start_pos), self._scene(pos)
            item.show_shape(self._moved(shape, b.x() - a.x(), b.y() - a.y()))
        self._gesture = (kind, measurement_id, detail, start_pos, True)
        return True

    def _moved(self, shape: Shape, dx: float, dy: float) -> Shape:
        """``shape`` shifted by whole pixels, kept inside the image."""
        width, height = self._image_size()
        x0, y0, x1, y1 = shape.bounds
        dx = min(max(round(dx), -x0), width - x1)
        dy = min(max(round(dy), -y0), height - y1)
        return shape.moved(dx, dy)

    def release(self, event) -> bool:
        if self._gesture is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        gesture, self._gesture = self._gesture, None
        if gesture[0] == "draw":
            _, kind, start, start_pos = gesture
            self.canvas.scene().removeItem(self._rubber)
            self._rubber = None
            self.arm(None)
            pos = event.position()
            if math.hypot(pos.x() - start_pos.x(), pos.y() - start_pos.y()) >= MIN_DRAG_PX:
                end = self._clamped(pos)
                if end != start:
                    self.drawn.emit(Shape(kind, (start, end)))
            return True
        _, measurement_id, _, _, started = gesture
        item = self.items[measurement_id]
        if started and item.shape_shown != item.revision.measurement.shape:
            self.reshaped.emit(measurement_id, item.shape_shown)
        else:
            self.reset(measurement_id)
        return True

    def key(self, event) -> bool:
        key, modifiers = event.key(), event.modifiers()
        if modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            return False
        if key == Qt.Key.Key_Escape:   # the box editor clears its own too
            self.cancel_gesture()
            self.arm(None)
            self._select(None)
            return False
        if self.selected is None or self._gesture is not None:
            return False
        step = self.nudge(event)
        if step is not None:
            shape = self.items[self.selected].revision.measurement.shape
            new = self._moved(shape, *step)
            if new != shape:
                self.items[self.selected].show_shape(new)
                self.reshaped.emit(self.selected, new)
            return True
        return False


def _segment_distance(line: QLineF, point: QPointF) -> float:
    """Distance (view pixels) from ``point`` to the segment ``line``."""
    dx, dy = line.dx(), line.dy()
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return math.hypot(point.x() - line.x1(), point.y() - line.y1())
    t = max(0.0, min(1.0, ((point.x() - line.x1()) * dx + (point.y() - line.y1()) * dy) / length2))
    return math.hypot(point.x() - (line.x1() + t * dx), point.y() - (line.y1() + t * dy))
