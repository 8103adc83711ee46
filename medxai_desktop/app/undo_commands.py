"""The undo commands of box review: each writes one change to one stored box.

The first ``redo()`` writes the change (``revise_box`` / ``accept`` / ``reject`` / ``add_box``);
``undo()`` and any later ``redo()`` are the store's own ``undo`` / ``redo``, which add revisions
and never rewrite one. Each names the revision it takes back (``target_revision``: the one this
command put in effect), so undo and redo work to any depth, on one box and across boxes, and an
undo never takes back somebody else's later change. ``controller.store_call`` runs each write
and says when it was refused: a refused first write is dropped (nothing was changed), a refused
undo or redo stays where it is on the stack (the controller's ``undo`` / ``redo`` put the
stack's index back), so no history is lost; only a step the store says can never apply again
(``ChangeNotInEffect.final``: the box's history moved past it) is taken off the stack, so that
the steps of the other boxes stay reachable.
"""
from __future__ import annotations

from PySide6.QtGui import QAction, QUndoCommand, QUndoGroup

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.store import ACCEPTED, BoxView, ChangeNotInEffect, RevisionConflict, StoreError

UNDO, REDO = "undo", "redo"
_DONE = {UNDO: "undone", REDO: "redone"}


class BoxCommand(QUndoCommand):
    """One change to one stored box. The first ``redo`` writes it (``write``); ``undo`` and
    later ``redo`` are the store's undo / redo of the revision this command put in effect."""

    def __init__(self, controller, text: str, box_id: int | None = None,
                 parent: QUndoCommand | None = None):
        super().__init__(text, parent)
        self.controller = controller
        self.box_id = box_id
        self.revision: int | None = None   # the revision this command put in effect (write or redo)
        self.done = False                  # written once
        self.in_effect = False             # written or redone, and not undone since

    def write(self, store, reviewer):
        raise NotImplementedError

    def redo(self) -> None:
        if self.in_effect:   # a refused undo being put back: nothing to write
            return
        if self.done:
            revision = self.controller.store_call(self.box_id, lambda store, reviewer: store.redo(
                self.box_id, reviewer, target_revision=self.revision), REDO, self)
        else:
            revision = self.controller.store_call(self.box_id, self.write)
        if revision is None:
            if not self.done:   # never written: nothing to keep
                self.setObsolete(True)
            return
        self.box_id, self.revision, self.done, self.in_effect = revision.box_id, revision.revision, True, True

    def undo(self) -> None:
        # refused, the command stays as it was (store_call makes it obsolete, so that the stack
        # drops it, only when the store says it can never be undone again)
        if not self.in_effect:   # a refused redo being put back
            return
        revision = self.controller.store_call(self.box_id, lambda store, reviewer: store.undo(
            self.box_id, reviewer, target_revision=self.revision), UNDO, self)
        if revision is not None:
            self.in_effect = False   # self.revision is now the one a redo re-applies


def refusal_notice(exc: StoreError, step: str | None = None, text: str = "") -> str:
    """What the reviewer is told when the store refused a write (``step`` None), an undo or a redo."""
    if isinstance(exc, RevisionConflict):
        current = exc.current
        who = f" by {current.reviewer}" if current is not None else ""
        state = f" (now {current.state}, revision {current.revision})" if current is not None else ""
        if step is None:
            return f"Box {exc.box_id} was changed{who} meanwhile{state}: your change was not saved; the box was reloaded."
        if isinstance(exc, ChangeNotInEffect) and exc.final:
            return (f"Box {exc.box_id} was changed{who} meanwhile{state}: \u201c{text}\u201d can no longer "
                    f"be {_DONE[step]} and was taken off the undo history; the rest of it stays.")
        return (f"Box {exc.box_id} was changed{who} meanwhile{state}: \u201c{text}\u201d was not {_DONE[step]}; "
                f"it stays in the undo history, to try again once the changes since are undone.")
    if step is None:
        return f"not saved: {exc}"
    return f"\u201c{text}\u201d was not {_DONE[step]}: {exc}; it stays in the undo history."


def step_action(group: QUndoGroup, step: str, slot, parent) -> QAction:
    """An Undo (``step`` "undo") or Redo action over the group's active stack that calls
    ``slot``; its text and enabled state follow the group as QUndoGroup.createUndoAction's do."""
    title = step.capitalize()
    if step == UNDO:
        can, text, signals = group.canUndo, group.undoText, (group.canUndoChanged, group.undoTextChanged)
    else:
        can, text, signals = group.canRedo, group.redoText, (group.canRedoChanged, group.redoTextChanged)
    action = QAction(title, parent)

    def sync(*_) -> None:
        action.setEnabled(can())
        action.setText(f"{title} {text()}".strip())

    for signal in (*signals, group.activeStackChanged):
        signal.connect(sync)
    sync()
    action.triggered.connect(lambda _=False: slot())
    return action


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
    """Several box commands as one step (copy from the previous image, accept the proposals)."""

    def __init__(self, text: str, commands: list[AddBoxCommand]):
        super().__init__(text)
        self.commands = commands

    def redo(self) -> None:
        for command in self.commands:
            command.redo()
        self.commands = [command for command in self.commands   # drop refused copies
                         if command.done and not command.isObsolete()]
        if not self.commands:
            self.setObsolete(True)

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()
        self.commands = [command for command in self.commands if not command.isObsolete()]
        if not self.commands:
            self.setObsolete(True)
