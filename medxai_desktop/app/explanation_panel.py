"""The explanation panel: prediction, method choice, Run/Cancel, overlay style, computed maps."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSlider,
                               QVBoxLayout, QWidget)

from medxai_desktop.core.overlay import COLORMAPS

DEFAULT_METHODS = ("gradcam++", "layercam")


# Methods that only some models have (the card's learned box head): shown once a model has them.
MODEL_SPECIFIC = ("boxhead",)

class ExplanationPanel(QWidget):
    run_requested = Signal(list)          # method names
    cancel_requested = Signal()
    style_changed = Signal(str, float, float)   # colour map, opacity, threshold
    map_selected = Signal(str)            # method name, "" for none
    road_requested = Signal()             # ROAD faithfulness of the computed maps
    methods_toggled = Signal()            # a method's check box changed

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)

        layout.addWidget(self._build_prediction_box())

        methods_box = QGroupBox("Methods")
        self._methods_grid = QGridLayout(methods_box)
        # Filled by set_methods once the explainers (and torch) are loaded, after the window shows;
        # until then choices are kept and applied then.
        self.method_boxes: dict[str, QCheckBox] = {}
        self._wanted: list[str] = list(DEFAULT_METHODS)
        self._unavailable: set[str] = set(MODEL_SPECIFIC)
        self.slow: set[str] = set()
        self._methods_note = QLabel("loading the explanation methods...")
        self._methods_grid.addWidget(self._methods_note, 0, 0, 1, 2)
        layout.addWidget(methods_box)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Explain the prediction with the checked methods (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.road_button = QPushButton("ROAD")
        self.road_button.setToolTip("Faithfulness of each computed map: ROADCombined at 20/40/60/80 % "
                                    "(noisy linear imputation; higher is better), shown beside the map")
        self.road_button.setEnabled(False)
        buttons.addWidget(self.road_button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        layout.addWidget(self.progress)

        overlay_box = QGroupBox("Overlay")
        form = QFormLayout(overlay_box)
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(list(COLORMAPS))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(45)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setValue(0)
        self.opacity_label = QLabel()
        self.threshold_label = QLabel()
        form.addRow("Colour map", self.colormap_combo)
        form.addRow(self.opacity_label, self.opacity_slider)
        form.addRow(self.threshold_label, self.threshold_slider)
        layout.addWidget(overlay_box)

        maps_box = QGroupBox("Computed maps")
        maps_layout = QVBoxLayout(maps_box)
        self.maps_list = QListWidget()
        maps_layout.addWidget(self.maps_list)
        layout.addWidget(maps_box, 1)

        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.checked_methods()))
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.road_button.clicked.connect(self.road_requested.emit)
        self.colormap_combo.currentTextChanged.connect(lambda _: self._emit_style())
        self.opacity_slider.valueChanged.connect(lambda _: self._emit_style())
        self.threshold_slider.valueChanged.connect(lambda _: self._emit_style())
        self.maps_list.currentItemChanged.connect(self._on_map)
        self._update_style_labels()

    def _build_prediction_box(self) -> QGroupBox:
        prediction_box = QGroupBox("Prediction")
        self.model_label = QLabel("No model loaded (File > Open model card...)")
        self.model_label.setWordWrap(True)
        self.prediction_layout = QGridLayout()
        # an image unlike the model's training data (core.models.domain): said above the prediction
        self.domain_label = QLabel()
        self.domain_label.setWordWrap(True)
        self.domain_label.setStyleSheet("background: #7e5109; color: white; padding: 4px; border-radius: 4px")
        self.domain_label.hide()
        prediction_layout = QVBoxLayout(prediction_box)
        prediction_layout.addWidget(self.model_label)
        prediction_layout.addWidget(self.domain_label)
        prediction_layout.addLayout(self.prediction_layout)
        return prediction_box

    # -- state shown ---------------------------------------------------------------------

    def set_methods(self, catalog) -> None:
        """The check boxes of ``catalog`` ([(name, label, in the paper, slow)], core's
        method_catalog), once; the choices made before are applied."""
        if self.method_boxes:
            return
        self._methods_note.hide()
        self.slow = {name for name, _, _, slow in catalog if slow}
        for i, (name, label, paper, _) in enumerate(catalog):
            box = QCheckBox(label)
            box.setToolTip(name + ("  (compared in the paper)" if paper else ""))
            self.method_boxes[name] = box
            self._methods_grid.addWidget(box, 1 + i // 2, i % 2)
            box.toggled.connect(lambda _: self.methods_toggled.emit())
        self.set_checked_methods([m for m in self._wanted if m not in self.slow])   # slow: one run at a time
        self.set_unavailable(self._unavailable)

    def remembered_methods(self) -> list[str]:
        """The checked methods worth remembering for the next session: not the slow ones
        (Score-CAM, minutes per image), which are checked for one run at a time."""
        return [m for m in self.checked_methods() if m not in self.slow]

    def checked_methods(self) -> list[str]:
        if not self.method_boxes:
            return [m for m in self._wanted if m not in self._unavailable]
        return [name for name, box in self.method_boxes.items() if box.isChecked()]

    def set_checked_methods(self, methods) -> None:
        self._wanted = list(methods)
        for name, box in self.method_boxes.items():
            box.setChecked(name in methods)

    def set_unavailable(self, names) -> None:
        """Hide (and uncheck) the methods the open model cannot compute (the box head of a card
        without one), so the list offers only what runs."""
        self._unavailable = set(names)
        for name, box in self.method_boxes.items():
            box.setVisible(name not in names)
            if name in names:
                box.setChecked(False)

    def set_model_text(self, text: str) -> None:
        self.model_label.setText(text)

    def set_domain_warning(self, text: str) -> None:
        """A warning that the image is unlike what the model was trained on; "" hides it."""
        self.domain_label.setText(f"<b>Warning:</b> {text}" if text else "")
        self.domain_label.setToolTip(text)
        self.domain_label.setVisible(bool(text))

    def show_prediction(self, prediction, hidden_text: str = "") -> None:
        """Class probabilities, highest first, as labelled bars; None clears them (and shows
        ``hidden_text`` instead, when the prediction exists but may not be shown)."""
        while self.prediction_layout.count():
            widget = self.prediction_layout.takeAt(0).widget()
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        if prediction is None:
            if hidden_text:
                hidden = QLabel(hidden_text)
                hidden.setWordWrap(True)
                hidden.setStyleSheet("color: #b9770e")
                self.prediction_layout.addWidget(hidden, 0, 0, 1, 2)
            return
        ranked = sorted(prediction.probabilities.items(), key=lambda kv: -kv[1])
        for row, (name, p) in enumerate(ranked):
            label = QLabel(f"<b>{name}</b>" if name == prediction.class_name else name)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p * 100:.1f} %")
            bar.setMaximumHeight(16)
            self.prediction_layout.addWidget(label, row, 0)
            self.prediction_layout.addWidget(bar, row, 1)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting...")

    def set_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 100))
        self.progress.setFormat(message or "%p%")

    def set_maps(self, entries: list[tuple[str, str]], select: str | None = None) -> None:
        """(method, text) rows; ``select`` one of them."""
        self.maps_list.blockSignals(True)
        self.maps_list.clear()
        for method, text in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, method)
            self.maps_list.addItem(item)
        self.maps_list.blockSignals(False)
        self.road_button.setEnabled(bool(entries))
        if select is not None:
            for i in range(self.maps_list.count()):
                if self.maps_list.item(i).data(Qt.ItemDataRole.UserRole) == select:
                    self.maps_list.setCurrentRow(i)
        elif not entries:
            self.map_selected.emit("")

    def selected_map(self) -> str:
        item = self.maps_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    # -- style -----------------------------------------------------------------------------

    def overlay_style(self) -> tuple[str, float, float]:
        return (self.colormap_combo.currentText(), self.opacity_slider.value() / 100,
                self.threshold_slider.value() / 100)

    def set_overlay_style(self, colormap: str, opacity: float, threshold: float) -> None:
        """Show a saved style (an unknown colour map is left as it is); emits style_changed."""
        index = self.colormap_combo.findText(colormap)
        if index >= 0:
            self.colormap_combo.setCurrentIndex(index)
        self.opacity_slider.setValue(round(min(max(opacity, 0.0), 1.0) * 100))
        self.threshold_slider.setValue(round(min(max(threshold, 0.0), 1.0) * 100))

    def _update_style_labels(self) -> None:
        self.opacity_label.setText(f"Opacity {self.opacity_slider.value()} %")
        self.threshold_label.setText(f"Threshold {self.threshold_slider.value() / 100:.2f}")

    def _emit_style(self) -> None:
        self._update_style_labels()
        self.style_changed.emit(*self.overlay_style())

    def _on_map(self, current, _previous) -> None:
        self.map_selected.emit(current.data(Qt.ItemDataRole.UserRole) if current is not None else "")
