"""Issue 15, series thumbnails in the study browser (pytest-qt, offscreen, real widgets): each
series row shows its middle image's picture in the image's own window, decoded on the io pool,
kept per (file, frame, mtime), ignored when the listing changes, and only for rows on screen, so
a listing of 1,000 series stays responsive."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

import medxai_desktop.core.imaging.thumbnails as core_thumbnails  # noqa: E402
from medxai_desktop.app.thumbnails import STATE_ROLE  # noqa: E402
from medxai_desktop.core.imaging import DiscoveryResult, ImageRef, Series, Study, read_image  # noqa: E402
from medxai_desktop.core.imaging.thumbnails import ThumbnailCache, series_thumbnail_source, thumbnail  # noqa: E402
from medxai_desktop.core.resources import sample_study_dir  # noqa: E402
from tests.app_helpers import make_window  # noqa: E402
from tests.helpers import pydicom_file  # noqa: E402

pytest.importorskip("pytestqt")


def icon_grey(row, size: int = 64) -> np.ndarray:
    """The series row's icon as a size x size grey array."""
    image = row.icon(0).pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    assert (image.width(), image.height()) == (size, size)
    bits = np.frombuffer(image.constBits(), np.uint8).reshape(size, image.bytesPerLine())
    return bits[:, :size].copy()


def centred(array: np.ndarray, size: int = 64) -> np.ndarray:
    """``array`` (HxW grey) centred on black, as the app's icon draws it."""
    canvas = np.zeros((size, size), np.uint8)
    top, left = (size - array.shape[0]) // 2, (size - array.shape[1]) // 2
    canvas[top:top + array.shape[0], left:left + array.shape[1]] = array
    return canvas


def series_rows(window):
    return window.thumbnails.series_rows(visible_only=False)


def wait_for_icons(qtbot, window, count: int = 1):
    qtbot.waitUntil(lambda: sum(r.data(0, STATE_ROLE) == "shown" for r in series_rows(window)) >= count,
                    timeout=15000)


def test_the_sample_series_row_shows_its_middle_image_decoded_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    threads = []
    real_read = core_thumbnails.read_image
    monkeypatch.setattr(core_thumbnails, "read_image",
                        lambda path, frame=None: threads.append(threading.get_ident()) or real_read(path, frame))
    window = make_window(qtbot, tmp_path, sample_study_dir())
    rows = series_rows(window)
    assert len(rows) == 1
    wait_for_icons(qtbot, window)
    refs = window.browser.image_refs()
    path, frame = series_thumbnail_source(refs)
    assert path == refs[len(refs) // 2].path and frame == 0
    expected = centred(thumbnail(read_image(path, frame), 64))
    assert np.abs(icon_grey(rows[0]).astype(int) - expected).max() <= 1
    assert threads and threading.get_ident() not in threads          # decoded on the io pool
    # image rows keep their small status dots; the series row is tall enough for its picture
    browser = window.browser
    assert browser.visualItemRect(rows[0]).height() >= 64
    assert browser.visualItemRect(rows[0].child(0)).height() < 40


def test_a_multi_frame_dicom_shows_its_middle_frame_in_its_window(qtbot, tmp_path):
    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(pydicom_file("emri_small.dcm"), folder / "emri_small.dcm")
    window = make_window(qtbot, tmp_path, folder)
    (ref,) = window.browser.image_refs()
    assert ref.n_frames == 10
    wait_for_icons(qtbot, window)
    assert series_thumbnail_source([ref]) == (ref.path, 5)
    middle = read_image(ref.path, 5)
    expected = centred(thumbnail(middle, 64))
    assert np.abs(icon_grey(series_rows(window)[0]).astype(int) - expected).max() <= 1
    assert not np.array_equal(expected, centred(thumbnail(read_image(ref.path, 0), 64)))   # not frame 0
    key = (ref.path, 5, ref.path.stat().st_mtime_ns)
    assert key in window.thumbnails.cache._entries


def test_a_new_listing_ignores_the_old_one_and_the_cache_knows_file_frame_and_mtime(qtbot, tmp_path, monkeypatch):
    slow_a, fast_b = tmp_path / "a", tmp_path / "b"
    slow_a.mkdir()
    fast_b.mkdir()
    cv2.imwrite(str(slow_a / "white.png"), np.full((40, 40), 255, np.uint8))
    cv2.imwrite(str(fast_b / "dark.png"), np.tile(np.arange(0, 80, 2, dtype=np.uint8), (40, 1)))
    real_read = core_thumbnails.read_image

    def read(path, frame=None):
        if Path(path).parent == slow_a:
            time.sleep(0.8)          # still decoding when the next folder is listed
        return real_read(path, frame)

    monkeypatch.setattr(core_thumbnails, "read_image", read)
    window = make_window(qtbot, tmp_path, slow_a)
    qtbot.waitUntil(lambda: series_rows(window)[0].data(0, STATE_ROLE) == "loading", timeout=10000)
    window.open_path(fast_b)
    qtbot.waitUntil(lambda: window.image is not None and window.image.source.parent == fast_b, timeout=10000)
    wait_for_icons(qtbot, window)
    qtbot.wait(1200)                                      # the old job ends meanwhile: ignored
    (row,) = series_rows(window)
    expected = centred(thumbnail(read_image(fast_b / "dark.png"), 64))
    assert np.abs(icon_grey(row).astype(int) - expected).max() <= 1
    cache = window.thumbnails.cache
    decoded = cache.decoded
    window.open_path(fast_b)                              # listed again: from the cache
    qtbot.waitUntil(lambda: window.thumbnails.generation >= 3, timeout=10000)
    wait_for_icons(qtbot, window)
    assert cache.decoded == decoded
    stat = (fast_b / "dark.png").stat()                   # changed on disk: decoded again
    cv2.imwrite(str(fast_b / "dark.png"), np.full((40, 40), 30, np.uint8))
    os.utime(fast_b / "dark.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    window.open_path(fast_b)
    qtbot.waitUntil(lambda: cache.decoded == decoded + 1, timeout=10000)
    wait_for_icons(qtbot, window)
    assert icon_grey(series_rows(window)[0])[32, 32] == 30


def test_a_listing_of_1000_series_stays_responsive_and_decodes_only_rows_on_screen(qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    studies = []
    for i in range(1000):
        file = folder / f"im{i:04d}.png"
        cv2.imwrite(str(file), np.full((16, 16), i % 256, np.uint8))
        series = Series(f"series-{i}", "OT", f"series {i}", i, [ImageRef(file)])
        studies.append(Study(f"study-{i}", f"patient {i}", None, None, None, [series]))
    window = make_window(qtbot, tmp_path, sample_study_dir())
    started = time.perf_counter()
    window.opener.on_discovered(DiscoveryResult(studies, []))
    assert time.perf_counter() - started < 3.0
    browser, thumbnails = window.browser, window.thumbnails
    qtbot.waitUntil(lambda: thumbnails.series_rows() and all(
        r.data(0, STATE_ROLE) == "shown" for r in thumbnails.series_rows()), timeout=15000)
    on_screen = len(thumbnails.series_rows())
    assert 1 <= on_screen < 60
    qtbot.wait(300)
    shown = sum(r.data(0, STATE_ROLE) == "shown" for r in series_rows(window))
    assert shown < 60 and thumbnails.cache.decoded <= shown + 1   # lazily, rows on screen: not the 1,000
    # the GUI thread answers at once while thumbnails load after a scroll to the end
    last = series_rows(window)[-1]
    browser.scrollToItem(last)
    started = time.perf_counter()
    qtbot.wait(50)
    assert time.perf_counter() - started < 1.0
    qtbot.waitUntil(lambda: last.data(0, STATE_ROLE) == "shown", timeout=15000)
    assert thumbnails.cache.decoded < 150
    assert icon_grey(series_rows(window)[-1])[32, 32] == 999 % 256


def test_thumbnail_cache_remembers_unreadable_files(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    cache = ThumbnailCache(32)
    for _ in range(2):
        with pytest.raises(Exception, match="bad.png"):
            cache.get(bad)
    assert cache.decoded == 1
    good = tmp_path / "wide.png"
    cv2.imwrite(str(good), np.zeros((10, 40), np.uint8))
    assert cache.get(good).shape == (8, 32)
