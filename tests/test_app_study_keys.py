"""The keyboard in the reading room with the real widgets (pytest-qt, offscreen), every key
sent to the widget that has the focus, as a reader's keyboard would: the study list's
navigation keys go on from image to image across studies and series, and the label field
types what is typed, gives the keys back to the image on Enter and starts empty on each
image (issue 15 defect 4)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from medxai_desktop.core.resources import sample_study_dir
from tests.test_app_review import drag, open_window, stored, view_point

pytest.importorskip("pytestqt")
pydicom_data = pytest.importorskip("pydicom.data")


def press(qtbot, k) -> None:
    """One key at the widget with the keyboard focus."""
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, k)


def wait_open(qtbot, window, index) -> None:
    """Until the browser's image ``index`` is shown and its review loaded (the focus untouched)."""
    qtbot.waitUntil(lambda: window.image is not None and window.browser.current_index() == index
                    and window.ref == window.browser.image_refs()[index] and window.review.loaded,
                    timeout=20000)


def listing(qtbot, tmp_path):
    """A window listing three studies (the sample study's four images, a CT and an MR)."""
    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    paths = [sample_study_dir(), pydicom_data.get_testdata_file("CT_small.dcm"),
             pydicom_data.get_testdata_file("MR_small.dcm")]
    window.open_paths(paths)
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == 6, timeout=20000)
    wait_open(qtbot, window, 0)
    return window


def test_navigation_keys_in_the_study_list_go_on_image_after_image(qtbot, tmp_path):
    window = listing(qtbot, tmp_path)
    browser, refs = window.browser, window.browser.image_refs()
    assert browser.topLevelItemCount() == 3          # study rows lie between the images
    browser.setFocus()
    for index in range(1, 6):                        # across the series and studies
        press(qtbot, Qt.Key.Key_Down)
        wait_open(qtbot, window, index)
        assert window.ref == refs[index] and QApplication.focusWidget() is browser
    press(qtbot, Qt.Key.Key_Down)                    # the last image: nothing below it
    assert browser.current_index() == 5
    press(qtbot, Qt.Key.Key_Home)
    wait_open(qtbot, window, 0)
    press(qtbot, Qt.Key.Key_Up)
    assert browser.current_index() == 0
    press(qtbot, Qt.Key.Key_End)
    wait_open(qtbot, window, 5)
    press(qtbot, Qt.Key.Key_Up)
    wait_open(qtbot, window, 4)
    press(qtbot, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: browser.current_index() < 4 and window.ref == refs[browser.current_index()]
                    and window.review.loaded, timeout=20000)
    press(qtbot, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: browser.current_index() > 0 and window.ref == refs[browser.current_index()]
                    and window.review.loaded, timeout=20000)
    assert QApplication.focusWidget() is browser and window.log.errors() == []


def test_the_label_field_types_gives_the_keys_back_on_enter_and_starts_empty_per_image(qtbot, tmp_path):
    window = listing(qtbot, tmp_path)
    review, canvas, first = window.review, window.canvas, window.ref
    combo = review.panel.label_combo
    assert review.panel.current_label() == ""
    window_text, inverted = window.window_label.text(), canvas.inverted

    # single-key shortcuts (N next unread, B draw, A/R, 1 preset, I invert, F fit) do not fire
    # in the field: they are text there
    combo.lineEdit().setFocus()
    for k in "nbar 1if0":
        press(qtbot, Qt.Key.Key_Space if k == " " else getattr(Qt.Key, f"Key_{k.upper()}"))
    assert combo.currentText() == "nbar 1if0"
    assert window.ref == first and not review.editor.draw_armed
    assert window.window_label.text() == window_text and canvas.inverted == inverted

    # Enter: the label is the next box's, and the keys go back to the image: B draws
    press(qtbot, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is canvas
    press(qtbot, Qt.Key.Key_B)
    assert review.editor.draw_armed
    drag(canvas, view_point(canvas, 30, 40), view_point(canvas, 90, 100))
    ((_, (_, label, *_)),) = stored(window).items()
    assert label == "nbar 1if0" and combo.currentText() == "nbar 1if0"

    # the next image starts from the default label again, not the last one's
    window.browser.setFocus()
    press(qtbot, Qt.Key.Key_Down)
    wait_open(qtbot, window, 1)
    assert review.panel.current_label() == "" and "finding" in combo.lineEdit().placeholderText()
    press(qtbot, Qt.Key.Key_B)                       # the study list has the keys: B still draws
    assert review.editor.draw_armed
    drag(canvas, view_point(canvas, 30, 40), view_point(canvas, 90, 100))
    ((_, (_, label, *_)),) = stored(window).items()
    assert label == "finding"
