"""The DICOM tag browser: the open image's data set as a tree (tag, keyword, VR, value),
sequences expandable, with a filter box. It shows the header the reader already kept on the
MedicalImage (pixel data removed), so nothing is read from disk here."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

MAX_VALUE_CHARS = 300
KEYWORD_MAX_WIDTH = 140     # longer keywords are elided (the row's tool tip has them whole)
VALUE_MIN_WIDTH = 180       # the value column fills the rest, never less (the tree scrolls then)


def _tag_text(tag) -> str:
    return f"({tag.group:04X},{tag.elem:04X})"


def _value_text(element) -> str:
    if element.VR == "SQ":
        n = len(element.value)
        return f"{n} item{'s' if n != 1 else ''}"
    try:
        text = element.repval
    except Exception as exc:  # noqa: BLE001 - one odd value must not hide the rest
        return f"<cannot show: {exc}>"
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."


class TagBrowser(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: tag, keyword or value")
        self.filter_edit.setClearButtonEnabled(True)
        self.message = QLabel("No image open.")
        self.message.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Keyword", "VR", "Value"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setIndentation(12)
        self.tree.header().setStretchLastSection(False)    # _fit_columns sizes the value column
        self.tree.viewport().installEventFilter(self)
        self.tree.itemExpanded.connect(lambda _: self._fit_columns())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.message)
        layout.addWidget(self.tree, 1)
        layout.addStretch(0)     # without tags (no image, not DICOM) the message stays on top
        self.filter_edit.textChanged.connect(self.apply_filter)
        self.image = self.source = None

    def set_image(self, image) -> None:
        """Show ``image.dataset`` (a pydicom Dataset) or say why there are no tags."""
        self.tree.clear()
        self.image, self.source = image, None if image is None else image.source
        dataset = getattr(image, "dataset", None)
        if image is None:
            self.message.setText("No image open.")
        elif dataset is None:
            self.message.setText(f"{image.source.name} is not a DICOM file: it has no DICOM tags.")
        else:
            frame = f", frame {image.frame + 1} of {image.n_frames}" if image.n_frames > 1 else ""
            self.message.setText(f"{image.source.name}{frame}")
            meta = getattr(dataset, "file_meta", None)
            if meta is not None:
                self._add_elements(self.tree.invisibleRootItem(), meta)
            self._add_elements(self.tree.invisibleRootItem(), dataset)
        self.message.setVisible(True)
        self.tree.setVisible(dataset is not None)
        self.filter_edit.setEnabled(dataset is not None)
        self.apply_filter(self.filter_edit.text())
        self._fit_columns()

    def _fit_columns(self) -> None:
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        self.tree.setColumnWidth(1, min(self.tree.columnWidth(1), KEYWORD_MAX_WIDTH))
        self._fit_value_column()

    def _fit_value_column(self) -> None:
        """The value column takes what the other three leave, at least VALUE_MIN_WIDTH."""
        used = sum(self.tree.columnWidth(column) for column in range(3))
        self.tree.setColumnWidth(3, max(self.tree.viewport().width() - used, VALUE_MIN_WIDTH))

    def eventFilter(self, watched, event) -> bool:
        if watched is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_value_column()
        return False

    def value_column_visible_width(self) -> int:
        """Pixels of the value column inside the tree's viewport (for tests)."""
        header = self.tree.header()
        return max(0, min(header.sectionViewportPosition(3) + header.sectionSize(3), self.tree.viewport().width())
                   - max(header.sectionViewportPosition(3), 0))

    def _add_elements(self, parent: QTreeWidgetItem, dataset) -> None:
        for tag in sorted(dataset.keys()):
            try:
                element = dataset[tag]
            except Exception as exc:  # noqa: BLE001 - a malformed element is listed, not fatal
                QTreeWidgetItem(parent, [_tag_text(tag), "", "", f"<cannot read: {exc}>"])
                continue
            keyword = element.keyword or element.name
            item = QTreeWidgetItem(parent, [_tag_text(element.tag), keyword, str(element.VR), _value_text(element)])
            tip = f"{item.text(0)} {keyword} {item.text(2)}\n{item.text(3)}"
            for column in range(4):
                item.setToolTip(column, tip)
            if element.VR == "SQ":
                for number, child in enumerate(element.value, 1):
                    child_item = QTreeWidgetItem(item, ["", f"Item {number}", "", ""])
                    self._add_elements(child_item, child)

    # -- filter --------------------------------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        root = self.tree.invisibleRootItem()
        for i in range(root.childCount()):
            self._filter(root.child(i), needle, False)
        if needle:
            self.tree.expandAll()
            self._fit_columns()

    def _filter(self, item: QTreeWidgetItem, needle: str, ancestor_matches: bool) -> bool:
        matches = ancestor_matches or not needle or any(needle in item.text(c).lower() for c in range(4))
        child_visible = False
        for i in range(item.childCount()):
            child_visible |= self._filter(item.child(i), needle, matches)
        visible = matches or child_visible
        item.setHidden(not visible)
        return visible

    def visible_keywords(self) -> list[str]:
        """Keywords of the rows shown (for tests)."""
        out = []

        def walk(item):
            for i in range(item.childCount()):
                child = item.child(i)
                if not child.isHidden():
                    out.append(child.text(1))
                    walk(child)
        walk(self.tree.invisibleRootItem())
        return out

    def row(self, keyword: str) -> list[str] | None:
        """The first row with ``keyword`` as its four texts (for tests)."""
        found = self.tree.findItems(keyword, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 1)
        return [found[0].text(c) for c in range(4)] if found else None
