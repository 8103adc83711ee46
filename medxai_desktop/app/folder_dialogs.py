"""Folder dialogs that start where the user was: the folder last chosen for the same purpose
(remembered in AppSettings), else the user's documents, else the home folder; never the
working directory (a checkout's project folder, or the installation), where accepting the
default would write."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog


def start_folder(settings, purpose: str) -> str:
    last = settings.last_folder(purpose)
    if last and Path(last).is_dir():
        return last
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return documents if documents and Path(documents).is_dir() else str(Path.home())


def ask_folder(window, title: str, purpose: str) -> Path | None:
    """The folder the user picks for ``purpose`` (remembered for next time), or None."""
    folder = QFileDialog.getExistingDirectory(window, title, start_folder(window.settings, purpose))
    if not folder:
        return None
    window.settings.set_last_folder(purpose, folder)
    return Path(folder)
