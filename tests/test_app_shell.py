"""The desktop app's shell: settings and layout that persist, the reviewer name, recent paths,
drag and drop, configurable shortcuts with conflicts, the comparison grid's linked zoom/pan, the
DICOM tag browser, export of the store's boxes, error notices and frame stepping with the
wheel (pytest-qt, offscreen, real widgets)."""
from __future__ import annotations

import getpass
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication

from medxai_desktop.core.resources import sample_study_dir
from tests.app_helpers import CLASSES, send_mouse
from tests.helpers import pydicom_file

# before any QApplication exists (app_helpers does the same)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("pytestqt")
pydicom_data = pytest.importorskip("pydicom.data")


@pytest.fixture
def settings_file(tmp_path):
    return tmp_path / "settings.ini"


def shell_window(qtbot, settings_file, **kwargs):
    """A bare main window (no store, no study) on an INI settings file."""
    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.app.settings import AppSettings

    window = MainWindow(None, device="cpu", settings=AppSettings.at(settings_file), **kwargs)
    qtbot.addWidget(window)
    return window


def wheel(widget, delta: int, modifiers=Qt.KeyboardModifier.NoModifier, pos=None):
    pos = QPointF(pos if pos is not None else widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


# -- settings, reviewer, recent ----------------------------------------------------------------

def test_layout_overlay_style_and_methods_persist_across_two_windows(qtbot, settings_file):
    first = shell_window(qtbot, settings_file, reviewer="Dr Ada")
    qtbot.waitUntil(lambda: bool(first.panel.method_boxes), timeout=30000)   # the panel at its full size
    # the offscreen screen is 800x800 and the window at least ~975x727: restoring clamps the
    # width to the minimum, so the height is what shows the geometry came back
    first.resize(first.minimumSizeHint().width() + 20, 745)   # above any minimum, within the 800 px screen
    first.show()
    qtbot.waitExposed(first)
    first.log_dock.hide()
    first.panel.set_overlay_style("inferno", 0.7, 0.3)
    first.panel.set_checked_methods(["scorecam", "gradcam"])
    assert first.reviewer == "Dr Ada"
    saved_height = first.height()
    first.close()
    assert settings_file.exists()

    second = shell_window(qtbot, settings_file)
    assert second.panel.overlay_style() == ("inferno", 0.7, 0.3)
    assert (second.canvas.colormap, second.canvas.opacity, second.canvas.threshold) == ("inferno", 0.7, 0.3)
    qtbot.waitUntil(lambda: bool(second.panel.method_boxes), timeout=30000)   # listed once torch is loaded
    assert second.panel.checked_methods() == ["gradcam"]   # Score-CAM (slow) is checked for one run only
    second.show()
    qtbot.waitExposed(second)
    assert second.height() == saved_height != second.minimumSizeHint().height()
    assert second.log_dock.isHidden() and not second.browser_dock.isHidden()
    # a window without settings reads nothing saved and falls back to the OS user
    from medxai_desktop.app.main_window import MainWindow
    fresh = MainWindow(None, device="cpu")
    qtbot.addWidget(fresh)
    assert fresh.panel.overlay_style() == ("jet", 0.45, 0.0)
    assert fresh.reviewer == getpass.getuser()


def test_reviewer_from_option_settings_or_one_question(settings_file):
    from medxai_desktop.app.main import build_parser, resolve_reviewer
    from medxai_desktop.app.settings import AppSettings

    asked = []

    def ask(suggestion):
        asked.append(suggestion)
        return "  Dr Grace  "

    settings = AppSettings.at(settings_file)
    args = build_parser().parse_args(["--reviewer", "Dr Ada", "--db", "sqlite:///x.db"])
    assert args.db == "sqlite:///x.db"
    assert resolve_reviewer(args, settings, ask) == "Dr Ada" and asked == []
    assert AppSettings.at(settings_file).reviewer == "Dr Ada"
    assert resolve_reviewer(build_parser().parse_args([]), AppSettings.at(settings_file), ask) == "Dr Ada"
    assert asked == []                                   # already set: not asked

    other = AppSettings.at(settings_file.with_name("other.ini"))
    assert resolve_reviewer(build_parser().parse_args([]), other, ask) == "Dr Grace"
    assert asked == [getpass.getuser()] and other.reviewer == "Dr Grace"
    cancelled = AppSettings.at(settings_file.with_name("third.ini"))
    assert resolve_reviewer(build_parser().parse_args([]), cancelled, lambda s: None) == getpass.getuser()
    assert cancelled.reviewer == ""                      # asked again next start


def test_recent_list_is_capped_deduplicated_persisted_and_opens(qtbot, tmp_path, settings_file):
    from medxai_desktop.app.settings import MAX_RECENT, AppSettings

    window = shell_window(qtbot, settings_file)
    for i in range(MAX_RECENT + 2):
        window.settings.add_recent(tmp_path / f"folder{i}")
    window.settings.add_recent(tmp_path / "folder5")     # again: moves to the top, once
    recent = AppSettings.at(settings_file).recent()
    assert len(recent) == MAX_RECENT
    assert recent[0] == str(tmp_path / "folder5") and recent.count(str(tmp_path / "folder5")) == 1
    assert str(tmp_path / "folder0") not in recent

    window.open_path(sample_study_dir())
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == 4, timeout=10000)
    window.fill_recent_menu()
    entries = [a for a in window.recent_menu.actions() if a.data()]
    assert [a.data() for a in entries] == AppSettings.at(settings_file).recent()
    assert entries[0].data() == str(sample_study_dir().absolute())

    single = min(sample_study_dir().glob("*.jpg"))
    window.open_path(single)
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == 1, timeout=10000)
    window.fill_recent_menu()
    folder_action = next(a for a in window.recent_menu.actions() if a.data() == str(sample_study_dir().absolute()))
    folder_action.trigger()
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == 4, timeout=10000)


# -- drag and drop -----------------------------------------------------------------------------

def drop(target, paths):
    mime = QMimeData()
    mime.setUrls([p if isinstance(p, QUrl) else QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(target.rect().center())
    enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)
    return event.isAccepted()


def test_dropping_folders_and_files_opens_them(qtbot, settings_file):
    window = shell_window(qtbot, settings_file)
    window.show()
    assert not drop(window, [QUrl("https://example.org/x.dcm")])    # not a local file
    # dropped on the image area: the canvas does not take it, the window does
    assert drop(window.canvas.viewport(), [sample_study_dir()])
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == 4 and window.image is not None, timeout=10000)
    assert window.settings.recent()[0] == str(sample_study_dir().absolute())

    two = sorted(sample_study_dir().glob("*.jpg"))[:2]
    ct = pydicom_file("CT_small.dcm")
    assert drop(window, [*two, ct])
    qtbot.waitUntil(lambda: len(window.browser.image_refs()) == 3, timeout=10000)
    assert sorted(r.path.name for r in window.browser.image_refs()) == sorted([p.name for p in two] + [ct.name])


# -- shortcuts ---------------------------------------------------------------------------------

def test_help_dialog_lists_every_shortcut_and_edits_them_with_conflicts(qtbot, tmp_path, settings_file):
    from medxai_desktop.app.settings import AppSettings
    from medxai_desktop.app.shortcuts import MOUSE, SHORTCUTS, ShortcutsDialog

    window = make_window_with_settings(qtbot, tmp_path, settings_file)
    seen = {}

    def read_and_close():
        dialog = QApplication.activeModalWidget()
        seen["rows"] = [dialog.tree.topLevelItem(i).child(j).text(0) for i in range(dialog.tree.topLevelItemCount())
                        for j in range(dialog.tree.topLevelItem(i).childCount())]
        seen["keys"] = {i: dialog.items[i].text(1) for i in ("review.accept", "review.undo")}
        dialog.reject()

    QTimer.singleShot(0, read_and_close)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)                     # Help > Keyboard shortcuts
    assert set(seen["rows"]) >= {e.description for e in SHORTCUTS.values()} | {m for _, m in MOUSE}
    assert seen["keys"] == {"review.accept": "A", "review.undo": "Ctrl+Z"}

    canvas = window.canvas
    canvas.zoom_by(3)
    dialog = ShortcutsDialog(window.shortcuts, window)
    qtbot.addWidget(dialog)
    dialog.tree.setCurrentItem(dialog.items["view.fit"])
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_I)                    # I already inverts
    assert dialog.pending["view.fit"] == "I"
    assert "Conflict: I" in dialog.conflict_label.text()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.key_edit.clear()
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_A)                    # the review's accept key
    assert "Accept the selected box" in dialog.conflict_label.text()
    dialog.key_edit.clear()
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_G)
    assert dialog.conflict_label.text() == ""
    dialog.tree.setCurrentItem(dialog.items["review.nudge"])         # fixed keys cannot be edited
    assert not dialog.key_edit.isEnabled()
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    window.activateWindow()                     # the closed dialogs leave no window active offscreen
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)

    fit = window.shortcuts.actions["view.fit"][0]
    assert fit.shortcut() == QKeySequence("G")
    assert AppSettings.at(settings_file).shortcuts() == {"view.fit": "G"}
    qtbot.keyClick(canvas, Qt.Key.Key_F)                             # the old key does nothing now
    assert canvas.zoom > 1.5 and not canvas._fit
    qtbot.keyClick(canvas, Qt.Key.Key_G)
    assert canvas._fit and canvas.zoom < 1.5
    with pytest.raises(ValueError, match="used by"):
        window.shortcuts.apply({"view.invert": "Ctrl+R"})
    assert window.shortcuts.key("view.invert") == "I"

    again = shell_window(qtbot, settings_file)                       # a new session keeps the key
    assert again.shortcuts.actions["view.fit"][0].shortcut() == QKeySequence("G")


def make_window_with_settings(qtbot, tmp_path, settings_file, path=None, model=None):
    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.app.settings import AppSettings
    from medxai_desktop.core.store import ReviewStore

    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps")
    window = MainWindow(store, device="cpu", settings=AppSettings.at(settings_file))
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    if model is not None:
        window.set_model(model, "seeded resnet18")
    window.open_path(path or sample_study_dir())
    qtbot.waitUntil(lambda: window.image is not None, timeout=15000)
    return window


# -- comparison grid ---------------------------------------------------------------------------

def test_comparison_grid_zoom_and_pan_are_linked(qtbot):
    from medxai_desktop.app.comparison_grid import ComparisonGrid, grid_shape

    assert [grid_shape(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [(1, 1), (1, 2), (2, 2), (2, 2), (2, 3), (2, 3), (3, 3)]
    grid = ComparisonGrid()
    qtbot.addWidget(grid)
    grid.resize(900, 600)
    pixmap = QPixmap(400, 300)
    pixmap.fill(Qt.GlobalColor.gray)
    grid.set_image(pixmap)
    rng = np.random.default_rng(0)
    grid.set_maps([(m, m.upper(), rng.random((7, 7), dtype=np.float32)) for m in ("a", "b", "c")])
    grid.set_scores({"a": "ROAD 0.41", "c": "ROAD 0.12"})
    grid.show()
    qtbot.waitExposed(grid)
    views = grid.views()
    assert len(views) == 3 and all(not c.overlay_item.pixmap().isNull() for c in grid.cells.values())
    assert [c.score_label.text() for c in grid.cells.values()] == ["ROAD 0.41", "", "ROAD 0.12"]
    assert grid.cells["b"].title_label.text() == "<b>B</b>"
    # the overlay, drawn smaller, covers exactly the image
    overlay = grid.cells["a"].overlay_item
    assert overlay.mapRectToScene(overlay.boundingRect()).toRect().size() == pixmap.size()

    zoom0 = views[0].zoom
    wheel(views[1].viewport(), 120)
    wheel(views[1].viewport(), 120)
    assert views[1].zoom == pytest.approx(zoom0 * 1.15 ** 2)
    assert all(v.zoom == pytest.approx(views[1].zoom) for v in views)
    views[2].horizontalScrollBar().setValue(views[2].horizontalScrollBar().value() + 25)
    views[2].verticalScrollBar().setValue(views[2].verticalScrollBar().value() + 15)
    centre = views[2].center_point()
    for view in views:
        assert (view.center_point() - centre).manhattanLength() < 2
    # a drag pans every cell too
    start = QPoint(60, 60)
    send_mouse(views[0].viewport(), "press", start)
    send_mouse(views[0].viewport(), "move", start + QPoint(-30, -20), buttons=Qt.MouseButton.LeftButton)
    send_mouse(views[0].viewport(), "release", start + QPoint(-30, -20))
    assert (views[0].center_point() - centre).manhattanLength() > 10
    for view in views[1:]:
        assert (view.center_point() - views[0].center_point()).manhattanLength() < 2
    grid.fit()
    assert all(v.zoom == pytest.approx(zoom0, rel=0.05) for v in views)


def test_comparison_grid_in_the_window_shows_the_computed_maps(qtbot, tmp_path, settings_file):
    from medxai_desktop.core.models import random_model

    model = random_model("resnet18", CLASSES, seed=3, device="cpu")
    window = make_window_with_settings(qtbot, tmp_path, settings_file, model=model)
    window.show_comparison()                               # no maps yet: says so, stays on the image
    assert window.tabs.currentWidget() is window.canvas and not window.tabs.isTabEnabled(1)
    window.run_explanations(["gradcam++", "layercam", "gradcam"])
    qtbot.waitUntil(lambda: len(window.explanations) == 3, timeout=30000)
    window.comparison_action.trigger()
    assert window.tabs.currentWidget() is window.grid
    assert list(window.grid.cells) == ["gradcam++", "layercam", "gradcam"]
    assert window.grid.pixmap.cacheKey() == window.canvas.image_item.pixmap().cacheKey()
    window.panel.threshold_slider.setValue(60)                   # the style follows the panel
    assert window.grid.threshold == pytest.approx(0.6)
    qtbot.keyClick(window.canvas, Qt.Key.Key_5)                  # and so does the window/level
    assert window.grid.pixmap.cacheKey() == window.canvas.image_item.pixmap().cacheKey()
    window.browser.select_index(1)                               # another image: no maps, back to it
    qtbot.waitUntil(lambda: window.ref == window.browser.image_refs()[1], timeout=10000)
    assert window.tabs.currentWidget() is window.canvas and not window.tabs.isTabEnabled(1)


# -- DICOM tags --------------------------------------------------------------------------------

def test_tag_browser_shows_the_dataset_with_sequences_and_a_filter(qtbot, tmp_path, settings_file):
    import pydicom

    ct = pydicom_file("CT_small.dcm")
    window = make_window_with_settings(qtbot, tmp_path, settings_file, path=ct)
    tags = window.tags
    window.tags_dock.raise_()
    qtbot.waitUntil(lambda: tags.source == window.image.source, timeout=5000)
    expected = pydicom.dcmread(ct, stop_before_pixels=True)
    assert tags.row("PatientName") == ["(0010,0010)", "PatientName", "PN", repr(str(expected.PatientName))]
    assert tags.row("Rows")[2:] == ["US", "128"]
    assert tags.row("TransferSyntaxUID")[0] == "(0002,0010)"           # the file meta group too
    assert tags.row("PixelData") is None                                # never the pixels
    sequence = tags.tree.findItems("OtherPatientIDsSequence", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive,
                                   1)[0]
    n_items = len(expected.OtherPatientIDsSequence)
    assert sequence.text(2) == "SQ" and sequence.childCount() == n_items
    assert sequence.child(0).text(1) == "Item 1"
    inner = {sequence.child(0).child(i).text(1) for i in range(sequence.child(0).childCount())}
    assert inner == {e.keyword for e in expected.OtherPatientIDsSequence[0]}

    tags.filter_edit.setText("patientid")
    shown = tags.visible_keywords()
    assert "PatientID" in shown and "Rows" not in shown and "OtherPatientIDsSequence" in shown
    tags.filter_edit.setText("")
    assert "Rows" in tags.visible_keywords()

    window.open_path(sample_study_dir())                                # a JPEG: it says so
    qtbot.waitUntil(lambda: window.image is not None and window.image.source.suffix == ".jpg", timeout=10000)
    assert "is not a DICOM file" in tags.message.text() and tags.tree.topLevelItemCount() == 0


# -- export ------------------------------------------------------------------------------------

def _window_with_a_box_and_export_dialog(qtbot, tmp_path, settings_file):
    from medxai_desktop.app.export_dialog import ExportDialog
    from medxai_desktop.core.boxes import Box

    window = make_window_with_settings(qtbot, tmp_path, settings_file)
    qtbot.waitUntil(lambda: window.image_id is not None, timeout=10000)
    window.store.add_box(window.image_id, Box(10, 20, 50, 80), "glioma", "Dr Ada")
    window.store.set_status(window.image_id, "signed_off", "Dr Ada")   # the reference is signed-off work
    dialog = ExportDialog(window, default_dir=tmp_path)
    qtbot.addWidget(dialog)
    return window, dialog


def test_export_writes_the_reviewed_boxes_as_coco(qtbot, tmp_path, settings_file):
    window, dialog = _window_with_a_box_and_export_dialog(qtbot, tmp_path, settings_file)
    dialog.set_format("voc")
    assert [dialog.which_combo.itemData(i) for i in range(dialog.which_combo.count())] == ["reviewed", "proposals"]
    dialog.set_format("coco")
    assert dialog.which_combo.count() == 3 and dialog.out_edit.text() == str(tmp_path / "medxai-boxes-coco.json")
    dialog.set_which("reviewed")
    request = dialog.result_request()
    window.export(request)
    # the job's result reaches the GUI thread by a queued signal: wait for its message, not the flag
    qtbot.waitUntil(lambda: any("wrote reviewed boxes as coco" in m for _, m in window.log.entries)
                    or bool(window.log.errors()), timeout=20000)
    assert window.log.errors() == []
    data = json.loads(request.out.read_text())
    assert [a["bbox"] for a in data["annotations"]] == [[10, 20, 40, 60]]
    assert [c["name"] for c in data["categories"] if c["id"] == data["annotations"][0]["category_id"]] == ["glioma"]
    assert Path(data["images"][0]["file_name"]).name == window.image.source.name
    assert any("wrote reviewed boxes as coco" in m for _, m in window.log.entries)

    # a writer's refusal is an error notice, not a crash
    window.export(type(request)("yolo", "both", tmp_path / "yolo"))
    qtbot.waitUntil(lambda: bool(window.log.errors()), timeout=20000)
    assert "both" in window.log.errors()[-1] and window.toast.isVisible()


def test_export_deidentified_from_the_app(qtbot, tmp_path, settings_file, monkeypatch):
    from medxai_desktop.core.deidentification import init_secret

    monkeypatch.setenv("MEDXAI_DEID_SECRET_FILE", str(tmp_path / "secret.key"))
    window, dialog = _window_with_a_box_and_export_dialog(qtbot, tmp_path, settings_file)
    dialog.set_format("csv")
    assert dialog.deidentify_box.isEnabled()      # every format, not DICOM SR only
    dialog.deidentify_box.setChecked(True)
    request = dialog.result_request()
    assert request.deidentify
    window.export(request)                      # no site secret yet: a notice saying how to set it
    qtbot.waitUntil(lambda: bool(window.log.errors()), timeout=20000)
    assert "medxai deid secret init" in window.log.errors()[-1] and not request.out.exists()
    init_secret()
    window.export(request)
    qtbot.waitUntil(lambda: any("(de-identified)" in m for _, m in window.log.entries), timeout=20000)
    text = request.out.read_text()
    assert "glioma" in text and "Dr Ada" not in text and window.image.source.stem not in text


# -- errors ------------------------------------------------------------------------------------

def test_errors_show_a_fading_non_modal_notice_and_the_app_goes_on(qtbot, settings_file):
    window = shell_window(qtbot, settings_file)
    window.show()
    qtbot.waitExposed(window)
    window.toast.timeout_ms = 150
    window.run_explanations(["gradcam++"])                      # no model: an error
    assert window.log.errors() == ["no model loaded: File > Open model card..."]
    assert window.toast.isVisible() and "no model loaded" in window.toast.label.text()
    assert QApplication.activeModalWidget() is None
    toast_rect = window.toast.geometry()
    assert window.rect().contains(toast_rect) and window.centralWidget().geometry().contains(toast_rect)
    window.error("second")
    assert "+1 more" in window.toast.label.text()
    qtbot.waitUntil(lambda: not window.toast.isVisible(), timeout=5000)   # faded away by itself
    window.open_path(sample_study_dir())                        # still usable
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    window.error("third")
    qtbot.mouseClick(window.toast, Qt.MouseButton.LeftButton)  # a click dismisses it
    assert not window.toast.isVisible()


# -- frames and large images -------------------------------------------------------------------

def test_wheel_steps_through_frames_and_stops_at_the_series_end(qtbot, tmp_path, settings_file):
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(pydicom_file("emri_small.dcm"), folder / "a_multiframe.dcm")
    shutil.copy(pydicom_file("CT_small.dcm"), folder / "b_ct.dcm")
    window = make_window_with_settings(qtbot, tmp_path, settings_file, path=folder)
    refs = window.browser.image_refs()
    multi = next(r for r in refs if r.n_frames > 1)
    window.browser.select_index(refs.index(multi))
    qtbot.waitUntil(lambda: window.image is not None and window.image.source == multi.path, timeout=10000)
    n = window.image.n_frames
    assert n == 10 and window.image.frame == 0
    canvas = window.canvas
    canvas.set_window(300, 400)                                  # the reader's window is kept across frames
    window.tags_dock.raise_()
    wheel(canvas.viewport(), -120)
    qtbot.waitUntil(lambda: window.image.frame == 1, timeout=10000)
    assert (canvas.center, canvas.width_) == (300, 400)
    assert window.tags.image is window.image and "frame 2 of 10" in window.tags.message.text()
    for _ in range(n - 2):
        wheel(canvas.viewport(), -120)
    qtbot.waitUntil(lambda: window.image.frame == n - 1, timeout=15000)
    assert window.browser.current_index() == refs.index(multi)
    wheel(canvas.viewport(), -120)                               # past the last frame: it stays (another
    qtbot.wait(300)                                              # series, another patient) and says so
    assert window.image.source == multi.path and window.image.frame == n - 1
    assert "Last frame" in window.toast.label.text()
    wheel(canvas.viewport(), 120)                                # and back
    qtbot.waitUntil(lambda: window.image.frame == n - 2, timeout=10000)


def test_settings_object_survives_odd_values(settings_file):
    from medxai_desktop.app.settings import AppSettings

    settings_file.write_text("[recent]\npaths=not json\n[overlay]\nstyle=[1]\n[shortcuts]\nkeys={\"x\": 3}\n")
    settings = AppSettings.at(settings_file)
    assert settings.recent() == [] and settings.overlay_style() is None and settings.shortcuts() == {}
    assert settings.checked_methods() is None
    settings.set_checked_methods([])
    assert AppSettings.at(settings_file).checked_methods() == []


def test_large_image_windows_by_table_and_pans_without_rerendering(qtbot, tmp_path, settings_file):
    from medxai_desktop.app.rendering import WindowLut

    big = pydicom_file("RG1_UNCR.dcm")
    window = make_window_with_settings(qtbot, tmp_path, settings_file, path=big)
    image, canvas = window.image, window.canvas
    assert image.shape == (1955, 1841)
    lut = WindowLut.for_image(image)
    assert lut is not None and WindowLut.for_image(image) is lut          # built once, by the io job
    for center, width, invert in ((None, None, None), (1000, 2000, True), (2047.5, 4096, False), (7, 1, False)):
        assert np.array_equal(lut.display(center, width, invert), image.display(center, width, invert))
    qtbot.keyClick(canvas, Qt.Key.Key_2)                                    # 1-99 % preset, through the table
    preset = canvas.presets[1]
    assert np.array_equal(canvas.displayed(), image.display(preset.center, preset.width, canvas.inverted))
    # fitted = zoomed out: smooth; zoomed in: pixels stay pixels
    assert canvas.zoom < 1
    assert canvas.image_item.transformationMode() == Qt.TransformationMode.SmoothTransformation
    key = canvas.image_item.pixmap().cacheKey()
    wheel(canvas.viewport(), 120, Qt.KeyboardModifier.ControlModifier)
    for _ in range(12):
        wheel(canvas.viewport(), 120, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom > 1
    assert canvas.image_item.transformationMode() == Qt.TransformationMode.FastTransformation
    start = QPoint(300, 300)
    send_mouse(canvas.viewport(), "press", start, button=Qt.MouseButton.MiddleButton)
    send_mouse(canvas.viewport(), "move", start + QPoint(-80, -50), buttons=Qt.MouseButton.MiddleButton)
    send_mouse(canvas.viewport(), "release", start + QPoint(-80, -50), button=Qt.MouseButton.MiddleButton)
    assert canvas.image_item.pixmap().cacheKey() == key                    # zoom and pan: no re-windowing

    # the overlay is drawn at most 512 px a side and stretched exactly over the image
    canvas.set_heatmap(np.random.default_rng(1).random((224, 224), dtype=np.float32))
    overlay = canvas.overlay_item
    assert max(overlay.pixmap().width(), overlay.pixmap().height()) == 512
    assert overlay.mapRectToScene(overlay.boundingRect()).toRect().size() == canvas.image_item.pixmap().size()
