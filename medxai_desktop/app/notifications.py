"""A non-modal notice ("toast") in the bottom-right corner of the window that fades away.

Errors go to the log panel and here; nothing blocks the user. Clicking the notice dismisses it
(and tells the window, which shows the log).
"""
from __future__ import annotations

from PySide6.QtCore import QEasingCurve, QEvent, QPropertyAnimation, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QWidget,
)

STYLES = {
    "error": "background: #7b241c; color: white; border: 1px solid #c0392b; border-radius: 6px;",
    "warning": "background: #7e5109; color: white; border: 1px solid #b9770e; border-radius: 6px;",
    "info": "background: #1b4f72; color: white; border: 1px solid #2e86c1; border-radius: 6px;",
}

MIN_WIDTH, MAX_WIDTH = 240, 520


class Toast(QFrame):
    clicked = Signal()

    def __init__(self, parent: QWidget, timeout_ms: int = 6000, fade_ms: int = 700, anchor: QWidget | None = None):
        super().__init__(parent)
        self.timeout_ms, self.anchor = timeout_ms, anchor
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.label.setStyleSheet("background: transparent; border: none;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(self.label)
        self.effect = QGraphicsOpacityEffect(self)
        self.setGraphicsEffect(self.effect)
        self.fade = QPropertyAnimation(self.effect, b"opacity", self)
        self.fade.setDuration(fade_ms)
        self.fade.setStartValue(1.0)
        self.fade.setEndValue(0.0)
        self.fade.setEasingCurve(QEasingCurve.Type.InQuad)
        self.fade.finished.connect(self.hide)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.fade.start)
        self.message, self.more = "", 0
        self.hide()
        parent.installEventFilter(self)

    def show_message(self, message: str, level: str = "error") -> None:
        """Show ``message`` now; a notice already showing counts as one more in the log."""
        self.more = self.more + 1 if self.isVisible() and self.effect.opacity() > 0 else 0
        self.message = message
        extra = f"<br><i>(+{self.more} more in the log)</i>" if self.more else ""
        self.label.setText(f"<b>{level.capitalize()}:</b> {_escape(message)}{extra}")
        self.setStyleSheet(f"Toast {{{STYLES.get(level, STYLES['info'])}}}")
        self.fade.stop()
        self.effect.setOpacity(1.0)
        # as wide as the text needs, up to MAX_WIDTH; then wrapped
        text_width = self.label.fontMetrics().horizontalAdvance(f"{level.capitalize()}: {message}")
        room = self._area().width() - 32
        width = max(min(MAX_WIDTH, room, max(MIN_WIDTH, text_width + 40)), 120)
        margins = self.layout().contentsMargins()
        self.setFixedSize(width, self.label.heightForWidth(width - margins.left() - margins.right())
                          + margins.top() + margins.bottom())
        self._place()
        self.show()
        self.raise_()
        self.timer.start(self.timeout_ms)

    def dismiss(self) -> None:
        self.timer.stop()
        self.fade.stop()
        self.hide()

    def _area(self):
        """Where the notice goes, in the parent's coordinates: the anchor widget, else the parent."""
        if self.anchor is not None and self.anchor.isVisible():
            return self.anchor.geometry()
        return self.parentWidget().rect()

    def _place(self) -> None:
        area = self._area()
        self.move(max(area.right() - self.width() - 16, 0), max(area.bottom() - self.height() - 16, 0))

    def mousePressEvent(self, event) -> None:
        self.dismiss()
        self.clicked.emit()
        event.accept()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
