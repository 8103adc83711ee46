"""The review panel: the open image's status and boxes, and the buttons of the review.

It shows what the controller hands it and emits what the user asked for; it writes nothing.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medxai_desktop.core.store import IN_REVIEW, SIGNED_OFF, UNREAD

from .box_items import original_iou, source_text

STATUS_TEXT = {UNREAD: "unread", IN_REVIEW: "in review", SIGNED_OFF: "signed off"}
STATUS_COLORS = {UNREAD: "#7f8c8d", IN_REVIEW: "#d68910", SIGNED_OFF: "#229954"}
BOX_ID_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Label", "Source", "State", "IoU vs AI")


def record_table(columns: tuple[str, ...], stretch: int = 0) -> QTableWidget:
    """A read-only table of records (boxes, measurements), one selected row at a time."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    header = table.horizontalHeader()
    for column in range(len(columns)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch if column == stretch
                                    else QHeaderView.ResizeMode.ResizeToContents)
    return table


def select_row(table: QTableWidget, record_id, role=BOX_ID_ROLE) -> None:
    """Select the row whose first cell holds ``record_id`` under ``role`` (None: no row), without
    emitting the table's signals."""
    table.blockSignals(True)
    table.clearSelection()
    for row in range(table.rowCount()):
        if table.item(row, 0).data(role) == record_id:
            table.selectRow(row)
            break
    table.blockSignals(False)


def table_rows(table: QTableWidget) -> list[tuple[str, ...]]:
    """The text of every cell, row by row."""
    return [tuple(table.item(r, c).text() for c in range(table.columnCount())) for r in range(table.rowCount())]


class ReviewPanel(QWidget):
    box_selected = Signal(object)        # box id or None
    label_chosen = Signal(str)
    accept_requested = Signal()
    reject_requested = Signal()
    delete_requested = Signal()
    draw_requested = Signal()
    copy_previous_requested = Signal()
    sign_off_requested = Signal()
    next_unread_requested = Signal()
    reveal_requested = Signal()
    label_done = Signal()                # Enter or a choice in the label field: back to the image

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_status_box())
        layout.addLayout(self._build_blinded_row())
        layout.addWidget(self._build_message())
        layout.addWidget(self._build_table(), 1)
        layout.addLayout(self._build_label_row())
        layout.addLayout(self._build_buttons())
        self._connect_signals()
        self.set_status(None)
        self.set_blinded(False)
        self.set_selected_view(None)

    def _build_status_box(self) -> QGroupBox:
        status_box = QGroupBox("Image")
        grid = QGridLayout(status_box)
        self.image_label = QLabel("No image")
        self.image_label.setWordWrap(True)
        self.status_label = QLabel()
        self.sign_off_button = QPushButton("Sign off")
        self.sign_off_button.setToolTip("Mark this image as reviewed")
        self.next_unread_button = QPushButton("Next unread (N)")
        grid.addWidget(self.image_label, 0, 0, 1, 2)
        grid.addWidget(self.status_label, 1, 0, 1, 2)
        grid.addWidget(self.sign_off_button, 2, 0)
        grid.addWidget(self.next_unread_button, 2, 1)
        return status_box

    def _build_blinded_row(self) -> QHBoxLayout:
        self.blinded_label = QLabel("Blinded review: AI output is hidden until you draw a box.")
        self.blinded_label.setWordWrap(True)
        self.blinded_label.setStyleSheet("color: #b9770e")
        self.reveal_button = QPushButton("Reveal AI")
        blinded = QHBoxLayout()
        blinded.addWidget(self.blinded_label, 1)
        blinded.addWidget(self.reveal_button)
        return blinded

    def _build_message(self) -> QLabel:
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("background: #7e5109; color: white; padding: 4px; border-radius: 4px")
        self.message_label.hide()
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message_label.hide)
        return self.message_label

    def _build_table(self) -> QTableWidget:
        self.table = record_table(COLUMNS)
        return self.table

    def _build_label_row(self) -> QHBoxLayout:
        label_row = QHBoxLayout()
        label_row.addWidget(QLabel("Label"))
        self.label_combo = QComboBox()
        self.label_combo.setEditable(True)
        self.label_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.label_combo.lineEdit().setPlaceholderText("label (new boxes: the predicted class)")
        self.label_combo.setToolTip("The selected box's label (and the label of new boxes): a class "
                                    "of the model or any text, Enter to apply")
        label_row.addWidget(self.label_combo, 1)
        return label_row

    def _build_buttons(self) -> QGridLayout:
        buttons = QGridLayout()
        self.draw_button = QPushButton("Draw (B)")
        self.accept_button = QPushButton("Accept (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.delete_button = QPushButton("Delete")
        self.copy_button = QPushButton("Copy from previous")
        self.copy_button.setToolTip("Copy the reviewed boxes of the previous image (browser order)")
        for i, button in enumerate((self.draw_button, self.accept_button, self.reject_button,
                                    self.delete_button)):
            buttons.addWidget(button, 0, i)
        buttons.addWidget(self.copy_button, 1, 0, 1, 4)
        return buttons

    def _connect_signals(self) -> None:
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.label_combo.activated.connect(lambda _: self._emit_label())
        self.label_combo.lineEdit().returnPressed.connect(self._emit_label)
        self.label_combo.activated.connect(lambda _: self.label_done.emit())
        self.label_combo.lineEdit().returnPressed.connect(self.label_done.emit)
        self.sign_off_button.clicked.connect(self.sign_off_requested.emit)
        self.next_unread_button.clicked.connect(self.next_unread_requested.emit)
        self.reveal_button.clicked.connect(self.reveal_requested.emit)
        self.draw_button.clicked.connect(self.draw_requested.emit)
        self.accept_button.clicked.connect(self.accept_requested.emit)
        self.reject_button.clicked.connect(self.reject_requested.emit)
        self.delete_button.clicked.connect(self.delete_requested.emit)
        self.copy_button.clicked.connect(self.copy_previous_requested.emit)

    # -- what is shown ------------------------------------------------------------------------

    def set_image_name(self, name: str) -> None:
        self.image_label.setText(name or "No image")

    def set_status(self, status: str | None) -> None:
        if status is None:
            self.status_label.setText("Status: -")
        else:
            self.status_label.setText(f"Status: <b style='color:{STATUS_COLORS[status]}'>"
                                      f"{STATUS_TEXT[status]}</b>")
        self.sign_off_button.setEnabled(status is not None and status != SIGNED_OFF)

    def set_blinded(self, hidden: bool) -> None:
        self.blinded_label.setVisible(hidden)
        self.reveal_button.setVisible(hidden)

    def set_labels(self, labels) -> None:
        text = self.label_combo.currentText()
        self.label_combo.blockSignals(True)
        self.label_combo.clear()
        self.label_combo.addItems(list(dict.fromkeys(labels)))
        self.label_combo.setCurrentText(text)
        self.label_combo.blockSignals(False)

    def current_label(self) -> str:
        return self.label_combo.currentText().strip()

    def reset_label(self) -> None:
        """An empty label field: new boxes get the default label (another image was opened)."""
        self.label_combo.blockSignals(True)
        self.label_combo.setCurrentIndex(-1)
        self.label_combo.setEditText("")
        self.label_combo.blockSignals(False)

    def set_default_label(self, text: str) -> None:
        """What the empty label field gives new boxes, shown as its placeholder."""
        self.label_combo.lineEdit().setPlaceholderText(f"label (new boxes: {text})")

    def set_views(self, views, selected: int | None = None) -> None:
        """One row per box: label, source (AI / human), state, IoU of the box with its proposal."""
        self.table.blockSignals(True)
        self.table.setRowCount(len(views))
        for row, view in enumerate(views):
            iou = original_iou(view)
            cells = (view.label, source_text(view), view.state, "-" if iou is None else f"{iou:.2f}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(BOX_ID_ROLE, view.box_id)
                self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        self.select_box(selected)

    def select_box(self, box_id: int | None) -> None:
        select_row(self.table, box_id)

    def set_selected_view(self, view) -> None:
        """Enable the box buttons for a selected box and show its label in the combo."""
        for button in (self.accept_button, self.reject_button, self.delete_button):
            button.setEnabled(view is not None)
        if view is not None:
            self.label_combo.blockSignals(True)
            self.label_combo.setCurrentText(view.label)
            self.label_combo.blockSignals(False)

    def rows(self) -> list[tuple[str, ...]]:
        return table_rows(self.table)

    def show_message(self, text: str, msecs: int = 8000) -> None:
        """A non-blocking notice above the list (conflicts, refused edits)."""
        self.message_label.setText(text)
        self.message_label.show()
        self._message_timer.start(msecs)

    # -- what the user does -------------------------------------------------------------------

    def _on_table_selection(self) -> None:
        items = self.table.selectedItems()
        self.box_selected.emit(items[0].data(BOX_ID_ROLE) if items else None)

    def _emit_label(self) -> None:
        text = self.current_label()
        if text:
            self.label_chosen.emit(text)
