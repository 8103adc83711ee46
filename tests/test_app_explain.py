"""Explanations in the desktop app: prediction on open, the real job runner, the overlay, the
store, and the rule that the GUI thread never runs model code (pytest-qt, offscreen)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from medxai_desktop.core.models import random_model  # noqa: E402
from medxai_desktop.core.resources import sample_study_dir  # noqa: E402
from tests.app_helpers import CLASSES, make_window  # noqa: E402

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def model():
    return random_model("resnet18", CLASSES, seed=3, device="cpu")


def test_explanations_run_on_the_model_worker_and_overlay_the_image(qtbot, tmp_path, model):
    window = make_window(qtbot, tmp_path, sample_study_dir(), model=model)
    gui_thread = threading.get_ident()

    # the prediction is shown as soon as the image opens
    qtbot.waitUntil(lambda: window.prediction is not None, timeout=20000)
    expected = model.predict(model.preprocess(window.image))
    assert window.prediction.probabilities == pytest.approx(expected.probabilities, abs=1e-5)
    assert window.panel.prediction_layout.count() == 2 * len(CLASSES)

    window.panel.set_checked_methods(["gradcam++", "layercam"])
    window.panel.run_button.click()
    assert window.panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: set(window.explanations) == {"gradcam++", "layercam"}, timeout=30000)
    qtbot.waitUntil(lambda: window.panel.run_button.isEnabled(), timeout=5000)

    assert window.model_thread_idents and gui_thread not in window.model_thread_idents
    assert window.log.errors() == []
    assert window.panel.maps_list.count() == 2
    assert window.panel.selected_map() == "gradcam++"

    # the overlay: the selected map at the image's own resolution, over the image
    overlay = window.canvas.overlay_item.pixmap()
    assert (overlay.height(), overlay.width()) == window.image.shape
    assert window.canvas.overlay_item.pos() == window.canvas.image_item.pos()
    assert np.array_equal(window.canvas.heatmap, window.explanations["gradcam++"].map)
    assert window.explanations["gradcam++"].map.shape == (224, 224)

    window.panel.maps_list.setCurrentRow(1)
    assert np.array_equal(window.canvas.heatmap, window.explanations["layercam"].map)
    window.panel.opacity_slider.setValue(70)
    assert window.canvas.overlay_item.opacity() == pytest.approx(0.7)
    window.panel.threshold_slider.setValue(50)
    alpha = window.canvas.overlay_item.pixmap().toImage()
    from medxai_desktop.core.overlay import heatmap_rgba
    rgba = heatmap_rgba(window.explanations["layercam"].map, window.image.shape, "jet", 0.5)
    y, x = np.argwhere(rgba[..., 3] == 0)[0]
    assert alpha.pixelColor(int(x), int(y)).alpha() == 0

    # each map was recorded in the store against the open image
    stored = window.store.explanations(window.image_id)
    assert sorted(e.cache_key for e in stored) == sorted(e.cache_key for e in window.explanations.values())


def test_without_a_model_the_app_says_so(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, sample_study_dir())
    assert "No model loaded" in window.panel.model_label.text()
    window.run_explanations(["gradcam++"])
    assert window.log.errors() == ["no model loaded: File > Open model card..."]


def test_an_explanation_can_be_cancelled(qtbot, tmp_path, model, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window = make_window(qtbot, tmp_path, sample_study_dir(), model=model)
    window.run_explanations(["scorecam"])          # asked first (minutes per image), answered Yes
    qtbot.waitUntil(lambda: not window.panel.run_button.isEnabled(), timeout=30000)
    window.panel.cancel_button.click()
    qtbot.waitUntil(lambda: window.panel.run_button.isEnabled(), timeout=60000)
    assert window.explanations == {}
    assert any(m == "explanation cancelled" for _, m in window.log.entries)
    assert window.log.errors() == []
    assert window.store.explanations(window.image_id) == []
