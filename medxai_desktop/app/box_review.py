"""Reviewing boxes: the controller between the canvas's box editor, the review and CrossEAI
panels and the review store, and the undo commands that write every change at once.

Every edit is one QUndoCommand on the open image's QUndoStack (one stack per image, in a
QUndoGroup). Its first ``redo()`` writes the change (``revise_box`` / ``accept`` / ``reject`` /
``add_box``); ``undo()`` and any later ``redo()`` are the store's own ``undo`` / ``redo``, which
add revisions and never rewrite one. Each call passes the revision the command last saw: when
somebody else changed the box meanwhile the store raises RevisionConflict, the command is
dropped, a non-blocking notice says so and the image's boxes are loaded again.

Edits are written on the GUI thread: each is one small transaction on one box. Loading an
image's boxes, scanning review statuses and storing proposals run as io jobs. The CrossEAI
preview re-thresholds the Guided Backprop and Grad-CAM++ maps already computed for the image
(numpy/scipy on a 224 x 224 map: milliseconds); the maps are computed once, on the model worker.

Blinded-first review hides the AI output of an image (heatmap overlay, proposals, preview)
until the reviewer has drawn a box of their own there or clicked "Reveal AI". Both kinds of box
stay in the store: the reviewer's as drawn boxes, the AI's as untouched proposals.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoGroup, QUndoStack

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.explain.crosseai import (
    CrossEAIParams,
    CrossEAIPreview,
)
from medxai_desktop.core.store import (
    ACCEPTED,
    IN_REVIEW,
    REJECTED,
    REMOVED,
    SIGNED_OFF,
    UNREAD,
    BoxView,
    RevisionConflict,
    StoreError,
)
from medxai_desktop.core.store.views import REVIEWED_STATES

from .box_items import BoxEditor, is_ai
from .crosseai_panel import CrossEAIPanel
from .review_panel import ReviewPanel

CROSSEAI_MAPS = ("gradcam++", "guided")

# Action id (the shortcut registry's, see shortcuts.py) -> menu text, default key.
REVIEW_ACTIONS = {
    "review.draw": ("&Draw a box", "B"),
    "review.accept": ("&Accept the selected box", "A"),
    "review.reject": ("&Reject the selected box", "R"),
    "review.delete": ("De&lete the selected box", "Delete"),
    "review.next_unread": ("&Next unread image", "N"),
    "review.undo": ("&Undo", "Ctrl+Z"),
    "review.redo": ("Re&do", "Ctrl+Shift+Z"),
}


def ref_key(ref) -> tuple[str, int]:
    """How the store knows an image of the browser: resolved path and frame."""
    return str(Path(ref.path).resolve()), int(ref.frame)


# -- undo commands ------------------------------------------------------------------------------

class BoxCommand(QUndoCommand):
    """One change to one stored box. The first ``redo`` writes it (``write``); ``undo`` and
    later ``redo`` are the store's undo / redo revisions, each expecting the revision this
    command left. A refused call makes the command obsolete: the stack drops it."""

    def __init__(self, controller: BoxReviewController, text: str, box_id: int | None = None,
                 parent: QUndoCommand | None = None):
        super().__init__(text, parent)
        self.controller = controller
        self.box_id = box_id
        self.revision: int | None = None   # the box's revision after this command's last step
        self.done = False

    def write(self, store, reviewer):
        raise NotImplementedError

    def redo(self) -> None:
        if self.done:
            revision = self.controller.store_call(self.box_id, lambda store, reviewer: store.redo(
                self.box_id, reviewer, expected_revision=self.revision))
        else:
            revision = self.controller.store_call(self.box_id, self.write)
        if revision is None:
            self.setObsolete(True)
            return
        self.box_id, self.revision, self.done = revision.box_id, revision.revision, True

    def undo(self) -> None:
        if not self.done:
            return
        revision = self.controller.store_call(self.box_id, lambda store, reviewer: store.undo(
            self.box_id, reviewer, expected_revision=self.revision))
        if revision is None:
            self.setObsolete(True)
            return
        self.revision = revision.revision


class ReviseBoxCommand(BoxCommand):
    """New geometry and/or label for a box (state "edited")."""

    def __init__(self, controller, view: BoxView, text: str, box: Box | None = None,
                 label: str | None = None, parent=None):
        super().__init__(controller, text, view.box_id, parent)
        self.expected, self.box, self.label = view.revision, box, label

    def write(self, store, reviewer):
        return store.revise_box(self.box_id, reviewer=reviewer, expected_revision=self.expected,
                                box=self.box, label=self.label)


class VerdictCommand(BoxCommand):
    """Accept or reject a box as it stands (Delete rejects too; a rejected box of the
    reviewer's own is hidden, a rejected proposal stays visible, faded)."""

    def __init__(self, controller, view: BoxView, state: str, text: str, parent=None):
        super().__init__(controller, text, view.box_id, parent)
        self.expected, self.state = view.revision, state

    def write(self, store, reviewer):
        verdict = store.accept if self.state == ACCEPTED else store.reject
        return verdict(self.box_id, reviewer, self.expected)


class AddBoxCommand(BoxCommand):
    """A box the reviewer drew (or copied): undo removes it, redo brings it back."""

    def __init__(self, controller, image_id: int, box: Box, label: str, text: str = "Draw box",
                 comment: str | None = None, parent=None):
        super().__init__(controller, text, None, parent)
        self.image_id, self.box, self.label, self.comment = image_id, box, label, comment

    def write(self, store, reviewer):
        return store.add_box(self.image_id, self.box, self.label, reviewer, self.comment)


class CopyBoxesCommand(QUndoCommand):
    """Several added boxes as one step (copy from the previous image)."""

    def __init__(self, text: str, commands: list[AddBoxCommand]):
        super().__init__(text)
        self.commands = commands

    def redo(self) -> None:
        for command in self.commands:
            command.redo()
        if not any(command.done for command in self.commands):
            self.setObsolete(True)

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()


# -- the controller -----------------------------------------------------------------------------

class BoxReviewController(QObject):
    """The review of the open image. ``window`` is the MainWindow: its store, reviewer, jobs,
    canvas, browser, model and explanations are used, never copied."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.canvas = window.canvas
        self.editor = BoxEditor(window.canvas)
        window.canvas.editor = self.editor
        self.panel = ReviewPanel()
        self.crosseai_panel = CrossEAIPanel()
        self.undo_group = QUndoGroup(self)
        self.stacks: dict[int, QUndoStack] = {}
        self.ref = self.image = self.image_id = None
        self.views: dict[int, BoxView] = {}
        self.status: str | None = None
        self.loaded = False
        self._token = 0
        self.blinded = False
        self.revealed: set[tuple[str, int]] = set()
        self.statuses: dict[tuple[str, int], str] = {}
        self.ref_ids: dict[tuple[str, int], int] = {}
        self.preview: list = []
        self.fused = None
        self._preview = CrossEAIPreview()        # keeps the smoothed GBP map per sigma
        self._showing_fused = False
        self._propose_pending = False
        self._defaults_model = None
        self._last_added: int | None = None
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self._connect()

    @property
    def store(self):
        return self.window.store

    @property
    def reviewer(self) -> str:
        return self.window.reviewer

    # -- wiring -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        menu = self.window.menuBar().addMenu("&Review")
        undo = self.undo_group.createUndoAction(self, "Undo")
        redo = self.undo_group.createRedoAction(self, "Redo")
        slots = {"review.draw": self.editor.arm_drawing, "review.accept": self.accept_selected,
                 "review.reject": self.reject_selected, "review.delete": self.delete_selected,
                 "review.next_unread": self.next_unread}
        for action_id, (text, key) in REVIEW_ACTIONS.items():
            if action_id == "review.undo":
                action = undo
            elif action_id == "review.redo":
                action = redo
            else:
                action = QAction(text, self.window)
                action.triggered.connect(lambda _=False, slot=slots[action_id]: slot())
            action.setShortcut(QKeySequence(key))
            self.window.addAction(action)
            self.actions[action_id] = action
        for action_id in ("review.undo", "review.redo"):
            menu.addAction(self.actions[action_id])
        menu.addSeparator()
        for action_id in ("review.draw", "review.accept", "review.reject", "review.delete"):
            menu.addAction(self.actions[action_id])
        copy = menu.addAction("&Copy boxes from the previous image")
        copy.triggered.connect(lambda _=False: self.copy_previous())
        menu.addSeparator()
        sign_off = menu.addAction("&Sign off this image")
        sign_off.triggered.connect(lambda _=False: self.sign_off())
        menu.addAction(self.actions["review.next_unread"])
        menu.addSeparator()
        self.blinded_action = menu.addAction("&Blinded-first review")
        self.blinded_action.setCheckable(True)
        self.blinded_action.setToolTip("Hide heatmaps and AI boxes of an image until you have drawn your own")
        self.blinded_action.toggled.connect(self.set_blinded)
        self.reveal_action = menu.addAction("Re&veal AI output")
        self.reveal_action.triggered.connect(lambda _=False: self.reveal())
        manager = getattr(self.window, "shortcuts", None)
        if manager is not None and hasattr(manager, "bind"):
            for action_id, action in self.actions.items():
                manager.bind(action_id, action)

    def _connect(self) -> None:
        editor, panel, crosseai = self.editor, self.panel, self.crosseai_panel
        editor.drawn.connect(self.on_drawn)
        editor.geometry_edited.connect(self.on_geometry)
        editor.selection_changed.connect(self.on_selection)
        panel.box_selected.connect(self.editor.select)
        panel.label_chosen.connect(self.on_label)
        panel.accept_requested.connect(self.accept_selected)
        panel.reject_requested.connect(self.reject_selected)
        panel.delete_requested.connect(self.delete_selected)
        panel.draw_requested.connect(self._draw_from_panel)
        panel.copy_previous_requested.connect(self.copy_previous)
        panel.sign_off_requested.connect(self.sign_off)
        panel.next_unread_requested.connect(self.next_unread)
        panel.reveal_requested.connect(self.reveal)
        crosseai.params_changed.connect(lambda _: self.update_preview())
        crosseai.fused_toggled.connect(lambda _: self.update_preview())
        crosseai.preview_toggled.connect(self.on_preview_toggled)
        crosseai.propose_requested.connect(self.propose)
        crosseai.defaults_requested.connect(self.apply_defaults)

    # -- messages -------------------------------------------------------------------------------

    def notify(self, message: str, level: str = "warning") -> None:
        """Non-blocking: a notice in the review panel, the log and the status bar."""
        self.panel.show_message(message)
        if level == "error":
            self.window.error(message)
            return
        self.window.log.add(message, level)
        self.window.statusBar().showMessage(message, 10000)
        toast = getattr(self.window, "toast", None)
        if level == "warning" and toast is not None:
            toast.show_message(message, level)

    # -- the open image -----------------------------------------------------------------------

    def set_image(self, ref, image, image_id: int | None) -> None:
        """A new image is shown: forget the last one's boxes, load this one's from the store."""
        self._token += 1
        self.ref, self.image, self.image_id = ref, image, image_id
        self.views, self.status, self.loaded = {}, None, False
        self.preview, self.fused, self._propose_pending = [], None, False
        self._preview.clear()
        self._showing_fused = False
        self.editor.clear()
        self.undo_group.setActiveStack(self._stack(image_id))
        self.panel.set_image_name(ref.path.name if ref is not None else "")
        self.panel.set_status(None)
        self._sync_model()
        self._refresh()
        if image_id is not None:
            self.ref_ids[ref_key(ref)] = image_id
            self.reload()
        if self.crosseai_panel.preview_box.isChecked():
            self.on_preview_toggled(True)   # this image's maps, computed once

    def _stack(self, image_id: int | None) -> QUndoStack | None:
        if image_id is None:
            return None
        if image_id not in self.stacks:
            self.stacks[image_id] = QUndoStack(self.undo_group)
        return self.stacks[image_id]

    @property
    def undo_stack(self) -> QUndoStack | None:
        return self.undo_group.activeStack()

    def reload(self) -> None:
        """Read the image's boxes and status again (in the background)."""
        if self.store is None or self.image_id is None:
            return
        token, store, image_id = self._token, self.store, self.image_id
        self.window.jobs.submit(
            "load boxes", lambda progress, cancelled: (store.latest_boxes(image_id, include_removed=True),
                                                        store.status(image_id)),
            on_success=lambda result: self._on_loaded(token, *result), on_failure=self.window.error)

    def _on_loaded(self, token: int, views, status) -> None:
        if token != self._token:
            return
        for view in views:  # an edit made while this was read is newer: keep it
            mine = self.views.get(view.box_id)
            if mine is None or mine.revision <= view.revision:
                self.views[view.box_id] = view
        self.loaded = True
        self.status = status.status
        self._show_status(self.status)
        self._sync_model()
        self.editor.set_views([v for v in self.views.values()])
        self._refresh()

    def _show_status(self, status: str) -> None:
        self.panel.set_status(status)
        if self.ref is not None:
            self.statuses[ref_key(self.ref)] = status
            self.window.browser.set_status(self.ref, status)

    def on_discovered(self) -> None:
        """A study was listed: show each image's stored status in the browser (background)."""
        store, refs = self.store, self.window.browser.image_refs()
        if store is None or not refs:
            return

        def job(progress, cancelled):
            known = {(info.path, info.frame): info.id for info in store.images() if info.path}
            found = {}
            for ref in refs:
                image_id = known.get(ref_key(ref))
                if image_id is not None:
                    found[ref] = (image_id, store.status(image_id).status)
            return found

        self.window.jobs.submit("review statuses", job, on_success=self._on_statuses,
                                on_failure=self.window.error)

    def _on_statuses(self, found: dict) -> None:
        for ref, (image_id, status) in found.items():
            key = ref_key(ref)
            self.ref_ids.setdefault(key, image_id)
            if key not in self.statuses:   # what was loaded or edited since is newer
                self.statuses[key] = status
                self.window.browser.set_status(ref, status)

    # -- what is shown --------------------------------------------------------------------------

    def ai_hidden(self) -> bool:
        """Blinded review and nothing of the reviewer's own on this image yet (nor revealed)."""
        if not self.blinded or self.ref is None or ref_key(self.ref) in self.revealed:
            return False
        return not any(v.origin == "drawn" and v.state not in (REMOVED, REJECTED) for v in self.views.values())

    def visible_views(self) -> list[BoxView]:
        hidden = self.ai_hidden()
        return [v for v in sorted(self.views.values(), key=lambda v: v.box_id)
                if v.state != REMOVED and not (hidden and is_ai(v))]

    def _refresh(self) -> None:
        hidden = self.ai_hidden()
        self.editor.set_ai_hidden(hidden)
        self.canvas.set_ai_hidden(hidden)
        self.panel.set_blinded(hidden)
        self.reveal_action.setEnabled(hidden)
        self.panel.set_views(self.visible_views(), self.editor.selected)
        self.panel.set_selected_view(self.editor.selected_view())
        self.window.update_grid()

    def _sync_model(self) -> None:
        model = self.window.model
        if model is not self._defaults_model:
            self._defaults_model = model
            if model is not None:
                self.crosseai_panel.set_params(self.default_params())
        self._sync_labels()

    def _sync_labels(self) -> None:
        classes = list(self.window.model.classes) if self.window.model is not None else []
        self.panel.set_labels(classes + sorted({v.label for v in self.views.values()}))

    def on_selection(self, box_id) -> None:
        self.panel.select_box(box_id)
        self.panel.set_selected_view(self.editor.selected_view())

    # -- edits ------------------------------------------------------------------------------------

    def _can_edit(self) -> bool:
        if self.store is None or self.image_id is None:
            self.notify("no review store: boxes cannot be saved", "error")
            return False
        if not self.loaded:
            self.notify("the image's boxes are still loading; try again")
            return False
        return True

    def push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)

    def store_call(self, box_id: int | None, call):
        """Run one store write for a command; the revision, or None when it was refused."""
        try:
            revision = call(self.store, self.reviewer)
        except RevisionConflict as exc:
            who = f" by {exc.current.reviewer}" if exc.current is not None else ""
            state = f" (now {exc.current.state}, revision {exc.current_revision})" if exc.current else ""
            self.notify(f"Box {exc.box_id} was changed{who} meanwhile{state}: your change was not "
                        "saved; the box was reloaded.")
            self._undo_preview_of(box_id)
            self.reload()
            return None
        except StoreError as exc:
            self.notify(f"not saved: {exc}", "error")
            self._undo_preview_of(box_id)
            self.reload()
            return None
        self._on_revision(revision)
        return revision

    def _undo_preview_of(self, box_id: int | None) -> None:
        if box_id is not None:
            self.editor.reset(box_id)

    def _on_revision(self, revision) -> None:
        view = self.views.get(revision.box_id)
        if view is None:
            if revision.action != "add":
                self.reload()
                return
            view = BoxView(revision.box_id, self.image_id, revision.box, revision.label, revision.state,
                           revision.revision, "drawn", reviewer=revision.reviewer,
                           updated_at=revision.created_at)
        else:
            view = replace(view, box=revision.box, label=revision.label, state=revision.state,
                           revision=revision.revision, reviewer=revision.reviewer,
                           updated_at=revision.created_at)
        self.views[view.box_id] = view
        if revision.action == "add":
            self._last_added = view.box_id
        if self.blinded and view.origin == "drawn" and view.state not in (REMOVED, REJECTED):
            self.revealed.add(ref_key(self.ref))   # once seen, the AI output stays shown
        self.editor.set_view(view)
        self._first_edit()
        self._refresh()

    def _first_edit(self) -> None:
        """The first edit puts an unread image in review; an edit after sign-off too."""
        if self.status != IN_REVIEW:
            if self.status == SIGNED_OFF:
                self.notify("edited after sign-off: the image is back in review")
            self._set_status(IN_REVIEW)

    def _set_status(self, status: str) -> bool:
        try:
            self.status = self.store.set_status(self.image_id, status, self.reviewer).status
        except StoreError as exc:
            self.notify(f"status not saved: {exc}", "error")
            return False
        self._show_status(self.status)
        return True

    def on_drawn(self, box: Box) -> None:
        if not self._can_edit():
            return
        label = self.panel.current_label() or self._default_label()
        self._last_added = None
        self.push(AddBoxCommand(self, self.image_id, box, label))
        if self._last_added is not None:
            self.editor.select(self._last_added)   # ready for nudging and labelling

    def _default_label(self) -> str:
        prediction, model = self.window.prediction, self.window.model
        if prediction is not None:
            return prediction.class_name
        return model.classes[0] if model is not None else "finding"

    def _draw_from_panel(self) -> None:
        self.editor.arm_drawing()
        self.canvas.setFocus()

    def on_geometry(self, box_id: int, box: Box) -> None:
        view = self.views.get(box_id)
        if view is None or not self._can_edit():
            self.editor.reset(box_id)
            return
        same_size = abs(box.width - view.box.width) < 1e-6 and abs(box.height - view.box.height) < 1e-6
        self.push(ReviseBoxCommand(self, view, "Move box" if same_size else "Resize box", box=box))

    def on_label(self, label: str) -> None:
        view = self.editor.selected_view()
        if view is None or view.label == label:
            return   # with nothing selected the label is the one new boxes get
        if self._can_edit():
            self.push(ReviseBoxCommand(self, view, f"Label {label}", label=label))

    def _selected_for(self, what: str) -> BoxView | None:
        view = self.editor.selected_view()
        if view is None:
            self.notify(f"select a box to {what} (click it)", "info")
            return None
        return view if self._can_edit() else None

    def accept_selected(self) -> None:
        view = self._selected_for("accept")
        if view is not None and view.state != ACCEPTED:
            self.push(VerdictCommand(self, view, ACCEPTED, "Accept box"))

    def reject_selected(self) -> None:
        view = self._selected_for("reject")
        if view is not None and view.state != REJECTED:
            self.push(VerdictCommand(self, view, REJECTED, "Reject box"))

    def delete_selected(self) -> None:
        view = self._selected_for("delete")
        if view is not None and view.state != REJECTED:
            self.push(VerdictCommand(self, view, REJECTED, "Delete box"))

    def copy_previous(self) -> None:
        """The reviewed boxes of the previous image in the browser become boxes of this one."""
        if not self._can_edit():
            return
        refs, index = self.window.browser.image_refs(), self.window.browser.current_index()
        if index <= 0:
            self.notify("there is no previous image", "info")
            return
        previous = refs[index - 1]
        previous_id = self.ref_ids.get(ref_key(previous))
        try:
            views = [] if previous_id is None else self.store.latest_boxes(previous_id)
        except StoreError as exc:
            self.notify(f"cannot read the previous image's boxes: {exc}", "error")
            return
        height, width = self.image.shape
        boxes = [(v, v.box.clipped(width, height)) for v in views if v.state in REVIEWED_STATES]
        boxes = [(v, b) for v, b in boxes if b.width >= 1 and b.height >= 1]
        if not boxes:
            self.notify(f"{previous.path.name} has no reviewed boxes to copy", "info")
            return
        self.push(CopyBoxesCommand(f"Copy {len(boxes)} box(es) from {previous.path.name}", [
            AddBoxCommand(self, self.image_id, box, view.label, "Copy box",
                          f"copied from image {previous_id}, box {view.box_id}") for view, box in boxes]))

    # -- status -----------------------------------------------------------------------------------

    def sign_off(self) -> None:
        if self.store is None or self.image_id is None or not self.loaded:
            self.notify("nothing to sign off: no image with a review store", "info")
            return
        if self._set_status(SIGNED_OFF):
            self.window.info(f"signed off {self.ref.path.name} as {self.reviewer}")

    def next_unread(self) -> None:
        refs, index = self.window.browser.image_refs(), self.window.browser.current_index()
        for step in range(1, len(refs)):
            candidate = (index + step) % len(refs)
            if self.statuses.get(ref_key(refs[candidate]), UNREAD) == UNREAD:
                self.window.browser.select_index(candidate)
                return
        self.notify("no unread image left in this study", "info")

    # -- blinded review ---------------------------------------------------------------------------

    def set_blinded(self, on: bool) -> None:
        self.blinded = bool(on)
        if self.blinded_action.isChecked() != self.blinded:
            self.blinded_action.setChecked(self.blinded)
        self._refresh()

    def reveal(self) -> None:
        if self.ref is not None and self.ai_hidden():
            self.revealed.add(ref_key(self.ref))
            self.window.info(f"AI output revealed for {self.ref.path.name} (blinded review)")
            self._refresh()

    # -- CrossEAI -------------------------------------------------------------------------------

    def default_params(self) -> CrossEAIParams:
        """The model card's ``crosseai`` values over the built-in defaults."""
        model = self.window.model
        try:
            return CrossEAIParams.from_dict(model.card.metadata.get("crosseai") if model else None)
        except (TypeError, ValueError) as exc:
            self.notify(f"the model card's crosseai values are not usable ({exc}); using defaults", "error")
            return CrossEAIParams()

    def apply_defaults(self) -> None:
        self.crosseai_panel.set_params(self.default_params())

    def cached_maps(self):
        """(Grad-CAM++, Guided Backprop) explanations of the open image, or None."""
        found = [self.window.explanations.get(m) for m in CROSSEAI_MAPS]
        return None if None in found else tuple(found)

    def request_maps(self) -> bool:
        """True when both maps are there; else start computing the missing ones (once, on the
        model worker, as a normal explanation that is also recorded in the store)."""
        if self.cached_maps() is not None:
            return True
        window = self.window
        if window.model is None or window.image is None:
            self.crosseai_panel.set_summary("CrossEAI needs a model and an open image.")
            return False
        running = getattr(window, "_explain_job", None)
        if running is not None and not running.done:
            self.crosseai_panel.set_summary("Waiting for the running explanation...")
            return False
        missing = [m for m in CROSSEAI_MAPS if m not in window.explanations]
        self.crosseai_panel.set_summary("Computing Guided Backprop and Grad-CAM++ (once)...")
        window.run_explanations(missing)
        return False

    def on_explanations(self) -> None:
        """The window has new maps for the open image (hook from MainWindow)."""
        if not (self._propose_pending or self.crosseai_panel.preview_box.isChecked()):
            return
        if self.cached_maps() is None:
            self.request_maps()     # the explanation that ran was not (all) ours
        elif self._propose_pending:
            self.propose()
        else:
            self.update_preview()

    def on_preview_toggled(self, on: bool) -> None:
        if on:
            self.request_maps()
        self.update_preview()

    def compute_boxes(self, params: CrossEAIParams):
        """(proposals in image pixels, fused map) from the cached maps; no model call."""
        gradcampp, guided = self.cached_maps()
        return self._preview.boxes(gradcampp, guided, params, self.image.shape)

    def update_preview(self) -> None:
        self._sync_model()
        panel = self.crosseai_panel
        maps = self.cached_maps()
        if not panel.preview_box.isChecked() or maps is None or self.image is None:
            self.preview, self.fused = [], None
            self.editor.set_preview([])
            self._restore_overlay()
            if not panel.preview_box.isChecked():
                panel.set_summary("Preview off.")
            return
        start = time.perf_counter()
        self.preview, self.fused = self.compute_boxes(panel.params())
        seconds = time.perf_counter() - start
        self.editor.set_preview(self.preview)
        if panel.fused_box.isChecked():
            self.canvas.set_heatmap(self.fused)
            self._showing_fused = True
        else:
            self._restore_overlay()
        scores = ", ".join(f"{p.score:.2f}" for p in self.preview)
        panel.set_summary(f"{len(self.preview)} box(es) for <b>{maps[0].target_name}</b>"
                          f"{' (scores ' + scores + ')' if scores else ''}; {seconds * 1000:.0f} ms")

    def _restore_overlay(self) -> None:
        if self._showing_fused:
            self._showing_fused = False
            self.window.show_map(self.window.panel.selected_map())

    def propose(self) -> None:
        """Store the boxes of the current settings as proposals of a 'crosseai' run."""
        window, store = self.window, self.store
        self._sync_model()
        if store is None or self.image_id is None or window.model is None:
            self.notify("proposing boxes needs a model, an open image and a review store", "error")
            return
        if self.cached_maps() is None:
            self._propose_pending = True
            self.request_maps()
            return
        self._propose_pending = False
        params = self.crosseai_panel.params()
        start = time.perf_counter()
        proposals, _ = self.compute_boxes(params)
        seconds = time.perf_counter() - start
        if not proposals:
            self.notify("no boxes at these settings: lower tau or min area", "info")
            return
        token, model, image_id, name = self._token, window.model, self.image_id, self.ref.path.name
        run_parameters = dict(proposals[0].parameters)

        def job(progress, cancelled):
            model_id = store.add_model(model)
            run_id = store.record_run(model_id, "crosseai", run_parameters, device=str(model.device),
                                      seconds=seconds)
            return store.add_proposals(image_id, run_id, proposals)

        def stored(box_ids) -> None:
            window.info(f"{len(box_ids)} CrossEAI proposal(s) stored for {name}")
            if token == self._token:
                self.crosseai_panel.preview_box.setChecked(False)
                self.reload()

        window.jobs.submit("propose boxes", job, on_success=stored, on_failure=window.error)
