"""Boxes on the canvas: graphics items in image pixel coordinates, and the editing gestures.

The scene's coordinates are the image's pixels (the image item sits at 0, 0), so a core
``Box(x0, y0, x1, y1)`` is the scene rectangle (x0, y0, x1 - x0, y1 - y0). Pens are cosmetic
and labels and handles ignore the view's transform, so they keep their size at any zoom.

How a box looks says where it came from and where it stands:
  untouched AI proposal   dashed amber      drawn by a reviewer / edited   solid cyan
  accepted                solid green       rejected                       dotted red, faded
  live CrossEAI preview   dash-dot magenta (not stored yet)
An edited proposal keeps a faint dotted ghost of its original rectangle and shows
IoU(original, edited) in its label. Human boxes that were rejected (deleted) are hidden.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.store import (
    ACCEPTED,
    ADDED,
    EDITED,
    PROPOSED,
    REJECTED,
    REMOVED,
)

AMBER, CYAN, GREEN, RED, MAGENTA = (QColor(255, 176, 0), QColor(0, 220, 255), QColor(60, 220, 90),
                                    QColor(235, 60, 60), QColor(255, 80, 220))
STATE_COLORS = {PROPOSED: AMBER, ADDED: CYAN, EDITED: CYAN, ACCEPTED: GREEN, REJECTED: RED}
HANDLE_PX = 8          # handle size on screen
GRAB_PX = 7            # how close (screen pixels) a press must be to a handle or an edge
DRAG_START_PX = 3      # movement before a press on a box becomes a move
HANDLES = ("tl", "t", "tr", "r", "br", "b", "bl", "l")
MIN_SIZE = 2.0         # smallest box drawn or resized, in image pixels

Z_BOX, Z_PREVIEW, Z_SELECTED, Z_RUBBER = 2, 3, 4, 5


def box_rect(box: Box) -> QRectF:
    return QRectF(box.x0, box.y0, box.width, box.height)


def rect_box(rect: QRectF) -> Box:
    r = rect.normalized()
    return Box(r.left(), r.top(), r.right(), r.bottom())


def is_ai(view) -> bool:
    return view.origin == "proposal"


def source_text(view) -> str:
    return {"proposal": "AI", "drawn": "human", "import": "imported"}.get(view.origin, view.origin)


def original_iou(view) -> float | None:
    """IoU of the box now with the proposal it came from (None: not a proposal)."""
    return None if view.proposal_box is None else view.box.iou(view.proposal_box)


def was_moved(view) -> bool:
    return view.proposal_box is not None and view.box != view.proposal_box


def label_text(view) -> str:
    parts = [view.label, source_text(view)]
    if view.state == PROPOSED and view.score is not None:
        parts[-1] += f" {view.score:.2f}"
    if was_moved(view):
        parts.append(f"IoU {original_iou(view):.2f}")
    if view.state in (ACCEPTED, REJECTED):
        parts.append(view.state)
    return "  ·  ".join(parts)


class LabelItem(QGraphicsSimpleTextItem):
    """Text on a dark plate, in screen pixels; sits just above its box (inside at the top edge)."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity)   # readable when faded
        font = QFont()
        font.setPointSizeF(9)
        font.setBold(True)
        self.setFont(font)
        self.plate = QColor(0, 0, 0, 170)
        self._offset = 0.0

    def set_text(self, text: str, color: QColor) -> None:
        self.setText(text)
        self.setBrush(QBrush(color))

    def place(self, corner: QPointF, inside: bool) -> None:
        self.prepareGeometryChange()
        self._offset = 1.0 if inside else -QFontMetricsF(self.font()).height() - 3
        self.setPos(corner)

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-3, -1, 3, 1).translated(3, self._offset)

    def paint(self, painter, option, widget=None) -> None:
        painter.fillRect(self.boundingRect(), self.plate)
        painter.translate(3, self._offset)
        super().paint(painter, option, widget)


class HandleItem(QGraphicsRectItem):
    def __init__(self, parent: QGraphicsItem):
        half = HANDLE_PX / 2
        super().__init__(-half, -half, HANDLE_PX, HANDLE_PX, parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(QBrush(QColor(255, 255, 255)))
        self.setPen(QPen(QColor(0, 0, 0), 1))


def _pen(color: QColor, style: Qt.PenStyle, width: float = 2.0) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    return pen


class BoxItem(QGraphicsRectItem):
    """One stored box (a ``BoxView``): outline, ghost of the proposal, label, resize handles."""

    def __init__(self, view):
        super().__init__()
        self.setZValue(Z_BOX)
        self.ghost = QGraphicsRectItem(self)
        self.ghost.setPen(_pen(AMBER, Qt.PenStyle.DotLine, 1.5))
        self.ghost.setOpacity(0.55)
        self.label = LabelItem(self)
        self.handles = {name: HandleItem(self) for name in HANDLES}
        self.selected = False
        self.zoom = 1.0
        self.view = view
        self.set_view(view)

    @property
    def box_id(self) -> int:
        return self.view.box_id

    def set_view(self, view) -> None:
        self.view = view
        color = STATE_COLORS.get(view.state, CYAN)
        style = {PROPOSED: Qt.PenStyle.DashLine, REJECTED: Qt.PenStyle.DotLine}.get(
            view.state, Qt.PenStyle.SolidLine)
        self.setPen(_pen(color, style, 3.0 if self.selected else 2.0))
        self.setOpacity(0.55 if view.state == REJECTED else 1.0)
        self.ghost.setVisible(was_moved(view))
        if view.proposal_box is not None:
            self.ghost.setRect(box_rect(view.proposal_box))
        self.label.set_text(label_text(view), color)
        self.show_box(view.box)

    def show_box(self, box: Box) -> None:
        """Draw ``box`` (during a drag, before it is stored)."""
        rect = box_rect(box)
        self.setRect(rect)
        for name, point in self.handle_points(rect).items():
            self.handles[name].setPos(point)
            self.handles[name].setVisible(self.selected)
        self.place_label()

    def place_label(self) -> None:
        rect = self.rect()
        inside = rect.top() * self.zoom < QFontMetricsF(self.label.font()).height() + 4
        self.label.place(rect.topLeft(), inside)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = zoom
        self.place_label()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.setZValue(Z_SELECTED if selected else Z_BOX)
        self.set_view(self.view)

    @staticmethod
    def handle_points(rect: QRectF) -> dict[str, QPointF]:
        l, t, r, b = rect.left(), rect.top(), rect.right(), rect.bottom()
        cx, cy = (l + r) / 2, (t + b) / 2
        return {"tl": QPointF(l, t), "t": QPointF(cx, t), "tr": QPointF(r, t), "r": QPointF(r, cy),
                "br": QPointF(r, b), "b": QPointF(cx, b), "bl": QPointF(l, b), "l": QPointF(l, cy)}


class PreviewItem(QGraphicsRectItem):
    """A CrossEAI box of the live preview: not stored, not editable."""

    def __init__(self, proposal):
        super().__init__(box_rect(proposal.box))
        self.setZValue(Z_PREVIEW)
        self.setPen(_pen(MAGENTA, Qt.PenStyle.DashDotLine, 2.0))
        self.proposal = proposal
        self.label = LabelItem(self)
        self.label.set_text(f"preview {proposal.label}  {proposal.score:.2f}", MAGENTA)
        self.label.place(self.rect().bottomLeft(), True)


def resized(box: Box, handle: str, x: float, y: float) -> Box:
    """``box`` with the edges named by ``handle`` moved to (x, y); flips when dragged past."""
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    if "l" in handle:
        x0 = x
    if "r" in handle:
        x1 = x
    if "t" in handle:
        y0 = y
    if "b" in handle:
        y1 = y
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    return Box(x0, y0, max(x1, x0 + MIN_SIZE), max(y1, y0 + MIN_SIZE))


def moved(box: Box, dx: float, dy: float, width: float, height: float) -> Box:
    """``box`` shifted by (dx, dy), kept inside a width x height image at its own size."""
    dx = min(max(dx, -box.x0), width - box.x1)
    dy = min(max(dy, -box.y0), height - box.y1)
    return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy)


class SceneEditor(QObject):
    """What the canvas's editors share (``BoxEditor`` here, ``MeasureEditor`` in
    measure_items.py): their items by id in the canvas's scene, at most one of them selected,
    the gesture under way and its rubber band, and the view <-> image mapping."""

    selection_changed = Signal(object)     # the selected item's id, or None

    def __init__(self, canvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.items: dict = {}
        self.selected: int | None = None
        self._gesture: tuple | None = None   # (kind, the item's id, ...) or ("draw", ...)
        self._rubber = None
        canvas.zoom_changed.connect(self._on_zoom)

    def reset(self, item_id: int | None) -> None:
        raise NotImplementedError

    def _replace(self, records, add) -> None:
        """Show exactly ``records`` (each given to ``add``), keeping the selection if it is there."""
        selected = self.selected
        self.cancel_gesture()
        for item in self.items.values():
            self.canvas.scene().removeItem(item)
        self.items = {}
        for record in records:
            add(record)
        self._select(selected if selected in self.items else None, emit=selected not in self.items)

    def _select(self, item_id: int | None, emit: bool = True) -> None:
        if self.selected in self.items:
            self.items[self.selected].set_selected(False)
        self.selected = item_id
        if item_id is not None:
            self.items[item_id].set_selected(True)
        if emit:
            self.selection_changed.emit(item_id)

    def _on_zoom(self, zoom: float) -> None:
        for item in self.items.values():
            item.set_zoom(zoom)

    def _scene(self, pos) -> QPointF:
        return self.canvas.viewportTransform().inverted()[0].map(QPointF(pos))

    def _view(self, point: QPointF) -> QPointF:
        return self.canvas.viewportTransform().map(point)

    def _image_size(self) -> tuple[float, float]:
        height, width = self.canvas.image.shape
        return float(width), float(height)

    def cancel_gesture(self) -> None:
        if self._rubber is not None:
            self.canvas.scene().removeItem(self._rubber)
            self._rubber = None
        if self._gesture is not None and self._gesture[0] != "draw":
            self.reset(self._gesture[1])
        self._gesture = None

    @staticmethod
    def nudge(event) -> tuple[int, int] | None:
        """The step an arrow key moves the selection by (Shift: 10 px), None for other keys."""
        steps = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1),
                 Qt.Key.Key_Down: (0, 1)}
        if event.key() not in steps:
            return None
        step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
        return steps[event.key()][0] * step, steps[event.key()][1] * step


class BoxEditor(SceneEditor):
    """The box gestures of one canvas. The canvas offers it every press, move, release and key
    first; what it does not handle (it returns False) goes on to window/level, pan and zoom.

    Left-press on a handle of the selected box resizes it, on a box selects and moves it; after
    ``arm_drawing`` (the B action) a left-drag draws one box; arrows nudge the selected box
    (Shift: 10 px); Ctrl+left-press, or a left-press after ``arm_click`` (the C action), is a
    click-to-box request at that image point; Escape cancels drawing and clears the selection. It only emits what the
    user did; the review controller turns that into stored changes and calls back
    ``set_view`` / ``reset``. (Accept, reject, delete and draw are window actions.)
    """

    drawn = Signal(object)                 # Box
    geometry_edited = Signal(int, object)  # box id, Box
    point_clicked = Signal(float, float)   # click-to-box at (x, y), image pixels
    escaped = Signal()                     # Escape: what was under way is dropped

    def __init__(self, canvas):
        super().__init__(canvas)
        self.items: dict[int, BoxItem] = {}
        self.previews: list[PreviewItem] = []
        self.draw_armed = self.click_armed = False
        self.ai_hidden = False

    # -- items -------------------------------------------------------------------------------

    def clear(self) -> None:
        self.cancel_gesture()
        for item in self.items.values():
            self.canvas.scene().removeItem(item)
        self.items = {}
        self.set_preview([])
        self._select(None)

    def set_views(self, views) -> None:
        """Show exactly these boxes (the current image's), keeping the selection if it is there."""
        self._replace(views, self.set_view)

    def set_view(self, view) -> None:
        """Add or update one box; removed boxes and deleted human boxes leave the canvas."""
        gone = view.state == REMOVED or (view.state == REJECTED and not is_ai(view))
        item = self.items.get(view.box_id)
        if gone:
            if item is not None:
                self.canvas.scene().removeItem(item)
                del self.items[view.box_id]
                if self.selected == view.box_id:
                    self._select(None)
            return
        if item is None:
            item = self.items[view.box_id] = BoxItem(view)
            item.set_zoom(self.canvas.zoom)
            self.canvas.scene().addItem(item)
        else:
            item.set_view(view)
        item.setVisible(not (self.ai_hidden and is_ai(view)))

    def reset(self, box_id: int) -> None:
        """Redraw a box as stored (a change that was not written)."""
        item = self.items.get(box_id)
        if item is not None:
            item.set_view(item.view)

    def set_ai_hidden(self, hidden: bool) -> None:
        self.ai_hidden = hidden
        for item in self.items.values():
            item.setVisible(not (hidden and is_ai(item.view)))
        for item in self.previews:
            item.setVisible(not hidden)
        if hidden and self.selected in self.items and is_ai(self.items[self.selected].view):
            self._select(None)

    def set_preview(self, proposals) -> None:
        for item in self.previews:
            self.canvas.scene().removeItem(item)
        self.previews = [PreviewItem(p) for p in proposals]
        for item in self.previews:
            item.setVisible(not self.ai_hidden)
            self.canvas.scene().addItem(item)

    def select(self, box_id: int | None) -> None:
        self._select(box_id if box_id in self.items and self.items[box_id].isVisible() else None)

    def selected_view(self):
        return self.items[self.selected].view if self.selected in self.items else None

    # -- geometry helpers -----------------------------------------------------------------------

    def _clamp(self, point: QPointF) -> tuple[float, float]:
        width, height = self._image_size()
        return min(max(round(point.x()), 0), width), min(max(round(point.y()), 0), height)

    def _handle_at(self, pos) -> str | None:
        item = self.items.get(self.selected)
        if item is None or not item.isVisible():
            return None
        for name, point in BoxItem.handle_points(item.rect()).items():
            v = self._view(point)
            if abs(v.x() - pos.x()) <= GRAB_PX and abs(v.y() - pos.y()) <= GRAB_PX:
                return name
        return None

    def _box_at(self, pos) -> int | None:
        """The box under the cursor: inside it or within GRAB_PX of its outline; the selected
        one first, then the smallest (so a box inside another can be picked)."""
        found = []
        for box_id, item in self.items.items():
            if not item.isVisible():
                continue
            r = self.canvas.viewportTransform().mapRect(item.rect()).adjusted(
                -GRAB_PX, -GRAB_PX, GRAB_PX, GRAB_PX)
            if r.contains(QPointF(pos)):
                found.append((box_id != self.selected, item.rect().width() * item.rect().height(), box_id))
        return min(found)[2] if found else None

    # -- gestures (called by the canvas) ----------------------------------------------------------

    def press(self, event) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.image is None:
            return False
        pos = event.position()
        if self.click_armed or event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.click_armed = False
            self.canvas.viewport().unsetCursor()
            point = self._scene(pos)
            self.point_clicked.emit(point.x(), point.y())
            return True
        if self.draw_armed:
            x, y = self._clamp(self._scene(pos))
            self._rubber = QGraphicsRectItem(QRectF(x, y, 0, 0))
            self._rubber.setPen(_pen(CYAN, Qt.PenStyle.SolidLine, 2.0))
            self._rubber.setZValue(Z_RUBBER)
            self.canvas.scene().addItem(self._rubber)
            self._gesture = ("draw", x, y)
            return True
        handle = self._handle_at(pos)
        if handle is not None:
            self._gesture = ("resize", self.selected, handle, self.items[self.selected].view.box, False)
            return True
        box_id = self._box_at(pos)
        if box_id is None:
            if self.selected is not None:
                self._select(None)
            return False
        if box_id != self.selected:
            self._select(box_id)
        self._gesture = ("move", box_id, pos, self.items[box_id].view.box, False)
        return True

    def move(self, event) -> bool:
        if self._gesture is None:
            return False
        pos = event.position()
        kind = self._gesture[0]
        if kind == "draw":
            _, x0, y0 = self._gesture
            x, y = self._clamp(self._scene(pos))
            self._rubber.setRect(QRectF(QPointF(x0, y0), QPointF(x, y)).normalized())
        elif kind == "resize":
            _, box_id, handle, start, _ = self._gesture
            x, y = self._clamp(self._scene(pos))
            self.items[box_id].show_box(resized(start, handle, x, y))
            self._gesture = ("resize", box_id, handle, start, True)
        else:
            _, box_id, start_pos, start, started = self._gesture
            if not started and max(abs(pos.x() - start_pos.x()), abs(pos.y() - start_pos.y())) < DRAG_START_PX:
                return True
            a, b = self._scene(start_pos), self._scene(pos)
            self.items[box_id].show_box(moved(start, round(b.x() - a.x()), round(b.y() - a.y()),
                                              *self._image_size()))
            self._gesture = ("move", box_id, start_pos, start, True)
        return True

    def release(self, event) -> bool:
        if self._gesture is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        gesture, self._gesture = self._gesture, None
        if gesture[0] == "draw":
            rect = self._rubber.rect()
            self.canvas.scene().removeItem(self._rubber)
            self._rubber = None
            self.draw_armed = False
            self.canvas.viewport().unsetCursor()
            if rect.width() >= MIN_SIZE and rect.height() >= MIN_SIZE:
                self.drawn.emit(rect_box(rect))
            return True
        _, box_id, _, start, changed = gesture
        new = rect_box(self.items[box_id].rect())
        if changed and new != start:
            self.geometry_edited.emit(box_id, new)
        else:
            self.reset(box_id)
        return True

    def arm_drawing(self) -> None:
        if self.canvas.image is not None:
            self.draw_armed, self.click_armed = True, False
            self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def arm_click(self) -> None:
        if self.canvas.image is not None:
            self.click_armed, self.draw_armed = True, False
            self.canvas.viewport().setCursor(Qt.CursorShape.PointingHandCursor)

    def key(self, event) -> bool:
        key = event.key()
        modifiers = event.modifiers()
        if modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            return False
        if key == Qt.Key.Key_Escape:
            self.cancel_gesture()
            self.draw_armed = self.click_armed = False
            self.canvas.viewport().unsetCursor()
            self._select(None)
            self.escaped.emit()
            return True
        if self.selected is None or self._gesture is not None:
            return False
        step = self.nudge(event)
        if step is not None:
            box = self.items[self.selected].view.box
            new = moved(box, *step, *self._image_size())
            if new != box:
                self.items[self.selected].show_box(new)
                self.geometry_edited.emit(self.selected, new)
            return True
        return False
