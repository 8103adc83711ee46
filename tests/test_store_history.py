"""Undo/redo replay over revision histories (pure: no database)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.store.history import BoxState, redo_step, replay, undo_step
from medxai_desktop.core.store.views import Revision

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
BASE = BoxState(Box(0, 0, 1, 1), "x", "proposed")


def rev(n, action="edit", target=None, width=None, state="edited"):
    return Revision(n, 1, n, Box(0, 0, width or n + 1, 1), "x", state, "ann", T, action, target)


def test_undo_walks_back_to_the_base_and_redo_forward_again():
    history = [rev(1), rev(2)]
    assert undo_step(history, BASE) == (2, BoxState(Box(0, 0, 2, 1), "x", "edited"))
    history.append(rev(3, "undo", 2, width=2))
    assert undo_step(history, BASE) == (1, BASE)
    history.append(rev(4, "undo", 1, width=1, state="proposed"))
    assert undo_step(history, BASE) is None
    assert redo_step(history) == (1, BoxState(Box(0, 0, 2, 1), "x", "edited"))
    history.append(rev(5, "redo", 1, width=2))
    assert redo_step(history) == (2, BoxState(Box(0, 0, 3, 1), "x", "edited"))
    done = replay(history)
    assert [r.revision for r in done.applied] == [5] and [r.revision for r in done.redoable] == [2]
    history.append(rev(6))  # a normal change: nothing left to redo
    assert redo_step(history) is None
    assert undo_step(history, BASE)[0] == 6


def test_an_inconsistent_history_is_refused():
    with pytest.raises(ValueError, match="not in effect"):
        replay([rev(1), rev(2, "undo", 7)])
    with pytest.raises(ValueError, match="not undone"):
        replay([rev(1), rev(2, "redo", 1)])


def test_still_possible_says_whether_a_refused_step_can_come_again():
    from medxai_desktop.core.store.history import still_possible

    history = [rev(1), rev(2), rev(3)]
    assert still_possible(history, 2, "undo") and not still_possible(history, 2, "redo")
    history.append(rev(4, "undo", 3, width=3))
    assert still_possible(history, 3, "redo") and not still_possible(history, 3, "undo")
    history.append(rev(5))                       # a new change ends the redo of 3, for good
    assert not still_possible(history, 3, "redo") and still_possible(history, 1, "undo")
    history.append(rev(6, "undo", 5, width=3))
    assert not still_possible(history, 3, "redo")
