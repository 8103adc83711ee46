"""The Measurements panel: the open image's pixel spacing, its measurements and their values,
and the buttons of the measurement tools. It shows what the controller hands it and emits what
the user asked for; it writes nothing."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget

from medxai_desktop.core.measurements import ELLIPSE, LENGTH, RECTANGLE

from .measure_items import KIND_NAMES, a_kind
from .review_panel import record_table, select_row, table_rows

ID_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("#", "Measurement", "Values", "By")


class MeasurePanel(QWidget):
    tool_requested = Signal(str)           # a kind of measurement to draw
    measurement_selected = Signal(object)  # measurement id or None
    delete_requested = Signal()

    def __init__(self, keys: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.spacing_label = QLabel("No image")
        self.spacing_label.setWordWrap(True)
        self.spacing_label.setToolTip("The pixel spacing lengths and areas use (where the image states one)")
        layout.addWidget(self.spacing_label)
        self.table = record_table(COLUMNS, stretch=2)
        self.table.setWordWrap(True)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.tool_buttons: dict[str, QPushButton] = {}
        for kind, title in ((LENGTH, "Length"), (RECTANGLE, "Rectangle"), (ELLIPSE, "Ellipse")):
            key = (keys or {}).get(kind)
            button = QPushButton(f"{title} ({key})" if key else title)
            button.setCheckable(True)
            button.setToolTip(f"Drag on the image to measure {a_kind(kind)}")
            button.clicked.connect(lambda _=False, k=kind: self.tool_requested.emit(k))
            buttons.addWidget(button)
            self.tool_buttons[kind] = button
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected measurement (Delete on the image; Ctrl+Z brings it back)")
        self.delete_button.clicked.connect(self.delete_requested.emit)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.set_selected(None)

    def set_spacing(self, text: str) -> None:
        self.spacing_label.setText(text)

    def set_armed(self, kind: str | None) -> None:
        for button_kind, button in self.tool_buttons.items():
            button.setChecked(button_kind == kind)

    def set_revisions(self, revisions, selected: int | None = None) -> None:
        """One row per measurement: its number, kind, values and who measured it."""
        self.table.blockSignals(True)
        self.table.setRowCount(len(revisions))
        for row, revision in enumerate(revisions):
            cells = (str(row + 1), KIND_NAMES[revision.kind], "\n".join(revision.measurement.lines()),
                     revision.reviewer)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, revision.measurement_id)
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        self.table.blockSignals(False)
        self.set_selected(selected)

    def set_selected(self, measurement_id: int | None) -> None:
        select_row(self.table, measurement_id, ID_ROLE)
        self.delete_button.setEnabled(measurement_id is not None)

    def rows(self) -> list[tuple[str, ...]]:
        return table_rows(self.table)

    def _on_table_selection(self) -> None:
        items = self.table.selectedItems()
        self.measurement_selected.emit(items[0].data(ID_ROLE) if items else None)
