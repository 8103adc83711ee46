"""The desktop viewer: study browser, canvas, window/level, presets, inversion, pixel readout,
failures and the review store (pytest-qt, offscreen)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402

from medxai_desktop.core.imaging.presets import format_window  # noqa: E402
from medxai_desktop.core.imaging.windowing import full_range_window  # noqa: E402
from medxai_desktop.core.resources import sample_study_dir  # noqa: E402
from tests.app_helpers import make_window, send_mouse  # noqa: E402

pytest.importorskip("pytestqt")


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path, sample_study_dir())


def test_browser_lists_the_sample_study_and_shows_the_first_image(window):
    refs = window.browser.image_refs()
    assert len(refs) == 4
    assert sorted(r.path.name for r in refs) == sorted(p.name for p in sample_study_dir().glob("*.jpg"))
    assert window.browser.failure_texts() == []
    pixmap = window.canvas.image_item.pixmap()
    assert (pixmap.height(), pixmap.width()) == window.image.shape
    assert window.image.source == refs[0].path
    # fitted: the whole image is visible and fills the viewport along one side
    canvas = window.canvas
    shown = canvas.mapFromScene(canvas.sceneRect()).boundingRect()
    viewport = canvas.viewport().rect()
    assert viewport.contains(shown.adjusted(1, 1, -1, -1))
    assert max(shown.width() / viewport.width(), shown.height() / viewport.height()) > 0.97


def test_selecting_another_image_shows_it(window, qtbot):
    window.browser.select_index(2)
    target = window.browser.image_refs()[2]
    qtbot.waitUntil(lambda: window.ref == target, timeout=10000)
    pixmap = window.canvas.image_item.pixmap()
    assert (pixmap.height(), pixmap.width()) == window.image.shape
    assert window.image.source == target.path
    # the wheel steps back to the previous image
    window.canvas.step_requested.emit(-1)
    qtbot.waitUntil(lambda: window.ref == window.browser.image_refs()[1], timeout=10000)


def test_left_drag_in_window_mode_changes_centre_and_width(window):
    canvas = window.canvas
    assert canvas.tool == "window"
    c0, w0, s = canvas.center, canvas.width_, canvas.wl_per_pixel
    start = QPoint(200, 200)
    send_mouse(canvas.viewport(), "press", start)
    send_mouse(canvas.viewport(), "move", start + QPoint(40, -20), buttons=Qt.MouseButton.LeftButton)
    send_mouse(canvas.viewport(), "release", start + QPoint(40, -20))
    assert canvas.width_ == pytest.approx(w0 + 40 * s)
    assert canvas.center == pytest.approx(c0 - 20 * s)
    assert window.window_label.text().startswith(format_window(canvas.center, canvas.width_, window.image.unit))
    assert np.array_equal(canvas.displayed(), window.image.display(canvas.center, canvas.width_, False))


def test_preset_keys_invert_and_zoom(window, qtbot):
    canvas = window.canvas
    presets = canvas.presets                # a JPEG: its default (full range) and percentile windows
    assert [p.name for p in presets] == ["Full range (default)", "1\u201399 %", "5\u201395 %"]
    qtbot.keyClick(canvas, Qt.Key.Key_3)
    assert (canvas.center, canvas.width_) == (presets[2].center, presets[2].width)
    expected = window.image.display(presets[2].center, presets[2].width, False)
    assert np.array_equal(canvas.displayed(), expected)
    qtbot.keyClick(canvas, Qt.Key.Key_1)   # the image's own default, here its full range
    assert (canvas.center, canvas.width_) == full_range_window(window.image.pixels)
    assert (canvas.center, canvas.width_) == (window.image.window_center, window.image.window_width)

    before = canvas.displayed().copy()
    rendered = canvas.image_item.pixmap().toImage()
    qtbot.keyClick(canvas, Qt.Key.Key_I)
    assert canvas.inverted
    assert np.array_equal(canvas.displayed(), 255 - before)
    y, x = 100, 120
    flipped = canvas.image_item.pixmap().toImage()
    assert flipped.pixelColor(x, y).red() == 255 - rendered.pixelColor(x, y).red()

    qtbot.keyClick(canvas, Qt.Key.Key_0)
    assert canvas.zoom == pytest.approx(1.0)
    qtbot.keyClick(canvas, Qt.Key.Key_F)
    assert canvas.zoom != pytest.approx(1.0)


def test_mouse_move_shows_the_pixel_value_in_modality_units(window):
    canvas = window.canvas
    pixels = window.image.pixels
    y, x = np.unravel_index(np.argmax(pixels), pixels.shape)  # a pixel that is not 0
    send_mouse(canvas.viewport(), "move", canvas.scene_point_to_view(x, y), buttons=Qt.MouseButton.NoButton)
    value = pixels[y, x]
    assert canvas.last_pixel[:2] == (x, y)
    assert canvas.last_pixel[2] == value
    assert window.pixel_label.text() == f"x {x}  y {y}  value {value:.0f}"
    x2, y2 = 37, 61
    send_mouse(canvas.viewport(), "move", canvas.scene_point_to_view(x2, y2), buttons=Qt.MouseButton.NoButton)
    assert window.pixel_label.text() == f"x {x2}  y {y2}  value {pixels[y2, x2]:.0f}"


def test_a_bad_file_is_listed_under_failures_and_the_app_still_works(qtbot, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    good = sorted(sample_study_dir().glob("*.jpg"))[:2]
    for file in good:
        shutil.copy(file, folder / file.name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    window = make_window(qtbot, tmp_path, folder)
    assert len(window.browser.image_refs()) == 2
    failures = window.browser.failure_texts()
    assert len(failures) == 1 and failures[0].startswith("broken.png: ")
    assert len(failures[0]) > len("broken.png: ")   # the reason is shown
    assert window.browser.failures_item.text(0) == "Failures (1)"
    window.browser.select_index(1)
    qtbot.waitUntil(lambda: window.ref == window.browser.image_refs()[1], timeout=10000)
    assert window.canvas.image_item.pixmap().width() == window.image.shape[1]


def test_opening_an_image_adds_it_to_the_review_store(window, qtbot):
    qtbot.waitUntil(lambda: window.image_id is not None, timeout=5000)
    rows = window.store.images()
    assert [(r.id, r.key) for r in rows] == [(window.image_id, window.ref.path.name)]
    assert rows[0].content_hash == window.image.content_hash


def test_main_opens_the_sample_study_by_default_and_survives_a_bad_database(qtbot, tmp_path):
    from medxai_desktop.app.main import build_parser, create_window, open_store

    url = f"sqlite:///{tmp_path / 'main.sqlite3'}"
    args = build_parser().parse_args(["--db", url, "--device", "cpu"])
    store, problem = open_store(args.db)
    assert problem is None
    window = create_window(args, store)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.image is not None and window.image_id is not None, timeout=15000)
    assert len(window.browser.image_refs()) == 4
    assert [r.key for r in store.images()] == [window.ref.path.name]

    bad = build_parser().parse_args(["--db", "notadb://nowhere", "--device", "cpu"])
    store, problem = open_store(bad.db)
    assert store is None and "review store not available" in problem
    window = create_window(bad, store, problem)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.image is not None, timeout=15000)
    assert window.image_id is None and any("review store" in e for e in window.log.errors())
