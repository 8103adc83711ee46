"""Errors of the review store: each says what failed and why, in one line."""
from __future__ import annotations

from typing import TYPE_CHECKING

from medxai_desktop.core.errors import MedXAIError

if TYPE_CHECKING:
    from .views import Revision


class StoreError(MedXAIError):
    """The store cannot do what was asked (bad URL, unreachable server, invalid value)."""


class DatabaseUnavailable(StoreError):
    """The database server cannot be reached, or went away during the call (stopped, restarted,
    network cut). What was committed before stays; the store reconnects on its next call."""

    def __init__(self, what: str, database: str, reason: str):
        self.what, self.database, self.reason = what, database, reason
        super().__init__(f"{what}: the database {database} is unreachable ({reason}); what was saved "
                         "before is kept: try again once it is back")


class UnknownEntity(StoreError, LookupError):
    """No image / box / model / run with that id."""

    def __init__(self, entity: str, entity_id: object):
        self.entity, self.entity_id = entity, entity_id
        super().__init__(f"no {entity} with id {entity_id!r}")


class RevisionConflict(StoreError):
    """Somebody else revised the box since the caller last saw it; nothing was written.

    ``expected`` is the revision number the caller passed, ``current`` the latest revision
    now stored (None when the box has no revision yet, i.e. revision number 0).
    """

    def __init__(self, box_id: int, expected: int, current: "Revision | None"):
        self.box_id, self.expected, self.current = box_id, expected, current
        now = 0 if current is None else current.revision
        who = "" if current is None else f" by {current.reviewer} ({current.state})"
        super().__init__(f"box {box_id} is at revision {now}{who}, not {expected}: "
                         "reload it and apply the change again")

    @property
    def current_revision(self) -> int:
        return 0 if self.current is None else self.current.revision


class ChangeNotInEffect(RevisionConflict):
    """An undo (redo) of one given revision was refused: that change is no longer the one in
    effect (no longer the one last undone), because somebody changed the box since. Nothing
    was written; ``current`` is the latest revision now stored. ``final``: it never can be
    again (undone or redone by somebody else, or its redo ended by a new change); otherwise it
    can once the changes made over it are undone."""

    def __init__(self, box_id: int, target: int, current: "Revision | None", what: str = "undo",
                 final: bool = False):
        self.box_id, self.expected, self.current = box_id, target, current
        self.what, self.final = what, final
        who = "" if current is None else f" by {current.reviewer} (revision {current.revision}, {current.state})"
        state, done = ("in effect", "undone") if what == "undo" else ("the last one undone", "redone")
        when = "never again" if final else "not until the changes since are undone"
        StoreError.__init__(self, f"box {box_id}: revision {target} is no longer {state}: the box "
                            f"was changed{who} since; it can be {done} {when}")


class NothingToUndo(StoreError):
    def __init__(self, box_id: int, what: str = "undo"):
        super().__init__(f"box {box_id}: nothing to {what}")


class NothingToRedo(NothingToUndo):
    def __init__(self, box_id: int):
        super().__init__(box_id, "redo")
