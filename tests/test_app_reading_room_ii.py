"""Issue 26, the reading room on a laptop (pytest-qt, offscreen, real widgets): every dock tab
reachable at 1280x800 and 1366x768 (defect 1), corner text that stays in the viewport's corners
and reads on bright images (defect 2), show keys that show and raise (defect 3), the neutral
label under a domain warning (defect 4), folder dialogs that remember (defect 5) and the ROAD
report's question, estimate and Cancel (defect 6)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QRect, Qt  # noqa: E402
from PySide6.QtGui import QImage, QScreen  # noqa: E402
from PySide6.QtWidgets import QTabBar  # noqa: E402

from medxai_desktop.core.resources import sample_study_dir  # noqa: E402
from tests.app_helpers import make_window  # noqa: E402
from tests.helpers import load_demo_model, pydicom_file  # noqa: E402

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def demo_model():
    return load_demo_model()


# -- defect 1: every panel reachable on a laptop screen -------------------------------------------

def _dock_tab_bars(window) -> list[QTabBar]:
    return [bar for bar in window.findChildren(QTabBar) if bar.parent() is window and bar.isVisible()]


def _assert_no_bar_over_a_dock(window) -> None:
    docks = [d for d in window.findChildren(type(window.panel_dock)) if d.isVisible()]
    for bar in _dock_tab_bars(window):                    # a stale tab bar showing over a dock's title
        assert not any(d.geometry().intersects(bar.geometry()) for d in docks), [bar.tabText(0), bar.geometry()]


@pytest.mark.parametrize("screen", [(1280, 800), (1366, 768)])
def test_every_dock_tab_is_reachable_on_a_laptop_screen(qtbot, tmp_path, demo_model, monkeypatch, screen):
    from medxai_desktop.app.dock_layout import fit_to_screen

    width, height = screen
    available = QRect(0, 0, width, height - 40)          # a task bar at the bottom
    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(available))
    window = make_window(qtbot, tmp_path, sample_study_dir(), model=demo_model)
    fit_to_screen(window)
    qtbot.waitUntil(lambda: window.prediction is not None, timeout=60000)
    window.panel.set_checked_methods(["gradcam", "gradcam++", "xgradcam"])
    window.panel.run_button.click()
    qtbot.waitUntil(lambda: len(window.explanations) == 3, timeout=120000)
    qtbot.waitUntil(lambda: window.panel.run_button.isEnabled(), timeout=10000)
    qtbot.wait(100)
    # the window fits the screen, and nothing inside asks for more (it would grow past it)
    assert window.minimumSizeHint().height() <= available.height()
    assert window.minimumSizeHint().width() <= available.width()
    assert available.contains(window.frameGeometry()), (window.frameGeometry(), available)
    bars = _dock_tab_bars(window)
    _assert_no_bar_over_a_dock(window)
    titles = [bar.tabText(i) for bar in bars for i in range(bar.count())]
    assert {"Explanations", "DICOM tags", "CrossEAI boxes", "Review"} <= set(titles)
    for bar in bars:
        for i in range(bar.count()):
            centre = bar.mapTo(window, bar.tabRect(i).center())
            assert window.rect().contains(centre), f"tab {bar.tabText(i)} is outside the window"
            hit = window.childAt(centre)
            assert hit is bar, f"tab {bar.tabText(i)} is covered by {hit!r}"
            qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())
            qtbot.wait(20)
            assert bar.currentIndex() == i
            dock = next(d for d in window.findChildren(type(window.panel_dock))
                        if d.windowTitle() == bar.tabText(i))
            inside = dock.widget().mapTo(window, dock.widget().rect().center())
            qtbot.waitUntil(lambda: dock.isAncestorOf(window.childAt(inside)), timeout=2000)
            assert window.rect().contains(dock.geometry()), f"{bar.tabText(i)} leaves the window"


# -- defect 2: corner text belongs to the viewport and reads on bright images ---------------------

def _corner_rects(canvas) -> dict:
    """Each corner label's rectangle in viewport coordinates."""
    viewport = canvas.viewport()
    return {corner: QRect(viewport.mapFrom(label.parentWidget(), label.geometry().topLeft()), label.size())
            for corner, label in canvas.corners.labels.items()}


def _assert_in_corners(canvas) -> None:
    from medxai_desktop.app.corner_overlay import MARGIN

    width, height = canvas.viewport().width(), canvas.viewport().height()
    rects = _corner_rects(canvas)
    assert rects["top_left"].topLeft() == QPoint(MARGIN, MARGIN), rects["top_left"]
    assert rects["top_right"].top() == MARGIN and rects["top_right"].right() == width - 1 - MARGIN
    assert rects["bottom_left"].left() == MARGIN and rects["bottom_left"].bottom() == height - 1 - MARGIN


def test_corner_text_stays_in_the_viewport_corners_after_zoom_and_pan(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, pydicom_file("RG1_UNCR.dcm"))     # a CR
    canvas = window.canvas
    _assert_in_corners(canvas)
    canvas.zoom_by(3)
    qtbot.wait(50)
    for bar, step in ((canvas.horizontalScrollBar(), 200), (canvas.verticalScrollBar(), 150)):
        assert bar.maximum() > 0
        bar.setValue(bar.value() + step)                # a pan, as the middle button does it
        qtbot.wait(20)
    _assert_in_corners(canvas)
    canvas.zoom_by(1 / 2)
    qtbot.wait(20)
    _assert_in_corners(canvas)


def _label_pixels(canvas, corner: str):
    import numpy as np

    label = canvas.corners.labels[corner]
    image = canvas.grab(label.geometry()).toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    bits = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return bits[:, :image.width()].astype(int)


def test_corner_text_is_outlined_so_it_reads_on_a_white_image(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, pydicom_file("CT_small.dcm"))
    canvas = window.canvas
    canvas.zoom_by(4)                                     # the image fills the viewport
    canvas.set_window(100000, 10)                         # every pixel below the window: black
    qtbot.wait(20)
    letters = _label_pixels(canvas, "top_left") > 40      # the letters (and their soft edges) on black
    canvas.set_window(-100000, 10)                        # every pixel above the window: white
    qtbot.wait(20)
    on_white = _label_pixels(canvas, "top_left")
    assert letters.sum() > 50
    # the ring of pixels around each letter (left, right, above, below) is dark on a white image
    grown = letters.copy()
    grown[1:, :] |= letters[:-1, :]
    grown[:-1, :] |= letters[1:, :]
    grown[:, 1:] |= letters[:, :-1]
    grown[:, :-1] |= letters[:, 1:]
    ring = grown & ~letters
    dark = (on_white[ring] < 100).mean()
    assert dark > 0.9, f"only {dark:.0%} of the letters' edges are dark on a white image"


# -- defect 3: a show key shows and raises --------------------------------------------------------

def _in_front(window, dock) -> bool:
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def test_ctrl_t_shows_and_raises_the_tags_behind_another_tab(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, pydicom_file("CT_small.dcm"))
    tags = window.tags_dock
    window.panel_dock.raise_()                            # the tags tab is behind Explanations
    qtbot.waitUntil(lambda: not _in_front(window, tags), timeout=2000)

    def ctrl_t():
        window.canvas.setFocus()
        qtbot.keyClick(window.canvas, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
        qtbot.wait(20)

    ctrl_t()
    assert not tags.isHidden()
    qtbot.waitUntil(lambda: _in_front(window, tags), timeout=2000)
    qtbot.waitUntil(lambda: window.tags.image is window.image, timeout=5000)    # filled, not just a tab
    ctrl_t()                                              # in front: the key puts it away
    assert tags.isHidden()
    ctrl_t()                                              # hidden: shown again, in front
    qtbot.waitUntil(lambda: _in_front(window, tags), timeout=2000)
    window.crosseai_dock.raise_()                         # behind another tab again: raised, not hidden
    qtbot.waitUntil(lambda: not _in_front(window, tags), timeout=2000)
    ctrl_t()
    qtbot.waitUntil(lambda: _in_front(window, tags), timeout=2000)


# -- defect 4: out of the card's domain, a new box gets the neutral label --------------------------

def test_a_box_drawn_under_a_domain_warning_gets_the_neutral_label(qtbot, tmp_path, demo_model):
    from medxai_desktop.core.review.session import HIDDEN_DEFAULT_LABEL
    from tests.test_app_review import drag, stored, view_point

    window = make_window(qtbot, tmp_path, pydicom_file("CT_small.dcm"), model=demo_model)  # CT, MR model
    panel = window.panel
    qtbot.waitUntil(lambda: window.prediction is not None and panel.domain_label.isVisible(), timeout=60000)
    qtbot.waitUntil(lambda: window.review.loaded, timeout=20000)
    assert not window.session.ai_hidden()
    predicted = window.prediction.class_name
    placeholder = window.review.panel.label_combo.lineEdit().placeholderText()
    assert placeholder == f"label (new boxes: {HIDDEN_DEFAULT_LABEL})", placeholder
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    canvas = window.canvas
    drag(canvas, view_point(canvas, 30, 30), view_point(canvas, 90, 80))
    ((_, (_, label, state, _, origin)),) = stored(window).items()
    assert (label, origin) == (HIDDEN_DEFAULT_LABEL, "drawn") and label != predicted
    # the warning is shown whole, above the probability rows, not over them
    qtbot.wait(50)
    warning = panel.domain_label
    assert warning.height() >= warning.heightForWidth(warning.width())
    rows = [panel.prediction_layout.itemAt(i).widget() for i in range(panel.prediction_layout.count())]
    top_row = min(w.mapTo(panel, QPoint(0, 0)).y() for w in rows if w is not None)
    assert warning.mapTo(panel, QPoint(0, warning.height())).y() <= top_row


# -- defect 5: folder dialogs start in the last folder used, else the user's documents ------------

def test_report_learn_and_compare_folder_dialogs_remember_the_last_folder(qtbot, tmp_path, monkeypatch):
    from pathlib import Path

    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QFileDialog

    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    monkeypatch.chdir(tmp_path)                           # the working directory: never offered
    window = make_window(qtbot, tmp_path, sample_study_dir())
    asked: list[tuple[str, str]] = []
    answers: list[str] = []

    def get_existing_directory(parent, caption="", directory="", *args, **kwargs):
        asked.append((caption, directory))
        return answers.pop(0) if answers else ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(get_existing_directory))
    started: list[tuple[str, Path]] = []
    monkeypatch.setattr(window.reports, "localisation_report", lambda out, target=None: started.append(("loc", out)))
    monkeypatch.setattr(window.reports, "version_comparison", lambda out: started.append(("compare", out)))
    monkeypatch.setattr(window.learner, "learn", lambda data, **_: started.append(("learn", data)))
    dialogs = {"report": window.reports.choose_localisation_report,
               "compare": window.reports.choose_version_comparison, "learn": window.learner.choose_data}
    for name, open_dialog in dialogs.items():
        open_dialog()                                     # nothing chosen yet: the user's documents
        start = asked[-1][1]
        assert start and Path(start).resolve() != Path.cwd().resolve(), (name, start)
        assert Path(start) == Path(documents) or not Path(documents).is_dir(), (name, start)
        chosen = tmp_path / f"{name} folder"
        chosen.mkdir()
        answers.append(str(chosen))
        open_dialog()
        assert Path(started[-1][1]) == chosen
        open_dialog()                                     # cancelled, but it starts where the last one went
        assert Path(asked[-1][1]) == chosen, (name, asked[-1])
    assert [kind for kind, _ in started] == ["loc", "compare", "learn"]


# -- defect 6: the ROAD report's question, estimate and Cancel ------------------------------------

def test_road_report_defaults_to_yes_times_an_image_and_can_be_cancelled(qtbot, tmp_path, demo_model, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QPushButton

    window = make_window(qtbot, tmp_path, sample_study_dir(), model=demo_model)
    out = tmp_path / "road"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    asked: list[tuple[str, object]] = []

    def question(parent, title, text, buttons=None, default=None):
        asked.append((text, default))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    window.reports.choose_road_report()
    qtbot.waitUntil(lambda: bool(asked), timeout=120000)
    text, default = asked[0]
    assert default == QMessageBox.StandardButton.Yes          # Enter starts the run the user asked for
    assert "forward passes per image" in text and "the first image took" in text, text
    assert len(list((out / "images").glob("*/road.json"))) == 1   # the measured image, kept for the run
    # the run shows its progress in a dialog with Cancel
    qtbot.waitUntil(lambda: window.reports.progress is not None and window.reports.progress.isVisible(),
                    timeout=10000)
    dialog = window.reports.progress
    assert isinstance(dialog, QProgressDialog) and dialog.windowModality() == Qt.WindowModality.NonModal
    cancel = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any("ROAD report: cancelled" in m for _, m in window.log.entries), timeout=120000)
    assert not (out / "report.html").exists()


# -- defect 9: the smaller ones ----------------------------------------------------------------------

def test_the_ellipse_tool_says_an_ellipse_roi(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, pydicom_file("CT_small.dcm"))
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_E)
    message = window.statusBar().currentMessage()
    assert message.startswith("drag on the image to measure an ellipse ROI ("), message
    assert window.measure.panel.tool_buttons["ellipse"].toolTip() == "Drag on the image to measure an ellipse ROI"
    assert window.measure.panel.tool_buttons["length"].toolTip() == "Drag on the image to measure a length"


def test_grid_headers_show_each_method_name_whole_on_a_laptop(qtbot):
    import numpy as np
    from PySide6.QtGui import QPixmap

    from medxai_desktop.app.comparison_grid import ComparisonGrid

    grid = ComparisonGrid()
    qtbot.addWidget(grid)
    grid.resize(500, 520)                 # the central area at 1280x800 with both docks: 2 x 3 cells
    pixmap = QPixmap(256, 256)
    pixmap.fill(Qt.GlobalColor.gray)
    grid.set_image(pixmap)
    names = ["Grad-CAM", "Grad-CAM++", "XGrad-CAM", "EigenGrad-CAM", "LayerCAM"]
    rng = np.random.default_rng(0)
    grid.set_maps([(name.lower(), f"{name} - meningioma", rng.random((7, 7), dtype=np.float32)) for name in names])
    grid.set_scores({name.lower(): "ROAD +0.123" for name in names})
    grid.show()
    qtbot.waitExposed(grid)
    qtbot.wait(20)
    for name, cell in zip(names, grid.cells.values()):
        label = cell.title_label
        assert label.text() == f"<b>{name}</b>", label.text()
        assert cell.score_label.text() == "ROAD +0.123"
        assert cell.score_label.geometry().intersected(label.geometry()).isEmpty()


@pytest.mark.parametrize("path, offered", [("jpeg", False), ("CT_small.dcm", True)])
def test_the_export_dialog_offers_dicom_sr_only_for_a_store_with_dicom_images(qtbot, tmp_path, path, offered):
    from medxai_desktop.app.export_dialog import ExportDialog

    window = make_window(qtbot, tmp_path, sample_study_dir() if path == "jpeg" else pydicom_file(path))
    qtbot.waitUntil(lambda: window.image_id is not None, timeout=10000)
    dialog = ExportDialog(window, default_dir=tmp_path, store=window.store, jobs=window.jobs)
    qtbot.addWidget(dialog)
    dialog.set_format("dicom-sr")                      # chosen before the count came back
    qtbot.waitUntil(lambda: dialog.scope is not None, timeout=10000)
    index = dialog.format_combo.findData("dicom-sr")
    assert dialog.format_combo.model().item(index).isEnabled() is offered
    assert (dialog.fmt() == "dicom-sr") is offered
    if not offered:
        assert "no image in this store is DICOM" in dialog.note.text()


def test_a_deleted_own_box_leaves_the_list_and_signing_off_again_clears_the_banner(qtbot, tmp_path):
    from tests.test_app_review import CTRL, drag, key, open_window, view_point

    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    review, canvas = window.review, window.canvas
    key(qtbot, window, Qt.Key.Key_B)                      # no model: the box is a "finding"
    drag(canvas, view_point(canvas, 30, 40), view_point(canvas, 90, 100))
    key(qtbot, window, Qt.Key.Key_A)
    accepted = [("finding", "human", "accepted", "-")]
    assert review.panel.rows() == accepted
    key(qtbot, window, Qt.Key.Key_Delete)                 # deleted: gone from the image and the list
    assert review.panel.rows() == []
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert review.panel.rows() == accepted

    banner = review.panel.message_label
    review.panel.sign_off_button.click()
    assert review.status == "signed_off"
    review.editor.select(next(iter(review.editor.items)))
    review.panel.label_combo.setFocus()
    review.panel.label_combo.setCurrentText("oedema")     # relabelled after sign-off: back in review
    qtbot.keyClick(review.panel.label_combo.lineEdit(), Qt.Key.Key_Return)
    assert review.status == "in_review"
    assert banner.isVisible() and "edited after sign-off" in banner.text()
    review.panel.sign_off_button.click()                  # signed off again: the banner is stale
    assert review.status == "signed_off"
    assert not banner.isVisible()


def test_undoing_every_step_makes_the_image_unread_again(qtbot, tmp_path):
    from tests.test_app_review import CTRL, drag, key, open_window, view_point

    window = open_window(qtbot, tmp_path / "reviews.sqlite3")
    review, canvas = window.review, window.canvas
    assert review.status in (None, "unread")
    key(qtbot, window, Qt.Key.Key_B)
    drag(canvas, view_point(canvas, 30, 40), view_point(canvas, 90, 100))
    key(qtbot, window, Qt.Key.Key_A)
    assert review.status == "in_review"
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert review.status == "in_review"                    # the box is still there
    key(qtbot, window, Qt.Key.Key_Z, CTRL)
    assert review.panel.rows() == []
    assert review.status == "unread" and window.store.status(window.image_id).status == "unread"
    qtbot.waitUntil(lambda: window.browser.status_of(window.ref) == "unread", timeout=5000)
    key(qtbot, window, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)   # redo: in review again
    assert review.status == "in_review"


# -- defect 8: PACS ------------------------------------------------------------------------------

def test_a_pacs_retrieve_adds_its_study_to_the_list_with_short_names(qtbot, tmp_path):
    import pydicom
    from pydicom.uid import generate_uid

    from medxai_desktop.core.pacs.retrieve import RetrieveResult

    window = make_window(qtbot, tmp_path, sample_study_dir())
    listed = [ref.path for ref in window.browser.image_refs()]
    # a retrieved study in the PACS cache: files named by SOP Instance UID, as retrieve writes them
    cache = tmp_path / "cache" / "study"
    cache.mkdir(parents=True)
    ct = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ct.StudyInstanceUID = generate_uid()
    uids = []
    for number in (1, 2):
        ct.SOPInstanceUID, ct.InstanceNumber = generate_uid(), number
        ct.file_meta.MediaStorageSOPInstanceUID = ct.SOPInstanceUID
        ct.save_as(cache / f"{ct.SOPInstanceUID}.dcm")
        uids.append(ct.SOPInstanceUID)
    result = RetrieveResult("orthanc", ct.StudyInstanceUID, None, cache, tuple(uids), 0, 0.1)
    width = window.browser_dock.width()
    window.pacs._retrieved(result)
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == len(listed) + 2, timeout=15000)
    paths = [ref.path for ref in window.browser.image_refs()]
    assert set(listed) <= set(paths)                                  # what was listed stays listed
    qtbot.waitUntil(lambda: window.ref is not None and window.ref.path.parent == cache, timeout=15000)
    texts = [item.text(0) for item in window.browser._image_items if item.data(0, 0x100).path.parent == cache]
    assert sorted(texts) == ["Image 1", "Image 2"], texts
    assert window.browser_dock.width() == width


def test_the_sr_of_a_signed_off_image_is_verified_by_its_reviewer(qtbot, tmp_path):
    import pydicom

    from medxai_desktop.app.export_dialog import ExportRequest
    from tests.test_app_review import drag, view_point

    window = make_window(qtbot, tmp_path, pydicom_file("CT_small.dcm"))
    qtbot.waitUntil(lambda: window.review.loaded, timeout=20000)
    canvas = window.canvas
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    drag(canvas, view_point(canvas, 30, 30), view_point(canvas, 90, 80))
    window.review.panel.sign_off_button.click()
    signed = window.store.status(window.image_id)
    assert signed.status == "signed_off"
    out = tmp_path / "sr"
    handle = window.export(ExportRequest("dicom-sr", "reviewed", out))
    qtbot.waitUntil(lambda: handle.done, timeout=30000)
    (path,) = out.glob("*.dcm")
    sr = pydicom.dcmread(path)
    assert sr.VerificationFlag == "VERIFIED"
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == window.reviewer
    assert sr.VerificationDateTime.startswith(signed.updated_at.strftime("%Y%m%d%H%M"))
