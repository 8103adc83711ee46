"""Export the review store's boxes with the exchange writers (the same calls as ``medxai export``).

:class:`ExportDialog` asks for the format, which boxes and where, and says what each choice
includes, with counts (the store's ``export_scope``, counted as an io job: a reference export
is signed-off images only); :func:`export_boxes` does the export (run as an io job by the main
window, never on the GUI thread).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from medxai_desktop.core.exchange import WHICH_SUPPORTED
from medxai_desktop.core.exchange.export import OVERWRITABLE, export_store, format_names

# format -> (menu text, suffix of a file output, or "" for a folder output)
FORMAT_TEXT = {
    "coco": ("COCO JSON", ".json"),
    "voc": ("Pascal VOC XML (one file per image, in a folder)", ""),
    "yolo": ("YOLO txt (one file per image, in a folder)", ""),
    "nih-csv": ("NIH ChestX-ray14 CSV", ".csv"),
    "csv": ("Flat CSV (every field)", ".csv"),
    "dicom-sr": ("DICOM SR TID 1500 (one per DICOM image, in a folder)", ""),
}
NO_DICOM = "DICOM SR is not offered: no image in this store is DICOM (an SR refers to its DICOM source)."
WHICH_TEXT = {"reviewed": "Reference (signed-off images)", "proposals": "AI proposals",
              "both": "Both (signed-off images, with the AI proposals)"}


@dataclass(frozen=True)
class ExportRequest:
    fmt: str
    which: str
    out: Path
    deidentify: bool = False
    overwrite: bool = False


def export_boxes(store, request: ExportRequest) -> str:
    """Write the store's boxes as asked (core's export, as ``medxai export``); returns what was
    written, in one line. Raises the exchange's ExportError (or the store's errors) on failure."""
    result = export_store(store, request.fmt, request.out, request.which, request.deidentify,
                          request.overwrite)
    note = f" ({len(result.skipped)} non-DICOM image(s) skipped)" if result.skipped else ""
    included = f"; included: {result.included}" if result.included else ""
    return result.summary + note + included


class ExportDialog(QDialog):
    """``store``: say what each choice includes (counted as a ``jobs`` io job, or at once)."""

    def __init__(self, parent=None, default_dir: str | Path | None = None, store=None, jobs=None):
        super().__init__(parent)
        self.setWindowTitle("Export boxes")
        self.default_dir = Path(default_dir) if default_dir else Path.home()
        self.overwrite = False
        self.format_combo = QComboBox()
        for fmt in format_names():
            self.format_combo.addItem(FORMAT_TEXT.get(fmt, (fmt, ""))[0], fmt)
        self.which_combo = QComboBox()
        self.out_edit = QLineEdit()
        self.browse_button = QPushButton("Browse...")
        self.deidentify_box = QCheckBox("De-identify (DICOM PS3.15 Basic Profile, pseudonyms keyed by the site secret)")
        self.deidentify_box.setToolTip("Patient data, names and UIDs are removed or replaced; file names and "
                                       "reviewers become pseudonyms; names, IDs and dates in box labels "
                                       "are masked as ***. Needs the site secret "
                                       "(medxai deid secret init, once per site).")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.scope = None   # the store's ExportScope, once counted
        self.scope_label = QLabel("counting the images..." if store is not None else "")
        self.scope_label.setWordWrap(True)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Format", self.format_combo)
        form.addRow("Boxes", self.which_combo)
        form.addRow("Includes", self.scope_label)
        form.addRow("Output", out_row)
        form.addRow("", self.deidentify_box)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.format_combo.currentIndexChanged.connect(lambda _: self._on_format())
        self.which_combo.currentIndexChanged.connect(lambda _: self._show_scope())
        self.out_edit.textChanged.connect(lambda _: self._validate())
        self.browse_button.clicked.connect(self.browse)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._on_format()
        self.resize(560, self.sizeHint().height())
        if store is not None:
            self._count(store, jobs)

    def _count(self, store, jobs) -> None:
        def count():
            return store.export_scope(), any(info.sop_uid for info in store.images())

        if jobs is None:
            self.set_scope(*count())
            return
        jobs.submit("count the images to export", lambda progress, cancelled: count(),
                    on_success=lambda counted: self.set_scope(*counted), on_failure=self._count_failed)

    def _count_failed(self, message: str) -> None:
        self.scope_label.setText(f"cannot count the images: {message}")

    def set_scope(self, scope, has_dicom: bool = True) -> None:
        """The store's ExportScope: the Includes line says what the chosen boxes are;
        ``has_dicom``: whether any stored image is DICOM (a DICOM SR needs a DICOM source)."""
        self.scope = scope
        self._offer_dicom_sr(has_dicom)
        self._show_scope()

    def _offer_dicom_sr(self, has_dicom: bool) -> None:
        """A store without DICOM images is not offered DICOM SR (it would be refused on Export)."""
        index = self.format_combo.findData("dicom-sr")
        if index < 0:
            return
        self.format_combo.model().item(index).setEnabled(has_dicom)
        self.format_combo.setItemData(index, None if has_dicom else NO_DICOM, Qt.ItemDataRole.ToolTipRole)
        if not has_dicom and self.fmt() == "dicom-sr":
            self.set_format("coco")
            self.note.setText(NO_DICOM + " " + self.note.text())

    def _show_scope(self) -> None:
        if self.scope is not None:
            self.scope_label.setText(self.scope.describe(self.which_combo.currentData() or "reviewed"))

    def fmt(self) -> str:
        return self.format_combo.currentData()

    def set_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))

    def set_which(self, which: str) -> None:
        self.which_combo.setCurrentIndex(self.which_combo.findData(which))

    def _on_format(self) -> None:
        fmt = self.fmt()
        current = self.which_combo.currentData() or "reviewed"
        self.which_combo.clear()
        for which in WHICH_SUPPORTED.get(fmt, ("reviewed",)):
            self.which_combo.addItem(WHICH_TEXT[which], which)
        self.set_which(current if self.which_combo.findData(current) >= 0 else "reviewed")
        suffix = FORMAT_TEXT.get(fmt, ("", ""))[1]
        old = self.out_edit.text().strip()
        if not old or Path(old).parent == self.default_dir:
            self.out_edit.setText(str(self.default_dir / f"medxai-boxes-{fmt}{suffix}"))
        self._validate()

    def _validate(self) -> None:
        out = self.out_edit.text().strip()
        folder = not FORMAT_TEXT.get(self.fmt(), ("", ""))[1]
        self.note.setText(("Writes a folder." if folder else "Writes one file.")
                          + ("" if out else " Choose where."))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(out))

    def browse(self) -> None:
        fmt = self.fmt()
        suffix = FORMAT_TEXT.get(fmt, ("", ""))[1]
        if suffix:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.out_edit.text(), f"*{suffix}")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", str(self.default_dir))
        if path:
            self.out_edit.setText(path)

    def request(self) -> ExportRequest:
        return ExportRequest(self.fmt(), self.which_combo.currentData(), Path(self.out_edit.text().strip()).expanduser(),
                             self.deidentify_box.isChecked())

    def accept(self) -> None:
        """Ask before writing into a folder that is not empty (the writers refuse otherwise)."""
        request = self.request()
        if request.fmt in OVERWRITABLE and request.out.is_dir() and any(request.out.iterdir()):
            answer = QMessageBox.question(self, "Export boxes",
                                          f"{request.out} is not empty. Replace its {request.fmt.upper()} files?")
            if answer != QMessageBox.StandardButton.Yes:
                return
            self.overwrite = True
        super().accept()

    def result_request(self) -> ExportRequest:
        request = self.request()
        return ExportRequest(request.fmt, request.which, request.out, request.deidentify, self.overwrite)
