"""Keyboard shortcuts: one registry of every key, the user's choices, and the help dialog.

``SHORTCUTS`` is the single table (action id -> group, description, default key) that the menus,
the canvas and the review tools read; review code adds its own with :func:`register`.
:class:`ShortcutManager` applies the user's keys (kept in settings) to the QActions bound to
each id; :class:`ShortcutsDialog` lists every key (and the mouse conventions) and edits them.
Keys are kept as QKeySequence portable text ("Ctrl+Shift+Z"); "" means no key.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medxai_desktop.core.imaging.presets import MAX_PRESETS

from .settings import AppSettings


@dataclass(frozen=True)
class Shortcut:
    action_id: str
    group: str
    description: str
    default: str                   # portable text; "" = none
    configurable: bool = True
    reserved: tuple[str, ...] = ()  # keys a fixed entry takes (for conflict checks)


SHORTCUTS: dict[str, Shortcut] = {}


def register(action_id: str, group: str, description: str, default: str = "", *,
             configurable: bool = True, reserved: tuple[str, ...] = ()) -> Shortcut:
    """Add (or replace) an entry of the registry; returns it."""
    entry = Shortcut(action_id, group, description, normalise(default) if configurable else default, configurable,
                     tuple(normalise(k) for k in reserved))
    SHORTCUTS[action_id] = entry
    return entry


def normalise(key: str | QKeySequence) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)


def native(key: str) -> str:
    """How a key is written on this platform's menus."""
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


for _id, _group, _text, _key in [
    ("file.open_folder", "File", "Open a folder or DICOMDIR", "Ctrl+O"),
    ("file.open_file", "File", "Open an image file", "Ctrl+Shift+O"),
    ("file.open_model", "File", "Open a model card", "Ctrl+M"),
    ("file.quit", "File", "Quit", "Ctrl+Q"),
    *[(f"view.preset.{i + 1}", "Viewer", f"Window preset {i + 1} of the open image (View > Window presets "
       "names them: by modality)", str(i + 1)) for i in range(MAX_PRESETS)],
    ("view.invert", "Viewer", "Invert grey scale", "I"),
    ("view.fit", "Viewer", "Fit the image to the window", "F"),
    ("view.actual_size", "Viewer", "Actual size (1:1; Ctrl+1 too)", "0"),
    ("view.comparison", "Viewer", "Comparison grid of the computed maps", "Ctrl+G"),
    ("view.tags", "Viewer", "DICOM tag browser", "Ctrl+T"),
    ("view.cine", "Viewer", "Cine: play or pause the frames of the image, or the images of its series", "P"),
    ("explain.run", "Explanations", "Explain with the checked methods", "Ctrl+R"),
    ("export.boxes", "Export", "Export boxes (COCO, VOC, YOLO, CSV, DICOM SR)", "Ctrl+E"),
    ("reports.road_image", "Reports", "ROAD scores of the open image's maps", "Ctrl+Shift+R"),
    ("reports.localisation", "Reports", "Localisation report of the review database", ""),
    ("reports.compare_versions", "Reports", "Compare the open model with the version it learned from", ""),
    ("reports.road", "Reports", "ROAD faithfulness report of the listed images", ""),
    # The review tools (box editing) bind these ids to their actions.
    ("review.draw", "Review", "Draw a box", "B"),
    ("review.accept", "Review", "Accept the selected box", "A"),
    ("review.reject", "Review", "Reject the selected box", "R"),
    ("review.next_unread", "Review", "Next unread image", "N"),
    ("review.delete", "Review", "Delete the selected box", "Delete"),
    ("review.propose", "Review", "Propose boxes (the proposal panel's method and rule)", "Shift+P"),
    ("review.click_box", "Review", "Click tool: the next click on the image proposes the box there "
     "(Ctrl+click does it at once)", "C"),
    ("review.finish", "Review", "On the image: accept the click box, or accept the shown proposals, sign off "
     "and open the next unread image", "Return"),
    ("review.sign_off", "Review", "Sign off this image", "S"),
    ("review.reveal", "Review", "Reveal AI output (blinded review)", "V"),
    ("view.overlay", "Viewer", "Heatmap overlay on / off", "O"),
    ("review.undo", "Review", "Undo", "Ctrl+Z"),
    ("review.redo", "Review", "Redo", "Ctrl+Shift+Z"),
    ("help.shortcuts", "Help", "Keyboard shortcuts (this list)", "F1"),
]:
    register(_id, _group, _text, _key)
register("review.nudge", "Review", "Nudge the selected box 1 px (Shift: 10 px)", "Arrow keys", configurable=False,
         reserved=("Left", "Right", "Up", "Down", "Shift+Left", "Shift+Right", "Shift+Up", "Shift+Down"))
register("review.cancel", "Review", "Cancel drawing, deselect", "Esc", configurable=False, reserved=("Esc",))

# Mouse conventions of the canvas, for the help dialog (not configurable).
MOUSE = (
    ("Left drag", "Window/level (the current tool: W/L, pan or zoom)"),
    ("Middle drag", "Pan"),
    ("Right drag or Ctrl+wheel", "Zoom"),
    ("Wheel", "Previous / next frame, then image"),
)


def find_conflicts(keys: dict[str, str]) -> dict[str, list[str]]:
    """Key -> the action ids that would share it (only keys used twice or more).
    ``keys`` maps configurable ids to their keys; fixed entries take their reserved keys."""
    users: dict[str, list[str]] = {}
    for action_id, key in keys.items():
        if key:
            users.setdefault(normalise(key), []).append(action_id)
    for entry in SHORTCUTS.values():
        for key in entry.reserved:
            users.setdefault(key, []).append(entry.action_id)
    return {key: ids for key, ids in users.items() if len(ids) > 1}


class ShortcutManager(QObject):
    """The keys in force: the registry's defaults, overridden by the user's (in settings)."""

    def __init__(self, settings: AppSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.actions: dict[str, list[QAction]] = {}
        self._guarded: dict[QWidget, tuple[str, ...]] = {}

    def key(self, action_id: str) -> str:
        overrides = self.settings.shortcuts()
        if action_id in overrides and SHORTCUTS[action_id].configurable:
            return normalise(overrides[action_id])
        return SHORTCUTS[action_id].default

    def keys(self) -> dict[str, str]:
        """Every configurable id -> its key in force."""
        return {i: self.key(i) for i, entry in SHORTCUTS.items() if entry.configurable}

    def bind(self, action_id: str, action: QAction) -> QAction:
        """Give ``action`` the key of ``action_id`` now and whenever the user changes it."""
        if action_id not in SHORTCUTS:
            raise KeyError(f"unknown shortcut id {action_id!r}; add it with shortcuts.register()")
        self.actions.setdefault(action_id, []).append(action)
        action.setShortcut(QKeySequence(self.key(action_id)))
        return action

    def apply(self, keys: dict[str, str]) -> None:
        """Make ``keys`` (id -> key, a complete or partial map) the keys in force and save them;
        only the ones that differ from the default are stored. ValueError on a conflict."""
        wanted = self.keys()
        wanted.update({i: normalise(k) for i, k in keys.items() if i in SHORTCUTS and SHORTCUTS[i].configurable})
        conflicts = find_conflicts(wanted)
        if conflicts:
            raise ValueError("; ".join(f"{native(k)} is used by {', '.join(ids)}" for k, ids in conflicts.items()))
        self.settings.set_shortcuts({i: k for i, k in wanted.items() if k != SHORTCUTS[i].default})
        for action_id, actions in self.actions.items():
            for action in actions:
                action.setShortcut(QKeySequence(wanted[action_id]))

    def guard(self, widget: QWidget, action_ids) -> None:
        """``widget`` also handles the default keys of ``action_ids`` itself (the canvas does):
        once the user moves one of them to another key, the old key is swallowed there."""
        self._guarded[widget] = tuple(action_ids)
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        ids = self._guarded.get(watched)
        if ids and event.type() == QEvent.Type.KeyPress:
            pressed = normalise(QKeySequence(event.keyCombination()))
            for action_id in ids:
                if SHORTCUTS[action_id].default == pressed and self.key(action_id) != pressed:
                    return True
        return False


class ShortcutsDialog(QDialog):
    """Every key (and mouse convention), with an editor for the configurable ones."""

    ID_ROLE = Qt.ItemDataRole.UserRole

    def __init__(self, manager: ShortcutManager, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.manager = manager
        self.pending = manager.keys()
        layout = QVBoxLayout(self)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Action", "Key", "Default"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        layout.addWidget(self.tree, 1)

        editor = QHBoxLayout()
        self.editing_label = QLabel("Select an action to change its key.")
        self.key_edit = QKeySequenceEdit()
        self.key_edit.setMaximumSequenceLength(1)
        self.key_edit.setClearButtonEnabled(True)
        self.reset_button = QPushButton("Default")
        editor.addWidget(self.editing_label, 1)
        editor.addWidget(self.key_edit)
        editor.addWidget(self.reset_button)
        layout.addLayout(editor)
        self.conflict_label = QLabel()
        self.conflict_label.setStyleSheet("color: #c0392b")
        self.conflict_label.setWordWrap(True)
        layout.addWidget(self.conflict_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults)
        layout.addWidget(self.buttons)

        self.items: dict[str, QTreeWidgetItem] = {}
        self._build()
        self.tree.currentItemChanged.connect(lambda current, _: self._select(current))
        self.tree.itemActivated.connect(lambda *_: self.key_edit.setFocus() if self.current_id() else None)
        self.key_edit.keySequenceChanged.connect(self._on_key)
        self.reset_button.clicked.connect(self._reset_current)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        self._select(None)
        self._refresh()
        self.resize(640, 620)

    def _build(self) -> None:
        groups: dict[str, QTreeWidgetItem] = {}
        for action_id, entry in SHORTCUTS.items():
            group = groups.get(entry.group)
            if group is None:
                group = groups[entry.group] = self._header(entry.group)
            item = QTreeWidgetItem(group, [entry.description, "", native(entry.default) or entry.default])
            item.setData(0, self.ID_ROLE, action_id)
            if not entry.configurable:
                item.setText(1, entry.default)
            if not self.editable(action_id):
                item.setToolTip(0, "Fixed: handled directly by the viewer")
                item.setForeground(0, self.palette().placeholderText())
            self.items[action_id] = item
        mouse = self._header("Mouse")
        for gesture, meaning in MOUSE:
            QTreeWidgetItem(mouse, [meaning, gesture, gesture])
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)

    def _header(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title])
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setFirstColumnSpanned(True)
        return item

    def editable(self, action_id: str) -> bool:
        """Configurable and bound to an action (keys the canvas handles itself are fixed)."""
        return SHORTCUTS[action_id].configurable and action_id in self.manager.actions

    def current_id(self) -> str | None:
        item = self.tree.currentItem()
        action_id = item.data(0, self.ID_ROLE) if item is not None else None
        return action_id if action_id in self.pending and self.editable(action_id) else None

    def _select(self, item) -> None:
        action_id = self.current_id()
        enabled = action_id is not None
        self.key_edit.setEnabled(enabled)
        self.reset_button.setEnabled(enabled)
        self.key_edit.blockSignals(True)
        self.key_edit.setKeySequence(QKeySequence(self.pending[action_id]) if enabled else QKeySequence())
        self.key_edit.blockSignals(False)
        self.editing_label.setText(f"Key for: {SHORTCUTS[action_id].description}" if enabled
                                   else "Select an action to change its key.")

    def set_key(self, action_id: str, key: str | QKeySequence) -> None:
        self.pending[action_id] = normalise(key)
        self._refresh()

    def _on_key(self, sequence: QKeySequence) -> None:
        action_id = self.current_id()
        if action_id is not None:
            self.set_key(action_id, sequence)

    def _reset_current(self) -> None:
        action_id = self.current_id()
        if action_id is not None:
            self.set_key(action_id, SHORTCUTS[action_id].default)
            self._select(self.tree.currentItem())

    def restore_defaults(self) -> None:
        self.pending = {i: SHORTCUTS[i].default for i in self.pending}
        self._refresh()
        self._select(self.tree.currentItem())

    def conflicts(self) -> dict[str, list[str]]:
        return find_conflicts(self.pending)

    def _refresh(self) -> None:
        conflicts = self.conflicts()
        clashing = {i for ids in conflicts.values() for i in ids}
        for action_id, item in self.items.items():
            if action_id in self.pending:
                item.setText(1, native(self.pending[action_id]))
            item.setForeground(1, Qt.GlobalColor.red if action_id in clashing else self.palette().text())
        self.conflict_label.setText("\n".join(
            f"Conflict: {native(key)} is used by "
            + " and ".join(f'"{SHORTCUTS[i].description}"' for i in ids) for key, ids in conflicts.items()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not conflicts)

    def accept(self) -> None:
        if self.conflicts():
            return
        self.manager.apply(self.pending)
        super().accept()
