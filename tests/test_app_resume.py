"""The app reopens where the reviewer left off (the study, the image, its maps) and the Export
dialog starts in the folder of the last export (issue 15, "what radiologists expect")."""
from __future__ import annotations

import os
import shutil
from argparse import Namespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from medxai_desktop.core.resources import demo_model_card, sample_study_dir  # noqa: E402

pytest.importorskip("pytestqt")


@pytest.fixture
def settings_file(tmp_path):
    return tmp_path / "settings.ini"


@pytest.fixture(scope="module")
def demo_model():
    from medxai_desktop.core.models import load_model

    return load_model(demo_model_card(), device="cpu")


def _window(qtbot, tmp_path, settings_file, model, path=None):
    from medxai_desktop.app.settings import AppSettings
    from medxai_desktop.app.startup import create_window
    from medxai_desktop.core.store import ReviewStore

    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps")
    window = create_window(Namespace(path=path, device="cpu", model=None), store, None,
                           AppSettings.at(settings_file), "Dr Test")
    qtbot.addWidget(window)
    window.set_model(model, "demo")
    window.show()
    return window


def test_the_app_reopens_the_last_image_with_its_maps(qtbot, tmp_path, settings_file, demo_model):
    study = tmp_path / "study"
    shutil.copytree(sample_study_dir(), study)
    first = _window(qtbot, tmp_path, settings_file, demo_model, path=str(study))
    qtbot.waitUntil(lambda: len(first.browser.image_refs()) > 2 and first.image is not None, timeout=30000)
    third = first.browser.image_refs()[2]
    first.browser.select_index(2)
    qtbot.waitUntil(lambda: first.ref == third and first.session.prediction is not None, timeout=30000)
    first.run_explanations(["gradcam", "layercam"])
    qtbot.waitUntil(lambda: set(first.explanations) == {"gradcam", "layercam"}, timeout=60000)
    first.close()

    second = _window(qtbot, tmp_path, settings_file, demo_model)          # no path: resume
    qtbot.waitUntil(lambda: second.ref is not None and second.ref.path == third.path, timeout=30000)
    qtbot.waitUntil(lambda: set(second.explanations) == {"gradcam", "layercam"}, timeout=60000)
    assert second.panel.maps_list.count() == 2
    second.close()


def test_without_a_session_to_resume_the_sample_study_opens(qtbot, tmp_path, settings_file, demo_model):
    window = _window(qtbot, tmp_path, settings_file, demo_model)
    qtbot.waitUntil(lambda: window.image is not None, timeout=30000)
    assert window.ref.path.parent == sample_study_dir().absolute() or window.ref.path.parent == sample_study_dir()


def test_the_export_dialog_starts_in_the_last_export_folder(qtbot, tmp_path, settings_file, demo_model):
    from medxai_desktop.app.export_dialog import ExportDialog, ExportRequest

    window = _window(qtbot, tmp_path, settings_file, demo_model)
    out = tmp_path / "exports" / "truth.json"
    out.parent.mkdir()
    window.export(ExportRequest("coco", "reviewed", out))
    dialog = ExportDialog(window, default_dir=window.settings.export_folder())
    qtbot.addWidget(dialog)
    assert dialog.out_edit.text().startswith(str(out.parent))
