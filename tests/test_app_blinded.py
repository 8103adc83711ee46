"""Blinded-first review with the real widgets (pytest-qt, offscreen): until the reviewer's own
box or "Reveal AI", no text on the screen tells the model's answer: not the Prediction panel,
the computed-maps list, the CrossEAI summary, the status bar, the log, a tooltip, the window
title, nor the label a first drawn box gets (issue 15 defect 2)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QAbstractButton, QComboBox, QDockWidget, QGraphicsSimpleTextItem, QGroupBox,
                               QLabel, QLineEdit, QListWidget, QPlainTextEdit, QProgressBar, QTableWidget,
                               QTabWidget, QTreeWidget, QWidget)
from PySide6.QtCore import Qt

from medxai_desktop.app.crosseai_controller import HIDDEN_SUMMARY
from tests.test_app_review import demo_model  # noqa: F401 (a fixture)
from tests.test_app_review import drag, key, open_window, stored, view_point, wait_review

pytest.importorskip("pytestqt")

COUNTS = re.compile(r"\b\d+\s+(?:\w+\s+)?(?:box|boxes|box\(es\)|proposals?|proposal\(s\))\b", re.IGNORECASE)


def _item_texts(widget) -> list[str]:
    """The texts of a list, tree or table widget's items (all columns) and their tooltips."""
    texts = []
    if isinstance(widget, QListWidget):
        for i in range(widget.count()):
            texts += [widget.item(i).text(), widget.item(i).toolTip()]
    elif isinstance(widget, QTableWidget):
        for r in range(widget.rowCount()):
            for c in range(widget.columnCount()):
                item = widget.item(r, c)
                texts += [item.text(), item.toolTip()] if item is not None else []
    elif isinstance(widget, QTreeWidget):
        stack = [widget.topLevelItem(i) for i in range(widget.topLevelItemCount())]
        while stack:
            item = stack.pop()
            texts += [t for c in range(widget.columnCount()) for t in (item.text(c), item.toolTip(c))]
            stack += [item.child(i) for i in range(item.childCount())]
    return texts


def _widget_texts(widget) -> list[str]:
    """What a widget puts on the screen as text: its own, its tooltip, its items'."""
    texts = [widget.toolTip(), widget.windowTitle() if isinstance(widget, QDockWidget) else ""]
    if isinstance(widget, QLabel):
        texts.append(widget.text())
    elif isinstance(widget, QAbstractButton):
        texts.append(widget.text())
    elif isinstance(widget, QGroupBox):
        texts.append(widget.title())
    elif isinstance(widget, QProgressBar):
        texts.append(widget.text())
    elif isinstance(widget, QLineEdit):
        texts += [widget.text(), widget.placeholderText()]
    elif isinstance(widget, QComboBox):
        texts.append(widget.currentText())     # its list of choices is not an answer
    elif isinstance(widget, QTabWidget):
        texts += [t for i in range(widget.count()) for t in (widget.tabText(i), widget.tabToolTip(i))]
    elif isinstance(widget, QPlainTextEdit):
        pass                                   # the log: its entries are checked one by one
    return texts + _item_texts(widget)


def screen_texts(window, log_from: int = 0) -> list[str]:
    """Every text the window shows or can show on hover: widgets, actions, the canvas's items,
    the status bar, the window title, and the log's entries from ``log_from`` on."""
    texts = [window.windowTitle(), window.statusBar().currentMessage()]
    for widget in window.findChildren(QWidget):
        texts += _widget_texts(widget)
    for action in window.findChildren(QAction):
        texts += [action.text(), action.toolTip(), action.statusTip()]
    for item in window.canvas.scene().items():
        if item.isVisible():
            texts.append(item.toolTip())
            if isinstance(item, QGraphicsSimpleTextItem):
                texts.append(item.text())
    texts += [message for _, message in window.log.entries[log_from:]]
    return [t for t in texts if t]


def leaks(texts, prediction, classes, refs=()) -> list[str]:
    """The texts that tell something of ``prediction``: its class (a text naming every class,
    such as the model's description, tells nothing), a probability, a count of boxes. The
    listed files' paths and names (``refs``; the sample study's name their class) are the
    reader's data, not the model's: they are left out first."""
    probabilities = [f"{p * 100:.1f} %" for p in prediction.probabilities.values() if p >= 0.01]
    names = sorted({str(r.path) for r in refs} | {str(r.path.parent) for r in refs} | {r.path.name for r in refs},
                   key=len, reverse=True)
    found = []
    for text in texts:
        for name in names:
            text = text.replace(name, "")
        names_all = all(c in text for c in classes)
        if (prediction.class_name in text and not names_all) or any(p in text for p in probabilities) \
                or COUNTS.search(text):
            found.append(text)
    return found


def prediction_texts(window) -> list[str]:
    layout = window.panel.prediction_layout
    widgets = [layout.itemAt(i).widget() for i in range(layout.count())]
    return [w.text() for w in widgets if isinstance(w, (QLabel, QProgressBar))]


def test_blinded_review_shows_nothing_of_the_model_until_reveal(qtbot, tmp_path, demo_model):  # noqa: F811
    window = open_window(qtbot, tmp_path / "reviews.sqlite3", demo_model)
    review, session, classes = window.review, window.session, demo_model.classes
    qtbot.waitUntil(lambda: session.prediction is not None and bool(prediction_texts(window)), timeout=20000)
    log_from = len(window.log.entries)
    review.blinded_action.trigger()
    assert review.ai_hidden()
    assert leaks(screen_texts(window, log_from), session.prediction, classes, window.browser.image_refs()) == []
    assert any("hidden" in t for t in prediction_texts(window))

    # explanations, the CrossEAI preview and stored proposals: computed, nothing of them shown
    window.panel.set_checked_methods(["gradcam++"])
    window.panel.run_button.click()
    qtbot.waitUntil(lambda: "gradcam++" in window.explanations and window.panel.run_button.isEnabled(),
                    timeout=30000)
    panel = review.crosseai_panel
    panel.preview_box.setChecked(True)
    qtbot.waitUntil(lambda: len(session.preview_boxes) >= 1 and window.panel.run_button.isEnabled(),
                    timeout=30000)
    found = leaks(screen_texts(window, log_from), session.prediction, classes, window.browser.image_refs())
    assert found == [] and "hidden" in panel.summary.text(), found
    panel.propose_button.click()
    qtbot.waitUntil(lambda: len(review.views) >= 1, timeout=30000)
    prediction = session.prediction
    assert window.panel.maps_list.count() >= 1 and review.panel.rows() == []
    found = leaks(screen_texts(window, log_from), prediction, classes, window.browser.image_refs())
    assert found == [], found

    # Reveal AI: the prediction, the maps' class, the boxes and the log line are there
    review.panel.reveal_button.click()
    shown = prediction_texts(window)
    assert f"<b>{prediction.class_name}</b>" in shown
    assert f"{prediction.probabilities[prediction.class_name] * 100:.1f} %" in shown
    maps = [window.panel.maps_list.item(i).text() for i in range(window.panel.maps_list.count())]
    assert all(prediction.class_name in m for m in maps)
    assert any(f"predicted {prediction.class_name}" in m for _, m in window.log.entries[log_from:])
    assert review.panel.rows() and {r[1] for r in review.panel.rows()} == {"AI"}
    panel.preview_box.setChecked(True)
    qtbot.waitUntil(lambda: "box(es) for" in panel.summary.text(), timeout=30000)
    assert prediction.class_name in panel.summary.text()

    # the next image is hidden again; its first drawn box is not labelled with the prediction
    window.browser.select_index(1)
    wait_review(qtbot, window, 1)
    # the preview stays on: this image's maps are computed, and the summary says nothing of them
    qtbot.waitUntil(lambda: session.prediction is not None and not window.explaining()
                    and panel.summary.text() == HIDDEN_SUMMARY, timeout=30000)
    log_from = len(window.log.entries)
    second = session.prediction
    assert review.ai_hidden()
    found = leaks(screen_texts(window, log_from), second, classes, window.browser.image_refs())
    assert found == [], found
    assert review.panel.current_label() == ""
    key(qtbot, window, Qt.Key.Key_B)
    assert review.editor.draw_armed
    drag(window.canvas, view_point(window.canvas, 200, 200), view_point(window.canvas, 280, 260))
    ((_, (_, label, state, _, origin)),) = stored(window).items()
    assert (label, state, origin) == ("finding", "added", "drawn") and label != second.class_name
    # the own box shows the AI output
    assert not review.ai_hidden()
    assert f"<b>{second.class_name}</b>" in prediction_texts(window)
