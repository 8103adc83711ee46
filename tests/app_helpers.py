"""Shared pieces of the desktop-app tests (pytest-qt, offscreen)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

CLASSES = ["glioma", "meningioma", "pituitary", "no_tumor"]


def make_window(qtbot, tmp_path, path, model=None):
    """A main window on a temporary SQLite store, opened on ``path``, first image shown."""
    from medxai_desktop.app.main_window import MainWindow
    from medxai_desktop.core.store import ReviewStore

    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps")
    window = MainWindow(store, device="cpu")
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    if model is not None:
        window.set_model(model, "seeded resnet18")
    window.open_path(path)
    qtbot.waitUntil(lambda: window.image is not None, timeout=15000)
    return window


def send_mouse(widget, kind, pos, button=Qt.MouseButton.LeftButton, buttons=None,
               modifiers=Qt.KeyboardModifier.NoModifier):
    """Deliver one mouse event at viewport position ``pos`` (QTest cannot hold a button while moving)."""
    types = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove,
             "release": QEvent.Type.MouseButtonRelease}
    point = QPointF(pos)
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == "release" else button
    if kind == "move":
        button = Qt.MouseButton.NoButton
    event = QMouseEvent(types[kind], point, widget.mapToGlobal(point), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)
