"""Undo and redo of one named revision (``target_revision``), on SQLite and PostgreSQL: any
depth on one box, never taking back somebody else's later change, and whether a refused step
can still come (issue 15, defect 1)."""
from __future__ import annotations

import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.store import ChangeNotInEffect, RevisionConflict
from tests.test_store_repository import medical_image


def test_undo_and_redo_by_target_work_to_any_depth(store, tmp_path):
    image_id = store.add_image(medical_image(tmp_path))
    added = store.add_box(image_id, Box(0, 0, 10, 10), "lesion", "ann")
    box_id, written = added.box_id, [added.revision]
    for dx in (1, 2, 3):
        written.append(store.revise_box(box_id, reviewer="ann", expected_revision=written[-1],
                                        box=Box(dx, 0, 10 + dx, 10)).revision)
    for target in reversed(written):       # each names its own revision, not the latest one
        store.undo(box_id, "ann", target_revision=target)
    assert store.latest_boxes(image_id) == []
    redone = [store.redo(box_id, "ann", target_revision=target).revision for target in written]
    assert store.latest_boxes(image_id)[0].box == Box(3, 0, 13, 10)
    store.undo(box_id, "ann", target_revision=redone[-1])   # a redo's own revision is in effect now
    assert store.latest_boxes(image_id)[0].box == Box(2, 0, 12, 10)


def test_a_target_under_another_reviewers_change_is_refused_until_it_is_undone(store, tmp_path):
    image_id = store.add_image(medical_image(tmp_path))
    added = store.add_box(image_id, Box(0, 0, 10, 10), "lesion", "ann")
    moved = store.revise_box(added.box_id, reviewer="ann", expected_revision=1, box=Box(1, 0, 11, 10))
    bobs = store.revise_box(added.box_id, reviewer="bob", expected_revision=2, label="cyst")
    with pytest.raises(ChangeNotInEffect, match="by bob") as refused:
        store.undo(added.box_id, "ann", target_revision=moved.revision)
    assert isinstance(refused.value, RevisionConflict) and not refused.value.final
    assert refused.value.current == bobs
    assert len(store.history(added.box_id)) == 3          # nothing written
    store.undo(added.box_id, "bob", target_revision=bobs.revision)
    undone = store.undo(added.box_id, "ann", target_revision=moved.revision)
    assert (undone.target_revision, undone.box) == (moved.revision, Box(0, 0, 10, 10))


def test_a_redo_ended_by_a_new_change_is_refused_for_good(store, tmp_path):
    image_id = store.add_image(medical_image(tmp_path))
    added = store.add_box(image_id, Box(0, 0, 10, 10), "lesion", "ann")
    moved = store.revise_box(added.box_id, reviewer="ann", expected_revision=1, box=Box(1, 0, 11, 10))
    store.undo(added.box_id, "ann", target_revision=moved.revision)
    store.revise_box(added.box_id, reviewer="bob", expected_revision=3, label="cyst")
    with pytest.raises(ChangeNotInEffect) as refused:
        store.redo(added.box_id, "ann", target_revision=moved.revision)
    assert refused.value.final and "never again" in str(refused.value)


def test_a_change_somebody_else_undid_cannot_be_undone_again(store, tmp_path):
    image_id = store.add_image(medical_image(tmp_path))
    added = store.add_box(image_id, Box(0, 0, 10, 10), "lesion", "ann")
    moved = store.revise_box(added.box_id, reviewer="ann", expected_revision=1, box=Box(1, 0, 11, 10))
    store.undo(added.box_id, "bob")                       # bob takes ann's move back
    with pytest.raises(ChangeNotInEffect) as refused:
        store.undo(added.box_id, "ann", target_revision=moved.revision)
    assert refused.value.final
    assert store.latest_boxes(image_id)[0].box == Box(0, 0, 10, 10)
