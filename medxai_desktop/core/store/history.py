"""Undo and redo over a box's revision history, without ever rewriting it.

Replaying the revisions in order gives two stacks: the revisions in effect (``applied``) and
the ones undone and not yet redone (``redoable``). A normal change (edit, add, import) pushes
itself on ``applied`` and clears ``redoable``; an undo pops ``applied`` onto ``redoable``; a
redo pops ``redoable`` and pushes the redo revision itself on ``applied``. The box's state is
the top of ``applied``, or its base state when nothing is applied (an unreviewed proposal, or
a drawn box that is not there any more).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from medxai_desktop.core.boxes import Box

from .views import REDO, UNDO, Revision


@dataclass(frozen=True)
class BoxState:
    box: Box
    label: str
    state: str


@dataclass(frozen=True)
class Replay:
    applied: tuple[Revision, ...]
    redoable: tuple[Revision, ...]


def _owner(rev) -> str:
    """Whose history a revision is in, for messages: "box 3" (or a measurement revision's own
    ``owner``: the replay serves any history of numbered revisions with undo and redo)."""
    return getattr(rev, "owner", None) or f"box {rev.box_id}"


def replay(revisions: Sequence[Revision]) -> Replay:
    applied: list[Revision] = []
    redoable: list[Revision] = []
    for rev in sorted(revisions, key=lambda r: r.revision):
        if rev.action == UNDO:
            if not applied or applied[-1].revision != rev.target_revision:
                raise ValueError(f"{_owner(rev)}: revision {rev.revision} undoes "
                                 f"{rev.target_revision}, which was not in effect")
            redoable.append(applied.pop())
        elif rev.action == REDO:
            if not redoable or redoable[-1].revision != rev.target_revision:
                raise ValueError(f"{_owner(rev)}: revision {rev.revision} redoes "
                                 f"{rev.target_revision}, which was not undone")
            redoable.pop()
            applied.append(rev)
        else:
            applied.append(rev)
            redoable.clear()
    return Replay(tuple(applied), tuple(redoable))


def _state_of(rev: Revision) -> BoxState:
    return BoxState(rev.box, rev.label, rev.state)


def undo_step(revisions: Sequence[Revision], base: BoxState) -> tuple[int, BoxState] | None:
    """(revision to undo, state to restore), or None when nothing is in effect."""
    done = replay(revisions)
    if not done.applied:
        return None
    restored = _state_of(done.applied[-2]) if len(done.applied) > 1 else base
    return done.applied[-1].revision, restored


def redo_step(revisions: Sequence[Revision]) -> tuple[int, BoxState] | None:
    """(revision to re-apply, its state), or None when nothing was undone since the last change."""
    done = replay(revisions)
    if not done.redoable:
        return None
    target = done.redoable[-1]
    return target.revision, _state_of(target)


def still_possible(revisions: Sequence[Revision], target: int, step: str) -> bool:
    """Whether revision ``target`` can still be undone (``step`` "undo": it is in effect, perhaps
    under later changes) or redone ("redo": it is undone, perhaps under later undos). Once it
    is not, it never is again: a revision leaves ``applied`` only by an undo, comes back only
    as a new redo revision, and a normal change empties ``redoable``."""
    done = replay(revisions)
    return target in {r.revision for r in (done.applied if step == UNDO else done.redoable)}
