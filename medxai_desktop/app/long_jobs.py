"""Jobs that take minutes or hours start only after the user has seen how long they will take:
the estimate (core.evaluation.cost_estimate, one timed forward pass on the model worker), then
a question; No starts nothing."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


def confirm(window, title: str, what: str, estimate) -> bool:
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(window, title, f"{what}:\n{estimate.text()}.\n\nStart now?", buttons,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def estimate_then_start(window, title: str, what: str, estimate, start) -> None:
    """``estimate()`` on the model worker; then ask; ``start()`` on Yes."""
    def decide(result) -> None:
        if confirm(window, title, what, result):
            start()
        else:
            window.info(f"{title}: not started ({what}, {result.text()})")

    window.jobs.submit(f"estimate: {title}", lambda progress, cancelled: estimate(), model=True,
                       on_failure=window.error, on_success=decide)
