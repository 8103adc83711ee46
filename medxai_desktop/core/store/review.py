"""Boxes under review: revisions (each a new row), undo/redo, latest state, image status.

Every function runs inside the caller's write transaction. The box row is locked first
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite holds the database write lock from
``BEGIN IMMEDIATE``), then the expected revision is compared with the latest one, so two
reviewers editing the same box are serialised and the second is told, not overwritten. The
UNIQUE(box_id, revision) constraint is the last line of defence.
"""
from __future__ import annotations

from sqlalchemy import Connection, and_, func, insert, select

from medxai_desktop.core.boxes import Box

from .audit import append_audit, audit_values
from .catalog import require, reviewer_id
from .database import upsert
from .errors import (ChangeNotInEffect, NothingToRedo, NothingToUndo, RevisionConflict, StoreError,
                     UnknownEntity)
from .history import BoxState, redo_step, still_possible, undo_step
from .imports import visible
from .schema import (audit_log, box_proposals, box_revisions, boxes, check_values, image_status,
                     images, reviewers, utcnow)
from .views import (ACCEPTED, ADD, ADDED, EDIT, EDITED, IMPORT, PROPOSED, REDO, REJECTED, REMOVED,
                    REVIEW_STATUSES, UNDO, UNREAD, BoxView, ImageStatus, Revision)

REVIEWER_STATES = (ACCEPTED, EDITED, REJECTED)

_REVISION_COLUMNS = (box_revisions.c.id, box_revisions.c.box_id, box_revisions.c.revision,
                     box_revisions.c.x0, box_revisions.c.y0, box_revisions.c.x1, box_revisions.c.y1,
                     box_revisions.c.label, box_revisions.c.state, box_revisions.c.action,
                     box_revisions.c.target_revision, box_revisions.c.comment,
                     box_revisions.c.created_at, reviewers.c.name.label("reviewer"))


def _revision(row) -> Revision:
    return Revision(row.id, row.box_id, row.revision, Box(row.x0, row.y0, row.x1, row.y1),
                    row.label, row.state, row.reviewer, row.created_at, row.action,
                    row.target_revision, row.comment)


def history(connection: Connection, box_id: int) -> list[Revision]:
    query = (select(*_REVISION_COLUMNS)
             .join(reviewers, box_revisions.c.reviewer_id == reviewers.c.id)
             .where(box_revisions.c.box_id == box_id).order_by(box_revisions.c.revision))
    return [_revision(r) for r in connection.execute(query)]


def _locked_box(connection: Connection, box_id: int):
    query = (select(boxes, box_proposals.c.x0, box_proposals.c.y0, box_proposals.c.x1,
                    box_proposals.c.y1, box_proposals.c.label)
             .select_from(boxes.outerjoin(box_proposals, boxes.c.proposal_id == box_proposals.c.id))
             .where(boxes.c.id == box_id, visible(boxes)).with_for_update(of=boxes))
    row = connection.execute(query).first()
    if row is None:
        raise UnknownEntity("box", box_id)
    return row


def _base_state(row, revisions: list[Revision]) -> BoxState:
    """What a box is before any revision: its proposal, or (drawn/imported) not there."""
    if row.proposal_id is not None:
        return BoxState(Box(row.x0, row.y0, row.x1, row.y1), row.label, PROPOSED)
    first = revisions[0]
    return BoxState(first.box, first.label, REMOVED)


def _current(row, revisions: list[Revision]) -> BoxState:
    if revisions:
        last = revisions[-1]
        return BoxState(last.box, last.label, last.state)
    return _base_state(row, revisions)


def _check_expected(box_id: int, expected: int | None, revisions: list[Revision]) -> None:
    latest = revisions[-1] if revisions else None
    if expected is not None and expected != (latest.revision if latest else 0):
        raise RevisionConflict(box_id, expected, latest)


def _check_target(box_id: int, wanted: int | None, step, revisions: list[Revision],
                  what: str) -> None:
    """An undo / redo of revision ``wanted`` (None: whatever is next) refused unless ``step``
    takes back exactly that one."""
    if wanted is not None and (step is None or step[0] != wanted):
        final = not still_possible(revisions, wanted, what)
        raise ChangeNotInEffect(box_id, wanted, revisions[-1] if revisions else None, what, final)


def _next(revisions: list[Revision]) -> int:
    return (revisions[-1].revision if revisions else 0) + 1


def _revision_values(box_id: int, number: int, state: BoxState, reviewer_row: int, action: str,
                     target: int | None, comment: str | None, now) -> dict:
    if not state.label:
        raise StoreError(f"box {box_id}: a box needs a label")
    b = state.box
    return check_values(box_revisions, dict(
        box_id=box_id, revision=number, x0=float(b.x0), y0=float(b.y0), x1=float(b.x1),
        y1=float(b.y1), label=state.label, state=state.state, action=action, target_revision=target,
        reviewer_id=reviewer_row, comment=comment, created_at=now), f"box {box_id}")


def _audit_of(values: dict, reviewer: str, import_id: int | None = None) -> dict:
    """The audit entry of a revision (its row's values)."""
    return audit_values(reviewer, f"box.{values['action']}", "box", values["box_id"], {
        "revision": values["revision"], "state": values["state"], "label": values["label"],
        "box": [values[k] for k in ("x0", "y0", "x1", "y1")],
        "target_revision": values["target_revision"], "comment": values["comment"]}, import_id)


def _append(connection: Connection, box_id: int, number: int, state: BoxState, reviewer: str,
            action: str, target: int | None = None, comment: str | None = None) -> Revision:
    values = _revision_values(box_id, number, state, reviewer_id(connection, reviewer), action,
                              target, comment, utcnow())
    row_id = connection.execute(insert(box_revisions).values(**values)).inserted_primary_key[0]
    reviewer = reviewer.strip()
    connection.execute(insert(audit_log).values(**_audit_of(values, reviewer)))
    return Revision(row_id, box_id, number, Box(values["x0"], values["y0"], values["x1"], values["y1"]),
                    state.label, state.state, reviewer, values["created_at"], action, target, comment)


def revise(connection: Connection, box_id: int, reviewer: str, expected_revision: int,
           box: Box | None = None, label: str | None = None, state: str | None = None,
           comment: str | None = None) -> Revision:
    """A reviewer's change: new geometry and/or label (state "edited" unless given), or a
    verdict (accepted / rejected) on the box as it stands."""
    if expected_revision is None:
        raise StoreError("give the revision you last saw (0 for an unreviewed proposal)")
    if state is None:
        if box is None and label is None:
            raise StoreError("nothing to change: give a box, a label or a state")
        state = EDITED
    if state not in REVIEWER_STATES:
        raise StoreError(f"a reviewer sets a box {' / '.join(REVIEWER_STATES)}, not {state!r}")
    if box is not None and not isinstance(box, Box):
        raise TypeError(f"box must be a Box, got {type(box).__name__}")
    row = _locked_box(connection, box_id)
    revisions = history(connection, box_id)
    _check_expected(box_id, expected_revision, revisions)
    current = _current(row, revisions)
    if current.state == REMOVED:
        raise StoreError(f"box {box_id} was removed (its drawing was undone): redo to restore it")
    new = BoxState(box or current.box, label or current.label, state)
    return _append(connection, box_id, _next(revisions), new, reviewer, EDIT, comment=comment)


def add_box(connection: Connection, image_id: int, box: Box, label: str, reviewer: str,
            comment: str | None = None) -> Revision:
    """A box the reviewer drew: a box row without proposal whose revision 1 is "added"."""
    if not isinstance(box, Box):
        raise TypeError(f"box must be a Box, got {type(box).__name__}")
    require(connection, images, "image", image_id)
    box_id = connection.execute(insert(boxes).values(
        image_id=image_id, proposal_id=None, origin="drawn", created_at=utcnow(),
    )).inserted_primary_key[0]
    return _append(connection, box_id, 1, BoxState(box, label, ADDED), reviewer, ADD,
                   comment=comment)


def import_boxes(connection: Connection, new: list[tuple[int, Box, str, str]], reviewer: str,
                 reviewer_row: int, source: str, import_id: int) -> list[int]:
    """Boxes read from ``source``, (image id, box, label, comment) each, written in bulk: a box
    row (origin "import") whose revision 1 is "added" (action "import"), with its audit entry,
    all marked as ``import_id``'s. The importer resolved the images; returns the box ids."""
    if not new:
        return []
    now = utcnow()
    box_ids = connection.execute(
        insert(boxes).returning(boxes.c.id, sort_by_parameter_order=True),
        [dict(image_id=image_id, proposal_id=None, origin="import", source=source, created_at=now,
              import_id=import_id) for image_id, *_ in new]).scalars().all()
    revisions = [_revision_values(box_id, 1, BoxState(box, label, ADDED), reviewer_row, IMPORT,
                                  None, comment, now)
                 for box_id, (_, box, label, comment) in zip(box_ids, new)]
    connection.execute(insert(box_revisions), revisions)
    connection.execute(insert(audit_log), [_audit_of(r, reviewer, import_id) for r in revisions])
    return list(box_ids)


def undo(connection: Connection, box_id: int, reviewer: str,
         expected_revision: int | None = None, target_revision: int | None = None) -> Revision:
    """Undo the change in effect as a NEW revision restoring the state before it. With
    ``target_revision``: only if that revision is the change in effect (ChangeNotInEffect)."""
    row = _locked_box(connection, box_id)
    revisions = history(connection, box_id)
    _check_expected(box_id, expected_revision, revisions)
    step = undo_step(revisions, _base_state(row, revisions)) if revisions else None
    _check_target(box_id, target_revision, step, revisions, "undo")
    if step is None:
        raise NothingToUndo(box_id)
    target, restored = step
    return _append(connection, box_id, _next(revisions), restored, reviewer, UNDO, target)


def redo(connection: Connection, box_id: int, reviewer: str,
         expected_revision: int | None = None, target_revision: int | None = None) -> Revision:
    """Re-apply the last undone change as a NEW revision (only until a normal change). With
    ``target_revision``: only if that revision is the last one undone (ChangeNotInEffect)."""
    _locked_box(connection, box_id)
    revisions = history(connection, box_id)
    _check_expected(box_id, expected_revision, revisions)
    step = redo_step(revisions)
    _check_target(box_id, target_revision, step, revisions, "redo")
    if step is None:
        raise NothingToRedo(box_id)
    target, state = step
    return _append(connection, box_id, _next(revisions), state, reviewer, REDO, target)


def latest_revision(connection: Connection, box_id: int) -> Revision | None:
    revisions = history(connection, box_id)
    return revisions[-1] if revisions else None


def _latest_subquery():
    return (select(box_revisions.c.box_id, func.max(box_revisions.c.revision).label("revision"))
            .group_by(box_revisions.c.box_id).subquery("latest"))


def latest_rows(connection: Connection, image_id: int | None = None):
    """One row per box: the box, its proposal (if any) and its latest revision (if any)."""
    latest = _latest_subquery()
    rev = box_revisions.alias("rev")
    query = (
        select(boxes.c.id.label("box_id"), boxes.c.image_id, boxes.c.proposal_id, boxes.c.origin,
               boxes.c.source, box_proposals.c.x0.label("p_x0"), box_proposals.c.y0.label("p_y0"),
               box_proposals.c.x1.label("p_x1"), box_proposals.c.y1.label("p_y1"),
               box_proposals.c.label.label("p_label"), box_proposals.c.score,
               box_proposals.c.method, box_proposals.c.parameters, box_proposals.c.run_id,
               rev.c.revision, rev.c.x0, rev.c.y0, rev.c.x1, rev.c.y1, rev.c.label, rev.c.state,
               rev.c.action, rev.c.created_at, reviewers.c.name.label("reviewer"))
        .select_from(
            boxes.outerjoin(box_proposals, boxes.c.proposal_id == box_proposals.c.id)
            .outerjoin(latest, latest.c.box_id == boxes.c.id)
            .outerjoin(rev, and_(rev.c.box_id == latest.c.box_id, rev.c.revision == latest.c.revision))
            .outerjoin(reviewers, rev.c.reviewer_id == reviewers.c.id))
        .where(visible(boxes)).order_by(boxes.c.id))
    if image_id is not None:
        query = query.where(boxes.c.image_id == image_id)
    return connection.execute(query).all()


def box_view(row) -> BoxView:
    proposed = None if row.proposal_id is None else Box(row.p_x0, row.p_y0, row.p_x1, row.p_y1)
    if row.revision is None:  # an unreviewed proposal
        return BoxView(row.box_id, row.image_id, proposed, row.p_label, PROPOSED, 0, row.origin,
                       row.proposal_id, row.score, row.method, proposal_box=proposed)
    return BoxView(row.box_id, row.image_id, Box(row.x0, row.y0, row.x1, row.y1), row.label,
                   row.state, row.revision, row.origin, row.proposal_id, row.score, row.method,
                   row.reviewer, row.created_at, row.source, proposed)


def latest_boxes(connection: Connection, image_id: int, include_removed: bool = False) -> list[BoxView]:
    require(connection, images, "image", image_id)
    views = [box_view(r) for r in latest_rows(connection, image_id)]
    return [v for v in views if include_removed or v.state != REMOVED]


def set_status(connection: Connection, image_id: int, status: str, reviewer: str) -> ImageStatus:
    if status not in REVIEW_STATUSES:
        raise StoreError(f"review status must be one of {', '.join(REVIEW_STATUSES)}, not {status!r}")
    require(connection, images, "image", image_id)
    before = get_status(connection, image_id)
    now = utcnow()
    upsert(connection, image_status, {"image_id": image_id, "status": status,
                                      "reviewer_id": reviewer_id(connection, reviewer),
                                      "updated_at": now}, "image_id")
    append_audit(connection, reviewer.strip(), "status.set", "image", image_id,
                 {"from": before.status, "to": status})
    return ImageStatus(image_id, status, reviewer.strip(), now)


def get_status(connection: Connection, image_id: int) -> ImageStatus:
    row = connection.execute(
        select(image_status.c.status, image_status.c.updated_at, reviewers.c.name)
        .select_from(image_status.outerjoin(reviewers, image_status.c.reviewer_id == reviewers.c.id))
        .where(image_status.c.image_id == image_id)).first()
    if row is None:
        return ImageStatus(image_id, UNREAD)
    return ImageStatus(image_id, row.status, row.name, row.updated_at)
