"""Measurements in the review store (issue 15), on SQLite and PostgreSQL: each change a new
revision with reviewer and time, undo / redo to any depth as new revisions, another reviewer's
change never overwritten, history append-only, and the export records."""
from __future__ import annotations

import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.measurements import ELLIPSE, LENGTH, Shape, measure
from medxai_desktop.core.store import StoreError, UnknownEntity
from medxai_desktop.core.store import measurements as sm
from medxai_desktop.core.store.measurements import MeasurementChanged

ME, OTHER = "Dr Test", "Dr Other"


@pytest.fixture(scope="module")
def ct():
    return read_image(get_testdata_file("CT_small.dcm", download=False))


def _ellipse(ct, dx=0):
    return measure(ct, Shape(ELLIPSE, ((30 + dx, 40), (70 + dx, 90))))


def test_a_measurement_is_stored_with_its_numbers_reviewer_and_time(store, ct):
    image_id = store.add_image(ct)
    drawn = _ellipse(ct)
    added = sm.add_measurement(store, image_id, drawn, ME)
    assert (added.revision, added.state, added.action, added.reviewer) == (1, "added", "add", ME)
    assert added.created_at.tzinfo is not None
    [back] = sm.image_measurements(store, image_id)
    assert back.measurement == drawn   # shape, spacing (PixelSpacing), HU statistics: as measured
    assert back.measurement.value_unit == "HU" and back.measurement.spacing.source == "PixelSpacing"
    length = sm.add_measurement(store, image_id, measure(ct, Shape(LENGTH, ((0, 0), (3, 4)))), ME)
    assert [m.measurement_id for m in sm.image_measurements(store, image_id)] == [added.measurement_id,
                                                                                   length.measurement_id]
    entries = store.audit_log(entity="measurement")
    assert [e.action for e in entries] == ["measurement.add", "measurement.add"]
    assert entries[0].actor == ME and entries[0].details["measured"]["mean"] == pytest.approx(drawn.mean)


def test_undo_and_redo_work_to_any_depth_as_new_revisions(store, ct):
    image_id = store.add_image(ct)
    first = sm.add_measurement(store, image_id, _ellipse(ct), ME)
    mid = first.measurement_id
    moves = [sm.edit_measurement(store, mid, _ellipse(ct, dx), ME, dx) for dx in (1, 2, 3)]
    deleted = sm.delete_measurement(store, mid, ME, 4)
    assert deleted.removed and deleted.action == "delete"
    assert sm.image_measurements(store, image_id) == []
    # undo each step, newest first, naming the revision each command put in effect
    for target, shape_dx in ((5, 3), (4, 2), (3, 1), (2, 0)):
        undone = sm.undo_measurement(store, mid, ME, target_revision=target)
        assert undone.action == "undo" and undone.target_revision == target
        assert undone.measurement == _ellipse(ct, shape_dx)
    gone = sm.undo_measurement(store, mid, ME, target_revision=1)
    assert gone.removed and sm.image_measurements(store, image_id) == []
    with pytest.raises(StoreError, match="nothing to undo"):
        sm.undo_measurement(store, mid, ME)
    for target in (1, 2, 3, 4, 5):
        redone = sm.redo_measurement(store, mid, ME, target_revision=target)
        assert redone.action == "redo" and redone.target_revision == target
    assert sm.image_measurements(store, image_id) == []        # the delete redone last
    assert sm.image_measurements(store, image_id, include_removed=True)[0].measurement == _ellipse(ct, 3)
    history = sm.measurement_history(store, mid)
    assert [r.revision for r in history] == list(range(1, 16))
    assert moves[-1].revision == 4 and history[3].measurement == moves[-1].measurement


def test_another_reviewers_change_is_never_overwritten(store, ct):
    image_id = store.add_image(ct)
    mid = sm.add_measurement(store, image_id, _ellipse(ct), ME).measurement_id
    sm.edit_measurement(store, mid, _ellipse(ct, 1), ME, 1)
    sm.edit_measurement(store, mid, _ellipse(ct, 5), OTHER, 2)        # somebody else moves it
    with pytest.raises(MeasurementChanged, match="Dr Other") as stale:
        sm.edit_measurement(store, mid, _ellipse(ct, 2), ME, 2)        # made on revision 2: refused
    assert stale.value.current.revision == 3
    with pytest.raises(MeasurementChanged) as not_now:
        sm.undo_measurement(store, mid, ME, target_revision=2)          # my move is under theirs
    assert not not_now.value.final                                      # ... until theirs is undone
    sm.undo_measurement(store, mid, OTHER, target_revision=3)
    sm.undo_measurement(store, mid, ME, target_revision=2)
    with pytest.raises(MeasurementChanged) as never:
        sm.undo_measurement(store, mid, ME, target_revision=3)          # already undone
    assert never.value.final
    assert sm.image_measurements(store, image_id)[0].measurement == _ellipse(ct)
    with pytest.raises(StoreError, match="cannot become"):
        sm.edit_measurement(store, mid, measure(ct, Shape(LENGTH, ((0, 0), (1, 1)))), ME, 5)


def test_refusals(store, ct):
    image_id = store.add_image(ct)
    with pytest.raises(UnknownEntity):
        sm.add_measurement(store, image_id + 99, _ellipse(ct), ME)
    with pytest.raises(UnknownEntity):
        sm.undo_measurement(store, 12345, ME)
    with pytest.raises(StoreError, match="reviewer must be named"):
        sm.add_measurement(store, image_id, _ellipse(ct), " ")
    mid = sm.add_measurement(store, image_id, _ellipse(ct), ME).measurement_id
    sm.delete_measurement(store, mid, ME, 1)
    with pytest.raises(StoreError, match="was removed"):
        sm.edit_measurement(store, mid, _ellipse(ct, 1), ME, 2)


@pytest.mark.parametrize("statement", ["UPDATE measurement_revisions SET state = 'removed'",
                                       "DELETE FROM measurement_revisions"])
def test_measurement_history_is_append_only(store, ct, statement):
    sm.add_measurement(store, store.add_image(ct), _ellipse(ct), ME)
    with pytest.raises(DBAPIError, match="append-only"):
        with store.engine.begin() as connection:
            connection.execute(text(statement))
    assert store.info()["counts"]["measurement_revisions"] == 1


def test_export_records_hold_the_measurements_in_force(store, ct):
    image_id = store.add_image(ct)
    kept = sm.add_measurement(store, image_id, _ellipse(ct), ME)
    dropped = sm.add_measurement(store, image_id, _ellipse(ct, 2), ME)
    sm.delete_measurement(store, dropped.measurement_id, ME, 1)
    [record] = sm.measurement_records(store, {image_id})
    assert (record.image_key, record.reviewer, record.revision, record.measurement_id) == (
        "CT_small.dcm", ME, 1, kept.measurement_id)
    assert record.measurement == kept.measurement and record.extra["frame"] == 0
    assert sm.measurement_records(store, set()) == []
