"""The CrossEAI panel: the box parameters as sliders, live preview switches and "Propose boxes".

Sliders hold integers; each parameter maps them to its value (``SLIDERS``): alpha and tau in
steps of 0.005 on sliders at least ``SLIDER_MIN_WIDTH`` px wide (about 0.005 a pixel), each
label above its slider so the dock stays narrow. Values set from
a model card are kept exactly (not rounded to a slider step) until the user moves a control.
The panel only shows values and emits changes; the review controller re-thresholds the cached
maps.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from medxai_desktop.core.explain.crosseai_params import CrossEAIParams

SLIDER_MIN_WIDTH = 200
# parameter -> (slider minimum, maximum, slider units per value unit, label, format)
SLIDERS = {
    "alpha": (0, 200, 200, "alpha (guided weight)", "{:.3f}"),
    "tau": (10, 200, 200, "tau (threshold)", "{:.3f}"),
    "min_area": (0, 500, 10000, "min area", "{:.2%}"),
    "sigma": (0, 40, 2, "smoothing sigma", "{:.1f} px"),
}


class CrossEAIPanel(QWidget):
    params_changed = Signal(object)      # CrossEAIParams
    preview_toggled = Signal(bool)
    fused_toggled = Signal(bool)
    propose_requested = Signal()
    defaults_requested = Signal()
    method_changed = Signal(str)         # the proposal method's name (crosseai, boxhead, ...)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        intro = QLabel("Boxes from Guided Backprop fused with Grad-CAM++ (CrossEAI), or from the "
                       "model's learned box head. Sliders re-threshold the cached maps; the model is "
                       "not run again.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        methods = QFormLayout()
        self.method = QComboBox()
        self.method.setToolTip("Where the boxes come from: CrossEAI, or the model's box head learned "
                               "from reviewed boxes (when its card has one); the card's recommended "
                               "method is chosen when a model is loaded")
        methods.addRow("Propose with", self.method)
        layout.addLayout(methods)
        self.method.currentIndexChanged.connect(lambda _=0: (self._enable_fusion(),
                                                             self.method_changed.emit(self.current_method())))

        switches = QHBoxLayout()
        self.preview_box = QCheckBox("Live preview")
        self.preview_box.setToolTip("Compute Guided Backprop and Grad-CAM++ once and draw the boxes "
                                    "these settings give (dash-dot magenta)")
        self.fused_box = QCheckBox("Show fused map")
        self.fused_box.setChecked(True)
        switches.addWidget(self.preview_box)
        switches.addWidget(self.fused_box)
        layout.addLayout(switches)

        params_box = QGroupBox("Parameters")
        form = QFormLayout(params_box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.sliders: dict[str, QSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        for name in SLIDERS:
            self._add_slider(form, name)
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 50)
        self.top_k.setSpecialValueText("all")
        self.top_k.setToolTip("Boxes kept, best scored first (0 = all)")
        self.score = QComboBox()
        self.score.addItems(["mean", "max"])
        self.score.setToolTip("A box's score: mean or max of the fused map inside it")
        self.foreground = QCheckBox("only inside the patient")
        self.foreground.setToolTip("Zero the fused map outside the head or body before thresholding, "
                                   "so no box lies on the background")
        form.addRow("top k", self.top_k)
        form.addRow("score", self.score)
        form.addRow("", self.foreground)
        self.top_k.valueChanged.connect(lambda _=0: self._user_changed())
        self.score.currentTextChanged.connect(lambda _="": self._user_changed())
        self.foreground.toggled.connect(lambda _=False: self._user_changed())
        layout.addWidget(params_box)

        self.plan = QLabel("No model: nothing to propose with.")
        self.plan.setWordWrap(True)
        self.plan.setToolTip("What Propose boxes (and proposing when an image opens) will use")
        layout.addWidget(self.plan)
        self.summary = QLabel("No preview.")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        buttons = QHBoxLayout()
        self.defaults_button = QPushButton("Model defaults")
        self.defaults_button.setToolTip("The model card's crosseai values (else the built-in defaults)")
        self.propose_button = QPushButton("Propose boxes")
        self.propose_button.setToolTip("Store these boxes as AI proposals to review")
        buttons.addWidget(self.defaults_button)
        buttons.addWidget(self.propose_button)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.preview_box.toggled.connect(self.preview_toggled.emit)
        self.fused_box.toggled.connect(self.fused_toggled.emit)
        self.propose_button.clicked.connect(self.propose_requested.emit)
        self.defaults_button.clicked.connect(self.defaults_requested.emit)
        self._exact: CrossEAIParams | None = None
        self.set_params(CrossEAIParams())

    def set_plan(self, text: str) -> None:
        self.plan.setText(text)

    def _add_slider(self, form: QFormLayout, name: str) -> None:
        low, high, _, text, _ = SLIDERS[name]
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setMinimumWidth(SLIDER_MIN_WIDTH)
        slider.setPageStep(max(1, (high - low) // 20))
        value = QLabel()
        value.setMinimumWidth(56)
        row = QHBoxLayout()
        row.addWidget(slider, 1)
        row.addWidget(value)
        form.addRow(text, row)
        self.sliders[name], self.value_labels[name] = slider, value
        slider.valueChanged.connect(lambda _=0: self._user_changed())

    def set_params(self, params: CrossEAIParams) -> None:
        """Show ``params`` without emitting a change per slider; emits one change at the end."""
        widgets = [*self.sliders.values(), self.top_k, self.score, self.foreground]
        for widget in widgets:
            widget.blockSignals(True)
        for name, (low, high, scale, _, _) in SLIDERS.items():
            self.sliders[name].setValue(min(max(round(getattr(params, name) * scale), low), high))
        self.top_k.setValue(params.top_k)
        self.score.setCurrentText(params.score)
        self.foreground.setChecked(params.foreground)
        for widget in widgets:
            widget.blockSignals(False)
        self._exact = params
        self._changed()

    def params(self) -> CrossEAIParams:
        if self._exact is not None:
            return self._exact
        values = {name: self.sliders[name].value() / scale for name, (_, _, scale, _, _) in SLIDERS.items()}
        return CrossEAIParams(top_k=self.top_k.value(), score=self.score.currentText(),
                              foreground=self.foreground.isChecked(), **values)

    def set_value(self, name: str, value: float) -> None:
        """Move one slider to ``value`` (in the parameter's units)."""
        low, high, scale, _, _ = SLIDERS[name]
        self.sliders[name].setValue(min(max(round(value * scale), low), high))

    def set_methods(self, methods: list[tuple[str, str]], current: str) -> None:
        """The proposal methods offered, (name, label) each, with ``current`` selected; the
        fusion's sliders (alpha, sigma) only apply to CrossEAI."""
        self.method.blockSignals(True)
        self.method.clear()
        for name, label in methods:
            self.method.addItem(label, name)
        self.method.setCurrentIndex(max(0, self.method.findData(current)))
        self.method.blockSignals(False)
        self._enable_fusion()

    def current_method(self) -> str:
        return self.method.currentData() or "crosseai"

    def _enable_fusion(self) -> None:
        fused = self.current_method() == "crosseai"
        for name in ("alpha", "sigma"):
            self.sliders[name].setEnabled(fused)

    def set_summary(self, text: str) -> None:
        self.summary.setText(text)

    def _user_changed(self) -> None:
        self._exact = None
        self._changed()

    def _changed(self) -> None:
        params = self.params()
        for name, (_, _, _, _, fmt) in SLIDERS.items():
            text = fmt.format(getattr(params, name))
            self.value_labels[name].setText(text[:-1] if text.endswith("0") and fmt == "{:.3f}" else text)
        self.params_changed.emit(params)
