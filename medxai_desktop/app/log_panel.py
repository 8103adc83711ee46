"""The log dock: every message and error, with time; errors never open modal dialogs."""
from __future__ import annotations

import time

from PySide6.QtGui import QTextCharFormat, QColor
from PySide6.QtWidgets import QPlainTextEdit


class LogPanel(QPlainTextEdit):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.entries: list[tuple[str, str]] = []   # (level, message)

    def add(self, message: str, level: str = "info") -> None:
        self.entries.append((level, message))
        fmt = QTextCharFormat()
        if level == "error":
            fmt.setForeground(QColor("#c0392b"))
        elif level == "warning":
            fmt.setForeground(QColor("#b9770e"))
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(f"{time.strftime('%H:%M:%S')}  {level.upper():7s} {message}\n", fmt)
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    def errors(self) -> list[str]:
        return [m for level, m in self.entries if level == "error"]
