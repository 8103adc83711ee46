"""Measurements under review: lengths and ROIs (``core/measurements.py``) stored like drawn boxes.

A measurement is a row of ``measurements`` (its image and kind) and its revisions: revision 1
"added" (action "add"), then "edited" (moved: "edit"), "removed" ("delete"), and undo / redo
as new revisions restoring an earlier state (``history.replay``, the same rules as a box's:
a normal change clears what could be redone). Each revision holds the shape, what was measured
on it and the pixel spacing used, so undo restores the numbers with the shape and an export
needs no pixels. Every revision has its reviewer and time, and an audit entry.

Functions over a :class:`~.repository.ReviewStore` (its engine), one transaction each; the
measurement's row is locked first, so two reviewers changing one measurement are serialised
and the second is told (``MeasurementChanged``), never overwritten.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import SQLAlchemyError

from medxai_desktop.core.exchange.records import MeasurementRecord
from medxai_desktop.core.measurements import Measurement, Shape, Spacing

from .annotation_sets import _image_keys
from .audit import append_audit
from .catalog import require, reviewer_id
from .database import describe_error, read_transaction, write_transaction
from .errors import NothingToUndo, RevisionConflict, StoreError, UnknownEntity
from .history import replay
from .schema import check_values, images, measurement_revisions, measurements, reviewers, utcnow
from .views import ADD, ADDED, DELETE, EDIT, EDITED, REDO, REMOVED, UNDO

T = TypeVar("T")


@dataclass(frozen=True)
class MeasurementRevision:
    """One revision of a measurement: the measurement as it stands after it (``state``
    "added", "edited" or "removed"), who made it and when, and how (``action``)."""
    id: int
    measurement_id: int
    image_id: int
    revision: int
    measurement: Measurement
    state: str
    reviewer: str
    created_at: datetime
    action: str = ADD
    target_revision: int | None = None   # undo / redo: the revision undone / re-applied

    @property
    def owner(self) -> str:
        return f"measurement {self.measurement_id}"

    @property
    def kind(self) -> str:
        return self.measurement.kind

    @property
    def removed(self) -> bool:
        return self.state == REMOVED


class MeasurementChanged(RevisionConflict):
    """A change to a measurement was refused because somebody changed it since; nothing was
    written. ``what``: "edit" (a move or delete made on an older revision than the latest),
    "undo" / "redo" (that revision is no longer in effect / no longer the last one undone);
    ``final``: it can never apply again. ``current``: the latest revision now stored."""

    def __init__(self, measurement_id: int, expected: int, current: MeasurementRevision | None,
                 what: str, final: bool = False):
        self.measurement_id, self.box_id, self.expected, self.current = measurement_id, None, expected, current
        self.what, self.final = what, final
        who = "" if current is None else f" by {current.reviewer} (revision {current.revision}, {current.state})"
        if what == "edit":
            text = f"it is at revision {0 if current is None else current.revision}, not {expected}"
        else:
            state = "in effect" if what == UNDO else "the last one undone"
            text = f"revision {expected} is no longer {state}"
        StoreError.__init__(self, f"measurement {measurement_id} was changed{who} since: {text}")


class NothingToStep(NothingToUndo):
    """Nothing to undo (redo) on the measurement."""

    def __init__(self, measurement_id: int, step: str):
        self.measurement_id = measurement_id
        StoreError.__init__(self, f"measurement {measurement_id}: nothing to {step}")


# -- transactions -------------------------------------------------------------------------------

def _run(store, write: bool, call: Callable[[Connection], T]) -> T:
    """``call`` in one transaction of ``store``; database errors as one-line StoreErrors."""
    try:
        with (write_transaction if write else read_transaction)(store.engine) as connection:
            return call(connection)
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"measurement: {describe_error(exc)}") from exc


# -- rows and records -----------------------------------------------------------------------------

_COLUMNS = (measurement_revisions, measurements.c.image_id, measurements.c.kind,
            reviewers.c.name.label("reviewer"))


def _select():
    return (select(*_COLUMNS)
            .join(measurements, measurement_revisions.c.measurement_id == measurements.c.id)
            .join(reviewers, measurement_revisions.c.reviewer_id == reviewers.c.id))


def _revision(row) -> MeasurementRevision:
    spacing = Spacing() if row.row_spacing is None else Spacing(row.row_spacing, row.column_spacing,
                                                                   row.spacing_source)
    shape = Shape(row.kind, tuple(tuple(p) for p in row.points))
    measured = Measurement.from_values(shape, spacing, dict(row.measured or {}), row.value_unit)
    return MeasurementRevision(row.id, row.measurement_id, row.image_id, row.revision, measured,
                               row.state, row.reviewer, row.created_at, row.action, row.target_revision)


def _history(connection: Connection, measurement_id: int) -> list[MeasurementRevision]:
    query = (_select().where(measurement_revisions.c.measurement_id == measurement_id)
             .order_by(measurement_revisions.c.revision))
    return [_revision(r) for r in connection.execute(query)]


def _locked(connection: Connection, measurement_id: int):
    row = connection.execute(select(measurements).where(measurements.c.id == measurement_id)
                             .with_for_update()).first()
    if row is None:
        raise UnknownEntity("measurement", measurement_id)
    return row


def _check_measurement(kind: str, measurement: Measurement) -> None:
    if not isinstance(measurement, Measurement):
        raise TypeError(f"measurement must be a Measurement, got {type(measurement).__name__}")
    if measurement.kind != kind:
        raise StoreError(f"a {kind} measurement cannot become a {measurement.kind}")


def _append(connection: Connection, row, number: int, measurement: Measurement, state: str,
            reviewer: str, action: str, target: int | None = None) -> MeasurementRevision:
    spacing, now = measurement.spacing, utcnow()
    values = check_values(measurement_revisions, dict(
        measurement_id=row.id, revision=number, points=[list(p) for p in measurement.shape.points],
        measured=measurement.values(), value_unit=measurement.value_unit, row_spacing=spacing.row,
        column_spacing=spacing.column, spacing_source=spacing.source, state=state, action=action,
        target_revision=target, reviewer_id=reviewer_id(connection, reviewer), created_at=now),
        f"measurement {row.id}")
    row_id = connection.execute(insert(measurement_revisions).values(**values)).inserted_primary_key[0]
    reviewer = reviewer.strip()
    append_audit(connection, reviewer, f"measurement.{action}", "measurement", row.id, {
        "revision": number, "state": state, "kind": row.kind, "points": values["points"],
        "measured": values["measured"], "unit": measurement.value_unit,
        "spacing": None if spacing.row is None else [spacing.row, spacing.column, spacing.source],
        "target_revision": target})
    return MeasurementRevision(row_id, row.id, row.image_id, number, measurement, state, reviewer, now,
                               action, target)


# -- changes ----------------------------------------------------------------------------------------

def add_measurement(store, image_id: int, measurement: Measurement, reviewer: str) -> MeasurementRevision:
    """A measurement the reviewer drew on an image: revision 1, state "added"."""
    def call(connection: Connection) -> MeasurementRevision:
        require(connection, images, "image", image_id)
        _check_measurement(measurement.kind, measurement)
        new_id = connection.execute(insert(measurements).values(
            image_id=image_id, kind=measurement.kind, created_at=utcnow())).inserted_primary_key[0]
        row = connection.execute(select(measurements).where(measurements.c.id == new_id)).one()
        return _append(connection, row, 1, measurement, ADDED, reviewer, ADD)
    return _run(store, True, call)


def _change(store, measurement_id: int, reviewer: str, expected_revision: int,
            new: Callable[[MeasurementRevision], tuple[Measurement, str, str]]) -> MeasurementRevision:
    """A normal change made on revision ``expected_revision``: ``new(latest)`` gives the
    measurement, state and action of the next revision."""
    def call(connection: Connection) -> MeasurementRevision:
        row = _locked(connection, measurement_id)
        revisions = _history(connection, measurement_id)
        latest = revisions[-1]
        if latest.revision != expected_revision:
            raise MeasurementChanged(measurement_id, expected_revision, latest, "edit", final=True)
        if latest.removed:
            raise StoreError(f"measurement {measurement_id} was removed: redo or undo to bring it back")
        measurement, state, action = new(latest)
        _check_measurement(row.kind, measurement)
        return _append(connection, row, latest.revision + 1, measurement, state, reviewer, action)
    return _run(store, True, call)


def edit_measurement(store, measurement_id: int, measurement: Measurement, reviewer: str,
                     expected_revision: int) -> MeasurementRevision:
    """The measurement moved or reshaped (measured again by the caller): state "edited"."""
    return _change(store, measurement_id, reviewer, expected_revision,
                   lambda latest: (measurement, EDITED, EDIT))


def delete_measurement(store, measurement_id: int, reviewer: str, expected_revision: int) -> MeasurementRevision:
    """The reviewer deleted the measurement: state "removed" (undo brings it back)."""
    return _change(store, measurement_id, reviewer, expected_revision,
                   lambda latest: (latest.measurement, REMOVED, DELETE))


def _step(store, measurement_id: int, reviewer: str, step: str, target_revision: int | None) -> MeasurementRevision:
    def call(connection: Connection) -> MeasurementRevision:
        row = _locked(connection, measurement_id)
        revisions = _history(connection, measurement_id)
        done = replay(revisions)
        stack = done.applied if step == UNDO else done.redoable
        if target_revision is not None and (not stack or stack[-1].revision != target_revision):
            final = target_revision not in {r.revision for r in stack}
            raise MeasurementChanged(measurement_id, target_revision, revisions[-1], step, final)
        if not stack:
            raise NothingToStep(measurement_id, step)
        target = stack[-1]
        if step == REDO:
            restored, state = target.measurement, target.state
        elif len(stack) > 1:
            restored, state = stack[-2].measurement, stack[-2].state
        else:   # its drawing undone: not there, as it was drawn
            restored, state = revisions[0].measurement, REMOVED
        return _append(connection, row, revisions[-1].revision + 1, restored, state, reviewer, step,
                       target.revision)
    return _run(store, True, call)


def undo_measurement(store, measurement_id: int, reviewer: str, *,
                     target_revision: int | None = None) -> MeasurementRevision:
    """Undo the measurement's change in effect, as a new revision restoring the state before it
    (its drawing undone: "removed"). ``target_revision``: only if that is the change in effect
    (else MeasurementChanged), so an undo never takes back somebody else's later change."""
    return _step(store, measurement_id, reviewer, UNDO, target_revision)


def redo_measurement(store, measurement_id: int, reviewer: str, *,
                     target_revision: int | None = None) -> MeasurementRevision:
    """Re-apply the last undone change, as a new revision (``target_revision``: only if it is
    that one)."""
    return _step(store, measurement_id, reviewer, REDO, target_revision)


# -- reading ----------------------------------------------------------------------------------------

def _latest(connection: Connection, image_ids: Iterable[int] | None) -> list[MeasurementRevision]:
    query = _select().order_by(measurement_revisions.c.measurement_id, measurement_revisions.c.revision)
    if image_ids is not None:
        query = query.where(measurements.c.image_id.in_(list(image_ids)))
    latest: dict[int, MeasurementRevision] = {}
    for row in connection.execute(query):
        latest[row.measurement_id] = _revision(row)
    return list(latest.values())


def image_measurements(store, image_id: int, include_removed: bool = False) -> list[MeasurementRevision]:
    """The latest revision of each measurement on the image, oldest measurement first."""
    def call(connection: Connection) -> list[MeasurementRevision]:
        require(connection, images, "image", image_id)
        return [r for r in _latest(connection, [image_id]) if include_removed or not r.removed]
    return _run(store, False, call)


def measurement_history(store, measurement_id: int) -> list[MeasurementRevision]:
    """Every revision of the measurement, oldest first."""
    def call(connection: Connection) -> list[MeasurementRevision]:
        revisions = _history(connection, measurement_id)
        if not revisions:
            raise UnknownEntity("measurement", measurement_id)
        return revisions
    return _run(store, False, call)


def measurement_records(store, image_ids: Iterable[int] | None = None) -> list[MeasurementRecord]:
    """The measurements in force (not removed) on ``image_ids`` (None: every image) as export
    records, keyed as the store's AnnotationSets key their images."""
    def call(connection: Connection) -> list[MeasurementRecord]:
        infos, keys = _image_keys(connection)
        frames = {i.id: i.frame for i in infos}
        return [MeasurementRecord(keys[r.image_id], r.measurement, r.reviewer, r.revision, r.measurement_id,
                                  {"frame": frames[r.image_id], "measured_at": r.created_at.isoformat()})
                for r in _latest(connection, None if image_ids is None else set(image_ids))
                if not r.removed and r.image_id in keys]
    return _run(store, False, call)


__all__ = ["MeasurementChanged", "MeasurementRevision", "add_measurement", "delete_measurement",
           "edit_measurement", "image_measurements", "measurement_history", "measurement_records",
           "redo_measurement", "undo_measurement"]
