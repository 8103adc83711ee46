"""The Reports menu and ROAD scores beside each map, driven through the real window
(pytest-qt, offscreen) with the bundled demo model on the sample study."""
from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from medxai_desktop.core.boxes import Box  # noqa: E402
from medxai_desktop.core.resources import demo_model_card, sample_study_dir  # noqa: E402
from tests.app_helpers import make_window  # noqa: E402

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def demo_model():
    from medxai_desktop.core.models import load_model

    return load_model(demo_model_card(), device="cpu")


def _explained_window(qtbot, tmp_path, model, methods):
    window = make_window(qtbot, tmp_path, sample_study_dir(), model=model)
    window.panel.set_checked_methods(methods)
    window.panel.run_button.click()
    qtbot.waitUntil(lambda: set(window.explanations) == set(methods), timeout=60000)
    qtbot.waitUntil(lambda: window.panel.run_button.isEnabled(), timeout=10000)
    return window


def test_road_scores_appear_beside_each_map_and_equal_the_core(qtbot, tmp_path, demo_model):
    from medxai_desktop.core.evaluation.road import road_scores

    window = _explained_window(qtbot, tmp_path, demo_model, ["gradcam++", "layercam"])
    assert window.panel.road_button.isEnabled()
    assert "ROAD" not in window.panel.maps_list.item(0).text()
    window.panel.road_button.click()
    qtbot.waitUntil(lambda: len(window.reports.scores) == 2, timeout=60000)

    explanation = window.explanations["gradcam++"]
    expected = road_scores(demo_model, demo_model.preprocess(window.image),
                           {m: e.map for m, e in window.explanations.items()}, explanation.target_index)
    texts = [window.panel.maps_list.item(i).text() for i in range(window.panel.maps_list.count())]
    for method, text in zip(window.explanations, texts):
        assert window.reports.scores[method].combined == pytest.approx(expected[method].combined, abs=1e-6)
        assert text.endswith(f"ROAD {expected[method].combined:+.3f}")
    assert window.grid.scores == {m: f"ROAD {expected[m].combined:+.3f}" for m in window.explanations}
    assert window.log.errors() == []

    # a new map for one method drops only that method's stale score
    window.panel.set_checked_methods(["gradcam++"])
    window.panel.run_button.click()
    qtbot.waitUntil(lambda: "gradcam++" not in window.reports.scores, timeout=30000)
    assert "layercam" in window.reports.scores


def test_reports_menu_writes_the_localisation_and_road_reports(qtbot, tmp_path, demo_model):
    window = _explained_window(qtbot, tmp_path, demo_model, ["gradcam++"])
    # a reviewed box on the open image: the reference the localisation report scores against
    window.store.add_box(window.image_id, Box(60, 40, 140, 120), "glioma", reviewer="tester")
    done = []
    handle = window.reports.localisation_report(tmp_path / "loc")
    handle.finished.connect(lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done), timeout=120000)
    assert window.log.errors() == []
    html = (tmp_path / "loc" / "report.html").read_text()
    assert "data:image/png;base64," in html and window.reports.last_report == tmp_path / "loc" / "report.html"

    done.clear()
    handle = window.reports.road_report(tmp_path / "road", methods=("gradcam++", "layercam"))
    handle.finished.connect(lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done), timeout=180000)
    assert window.log.errors() == []
    summary = json.loads((tmp_path / "road" / "summary.json").read_text())
    assert summary["n_images"] == len(window.browser.image_refs()) == 4
    assert "Paired t-tests" in (tmp_path / "road" / "report.html").read_text()


def test_reports_without_data_say_why_and_the_app_keeps_running(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, sample_study_dir())
    window.reports.compute_road()
    assert "ROAD needs a model" in window.log.errors()[-1]
    assert window.reports.road_report(tmp_path / "r") is None
    handle = window.reports.localisation_report(tmp_path / "loc")
    done = []
    handle.finished.connect(lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done), timeout=30000)
    assert "no reviewed boxes" in window.log.errors()[-1]


# -- long jobs ask first; reports on free-text labels (issue 15 defects 7 and 8) ------------------

def _answer(monkeypatch, button_name: str) -> list[str]:
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return getattr(QMessageBox.StandardButton, button_name)

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_road_report_says_how_long_and_starts_only_when_confirmed(qtbot, tmp_path, demo_model, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = make_window(qtbot, tmp_path, sample_study_dir(), model=demo_model)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "road"))
    asked = _answer(monkeypatch, "No")
    window.reports.choose_road_report()
    qtbot.waitUntil(lambda: bool(asked), timeout=120000)
    assert "5 methods on 4 listed image(s)" in asked[0] and "per forward pass" in asked[0] and "about" in asked[0]
    qtbot.waitUntil(lambda: any("ROAD report: not started" in m for _, m in window.log.entries), timeout=5000)
    assert not (tmp_path / "road" / "summary.json").exists()


def test_score_cam_asks_first_and_is_not_kept_checked(qtbot, tmp_path, demo_model, monkeypatch):
    window = make_window(qtbot, tmp_path, sample_study_dir(), model=demo_model)
    asked = _answer(monkeypatch, "No")
    window.panel.set_checked_methods(["scorecam", "gradcam"])
    window.panel.run_button.click()
    qtbot.waitUntil(lambda: bool(asked), timeout=30000)
    assert "gradcam, scorecam on" in asked[0] and "per image" in asked[0]
    assert window.explanations == {} and window.panel.checked_methods() == ["gradcam"]
    window.panel.run_button.click()                     # the next Ctrl+R: no Score-CAM, no question
    qtbot.waitUntil(lambda: set(window.explanations) == {"gradcam"}, timeout=60000)
    assert len(asked) == 1


def test_localisation_report_on_free_text_labels_asks_which_class(qtbot, tmp_path, demo_model, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    window = make_window(qtbot, tmp_path, sample_study_dir(), model=demo_model)
    window.store.add_box(window.image_id, Box(60, 40, 140, 120), "enhancing lesion, left", reviewer="tester")
    offered = []

    def get_item(parent, title, text, items, *args, **kwargs):
        offered.append((text, list(items)))
        return "the predicted class", True

    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "loc"))
    window.reports.choose_localisation_report()
    assert "enhancing lesion, left" in offered[0][0] and offered[0][1][1:] == list(demo_model.classes)
    qtbot.waitUntil(lambda: window.reports.last_report is not None or bool(window.log.errors()), timeout=180000)
    assert window.log.errors() == []
    assert (tmp_path / "loc" / "report.html").exists()
