"""Jobs that take minutes or hours start only after the user has seen how long they will take:
the estimate (core.evaluation.cost_estimate, timed on the model worker), then a question whose
default is Yes (the user asked for the run); No starts nothing. A long job that runs shows its
progress in a dialog with Cancel (:func:`progress_dialog`)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog


def confirm(window, title: str, what: str, estimate) -> bool:
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(window, title, f"{what}:\n{estimate.text()}.\n\nStart now?", buttons,
                                  QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


def progress_dialog(window, title: str, handle) -> QProgressDialog:
    """A non-modal dialog showing ``handle``'s progress; Cancel cancels the job; it closes
    when the job ends, however it ends."""
    dialog = QProgressDialog(f"{title}: starting...", "Cancel", 0, 100, window)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumDuration(0)
    dialog.setMinimumWidth(420)
    dialog.canceled.connect(handle.cancel)
    dialog.canceled.connect(lambda: dialog.setLabelText(f"{title}: cancelling..."))
    handle.progress.connect(lambda fraction, message: (dialog.setValue(round(fraction * 100)),
                                                       dialog.setLabelText(message or title)))
    handle.cancelled.connect(lambda: window.info(f"{title}: cancelled"))
    handle.finished.connect(dialog.close)
    handle.finished.connect(dialog.deleteLater)
    dialog.show()
    return dialog


def estimate_then_start(window, title: str, what: str, estimate, start) -> None:
    """``estimate()`` on the model worker; then ask; ``start()`` on Yes."""
    def decide(result) -> None:
        if confirm(window, title, what, result):
            start()
        else:
            window.info(f"{title}: not started ({what}, {result.text()})")

    window.info(f"{title}: estimating how long it takes...")
    window.jobs.submit(f"estimate: {title}", lambda progress, cancelled: estimate(), model=True,
                       on_failure=window.error, on_success=decide)
