"""Reviewing boxes: the controller between the canvas's box editor, the review and CrossEAI
panels and the review store, and the undo commands that write every change at once.

The review rules (blinded-first, the status transitions) and the open image are the window's
:class:`~medxai_desktop.core.review.session.ReviewSession`; this adapter turns gestures into
store writes and session calls, and shows what they return.

Every edit is one QUndoCommand (undo_commands.py) on the open image's QUndoStack (one stack per
image, in a QUndoGroup). A new edit passes the revision the reviewer last saw; an undo or redo
names the revision it takes back. When somebody else changed the box meanwhile the store raises
RevisionConflict, a non-blocking notice says so and the image's boxes are loaded again: a new
edit is dropped (nothing was written), a refused undo or redo stays on the stack where it was.

Edits are written on the GUI thread: each is one small transaction on one box. Loading an
image's boxes, scanning review statuses and storing proposals run as io jobs. The CrossEAI
preview is crosseai_controller.py's.

Blinded-first review hides the AI output of an image (heatmap overlay, proposals, preview)
until the reviewer has drawn a box of their own there or clicked "Reveal AI". Both kinds of box
stay in the store: the reviewer's as drawn boxes, the AI's as untouched proposals.
"""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QUndoCommand, QUndoGroup, QUndoStack

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.review.session import ref_key
from medxai_desktop.core.store import (
    ACCEPTED,
    REJECTED,
    REMOVED,
    SIGNED_OFF,
    UNREAD,
    BoxView,
    ChangeNotInEffect,
    RevisionConflict,
    StoreError,
)
from medxai_desktop.core.store.views import REVIEWED_STATES

from .box_items import BoxEditor, is_ai
from .study_statuses import StudyStatuses
from .crosseai_controller import CrossEAIController
from .review_flow import ReviewFlow
from .review_panel import ReviewPanel
from .undo_commands import (REDO, UNDO, AddBoxCommand, CopyBoxesCommand, ReviseBoxCommand,
                            VerdictCommand, refusal_notice)
from .window_menus import build_review_menu

def is_own(view: BoxView) -> bool:
    """A box the reviewer drew that still counts (not removed or rejected)."""
    return view.origin == "drawn" and view.state not in (REMOVED, REJECTED)


def listed(view: BoxView, ai_hidden: bool) -> bool:
    """Shown in the image's box list: not removed, not hidden AI output, and not a rejected
    (deleted) box of the reviewer's own, which is gone from the image too."""
    return (view.state != REMOVED and not (ai_hidden and is_ai(view))
            and not (view.origin == "drawn" and view.state == REJECTED))


def reviewed_boxes_within(store, image_id: int | None, shape: tuple[int, int]) -> list[tuple[BoxView, Box]]:
    """The reviewed boxes of image ``image_id``, each clipped to an image of ``shape`` (rows,
    columns); boxes left with less than a pixel are dropped."""
    height, width = shape
    views = [] if image_id is None else store.latest_boxes(image_id)
    boxes = [(v, v.box.clipped(width, height)) for v in views if v.state in REVIEWED_STATES]
    return [(v, b) for v, b in boxes if b.width >= 1 and b.height >= 1]


class BoxReviewController(QObject):
    """The review of the open image. ``window`` is the MainWindow: its session, store,
    reviewer, jobs, canvas, browser and model are used, never copied."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.canvas = window.canvas
        self.editor = BoxEditor(window.canvas)
        window.canvas.editor = self.editor
        self.panel = ReviewPanel()
        self.crosseai = CrossEAIController(window, self)
        self.crosseai_panel = self.crosseai.panel
        self.undo_group = QUndoGroup(self)
        self.stacks: dict[int, QUndoStack] = {}
        self.refused: QUndoCommand | None = None   # the undo / redo the store just refused (any kind)
        self.views: dict[int, BoxView] = {}
        self.loaded = False
        self._token = 0
        self.statuses = StudyStatuses(window)
        self._last_added: int | None = None
        self.flow = ReviewFlow(window, self)   # proposals on open, Enter, click-to-box
        self.actions: dict[str, QAction] = build_review_menu(window, self)
        self.blinded_action, self.reveal_action = self.actions["review.blinded"], self.actions["review.reveal"]
        self._connect()
        self.session.events.connect("opened", lambda ref: self.image_opened())
        self.session.events.connect("status", self._show_status)
        self.session.events.connect("predicted", lambda prediction: self._show_default_label())

    @property
    def status(self) -> str | None:
        return self.session.status

    @property
    def blinded(self) -> bool:
        return self.session.blinded

    @property
    def preview(self) -> list:
        """The CrossEAI preview's proposals (image pixels) of the open image."""
        return self.session.preview_boxes

    @property
    def store(self):
        return self.window.store

    @property
    def reviewer(self) -> str:
        return self.window.reviewer

    # -- wiring -------------------------------------------------------------------------------

    def _connect(self) -> None:
        editor, panel = self.editor, self.panel
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
        # the label field takes letters as text; its Enter gives the keys back to the image
        panel.label_done.connect(self.canvas.setFocus)

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

    def image_opened(self) -> None:
        """The session opened another image: forget the last one's boxes, load this one's."""
        self._token += 1
        ref, image_id = self.session.ref, self.session.image_id
        self.views, self.loaded = {}, False
        self.editor.clear()
        self.undo_group.setActiveStack(self._stack(image_id))
        self.panel.set_image_name(ref.path.name if ref is not None else "")
        self.panel.set_status(None)
        self.panel.reset_label()     # each image starts from the default label, not the last one's
        self._sync_model()
        self._refresh()
        if image_id is not None:
            self.statuses.ids[ref_key(ref)] = image_id
            self.reload()
        self.crosseai.image_changed()

    def _stack(self, image_id: int | None) -> QUndoStack | None:
        if image_id is None:
            return None
        if image_id not in self.stacks:
            self.stacks[image_id] = QUndoStack(self.undo_group)
        return self.stacks[image_id]

    @property
    def undo_stack(self) -> QUndoStack | None:
        return self.undo_group.activeStack()

    def undo(self) -> None:
        """Ctrl+Z: undo on the open image's stack; a step the store refused stays the next one."""
        self._step(UNDO)

    def redo(self) -> None:
        """Ctrl+Shift+Z: redo on the open image's stack; a refused step stays the next one."""
        self._step(REDO)

    def _step(self, step: str) -> None:
        stack = self.undo_stack
        if stack is None:
            return
        self.refused = None
        (stack.undo if step == UNDO else stack.redo)()
        if self.refused is not None:   # nothing (or not all) was taken back: put the index back
            self.refused = None
            (stack.redo if step == UNDO else stack.undo)()
        elif step == UNDO and stack.index() == 0 and stack.property("unread_before"):
            self._set_status(UNREAD)   # every edit taken back: the image is unread again

    def reload(self) -> None:
        """Read the image's boxes and status again (in the background)."""
        if self.store is None or self.session.image_id is None:
            return
        token, store, image_id = self._token, self.store, self.session.image_id
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
        self.session.set_own_box(self._has_own_box(), reveal=False)
        self.session.set_status(status.status)
        self._sync_model()
        self.editor.set_views([v for v in self.views.values()])
        self._refresh()
        self.flow.on_loaded()

    def _show_status(self, status: str | None) -> None:
        """The session's status changed: the panel and the browser show it."""
        self.panel.set_status(status)
        if self.session.ref is not None:
            self.statuses.set(self.session.ref, status)

    def on_discovered(self) -> None:
        """A study was listed: show each image's stored status in the browser (background)."""
        self.statuses.scan(self.store)

    def next_unread(self) -> None:
        if not self.statuses.select_next_unread():
            self.notify("no unread image left in this study", "info")

    # -- what is shown --------------------------------------------------------------------------

    def ai_hidden(self) -> bool:
        """Blinded review and nothing of the reviewer's own on this image yet (nor revealed)."""
        return self.session.ai_hidden()

    def _has_own_box(self) -> bool:
        return any(is_own(v) for v in self.views.values())

    def visible_views(self) -> list[BoxView]:
        return [v for v in sorted(self.views.values(), key=lambda v: v.box_id) if listed(v, self.ai_hidden())]

    def _refresh(self) -> None:
        hidden = self.ai_hidden()
        self.editor.set_ai_hidden(hidden)
        self.canvas.set_ai_hidden(hidden)
        self.panel.set_blinded(hidden)
        self.reveal_action.setEnabled(hidden)
        self._show_default_label()
        self.panel.set_views(self.visible_views(), self.editor.selected)
        self.panel.set_selected_view(self.editor.selected_view())
        self.window.update_grid()

    def _sync_model(self) -> None:
        self.crosseai.sync_model()
        self._sync_labels()

    def _sync_labels(self) -> None:
        classes = list(self.window.model.classes) if self.window.model is not None else []
        self.panel.set_labels(classes + sorted({v.label for v in self.visible_views()}))

    def on_selection(self, box_id) -> None:
        self.panel.select_box(box_id)
        self.panel.set_selected_view(self.editor.selected_view())

    # -- edits ------------------------------------------------------------------------------------

    def _can_edit(self) -> bool:
        if self.store is None or self.session.image_id is None:
            self.notify("no review store: boxes cannot be saved", "error")
            return False
        if not self.loaded:
            self.notify("the image's boxes are still loading; try again")
            return False
        return True

    def push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)

    def store_call(self, box_id: int | None, call, step: str | None = None,
                   command: QUndoCommand | None = None):
        """Run one store write for a command (``step``: "undo" / "redo" of ``command``, None: its
        first write); the revision, or None when it was refused."""
        try:
            revision = call(self.store, self.reviewer)
        except StoreError as exc:
            if command is not None and isinstance(exc, ChangeNotInEffect) and exc.final:
                command.setObsolete(True)   # can never apply again: the stack drops it
            elif step is not None:
                self.refused = command     # stays where it was: _step puts the index back
            text = command.text() if command is not None else ""
            self.notify(refusal_notice(exc, step, text),
                        "warning" if isinstance(exc, RevisionConflict) else "error")
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
            view = BoxView(revision.box_id, self.session.image_id, revision.box, revision.label, revision.state,
                           revision.revision, "drawn", reviewer=revision.reviewer,
                           updated_at=revision.created_at)
        else:
            view = replace(view, box=revision.box, label=revision.label, state=revision.state,
                           revision=revision.revision, reviewer=revision.reviewer,
                           updated_at=revision.created_at)
        self.views[view.box_id] = view
        if revision.action == "add":
            self._last_added = view.box_id
        self.session.set_own_box(self._has_own_box(), reveal=is_own(view))
        self.editor.set_view(view)
        self.first_edit()
        self._refresh()

    def first_edit(self) -> None:
        """The first edit (of a box, or a measurement) puts an unread image in review; an edit
        after sign-off too."""
        status = self.session.first_edit()
        if status is not None:
            self.undo_stack.setProperty("unread_before", self.status in (None, UNREAD))   # undo-all: unread
            if self.session.reopens(self.status):
                self.notify("edited after sign-off: the image is back in review")
            self._set_status(status)

    def _set_status(self, status: str) -> bool:
        try:
            stored = self.store.set_status(self.session.image_id, status, self.reviewer).status
        except StoreError as exc:
            self.notify(f"status not saved: {exc}", "error")
            return False
        self.session.set_status(stored)
        return True

    def on_drawn(self, box: Box) -> None:
        if not self._can_edit():
            return
        label = self.panel.current_label() or self._default_label()
        self._last_added = None
        self.push(AddBoxCommand(self, self.session.image_id, box, label))
        if self._last_added is not None:
            self.editor.select(self._last_added)   # ready for nudging and labelling

    def _show_default_label(self) -> None:
        """The label field's placeholder: what an empty field gives a new box."""
        self.panel.set_default_label("the predicted class" if self.session.labels_from_prediction()
                                     else self._default_label())

    def _default_label(self) -> str:
        """A new box's label when none is typed: the session decides (never the prediction
        while the AI output is hidden); the card may name one (``default_label``)."""
        model = self.window.model
        card_default = model.card.metadata.get("default_label") if model is not None else None
        return self.session.default_label(list(model.classes) if model is not None else [], card_default)

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
        previous_id = self.statuses.ids.get(ref_key(previous))
        try:
            boxes = reviewed_boxes_within(self.store, previous_id, self.session.image.shape)
        except StoreError as exc:
            self.notify(f"cannot read the previous image's boxes: {exc}", "error")
            return
        if not boxes:
            self.notify(f"{previous.path.name} has no reviewed boxes to copy", "info")
            return
        self.push(CopyBoxesCommand(f"Copy {len(boxes)} box(es) from {previous.path.name}", [
            AddBoxCommand(self, self.session.image_id, box, view.label, "Copy box",
                          f"copied from image {previous_id}, box {view.box_id}") for view, box in boxes]))

    # -- status -----------------------------------------------------------------------------------

    def sign_off(self) -> None:
        if self.store is None or self.session.image_id is None or not self.loaded:
            self.notify("nothing to sign off: no image with a review store", "info")
            return
        if self._set_status(SIGNED_OFF):
            self.panel.message_label.hide()          # "edited after sign-off" no longer holds
            self.window.info(f"signed off {self.session.ref.path.name} as {self.reviewer}")

    # -- blinded review ---------------------------------------------------------------------------

    def set_blinded(self, on: bool) -> None:
        self.session.set_blinded(bool(on))
        if self.blinded_action.isChecked() != self.blinded:
            self.blinded_action.setChecked(self.blinded)
        self._refresh()

    def reveal(self) -> None:
        if self.ai_hidden():
            self.session.reveal()
            self.window.info(f"AI output revealed for {self.session.ref.path.name} (blinded review)")
            self._refresh()

    def on_explanations(self) -> None:
        """The window has new maps for the open image: the preview's, the click tool's."""
        self.crosseai.on_explanations()
        self.flow.on_explanations()
