"""The undo commands of box review: each writes one change to one stored box.

The first ``redo()`` writes the change (``revise_box`` / ``accept`` / ``reject`` / ``add_box``);
``undo()`` and any later ``redo()`` are the store's own ``undo`` / ``redo``, which add revisions
and never rewrite one. ``controller.store_call`` runs each write and says when it was refused.
"""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.store import ACCEPTED, BoxView

class BoxCommand(QUndoCommand):
    """One change to one stored box. The first ``redo`` writes it (``write``); ``undo`` and
    later ``redo`` are the store's undo / redo revisions, each expecting the revision this
    command left. A refused call makes the command obsolete: the stack drops it."""

    def __init__(self, controller, text: str, box_id: int | None = None,
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
