"""The app's Export > Boxes with the real dialog (pytest-qt, offscreen): a reference export is
signed-off images only, and the dialog says what it includes, with counts (issue 15, defect 3)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from tests.test_app_review import CTRL, drag, key, open_window, stored, view_point, wait_review

pytest.importorskip("pytestqt")


def _draw(qtbot, window, x0, y0, x1, y1) -> None:
    key(qtbot, window, Qt.Key.Key_B)
    drag(window.canvas, view_point(window.canvas, x0, y0), view_point(window.canvas, x1, y1))


def _open(qtbot, window, index: int) -> None:
    window.browser.select_index(index)
    wait_review(qtbot, window, index)


def test_reference_export_is_signed_off_work_and_the_dialog_says_so(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    refs = window.browser.image_refs()
    _draw(qtbot, window, 30, 40, 90, 100)        # image 0: a box, still in review
    assert window.review.status == "in_review"
    _open(qtbot, window, 1)                       # image 1: a box, signed off
    _draw(qtbot, window, 40, 50, 100, 120)
    (signed_box,) = [v[0] for v in stored(window).values()]
    window.review.panel.sign_off_button.click()
    _open(qtbot, window, 2)                       # image 2: nothing found, signed off: a negative
    window.review.panel.sign_off_button.click()
    _open(qtbot, window, 3)                       # image 3: only looked at
    assert [window.browser.status_of(r) for r in refs] == ["in_review", "signed_off", "signed_off", "unread"]

    out = tmp_path / "reference.json"
    seen = {}

    def fill_in_and_export() -> None:
        dialog = QApplication.activeModalWidget()
        try:
            fill_in(dialog)
        finally:   # whatever failed, the modal dialog closes (the assertions below then fail)
            if dialog.isVisible():
                dialog.reject()

    def fill_in(dialog) -> None:
        dialog.set_format("coco")
        dialog.set_which("reviewed")
        assert dialog.which_combo.currentText() == "Reference (signed-off images)"
        qtbot.waitUntil(lambda: dialog.scope is not None, timeout=10000)
        seen["reviewed"] = dialog.scope_label.text()
        dialog.set_which("proposals")
        seen["proposals"] = dialog.scope_label.text()
        dialog.set_which("reviewed")
        dialog.out_edit.setText(str(out))
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(0, fill_in_and_export)
    key(qtbot, window, Qt.Key.Key_E, CTRL)        # Export > Boxes
    assert out.parent.exists() and "reviewed" in seen, "the dialog did not show what it includes"
    assert seen["reviewed"] == ("2 signed-off images (1 without boxes): 1 reviewed box; "
                                "not included: 1 image in review, 1 image not reviewed")
    assert seen["proposals"] == "0 AI proposals on all 4 images (an image without proposals is not a negative)"

    qtbot.waitUntil(lambda: out.exists() and any("wrote reviewed boxes" in m for _, m in window.log.entries)
                    or bool(window.log.errors()), timeout=20000)
    assert window.log.errors() == []
    coco = json.loads(out.read_text())
    assert sorted(os.path.basename(i["file_name"]) for i in coco["images"]) == sorted(
        refs[i].path.name for i in (1, 2))
    assert [a["bbox"] for a in coco["annotations"]] == [
        [signed_box.x0, signed_box.y0, signed_box.width, signed_box.height]]
    message = next(m for _, m in window.log.entries if "wrote reviewed boxes" in m)
    assert "included: 2 signed-off images (1 without boxes)" in message and "1 image in review" in message
