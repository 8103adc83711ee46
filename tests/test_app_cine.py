"""Issue 15, cine (pytest-qt, offscreen, real widgets): View > Cine play/pause (P) plays the
frames of a multi-frame image or the images of a series at the rate chosen in the Cine tool bar,
stops at the series' end or loops, pauses on the key, never enters another series, and skips
frames rather than queueing them when decoding is slower than the rate."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

import medxai_desktop.app.image_opener as image_opener  # noqa: E402
from tests.app_helpers import make_window  # noqa: E402
from tests.helpers import pydicom_file  # noqa: E402

pytest.importorskip("pytestqt")

MR = "a_mr_multiframe.dcm"
CT = ["b_ct_1.dcm", "b_ct_2.dcm", "b_ct_3.dcm"]


def _study(tmp_path) -> Path:
    """A 10-frame MR of one patient, a CT series of three files of another, a lone PNG."""
    import pydicom
    from pydicom.uid import generate_uid

    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(pydicom_file("emri_small.dcm"), folder / MR)
    ct = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    for number, name in enumerate(CT, 1):
        ct.SOPInstanceUID, ct.InstanceNumber = generate_uid(), number
        ct.file_meta.MediaStorageSOPInstanceUID = ct.SOPInstanceUID
        ct.save_as(folder / name)
    single = folder / "single"
    single.mkdir()
    cv2.imwrite(str(single / "c_single.png"), np.zeros((32, 32), np.uint8))
    return folder


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, _study(tmp_path))
    assert sorted(names(window)) == sorted([MR, *CT, "c_single.png"])
    show(window, qtbot, MR)
    assert window.image.frame == 0
    return window


def names(window) -> list[str]:
    return [r.path.name for r in window.browser.image_refs()]


def show(window, qtbot, name: str) -> None:
    window.browser.select_index(names(window).index(name))
    qtbot.waitUntil(lambda: window.image.source.name == name, timeout=10000)


def record(window) -> list[tuple[str, int, float]]:
    """(file, frame, time) of every image shown from now on."""
    shown: list[tuple[str, int, float]] = []
    window.session.events.connect("opened", lambda ref: shown.append((ref.path.name, ref.frame, time.monotonic())))
    return shown


def test_cine_plays_the_frames_at_the_chosen_rate_and_stops_at_the_series_end(window, qtbot):
    cine, shown = window.cine, record(window)
    assert cine.play_action in window.view_menu.actions() and cine.toolbar.isVisible()
    assert cine.play_action.shortcut().toString() == "P"
    cine.rate_box.setValue(10)
    assert cine.timer.interval() == 100 and window.settings.cine() == (10, False)
    started = time.monotonic()
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    assert cine.playing and cine.play_action.isChecked()
    qtbot.waitUntil(lambda: not cine.playing, timeout=10000)
    assert {name for name, _, _ in shown} == {MR}                  # never into the CT (another patient)
    frames = [frame for _, frame, _ in shown]
    assert frames[-1] == 9 and frames == sorted(set(frames))
    assert frames == list(range(1, 10)) or cine.skipped > 0        # every frame, unless decoding fell behind
    gaps = np.diff([started] + [t for _, _, t in shown])
    assert 0.08 <= statistics.median(gaps) <= 0.3                  # about 10 per second (a busy machine: slower)
    assert 0.8 <= shown[-1][2] - started <= 3.0                    # 9 frames at 10 per second: 0.9 s
    assert "Cine stopped at the last frame of MR" in window.statusBar().currentMessage()
    assert not cine.play_action.isChecked()
    qtbot.wait(400)
    assert window.image.source.name == MR and window.image.frame == 9 and len(shown) == len(frames)
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)                    # at the end: plays from the start again
    qtbot.waitUntil(lambda: window.image.frame == 0, timeout=5000)
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    assert not cine.playing


def test_cine_loops_a_series_of_files_and_pauses_on_the_key_from_the_study_list(window, qtbot):
    cine = window.cine
    show(window, qtbot, CT[0])
    cine.loop_action.trigger()
    cine.rate_box.setValue(30)
    assert window.settings.cine() == (30, True)
    shown = record(window)
    window.browser.setFocus()
    qtbot.keyClick(window.browser, Qt.Key.Key_P)                   # the reader's focus is in the study list
    assert cine.playing
    qtbot.waitUntil(lambda: [name for name, _, _ in shown].count(CT[0]) >= 2, timeout=10000)   # round again
    qtbot.keyClick(window.browser, Qt.Key.Key_P)
    assert not cine.playing
    names = [name for name, _, _ in shown]
    assert set(names) <= set(CT)                                   # never the MR nor the PNG
    order = [CT.index(name) for name in names]                     # forward (files may be skipped), then round
    assert all(b > a or b == 0 for a, b in zip([0] + order, order))
    count = len(shown)
    qtbot.wait(400)
    assert len(shown) <= count + 1                                 # paused (a frame already asked for may land)
    assert window.browser.currentItem().data(0, Qt.ItemDataRole.UserRole).path.name in CT


def test_nothing_to_play_on_a_single_image_and_a_new_listing_stops_cine(window, qtbot):
    show(window, qtbot, "c_single.png")
    window.cine.play_action.trigger()
    assert not window.cine.playing and not window.cine.play_action.isChecked()
    assert "nothing to play" in window.statusBar().currentMessage()
    show(window, qtbot, MR)
    window.cine.rate_box.setValue(2)
    window.cine.play()
    assert window.cine.playing
    window.open_path(window.ref.path.parent / "single")
    qtbot.waitUntil(lambda: window.image.source.name == "c_single.png", timeout=10000)
    assert not window.cine.playing and not window.cine.play_action.isChecked()


def test_slow_decoding_skips_frames_instead_of_queueing_them(window, qtbot, monkeypatch):
    decoded = []
    real_read = image_opener.read_image

    def slow_read(path, frame=None):
        decoded.append(frame)
        time.sleep(0.25)                 # five ticks at 20 fps
        return real_read(path, frame)

    monkeypatch.setattr(image_opener, "read_image", slow_read)
    cine, shown = window.cine, record(window)
    cine.rate_box.setValue(20)
    started = time.monotonic()
    cine.play()
    qtbot.waitUntil(lambda: not cine.playing, timeout=15000)
    frames = [frame for _, frame, _ in shown]
    assert frames[-1] == 9 and frames == sorted(set(frames))
    assert cine.skipped > 0 and len(frames) < 9                    # frames skipped ...
    assert decoded == frames                                       # ... and none decoded for nothing
    assert time.monotonic() - started < 9 * 0.25                   # keeps time, not one decode per frame
    assert {name for name, _, _ in shown} == {MR}


def test_cine_leaves_no_queue_of_stale_predictions_on_the_model_worker(qtbot, tmp_path):
    from medxai_desktop.core.models import random_model
    from tests.app_helpers import CLASSES

    model = random_model("resnet18", CLASSES, seed=0, device="cpu")
    predicted = []
    real_predict = model.predict

    def slow_predict(batch):
        predicted.append(time.monotonic())
        time.sleep(0.2)                  # slower than cine's 20 frames per second
        return real_predict(batch)

    model.predict = slow_predict
    window = make_window(qtbot, tmp_path, _study(tmp_path), model=model)
    show(window, qtbot, MR)
    qtbot.waitUntil(lambda: window.prediction is not None, timeout=20000)
    before, shown = len(predicted), record(window)
    window.cine.rate_box.setValue(20)
    window.cine.play()
    qtbot.waitUntil(lambda: not window.cine.playing, timeout=15000)
    assert window.image.frame == 9 and len(shown) >= 4
    qtbot.waitUntil(lambda: window.prediction is not None and not window.jobs.busy, timeout=10000)
    # a frame passed by before the model worker got to it is not predicted (stale work is dropped)
    assert len(predicted) - before <= len(shown) // 2 + 1
