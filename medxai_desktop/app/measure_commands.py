"""The undo commands of the measurement tools, on the open image's undo stack with the box edits
(one Ctrl+Z history per image): each writes one change to one stored measurement.

As for boxes (undo_commands.py): the first ``redo()`` writes the change (add, edit, delete);
``undo()`` and any later ``redo()`` are the store's undo / redo of the revision this command put
in effect (``target_revision``), so undo and redo work to any depth and never take back
somebody else's later change. ``controller.store_call`` runs each write and says when it was
refused: a refused first write is dropped, a refused undo or redo stays on the stack.
"""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from medxai_desktop.core.measurements import Measurement
from medxai_desktop.core.store.measurements import (add_measurement, delete_measurement, edit_measurement,
                                                    redo_measurement, undo_measurement)
from medxai_desktop.core.store.views import REDO, UNDO

from .measure_items import KIND_NAMES


class MeasurementCommand(QUndoCommand):
    """One change to one stored measurement (see the module's docstring)."""

    def __init__(self, controller, text: str, measurement_id: int | None = None):
        super().__init__(text)
        self.controller = controller
        self.measurement_id = measurement_id
        self.revision: int | None = None   # the revision this command put in effect
        self.done = False                  # written once
        self.in_effect = False             # written or redone, and not undone since

    def write(self, store, reviewer):
        raise NotImplementedError

    def _stepped(self, step: str):
        """The store call that undoes (redoes) this command's revision."""
        change = undo_measurement if step == UNDO else redo_measurement
        return lambda store, reviewer: change(store, self.measurement_id, reviewer, target_revision=self.revision)

    def redo(self) -> None:
        if self.in_effect:   # a refused undo being put back: nothing to write
            return
        call, step = (self._stepped(REDO), REDO) if self.done else (self.write, None)
        revision = self.controller.store_call(self.measurement_id, call, step, self)
        if revision is None:
            if not self.done:
                self.setObsolete(True)
            return
        self.measurement_id, self.revision = revision.measurement_id, revision.revision
        self.done = self.in_effect = True

    def undo(self) -> None:
        if not self.in_effect:   # a refused redo being put back
            return
        if self.controller.store_call(self.measurement_id, self._stepped(UNDO), UNDO, self) is not None:
            self.in_effect = False


class AddMeasurementCommand(MeasurementCommand):
    """A measurement drawn on the image: undo removes it, redo brings it back."""

    def __init__(self, controller, image_id: int, measurement: Measurement):
        super().__init__(controller, f"Measure {KIND_NAMES[measurement.kind]}")
        self.image_id, self.measurement = image_id, measurement

    def write(self, store, reviewer):
        return add_measurement(store, self.image_id, self.measurement, reviewer)


class EditMeasurementCommand(MeasurementCommand):
    """A measurement moved or reshaped, measured again on the same image."""

    def __init__(self, controller, revision, measurement: Measurement):
        super().__init__(controller, f"Move {KIND_NAMES[measurement.kind]}", revision.measurement_id)
        self.expected, self.measurement = revision.revision, measurement

    def write(self, store, reviewer):
        return edit_measurement(store, self.measurement_id, self.measurement, reviewer, self.expected)


class DeleteMeasurementCommand(MeasurementCommand):
    def __init__(self, controller, revision):
        super().__init__(controller, f"Delete {KIND_NAMES[revision.kind]}", revision.measurement_id)
        self.expected = revision.revision

    def write(self, store, reviewer):
        return delete_measurement(store, self.measurement_id, reviewer, self.expected)
