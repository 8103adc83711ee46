"""Undo and redo to any depth in the desktop app, with the real widgets and keys (pytest-qt,
offscreen): many steps on one box, steps across boxes, and a real conflict (another reviewer
changing the box through another connection) refused with a notice and no history lost
(issue 15, defect 1)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.store import ReviewStore
from tests.test_app_review import CTRL, SHIFT, drag, image_point, key, open_window, stored, view_point

pytest.importorskip("pytestqt")

RIGHT, DOWN, Z = Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_Z


def draw(qtbot, window, x0, y0, x1, y1) -> tuple[int, Box]:
    """B and a drag from (x0, y0) to (x1, y1): the new box's id and its stored geometry."""
    canvas = window.canvas
    before = set(stored(window))
    key(qtbot, window, Qt.Key.Key_B)
    start, end = view_point(canvas, x0, y0), view_point(canvas, x1, y1)
    drag(canvas, start, end)
    p0, p1 = image_point(canvas, start), image_point(canvas, end)
    (box_id,) = set(stored(window)) - before
    return box_id, Box(round(p0.x()), round(p0.y()), round(p1.x()), round(p1.y()))


def undo(qtbot, window, times=1):
    for _ in range(times):
        key(qtbot, window, Z, CTRL)


def redo(qtbot, window, times=1):
    for _ in range(times):
        key(qtbot, window, Z, CTRL | SHIFT)


def shifted(box: Box, dx: float = 0, dy: float = 0) -> Box:
    return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy)


def geometry(window, box_id):
    """The box as the store has it now, None when it is not there (removed or deleted)."""
    entry = stored(window).get(box_id)
    return None if entry is None or entry[2] in ("removed", "rejected") else entry[0]


def no_warnings(window) -> bool:
    return not [m for level, m in window.log.entries if level in ("warning", "error")]


def test_undo_and_redo_to_any_depth_on_one_box(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    review = window.review
    box_id, drawn = draw(qtbot, window, 30, 40, 90, 100)
    for _ in range(3):
        key(qtbot, window, RIGHT)
    assert geometry(window, box_id) == shifted(drawn, 3)
    assert review.undo_stack.count() == 4

    undo(qtbot, window, 3)    # each nudge, newest first: all three apply
    assert geometry(window, box_id) == drawn
    assert review.editor.items[box_id].rect().topLeft().x() == drawn.x0
    undo(qtbot, window)       # and the drawing itself
    assert geometry(window, box_id) is None and box_id not in review.editor.items
    assert review.undo_stack.index() == 0 and review.undo_stack.count() == 4
    assert no_warnings(window), window.log.entries

    redo(qtbot, window, 4)
    assert geometry(window, box_id) == shifted(drawn, 3)
    assert review.undo_stack.index() == 4
    undo(qtbot, window, 2)
    assert geometry(window, box_id) == shifted(drawn, 1)
    redo(qtbot, window)
    assert geometry(window, box_id) == shifted(drawn, 2)
    assert no_warnings(window), window.log.entries
    actions = [r.action for r in window.store.history(box_id)]
    assert actions == ["add", "edit", "edit", "edit"] + ["undo"] * 4 + ["redo"] * 4 + ["undo"] * 2 + ["redo"]
    assert {r.reviewer for r in window.store.history(box_id)} == {"alice"}


def test_draw_delete_then_undo_both(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    review = window.review
    box_id, drawn = draw(qtbot, window, 30, 40, 90, 100)
    key(qtbot, window, Qt.Key.Key_Delete)
    assert geometry(window, box_id) is None and box_id not in review.editor.items
    undo(qtbot, window)
    assert geometry(window, box_id) == drawn and box_id in review.editor.items
    undo(qtbot, window)
    assert geometry(window, box_id) is None and box_id not in review.editor.items
    assert review.undo_stack.index() == 0 and review.undo_stack.count() == 2
    redo(qtbot, window, 2)
    assert stored(window)[box_id][2] == "rejected" and box_id not in review.editor.items
    undo(qtbot, window)
    assert geometry(window, box_id) == drawn
    assert no_warnings(window), window.log.entries


def test_undo_and_redo_across_boxes(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    review = window.review
    a, box_a = draw(qtbot, window, 30, 40, 90, 100)
    key(qtbot, window, RIGHT)
    b, box_b = draw(qtbot, window, 150, 150, 200, 210)
    key(qtbot, window, DOWN)
    key(qtbot, window, DOWN)
    review.editor.select(a)
    key(qtbot, window, RIGHT)
    assert (geometry(window, a), geometry(window, b)) == (shifted(box_a, 2), shifted(box_b, 0, 2))

    undo(qtbot, window, 6)
    assert (geometry(window, a), geometry(window, b)) == (None, None)
    assert review.editor.items == {}
    redo(qtbot, window, 3)    # a drawn and nudged, b drawn
    assert (geometry(window, a), geometry(window, b)) == (shifted(box_a, 1), box_b)
    redo(qtbot, window, 3)
    assert (geometry(window, a), geometry(window, b)) == (shifted(box_a, 2), shifted(box_b, 0, 2))
    undo(qtbot, window, 2)
    assert (geometry(window, a), geometry(window, b)) == (shifted(box_a, 1), shifted(box_b, 0, 1))
    assert no_warnings(window), window.log.entries


def test_another_reviewers_change_refuses_undo_and_redo_but_keeps_the_history(qtbot, tmp_path):
    db = tmp_path / "reviews.sqlite3"
    window = open_window(qtbot, db)
    review = window.review
    box_id, drawn = draw(qtbot, window, 30, 40, 90, 100)
    label = stored(window)[box_id][1]
    key(qtbot, window, RIGHT)
    key(qtbot, window, RIGHT)
    undo(qtbot, window)
    assert geometry(window, box_id) == shifted(drawn, 1)

    # bob relabels the box from another connection: our next undo would undo his change
    other = ReviewStore(f"sqlite:///{db}", cache_dir=tmp_path / "maps")
    latest = other.history(box_id)[-1].revision
    other.revise_box(box_id, reviewer="bob", expected_revision=latest, label="cyst")
    undo(qtbot, window)
    assert stored(window)[box_id][:2] == (shifted(drawn, 1), "cyst")
    notice = review.panel.message_label.text()
    assert "bob" in notice and "\u201cMove box\u201d was not undone" in notice
    assert any(level == "warning" and "bob" in m for level, m in window.log.entries)
    # nothing is dropped: the refused undo is still the next one
    assert (review.undo_stack.count(), review.undo_stack.index()) == (3, 2)
    assert window.review.actions["review.undo"].isEnabled()
    qtbot.waitUntil(lambda: review.views[box_id].label == "cyst", timeout=10000)
    undo(qtbot, window)       # tried again: still bob's change on top, still refused, still kept
    assert (review.undo_stack.count(), review.undo_stack.index()) == (3, 2)

    # bob takes his change back: our undos work again, to the bottom of the stack, and redo
    other.undo(box_id, "bob")
    undo(qtbot, window, 2)
    assert geometry(window, box_id) is None
    assert review.undo_stack.index() == 0
    redo(qtbot, window, 2)
    assert stored(window)[box_id][:3] == (shifted(drawn, 1), label, "edited")
    assert review.undo_stack.index() == 2
    other.close()


def test_a_redo_that_another_reviewers_change_ended_leaves_the_stack_consistent(qtbot, tmp_path):
    db = tmp_path / "reviews.sqlite3"
    window = open_window(qtbot, db)
    review = window.review
    a, box_a = draw(qtbot, window, 30, 40, 90, 100)
    key(qtbot, window, RIGHT)
    b, box_b = draw(qtbot, window, 150, 150, 200, 210)
    undo(qtbot, window, 2)    # b's drawing and a's nudge undone
    assert (geometry(window, a), geometry(window, b)) == (box_a, None)

    # bob edits box a: a new change, which ends what can be redone on a (as it would for us)
    other = ReviewStore(f"sqlite:///{db}", cache_dir=tmp_path / "maps")
    other.revise_box(a, reviewer="bob", expected_revision=other.history(a)[-1].revision, label="cyst")
    redo(qtbot, window)
    assert stored(window)[a][:2] == (box_a, "cyst")
    notice = review.panel.message_label.text()
    assert "bob" in notice and "\u201cMove box\u201d can no longer be redone" in notice
    # that step alone leaves the stack; b's drawing is the next redo, and works
    assert (review.undo_stack.count(), review.undo_stack.index()) == (2, 1)
    redo(qtbot, window)
    assert geometry(window, b) == box_b
    undo(qtbot, window, 2)    # b's drawing goes; a's would take bob's label with it: kept
    assert (geometry(window, a), geometry(window, b)) == (box_a, None)
    assert "\u201cDraw box\u201d was not undone" in review.panel.message_label.text()
    assert (review.undo_stack.count(), review.undo_stack.index()) == (2, 1)
    assert window.store.history(a)[-1].reviewer == "bob"
    other.close()
