"""The measurement tools in the desktop app with the real widgets, mouse and keys (pytest-qt,
offscreen, issue 15): a length and an ellipse ROI drawn with the mouse on a CT, their values (mm
through PixelSpacing, HU statistics equal to numpy's) beside the shapes and in the list, undo
and redo to any depth with the box edits' keys, Delete, moving, and the measurements found again
on reopening the image and in a new window on the same database."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math
import shutil

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt

from medxai_desktop.core.store import ReviewStore
from medxai_desktop.core.store.measurements import image_measurements
from tests.test_app_review import SHIFT, drag, key, view_point
from tests.test_app_undo import redo, undo
from tests.test_measurements import CT

pytest.importorskip("pytestqt")

SPACING = 0.661468   # CT_small.dcm's PixelSpacing


@pytest.fixture
def study(tmp_path):
    """A folder with CT_small.dcm (HU, PixelSpacing) and MR_small.dcm (another series)."""
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(CT, folder / "ct.dcm")
    shutil.copy(pydicom.data.get_testdata_file("MR_small.dcm", download=False), folder / "mr.dcm")
    return folder


def open_study(qtbot, db, folder, reviewer="Dr Test", image="ct.dcm"):
    """A window on the SQLite file ``db``, activated (its keys work), ``folder`` listed and
    ``image`` shown (None: the first), its boxes and measurements loaded."""
    from medxai_desktop.app.main_window import MainWindow

    window = MainWindow(ReviewStore(f"sqlite:///{db}", cache_dir=db.parent / "maps"), device="cpu",
                        reviewer=reviewer)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.open_path(folder)
    if image is None:
        qtbot.waitUntil(lambda: window.image is not None and window.review.loaded and window.measure.loaded,
                        timeout=20000)
        window.canvas.setFocus()
    else:
        show(qtbot, window, image)
    return window


def show(qtbot, window, name: str) -> None:
    """Open image ``name`` of the study and wait until its boxes and measurements are loaded."""
    qtbot.waitUntil(lambda: any(r.path.name == name for r in window.browser.image_refs()), timeout=20000)
    ref = next(r for r in window.browser.image_refs() if r.path.name == name)
    if window.ref != ref:
        window.open_ref(ref)
    qtbot.waitUntil(lambda: window.ref == ref and window.image is not None and window.review.loaded
                    and window.measure.loaded, timeout=20000)
    window.canvas.setFocus()


def measure_drag(qtbot, window, tool_key, x0, y0, x1, y1, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    key(qtbot, window, tool_key, modifiers)
    drag(window.canvas, view_point(window.canvas, x0, y0), view_point(window.canvas, x1, y1))


def stored(window) -> dict[int, tuple]:
    """measurement id -> (kind, points, state) as the store has it now (removed ones too)."""
    return {r.measurement_id: (r.kind, r.measurement.shape.points, r.state)
            for r in image_measurements(window.store, window.image_id, include_removed=True)}


def in_force(window) -> list:
    return [r for r in image_measurements(window.store, window.image_id)]


def ellipse_hu(x0, y0, x1, y1):
    """Mean, sd, min, max of CT_small's HU over the pixel centres inside the ellipse (numpy)."""
    ds = pydicom.dcmread(CT)
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    rows, cols = np.mgrid[0:hu.shape[0], 0:hu.shape[1]]
    a, b = (x1 - x0) / 2, (y1 - y0) / 2
    inside = hu[((cols + 0.5 - x0 - a) / a) ** 2 + ((rows + 0.5 - y0 - b) / b) ** 2 <= 1]
    return inside.mean(), inside.std(), inside.min(), inside.max()


def test_draw_see_undo_redo_delete_move_and_reopen_measurements(qtbot, tmp_path, study):
    window = open_study(qtbot, tmp_path / "reviews.sqlite3", study)
    panel, editor = window.measure.panel, window.measure.editor
    assert panel.spacing_label.text() == "PixelSpacing 0.6615 x 0.6615 mm"

    measure_drag(qtbot, window, Qt.Key.Key_L, 20, 30, 50, 70)        # L, then drag: 50 px
    [length] = in_force(window)
    assert length.kind == "length" and length.measurement.shape.points == ((20, 30), (50, 70))
    assert length.measurement.length == pytest.approx(50 * SPACING) and length.reviewer == "Dr Test"
    assert panel.rows() == [("1", "length", "33.1 mm", "Dr Test")]
    assert editor.items[length.measurement_id].label.text() == "33.1 mm"   # beside the line

    measure_drag(qtbot, window, Qt.Key.Key_E, 30, 40, 70, 90)        # E, then drag an ellipse ROI
    ellipse = in_force(window)[1].measurement
    assert ellipse.shape.points == ((30, 40), (70, 90)) and ellipse.value_unit == "HU"
    mean, sd, low, high = ellipse_hu(30, 40, 70, 90)
    assert (ellipse.mean, ellipse.sd, ellipse.min, ellipse.max) == pytest.approx((mean, sd, low, high), rel=1e-9)
    assert ellipse.area == pytest.approx(math.pi * 20 * 25 * SPACING ** 2)
    values = f"area {ellipse.area:.1f} mm\u00b2\nmean {mean:.1f} HU  sd {sd:.1f}\nmin {low:.0f}  max {high:.0f}"
    assert panel.rows()[1] == ("2", "ellipse ROI", values, "Dr Test")
    ellipse_id = in_force(window)[1].measurement_id
    assert editor.items[ellipse_id].label.text() == values
    assert window.review.status == "in_review"                      # measuring is reviewing

    undo(qtbot, window)                                              # the ellipse goes
    assert [r.kind for r in in_force(window)] == ["length"] and ellipse_id not in editor.items
    undo(qtbot, window)                                              # then the length
    assert in_force(window) == [] and editor.items == {} and panel.rows() == []
    redo(qtbot, window, 2)                                           # both come back
    assert [r.kind for r in in_force(window)] == ["length", "ellipse"] and len(editor.items) == 2
    assert len(panel.rows()) == 2

    # select the length with a click on it, Delete removes it, Ctrl+Z brings it back
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window.canvas, 35, 50))
    assert editor.selected == length.measurement_id and window.review.editor.selected is None
    key(qtbot, window, Qt.Key.Key_Delete)
    assert [r.kind for r in in_force(window)] == ["ellipse"]
    undo(qtbot, window)
    assert [r.kind for r in in_force(window)] == ["length", "ellipse"]

    # drag the ellipse 10 px right: measured again there; undo puts it (and its values) back
    drag(window.canvas, view_point(window.canvas, 50, 65), view_point(window.canvas, 60, 65))
    moved = in_force(window)[1].measurement
    assert moved.shape.points == ((40, 40), (80, 90)) and moved.mean == pytest.approx(ellipse_hu(40, 40, 80, 90)[0])
    undo(qtbot, window)
    assert in_force(window)[1].measurement == ellipse
    assert not [m for level, m in window.log.entries if level in ("warning", "error")], window.log.entries

    # another image has none; back on the CT they are there again, from the store
    show(qtbot, window, "mr.dcm")
    assert editor.items == {} and panel.rows() == []
    show(qtbot, window, "ct.dcm")
    assert len(editor.items) == 2 and panel.rows()[0] == ("1", "length", "33.1 mm", "Dr Test")
    undo(qtbot, window)            # the image's history is kept: the next undo takes the ellipse
    assert [r.kind for r in in_force(window)] == ["length"]
    redo(qtbot, window)
    assert in_force(window)[1].measurement == ellipse

    # a new window on the same database finds them
    again = open_study(qtbot, tmp_path / "reviews.sqlite3", study, reviewer="Dr Other")
    assert again.measure.panel.rows() == [("1", "length", "33.1 mm", "Dr Test"),
                                          ("2", "ellipse ROI", values, "Dr Test")]
    assert {i.revision.kind for i in again.measure.editor.items.values()} == {"length", "ellipse"}


def test_rectangle_roi_without_spacing_is_in_pixels_and_escape_cancels(qtbot, tmp_path):
    from medxai_desktop.core.resources import sample_study_dir

    folder = tmp_path / "study"
    shutil.copytree(sample_study_dir(), folder)
    window = open_study(qtbot, tmp_path / "reviews.sqlite3", folder, image=None)
    panel = window.measure.panel
    assert "no pixel spacing" in panel.spacing_label.text()
    key(qtbot, window, Qt.Key.Key_R, SHIFT)                          # Shift+R: rectangle ROI
    assert panel.tool_buttons["rectangle"].isChecked()
    key(qtbot, window, Qt.Key.Key_Escape)                            # cancelled: the drag is W/L again
    assert window.measure.editor.armed is None and not panel.tool_buttons["rectangle"].isChecked()
    height, width = window.image.shape
    cx, cy = width // 2, height // 2
    drag(window.canvas, view_point(window.canvas, cx - 40, cy - 30), view_point(window.canvas, cx + 40, cy + 30))
    assert in_force(window) == []
    measure_drag(qtbot, window, Qt.Key.Key_R, cx - 40, cy - 30, cx + 40, cy + 30, SHIFT)
    [roi] = in_force(window)
    (x0, y0), (x1, y1) = roi.measurement.shape.points      # zoomed out: on the half-pixel grid
    assert max(abs(x0 - cx + 40), abs(y0 - cy + 30), abs(x1 - cx - 40), abs(y1 - cy - 30)) <= 1
    assert roi.kind == "rectangle" and roi.measurement.length_unit == "px"
    assert roi.measurement.area == (x1 - x0) * (y1 - y0)
    rows, cols = np.mgrid[0:height, 0:width]
    inside = window.image.pixels[(cols + 0.5 >= x0) & (cols + 0.5 <= x1) & (rows + 0.5 >= y0) & (rows + 0.5 <= y1)]
    assert inside.size == roi.measurement.pixels and inside.std() > 0
    assert roi.measurement.mean == pytest.approx(float(inside.astype(np.float64).mean()), rel=1e-9)
    assert panel.rows()[0][2].startswith(f"area {roi.measurement.summary().split()[1]} px\u00b2\nmean ")
    length_key = window.shortcuts.key("measure.length")
    assert length_key == "L" and "measure.ellipse" in window.shortcuts.keys()


def test_another_reviewers_change_refuses_the_undo_and_keeps_it_on_the_stack(qtbot, tmp_path, study):
    from medxai_desktop.core.measurements import LENGTH, Shape, measure
    from medxai_desktop.core.store.measurements import edit_measurement, undo_measurement

    db = tmp_path / "reviews.sqlite3"
    window = open_study(qtbot, db, study)
    measure_drag(qtbot, window, Qt.Key.Key_L, 20, 30, 50, 70)
    [mine] = in_force(window)
    other = ReviewStore(f"sqlite:///{db}", cache_dir=tmp_path / "maps")
    edit_measurement(other, mine.measurement_id, measure(window.image, Shape(LENGTH, ((20, 30), (20, 70)))),
                     "Dr Other", 1)
    stack = window.review.undo_stack
    undo(qtbot, window)                       # my drawing is under their change: refused, kept
    assert stack.index() == 1 and stack.count() == 1
    assert [level for level, m in window.log.entries if "not undone" in m] == ["warning"]
    qtbot.waitUntil(lambda: window.measure.panel.rows() == [("1", "length", f"{40 * SPACING:.1f} mm", "Dr Other")])
    undo_measurement(other, mine.measurement_id, "Dr Other", target_revision=2)
    undo(qtbot, window)                       # theirs undone: mine can be, and is
    assert in_force(window) == [] and stack.index() == 0
    redo(qtbot, window)
    assert in_force(window)[0].measurement.shape.points == ((20, 30), (50, 70))
    other.close()
