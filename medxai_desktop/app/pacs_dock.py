"""The PACS dock: the node list with Test, a search form, the results, Retrieve as a background
job (progress bar, Cancel; the window stays live) that opens the study in the browser; and
Export > Send boxes to PACS. Every PACS call is core's (``core.pacs``), run by the window's
job runner; errors go to the window's notice like any other.

Passwords are asked on the GUI thread before a job starts (environment, OS keyring, else a
password dialog) and handed to the job; they are never written anywhere.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDockWidget, QFormLayout, QFrame, QHBoxLayout,
                               QHeaderView, QInputDialog, QLineEdit, QProgressBar, QPushButton,
                               QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from medxai_desktop.core.errors import MedXAIError
from medxai_desktop.core.pacs import (InstanceCache, Query, find, find_password, load_nodes, resolve_node,
                                      retrieve, verify)

COLUMNS = (("Patient", "patient_name"), ("Patient ID", "patient_id"), ("Date", "date"),
           ("Description", "description"), ("Modalities", "modalities"), ("Instances", "instances"))
FIELDS = (("patient_id", "Patient ID"), ("patient_name", "Patient name (* ?)"),
          ("date_from", "Date from (YYYYMMDD)"), ("date_to", "Date to (YYYYMMDD)"),
          ("modality", "Modality"), ("accession", "Accession"), ("description", "Study description"))


def ask_password(parent):
    """A prompt for core.pacs.credentials: a password dialog (None when cancelled)."""
    def prompt(node):
        text, ok = QInputDialog.getText(parent, f"PACS {node.name}", f"Password for {node.username or node.name}:",
                                        QLineEdit.EchoMode.Password)
        return text if ok and text else None
    return prompt


def node_with_password(window, spec: str):
    """(node, prompt for the job) on the GUI thread: the password is found or asked here."""
    node = resolve_node(spec.strip())
    password = find_password(node, ask_password(window)) if node.auth != "none" else None
    return node, (lambda _node: password)


class PacsPanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.matches: list = []
        self.handle = None
        self.node_combo = QComboBox()
        self.node_combo.setEditable(True)
        self.node_combo.setToolTip("A node of the node file, or AET@host:port, or a DICOMweb URL")
        self.test_button = QPushButton("Test")
        self.fields = {name: QLineEdit() for name, _ in FIELDS}
        self.search_button = QPushButton("Search")
        self.table = QTableWidget(0, len(COLUMNS))
        self.retrieve_button = QPushButton("Retrieve")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self._layout()
        self._connect()
        self.reload_nodes()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.node_combo, 1)
        top.addWidget(self.test_button)
        form = QFormLayout()
        for name, label in FIELDS:
            form.addRow(label, self.fields[name])
        self.table.setHorizontalHeaderLabels([c for c, _ in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().hide()
        bottom = QHBoxLayout()
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.cancel_button)
        self.cancel_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addWidget(self.search_button)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

    def _connect(self) -> None:
        self.test_button.clicked.connect(self.test)
        self.search_button.clicked.connect(self.search)
        for edit in self.fields.values():
            edit.returnPressed.connect(self.search)
        self.retrieve_button.clicked.connect(self.retrieve)
        self.table.doubleClicked.connect(lambda _: self.retrieve())
        self.cancel_button.clicked.connect(self.cancel)

    def reload_nodes(self) -> None:
        current = self.node_combo.currentText()
        self.node_combo.clear()
        try:
            self.node_combo.addItems(sorted(load_nodes()))
        except MedXAIError as exc:
            self.window.error(str(exc))
        if current:
            self.node_combo.setCurrentText(current)

    def _node(self):
        """(node, prompt) of the chosen node, or None after saying why not."""
        try:
            return node_with_password(self.window, self.node_combo.currentText())
        except MedXAIError as exc:
            self.window.error(str(exc))
            return None

    def test(self) -> None:
        chosen = self._node()
        if chosen is not None:
            node, prompt = chosen
            self.window.jobs.submit(f"PACS test {node.name}", lambda progress, cancelled: verify(node, prompt),
                                    on_success=lambda s: self.window.info(f"{node.name} ({node.describe()}) "
                                                                          f"answered in {s * 1000:.0f} ms"),
                                    on_failure=self.window.error)

    def query(self) -> Query:
        return Query(**{name: edit.text().strip() for name, edit in self.fields.items()})

    def search(self) -> None:
        chosen = self._node()
        if chosen is None:
            return
        try:
            query = self.query()
        except ValueError as exc:
            self.window.error(str(exc))
            return
        node, prompt = chosen
        self.search_button.setEnabled(False)
        handle = self.window.jobs.submit(f"PACS search {node.name}",
                                         lambda progress, cancelled: find(node, query, prompt, cancelled),
                                         on_success=self.show_matches, on_failure=self.window.error)
        handle.finished.connect(lambda: self.search_button.setEnabled(True))

    def show_matches(self, matches) -> None:
        self.matches = list(matches)
        self.table.setRowCount(len(self.matches))
        for row, match in enumerate(self.matches):
            for col, (_, field) in enumerate(COLUMNS):
                value = getattr(match, field)
                item = QTableWidgetItem("" if value is None else str(value).replace("^", " "))
                if field == "instances":
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        if self.matches:
            self.table.selectRow(0)
        self.window.info(f"{len(self.matches)} stud{'y' if len(self.matches) == 1 else 'ies'} found")

    def retrieve(self) -> None:
        row = self.table.currentRow()
        if not 0 <= row < len(self.matches) or self.handle is not None:
            return
        chosen = self._node()
        if chosen is None:
            return
        node, prompt = chosen
        match, store = self.matches[row], self.window.store

        def job(progress, cancelled):
            result = retrieve(node, match.study_uid, cache=InstanceCache(), progress=progress,
                              cancelled=cancelled, prompt=prompt)
            if store is not None:
                from medxai_desktop.core.store.pacs_log import record_retrieved
                record_retrieved(store, node.name, result.provenance())
            return result

        self.handle = self.window.jobs.submit(f"PACS retrieve {node.name}", job, on_success=self._retrieved,
                                              on_failure=self.window.error)
        self.handle.progress.connect(lambda fraction, message: (self.progress.setValue(int(fraction * 100)),
                                                               self.progress.setFormat(message)))
        self.handle.cancelled.connect(lambda: self.window.info("retrieve cancelled; what arrived is kept"))
        self.handle.finished.connect(self._retrieve_finished)
        self.retrieve_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

    def _retrieved(self, result) -> None:
        self.window.info(result.summary())
        self.window.opener.add_path(result.folder)     # added to the studies listed

    def _retrieve_finished(self) -> None:
        self.handle = None
        self.retrieve_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


def send_boxes_to_pacs(window, spec: str | None = None) -> None:
    """Export > Send boxes to PACS: the reference boxes as DICOM SR to a node, in the background;
    a revision sent there before is not sent again."""
    from medxai_desktop.core.pacs.send_log import send_boxes

    if window.store is None:
        window.error("no review store: there are no boxes to send")
        return
    if spec is None:
        names = sorted(load_nodes()) if _nodes_ok(window) else []
        spec, ok = QInputDialog.getItem(window, "Send boxes to PACS", "Node (or AET@host:port, or a URL):",
                                        names or [""], 0, True)
        if not ok or not spec.strip():
            return
    try:
        node, prompt = node_with_password(window, spec)
    except MedXAIError as exc:
        window.error(str(exc))
        return
    store, reviewer = window.store, window.reviewer
    window.info(f"sending the reviewed boxes to {node.name} as DICOM SR")
    return window.jobs.submit(
        f"send boxes to {node.name}",
        lambda progress, cancelled: send_boxes(store, node, reviewer, progress=progress, cancelled=cancelled,
                                               prompt=prompt).summary(),
        on_success=window.info, on_failure=window.error)


def _nodes_ok(window) -> bool:
    try:
        load_nodes()
        return True
    except MedXAIError as exc:
        window.error(str(exc))
        return False


def install_pacs(window, export_menu) -> QDockWidget:
    """The PACS dock (a tab beside Explanations) and Export > Send boxes to PACS."""
    window.pacs = PacsPanel(window)
    scroll = QScrollArea()              # the form does not set the window's minimum height
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(window.pacs)
    dock = QDockWidget("PACS", window)
    dock.setObjectName("PACS")
    dock.setWidget(scroll)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.panel_dock, dock)   # a tab there adds no height to the window
    window.panel_dock.raise_()
    window.view_menu.addAction(dock.toggleViewAction())
    window.add_action(export_menu, "Send boxes to &PACS...", lambda: send_boxes_to_pacs(window))
    window.pacs_dock = dock
    return dock
