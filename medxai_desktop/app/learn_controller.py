"""Review > Learn from reviewed boxes: learn from the open database's reviewed boxes
(core.models.fine_tune.learn_from_store: a box head on the open model, or with method="cam" a
CAM-in-box fine-tune) as a background job with progress and cancel; the new card is written
beside the old one, and a non-modal question offers to switch to it."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from .folder_dialogs import ask_folder


class LearnController:
    """``window`` is the MainWindow: its model, store, jobs, panel and messages are used."""

    def __init__(self, window):
        self.window = window
        self.job = None
        self.offer: QMessageBox | None = None    # the last "switch to the new version?" question

    def choose_data(self) -> None:
        folder = ask_folder(self.window, "Labelled training images (one sub-folder per class)", "learn")
        if folder is not None:
            self.learn(folder)

    def refusal(self) -> str | None:
        window = self.window
        if window.model is None or not window.explainer.model_source:
            return "learning from boxes needs a model opened from its card (File > Open model card...)"
        if window.store is None:
            return "learning from boxes needs a review database"
        if self.job is not None and not self.job.done:
            return "a fine-tune is already running"
        return None

    def learn(self, data: Path, **changes):
        """Start the fine-tune on ``data``; the job handle (None when refused)."""
        from medxai_desktop.core.models.fine_tune import learn_from_store

        refusal = self.refusal()
        if refusal is not None:
            self.window.error(refusal)
            return None
        window, store, parent = self.window, self.window.store, Path(self.window.explainer.model_source)

        def job(progress, cancelled):
            return learn_from_store(store, data, parent, progress=progress, cancelled=cancelled, **changes)

        self.job = window.jobs.submit("learn from reviewed boxes", job, on_success=self._on_trained,
                                      on_failure=window.error)
        self.job.progress.connect(window.panel.set_progress)
        self.job.cancelled.connect(lambda: window.info("learning from boxes cancelled"))
        self.job.finished.connect(lambda: window.panel.set_progress(0, "idle"))
        window.info(f"learning from the reviewed boxes of {store.url} on {data} (from {parent.name})")
        return self.job

    def _on_trained(self, result) -> None:
        from medxai_desktop.core.models.card import load_card

        card = load_card(result.card_path)
        boxes = card.metadata["lineage"]["boxes"] or {}
        text = f"New model version {result.card_path.parent.name}: {boxes.get('training_images_with_boxes', 0)} " \
               f"boxed training image(s); "
        if hasattr(result, "history"):
            best = result.history[result.best_epoch - 1]
            text += f"validation accuracy {best.val_accuracy:.3f}, macro-F1 {best.val_macro_f1:.3f}."
        else:
            text += (f"a box head on the unchanged classifier ({result.training.seconds:.0f} s); its "
                     f"proposals are 'Box head (learned)'.")
        self.window.info(text)
        self.offer = QMessageBox(QMessageBox.Icon.Question, "Learn from reviewed boxes",
                                 text + "\nSwitch to the new version?",
                                 QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.window)
        yes = self.offer.button(QMessageBox.StandardButton.Yes)
        self.offer.buttonClicked.connect(
            lambda button: self.window.load_model_card(result.card_path) if button is yes else None)
        self.offer.open()
