"""The measurement tools: the Measure menu and tool bar, the canvas gestures (measure_items.py),
the Measurements panel (measure_panel.py) and the undo commands (measure_commands.py) over the
store's measurements (core/store/measurements.py).

The core measures (``core.measurements.measure``: mm through the image's pixel spacing, or
pixels without one; ROI statistics in modality units, HU on CT); this adapter turns gestures
into ``measure`` and store calls and shows what they return. Every change is one undo command on
the open image's undo stack (the box review's, so Ctrl+Z takes back boxes and measurements in
the order they were made). A measurement is the reviewer's work: the first one puts an unread
image in review, like a first box; it is never AI output, so blinded review does not hide it.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QUndoCommand
from PySide6.QtWidgets import QDockWidget, QToolBar

from medxai_desktop.core.measurements import ELLIPSE, LENGTH, RECTANGLE, Shape, Spacing, measure
from medxai_desktop.core.store import StoreError
from medxai_desktop.core.store.measurements import MeasurementChanged, image_measurements

from .measure_commands import AddMeasurementCommand, DeleteMeasurementCommand, EditMeasurementCommand
from .measure_items import EditorChain, MeasureEditor, a_kind
from .measure_panel import MeasurePanel
from .shortcuts import native, register

TOOLS = {LENGTH: ("measure.length", "&Length", "L"),
         RECTANGLE: ("measure.rectangle", "&Rectangle ROI", "Shift+R"),   # R is Reject
         ELLIPSE: ("measure.ellipse", "&Ellipse ROI", "E")}
for _kind, (_id, _text, _key) in TOOLS.items():
    register(_id, "Measure", f"Measure: drag {a_kind(_kind)} on the image"
             + ("" if _kind == LENGTH else " (area, mean, sd, min, max)"), _key)
DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


class MeasureController(QObject):
    """The measurements of the open image. ``window`` is the MainWindow: its session, store,
    reviewer, jobs, canvas and box review are used, never copied."""

    def __init__(self, window):
        super().__init__(window)
        self.window, self.session, self.canvas = window, window.session, window.canvas
        self.editor = MeasureEditor(window.canvas)
        window.canvas.editor = EditorChain(self.editor, window.canvas.editor)
        self.actions = self._build_actions()
        self.panel = MeasurePanel({kind: native(window.shortcuts.key(TOOLS[kind][0])) for kind in TOOLS})
        self.dock = self._build_dock()
        self.revisions: dict = {}     # measurement id -> latest MeasurementRevision
        self.loaded, self._token = False, 0
        self._connect()
        self.session.events.connect("opened", lambda ref: self.image_opened())
        window.canvas.installEventFilter(self)   # Delete on the image deletes the selected one

    @property
    def store(self):
        return self.window.store

    @property
    def review(self):
        return self.window.review

    # -- building -------------------------------------------------------------------------------

    def _build_actions(self) -> dict[str, QAction]:
        window = self.window
        menu = window.menuBar().addMenu("&Measure")
        window.menuBar().insertMenu(window.help_menu.menuAction(), menu)
        tools = window.findChild(QToolBar, "Tools")
        if tools is not None:
            tools.addSeparator()
        actions = {}
        for kind, (action_id, text, _) in TOOLS.items():
            actions[kind] = window.add_action(menu, text, lambda k=kind: self.arm(k), action_id=action_id)
            if tools is not None:
                tools.addAction(actions[kind])
        menu.addSeparator()
        actions["delete"] = window.add_action(menu, "&Delete the selected measurement", self.delete_selected)
        actions["delete"].setToolTip("Or select it on the image and press Delete")
        return actions

    def _build_dock(self) -> QDockWidget:
        window = self.window
        dock = QDockWidget("Measurements", window)
        dock.setObjectName("Measurements")
        dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        review_dock = getattr(window, "review_dock", None)
        if review_dock is not None:
            window.tabifyDockWidget(review_dock, dock)
            review_dock.raise_()
        window.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _connect(self) -> None:
        editor, panel = self.editor, self.panel
        editor.drawn.connect(self.on_drawn)
        editor.reshaped.connect(self.on_reshaped)
        editor.selection_changed.connect(self.on_selection)
        editor.armed_changed.connect(panel.set_armed)
        panel.tool_requested.connect(self.arm)
        panel.measurement_selected.connect(self.editor.select)
        panel.delete_requested.connect(self.delete_selected)
        self.review.editor.selection_changed.connect(
            lambda box_id: self.editor.select(None) if box_id is not None else None)

    # -- the open image -------------------------------------------------------------------------

    def image_opened(self) -> None:
        self._token += 1
        self.revisions, self.loaded = {}, False
        self.editor.cancel_gesture()
        self.editor.arm(None)
        self.editor.set_revisions([])
        image = self.session.image
        self.panel.set_spacing("No image" if image is None else Spacing.of(image).describe())
        self._refresh()
        self.reload()

    def reload(self) -> None:
        """Read the open image's measurements again (in the background)."""
        if self.store is None or self.session.image_id is None:
            return
        token, store, image_id = self._token, self.store, self.session.image_id
        self.window.jobs.submit(
            "load measurements", lambda progress, cancelled: image_measurements(store, image_id, include_removed=True),
            on_success=lambda revisions: self._on_loaded(token, revisions), on_failure=self.window.error)

    def _on_loaded(self, token: int, revisions) -> None:
        if token != self._token:
            return
        self.revisions.update({r.measurement_id: r for r in revisions   # an edit made meanwhile is newer
                               if r.revision >= self.revisions.get(r.measurement_id, r).revision})
        self.loaded = True
        self.editor.set_revisions(list(self.revisions.values()))
        self._refresh()

    def shown(self) -> list:
        """The measurements in force on the open image, oldest first."""
        return [r for _, r in sorted(self.revisions.items()) if not r.removed]

    def _refresh(self) -> None:
        self.panel.set_revisions(self.shown(), self.editor.selected)

    def on_selection(self, measurement_id) -> None:
        self.panel.set_selected(measurement_id)
        if measurement_id is not None:
            self.review.editor.select(None)   # one selection on the image at a time

    # -- gestures -------------------------------------------------------------------------------

    def arm(self, kind: str) -> None:
        if self.session.image is None:
            self.window.statusBar().showMessage("open an image to measure on it", 5000)
            self.panel.set_armed(None)
            return
        self.review.editor.select(None)
        self.editor.arm(kind)
        self.window.statusBar().showMessage(f"drag on the image to measure {a_kind(kind)} "
                                            f"({Spacing.of(self.session.image).describe()}); Esc cancels", 8000)
        self.canvas.setFocus()

    def _can_edit(self) -> bool:
        if self.store is None or self.session.image_id is None:
            self.review.notify("no review store: measurements cannot be saved", "error")
            return False
        if not self.loaded:
            self.review.notify("the image's measurements are still loading; try again")
            return False
        return True

    def on_drawn(self, shape: Shape) -> None:
        if self._can_edit():
            self.review.push(AddMeasurementCommand(self, self.session.image_id, measure(self.session.image, shape)))

    def on_reshaped(self, measurement_id: int, shape: Shape) -> None:
        revision = self.revisions.get(measurement_id)
        if revision is None or not self._can_edit():
            self.editor.reset(measurement_id)
            return
        self.review.push(EditMeasurementCommand(self, revision, measure(self.session.image, shape)))

    def delete_selected(self) -> None:
        revision = self.editor.selected_revision()
        if revision is None:
            self.review.notify("select a measurement to delete (click it)", "info")
        elif self._can_edit():
            self.review.push(DeleteMeasurementCommand(self, revision))

    def eventFilter(self, watched, event) -> bool:
        """Delete / Backspace on the image with a measurement selected delete it (not a box)."""
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and self.editor.selected is not None \
                and event.key() in DELETE_KEYS and not event.modifiers():
            event.accept()
            if kind == QEvent.Type.KeyPress:
                self.delete_selected()
            return True
        return False

    # -- the store -------------------------------------------------------------------------------

    def store_call(self, measurement_id: int | None, call, step: str | None = None,
                   command: QUndoCommand | None = None):
        """Run one store write of ``command`` (``step``: "undo" / "redo", None: its first write);
        the revision, or None when it was refused (with a notice; the measurements reloaded)."""
        try:
            revision = call(self.store, self.window.reviewer)
        except StoreError as exc:
            final = isinstance(exc, MeasurementChanged) and exc.final
            if step is not None and final:
                command.setObsolete(True)          # can never apply again: the stack drops it
            elif step is not None:
                self.review.refused = command      # stays where it was: the review's _step puts the index back
            self.review.notify(self._refusal(exc, step, command.text() if command else ""),
                               "warning" if isinstance(exc, MeasurementChanged) else "error")
            self.editor.reset(measurement_id)
            self.reload()
            return None
        self._on_revision(revision)
        return revision

    @staticmethod
    def _refusal(exc: StoreError, step: str | None, text: str) -> str:
        if step is None:
            return f"measurement not saved: {exc}"
        done = "undone" if step == "undo" else "redone"
        if isinstance(exc, MeasurementChanged) and exc.final:
            return f"\u201c{text}\u201d can no longer be {done} ({exc}) and was taken off the undo history"
        return f"\u201c{text}\u201d was not {done}: {exc}; it stays in the undo history"

    def _on_revision(self, revision) -> None:
        self.revisions[revision.measurement_id] = revision
        self.editor.set_revision(revision)
        if revision.action == "add":
            self.editor.select(revision.measurement_id)
        self.review.first_edit()
        self._refresh()
