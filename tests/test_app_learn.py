"""Review > Learn from reviewed boxes: a background fine-tune on the open database's boxes, a new
card version beside the old one, and the offer to switch to it."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402

import pytest  # noqa: E402

from medxai_desktop.core.evaluation.localisation import read_reference_file  # noqa: E402
from medxai_desktop.core.models import load_card, load_model  # noqa: E402
from medxai_desktop.core.models.fine_tune import next_version_dir  # noqa: E402
from medxai_desktop.core.models.training import train  # noqa: E402
from medxai_desktop.core.store import ReviewStore  # noqa: E402
from tests.test_box_supervision import config, tiny_architecture, write_squares  # noqa: E402

pytest.importorskip("pytestqt")


setting = pytest.fixture(scope="module", autouse=True)(tiny_architecture)


@pytest.fixture
def setup(tmp_path):
    images, boxes = write_squares(tmp_path / "squares", per_class=12)
    parent = train(images, tmp_path / "model", config(epochs=1, box_weight=0.0)).card_path
    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps")
    store.import_annotations(read_reference_file(boxes), reviewer="alice", source="boxes.csv")
    return images, parent, store


def _window(qtbot, store, parent):
    from medxai_desktop.app.main_window import MainWindow

    window = MainWindow(store, device="cpu")
    qtbot.addWidget(window)
    window.set_model(load_model(parent, device="cpu"), str(parent))
    return window


def test_learning_writes_a_new_version_and_offers_to_switch(qtbot, setup):
    from PySide6.QtWidgets import QMessageBox

    images, parent, store = setup
    window = _window(qtbot, store, parent)
    assert next_version_dir(parent) == parent.parent / "model_v2"
    handle = window.learner.learn(images, method="cam", epochs=1, batch_size=8, device="cpu")
    assert handle is not None and window.learner.learn(images) is None     # one at a time
    assert "already running" in window.log.errors()[-1]
    qtbot.waitUntil(lambda: window.learner.offer is not None, timeout=120000)
    card = load_card(parent.parent / "model_v2" / "model.json")
    lineage = card.metadata["lineage"]
    assert lineage["boxes"]["source"] == "database" and lineage["boxes"]["reviewers"] == ["alice"]
    assert lineage["parent"] == "model.json" and card.metadata["box_weight"] == 0.5
    assert load_card(parent).sha256 != card.sha256                     # the old version is left alone
    window.learner.offer.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: window.explainer.model_source.endswith("model_v2/model.json"), timeout=30000)
    assert window.model.card.sha256 == card.sha256


def test_learning_is_refused_without_a_card_and_can_be_cancelled(qtbot, setup):
    images, parent, store = setup
    window = _window(qtbot, store, parent)
    window.explainer.model_source = ""
    assert window.learner.learn(images) is None and "from its card" in window.log.errors()[-1]
    window.explainer.model_source = str(parent)
    handle = window.learner.learn(images, method="cam", epochs=3, batch_size=8, device="cpu")
    handle.cancel()
    qtbot.waitUntil(lambda: handle.done, timeout=120000)
    assert window.learner.offer is None
    assert any("learning from boxes cancelled" in m for _, m in window.log.entries)


def test_learning_a_box_head_keeps_the_classifier_and_offers_the_new_version(qtbot, setup):
    from PySide6.QtWidgets import QMessageBox

    images, parent, store = setup
    window = _window(qtbot, store, parent)
    assert window.panel.method_boxes["boxhead"].isHidden()             # no head yet: not offered
    handle = window.learner.learn(images, steps=30, batch_size=8)    # the default way: a box head
    assert handle is not None
    qtbot.waitUntil(lambda: window.learner.offer is not None, timeout=120000)
    assert "box head" in window.learner.offer.text()
    card = load_card(parent.parent / "model_v2" / "model.json")
    assert card.metadata["lineage"]["method"] == "box_head"
    assert card.metadata["lineage"]["boxes"]["reviewers"] == ["alice"]
    assert card.sha256 == load_card(parent).sha256 and "boxhead" in card.metadata["proposal_methods"]
    window.learner.offer.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: window.explainer.model_source.endswith("model_v2/model.json"), timeout=30000)
    assert window.model.box_head is not None and not window.panel.method_boxes["boxhead"].isHidden()
    # Reports > Compare with the version it learned from: both versions on the database's boxes
    handle = window.reports.version_comparison(parent.parent / "cmp")
    qtbot.waitUntil(lambda: handle.done, timeout=120000)
    assert window.reports.last_report == parent.parent / "cmp" / "comparison.html"
    rows = json.loads((parent.parent / "cmp" / "comparison.json").read_text())["rows"]
    proposes = {r["version"]: r["method"] for r in rows if r["proposes"]}
    assert proposes == {"model_v2": "crosseai", "model": "crosseai"} and rows[0]["images"] == 24
