"""Help > Plugins...: the plugins found, whether each is enabled, loaded or broken (and why),
with a checkbox to enable or disable it. Enabling imports the plugin at once, so a load error
shows here; the explanation panel lists newly enabled explainers after a restart."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from medxai_desktop.core import plugins
from medxai_desktop.core.errors import MedXAIError

COLUMNS = ("Enabled", "Kind", "Name", "Version", "Status", "Source")


class PluginsDialog(QDialog):
    def __init__(self, parent=None, log=None):
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(900, 360)
        self._log = log or (lambda message, level="info": None)
        self._filling = False
        layout = QVBoxLayout(self)
        intro = QLabel("Plugins add model architectures, explainers and export formats. A plugin is "
                       "code: only the plugins you enable are loaded. Newly enabled explainers appear in "
                       "the Explanations panel after a restart.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Status"), QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.table)
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.where)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        rescan = buttons.addButton("Rescan folders", QDialogButtonBox.ButtonRole.ActionRole)
        rescan.clicked.connect(lambda: self.refresh(rescan=True))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()

    def refresh(self, rescan: bool = False) -> None:
        if rescan:
            plugins.plugins(refresh=True)
        self.statuses = plugins.statuses()   # the recorded results: listing imports no plugin
        self._filling = True
        self.table.setRowCount(len(self.statuses))
        for row, status in enumerate(self.statuses):
            info = status.info
            check = QTableWidgetItem()
            flags = Qt.ItemFlag.ItemIsEnabled
            if not info.error:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
            check.setFlags(flags)
            check.setCheckState(Qt.CheckState.Checked if status.enabled else Qt.CheckState.Unchecked)
            self.table.setItem(row, 0, check)
            text = status.state
            if status.error:
                text = f"loaded; last call failed {status.error}" if status.loaded else f"error: {status.error}"
            for column, value in enumerate((info.kind or "?", info.name, info.version or "?", text, info.source), 1):
                item = QTableWidgetItem(value)
                item.setToolTip(info.description or value)
                if column == COLUMNS.index("Status") and status.error:
                    item.setForeground(QBrush(QColor("#c62828")))
                    item.setToolTip(status.error)
                self.table.setItem(row, column, item)
        self._filling = False
        if not self.statuses:
            self.message.setText("No plugins found.")
        self.where.setText(f"Settings: {plugins.state_path()}\nFolders: "
                           + "; ".join(str(p) for p in plugins.plugin_folders())
                           + f"; and installed packages' entry points ({plugins.GROUP})")

    def set_enabled(self, name: str, enabled: bool) -> None:
        """What the checkbox does: persist, load or unload, and say how it went."""
        try:
            if enabled:
                status = plugins.enable(name)
                if status.error:
                    text, level = f"plugin {name} is enabled but cannot be used: {status.error}", "error"
                else:
                    text, level = f"plugin {name} enabled and loaded", "info"
            else:
                plugins.disable(name)
                text, level = f"plugin {name} disabled", "info"
        except MedXAIError as exc:
            text, level = str(exc), "error"
        self.message.setText(text)
        self._log(text, level)
        self.refresh()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        name = self.table.item(item.row(), COLUMNS.index("Name")).text()
        enabled = item.checkState() == Qt.CheckState.Checked
        # After this signal returns: set_enabled rebuilds the table this item belongs to.
        QTimer.singleShot(0, lambda: self.set_enabled(name, enabled))
