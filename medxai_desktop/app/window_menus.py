"""The main window's menus and tool bar: each entry is a window action (``window.add_action``,
its key from the shortcut registry) wired to a window method; nothing here holds state."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QToolBar

from medxai_desktop.core.imaging.presets import MAX_PRESETS

from .cine import install_cine
from .dock_layout import show_or_put_away
from .pacs_dock import install_pacs
from .reports_menu import ReportsController
from .review_flow import OPEN_TEXT
from .undo_commands import REDO, UNDO, step_action

# Action id (the shortcut registry's, see shortcuts.py) -> menu text, default key.
REVIEW_ACTIONS = {
    "review.draw": ("&Draw a box", "B"),
    "review.accept": ("&Accept the selected box", "A"),
    "review.reject": ("&Reject the selected box", "R"),
    "review.delete": ("De&lete the selected box", "Delete"),
    "review.next_unread": ("&Next unread image", "N"),
    "review.propose": ("&Propose boxes", "Shift+P"),
    "review.click_box": ("Click &tool: propose the box under a click", "C"),
    "review.undo": ("&Undo", "Ctrl+Z"),
    "review.redo": ("Re&do", "Ctrl+Shift+Z"),
}


def build_menus(window) -> None:
    """File, View, Export, Reports and Help (Review is the box review's), then the tool bar."""
    build_file_menu(window)
    build_view_menu(window)
    export_menu = window.menuBar().addMenu("&Export")
    window.add_action(export_menu, "&Boxes (COCO, VOC, YOLO, CSV, DICOM SR)...", window.choose_export,
                      action_id="export.boxes")
    install_pacs(window, export_menu)   # the PACS dock and Export > Send boxes to PACS
    window.reports = ReportsController(window, window.menuBar().addMenu("&Reports"))
    window.help_menu = window.menuBar().addMenu("&Help")
    window.add_action(window.help_menu, "&Keyboard shortcuts...", window.show_shortcuts,
                      action_id="help.shortcuts")
    window.add_action(window.help_menu, "&Plugins...", window.show_plugins)
    build_toolbar(window)


def build_file_menu(window) -> None:
    menu = window.menuBar().addMenu("&File")
    window.add_action(menu, "Open &folder...", window.choose_folder, action_id="file.open_folder")
    window.add_action(menu, "Open f&ile...", window.choose_file, action_id="file.open_file")
    window.recent_menu = menu.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(window.fill_recent_menu)
    window.fill_recent_menu()
    window.add_action(menu, "Open &model card...", window.choose_model_card, action_id="file.open_model")
    menu.addSeparator()
    window.reviewer_action = window.add_action(menu, "Reviewer name...", window.choose_reviewer)
    menu.addSeparator()
    window.add_action(menu, "&Quit", window.close, action_id="file.quit")


def build_view_menu(window) -> None:
    menu, canvas = window.menuBar().addMenu("&View"), window.canvas
    # Keys 1-9, I, F, 0 (configurable, see shortcuts.py) act on the canvas wherever the focus is.
    presets = menu.addMenu("Window &presets")
    window.preset_actions = [window.add_action(presets, "", lambda _=False, i=index: canvas.apply_preset(i),
                                               action_id=f"view.preset.{index + 1}") for index in range(MAX_PRESETS)]
    canvas.presets_changed.connect(lambda: show_presets(window))
    canvas.notice.connect(lambda message: window.statusBar().showMessage(message, 5000))
    show_presets(window)
    menu.addSeparator()
    window.add_action(menu, "&Invert", canvas.toggle_invert, action_id="view.invert")
    window.add_action(menu, "&Fit to window", canvas.fit, action_id="view.fit")
    window.add_action(menu, "&Actual size (1:1)", canvas.actual_size, action_id="view.actual_size")
    window.add_action(menu, "Heatmap &overlay on/off", canvas.toggle_overlay, action_id="view.overlay")
    menu.addSeparator()
    window.comparison_action = window.add_action(menu, "&Comparison grid", window.show_comparison,
                                                 action_id="view.comparison")
    window.cine = install_cine(window, menu)   # View > Cine play/pause, Loop cine; the Cine tool bar
    menu.addSeparator()
    for dock in (window.browser_dock, window.panel_dock, window.log_dock):
        menu.addAction(dock.toggleViewAction())
    window.view_menu = menu   # the review docks are added once they exist
    menu.addAction(window.tags_dock.toggleViewAction())
    # the key shows and raises the tags (a toggle would hide them when they are behind another tab)
    window.add_action(menu, "Show DICOM &tags", lambda: show_or_put_away(window.tags_dock), action_id="view.tags")


def show_presets(window) -> None:
    """Name the preset actions after the open image's presets (``canvas.presets``, by modality);
    the ones it has no preset for are hidden, so a CT window is never offered on a CR."""
    presets, unit = window.canvas.presets, window.canvas.image.unit if window.canvas.image else None
    for index, action in enumerate(window.preset_actions):
        shown = index < len(presets)
        action.setText(f"&{index + 1}  {presets[index].describe(unit)}" if shown else "(no image open)")
        action.setVisible(shown or index == 0)
        action.setEnabled(shown)


def build_toolbar(window) -> None:
    tools, canvas = QToolBar("Tools", window), window.canvas
    tools.setObjectName("Tools")
    window.addToolBar(tools)
    tools.addAction(window.add_action(None, "Open folder", window.choose_folder))
    tools.addSeparator()
    group = QActionGroup(window)
    window.tool_actions = {}
    for tool, label in (("window", "Window/level"), ("pan", "Pan"), ("zoom", "Zoom")):
        action = QAction(label, window, checkable=True)
        action.setChecked(tool == "window")
        action.triggered.connect(lambda _=False, t=tool: setattr(canvas, "tool", t))
        group.addAction(action)
        tools.addAction(action)
        window.tool_actions[tool] = action
    tools.addSeparator()
    tools.addAction(window.add_action(None, "Fit", canvas.fit))
    tools.addAction(window.add_action(None, "1:1", canvas.actual_size))
    tools.addAction(window.add_action(None, "Invert", canvas.toggle_invert))
    tools.addSeparator()
    tools.addAction(window.add_action(None, "Explain",
                                      lambda: window.run_explanations(window.panel.checked_methods()),
                                      action_id="explain.run"))
    window.addToolBar(window.cine.toolbar)      # play/pause, rate, loop (cine.py)


def build_review_menu(window, review) -> dict[str, QAction]:
    """The Review menu of the box review controller ``review``; its actions by id (with
    ``review.blinded`` and ``review.reveal``), their keys bound in the shortcut manager."""
    actions = _review_actions(window, review)
    menu = window.menuBar().addMenu("&Review")
    for action_id in ("review.undo", "review.redo"):
        menu.addAction(actions[action_id])
    menu.addSeparator()
    for action_id in ("review.propose", "review.click_box", "review.draw", "review.accept", "review.reject",
                      "review.delete"):
        menu.addAction(actions[action_id])
    menu.addAction("&Copy boxes from the previous image").triggered.connect(lambda _=False: review.copy_previous())
    on_open = menu.addAction(OPEN_TEXT)
    on_open.setCheckable(True)
    on_open.setChecked(review.flow.propose_on_open)
    on_open.setToolTip("Propose an unread image's boxes as it opens (the proposal panel's method and rule), "
                       "on the model worker")
    on_open.toggled.connect(review.flow.set_propose_on_open)
    menu.addSeparator()
    actions["review.sign_off"] = menu.addAction("&Sign off this image")
    actions["review.sign_off"].triggered.connect(lambda _=False: review.sign_off())
    menu.addAction(actions["review.next_unread"])
    actions["review.finish"] = _canvas_action(window, "Accept the shown proposals, sign off, next unread",
                                              review.flow.finish)
    menu.addAction(actions["review.finish"])
    menu.addSeparator()
    blinded = menu.addAction("&Blinded-first review")
    blinded.setCheckable(True)
    blinded.setToolTip("Hide heatmaps and AI boxes of an image until you have drawn your own")
    blinded.toggled.connect(review.set_blinded)
    reveal = actions["review.reveal"] = menu.addAction("Re&veal AI output")
    reveal.triggered.connect(lambda _=False: review.reveal())
    menu.addSeparator()
    learn = menu.addAction("&Learn from reviewed boxes...")
    learn.setToolTip("Train a box head on the open model from this database's reviewed boxes (the "
                     "classifier stays as it is); the new version is written beside the old one")
    learn.triggered.connect(lambda _=False: window.learner.choose_data())
    worklist = menu.addAction("Next unread by model &uncertainty")
    worklist.setCheckable(True)
    worklist.setToolTip("Predict every listed image once; N then opens the unread image the model "
                        "is least sure of (predictive entropy)")
    disagreement = menu.addAction("Next unread by uncertainty and proposal &disagreement")
    disagreement.setCheckable(True)
    disagreement.setToolTip("Predict and propose boxes on every listed image once (slower); N then opens "
                            "the unread image where the model is least sure or its proposal methods "
                            "disagree most about where the lesion is")
    _exclusive_orders(review, window, worklist, disagreement)
    for action_id, action in actions.items():
        window.shortcuts.bind(action_id, action)
    return {**actions, "review.blinded": blinded, "review.uncertainty": worklist,
            "review.disagreement": disagreement, "review.propose_on_open": on_open}


def _canvas_action(window, text: str, slot) -> QAction:
    """An action whose key works while the image has the focus only (Enter: the label field
    and the dialogs keep their own Enter)."""
    action = QAction(text, window.canvas)
    action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    action.triggered.connect(lambda _=False: slot())
    window.canvas.addAction(action)
    return action


def _exclusive_orders(review, window, entropy: QAction, disagreement: QAction) -> None:
    """The two worklist orders: at most one on; turning one on turns the other off."""
    def toggled(action: QAction, other: QAction, on: bool) -> None:
        if on:
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
            review.statuses.clear_order()
            review.statuses.order_by_uncertainty(window.model, disagreement=action is disagreement)
        else:
            review.statuses.clear_order()

    entropy.toggled.connect(lambda on: toggled(entropy, disagreement, on))
    disagreement.toggled.connect(lambda on: toggled(disagreement, entropy, on))


def _review_actions(window, review) -> dict[str, QAction]:
    slots = {"review.draw": review.editor.arm_drawing, "review.accept": review.accept_selected,
             "review.reject": review.reject_selected, "review.delete": review.delete_selected,
             "review.next_unread": review.next_unread, "review.propose": review.crosseai.propose,
             "review.click_box": review.flow.click.arm}
    actions = {}
    for action_id, (text, key) in REVIEW_ACTIONS.items():
        if action_id == "review.undo":
            action = step_action(review.undo_group, UNDO, review.undo, review)
        elif action_id == "review.redo":
            action = step_action(review.undo_group, REDO, review.redo, review)
        else:
            action = QAction(text, window)
            action.triggered.connect(lambda _=False, slot=slots[action_id]: slot())
        action.setShortcut(QKeySequence(key))
        window.addAction(action)
        actions[action_id] = action
    return actions
