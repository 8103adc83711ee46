"""The main window: browser | canvas | explanation panel, a log dock, menus and the status bar.

The open image, its prediction and explanations are the window's ReviewSession (core, no Qt);
the window wires widgets to it and to the controllers that turn gestures into core calls run
as jobs (image_opener, explain_controller, box_review, reports_menu). It never runs model code
or file decoding itself.
"""
from __future__ import annotations

import getpass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QTabWidget

from medxai_desktop.core.imaging import ImageRef
from medxai_desktop.core.imaging.presets import MAX_PRESETS, format_window
from medxai_desktop.core.review.session import ReviewSession, ref_key

from .box_review import BoxReviewController
from .comparison_grid import ComparisonGrid
from .dock_layout import DockLayout, scrollable
from .explain_controller import ExplainController
from .explanation_panel import ExplanationPanel
from .folder_dialogs import ask_folder
from .export_dialog import ExportDialog, ExportRequest, export_boxes
from .image_canvas import ImageCanvas
from .image_opener import ImageOpener, dropped_paths
from .jobs import JobRunner
from .learn_controller import LearnController
from .log_panel import LogPanel
from .measure_controller import MeasureController
from .notifications import Toast
from .session_resume import SessionResume
from .settings import AppSettings
from .shortcuts import ShortcutManager, ShortcutsDialog
from .study_browser import StudyBrowser
from .tag_browser import TagBrowser
from .thumbnails import SeriesThumbnails
from .window_menus import build_menus

APP_TITLE = "MedXAI Desktop"


class MainWindow(QMainWindow):
    def __init__(self, store=None, device: str = "auto", parent=None, *, settings: AppSettings | None = None,
                 reviewer: str = ""):
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        # without settings (tests, scripts) nothing is read from or written to the user's
        self.settings = settings if settings is not None else AppSettings()
        self.reviewer = reviewer or self.settings.reviewer or os_user()
        self.shortcuts = ShortcutManager(self.settings, self)
        self._layout_restored = False
        self.store = store
        self.device = device
        self.jobs = JobRunner(self)
        self.session = ReviewSession()
        self.opener = ImageOpener(self)
        self.explainer = ExplainController(self)
        self.resume = SessionResume(self)
        self.learner = LearnController(self)
        self._build_widgets()
        build_menus(self)
        self.review = BoxReviewController(self)   # box editing, review status, CrossEAI preview
        self._build_review_docks()
        self.measure = MeasureController(self)     # lengths and ROIs, on the review's undo stack
        self.dock_layout = DockLayout(self)      # readable tabs, map rows and tag values
        self._connect_widgets()
        self._restore_choices()
        self.explainer.load_methods(background=True)   # the explainers (and torch) after the window
        self.canvas.set_overlay_style(*self.panel.overlay_style())
        # keys the canvas (and its box editor) also handle themselves: once moved, the old key is dead there
        self.shortcuts.guard(self.canvas, [f"view.preset.{i + 1}" for i in range(MAX_PRESETS)]
                             + ["view.invert", "view.fit", "view.actual_size", "review.draw", "review.accept",
                                "review.reject", "review.delete"])
        self.setAcceptDrops(True)
        for widget in (self.canvas, self.canvas.viewport()):
            widget.setAcceptDrops(False)     # its scene would take file drags and drop them
        self.explainer.update_model_status()

    # -- the session, read by the controllers and tests -------------------------------------------

    @property
    def ref(self) -> ImageRef | None:
        return self.session.ref

    @property
    def image(self):
        return self.session.image

    @property
    def image_id(self) -> int | None:
        return self.session.image_id

    @property
    def prediction(self):
        return self.session.prediction

    @property
    def explanations(self) -> dict:
        """Method -> Explanation of the open image, over all explained targets (latest last)."""
        return self.session.all_explanations()

    @property
    def model(self):
        return self.explainer.model

    @property
    def model_thread_idents(self) -> list[int]:
        return self.explainer.thread_idents

    @property
    def token(self) -> int:
        """Changes each time another image is opened: a job's result for an older token is stale."""
        return self.opener.token

    def explaining(self) -> bool:
        return self.explainer.explaining()

    # -- widgets ----------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.canvas = ImageCanvas()
        self.grid = ComparisonGrid()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.canvas, "Image")
        self.tabs.addTab(self.grid, "Comparison")
        self.tabs.setTabEnabled(1, False)
        self.tabs.setTabToolTip(1, "The computed maps side by side (View > Comparison grid)")
        self.setCentralWidget(self.tabs)
        self.browser = StudyBrowser()
        self.thumbnails = SeriesThumbnails(self.browser, self.jobs)   # a picture on each series row
        self.panel = ExplanationPanel()
        self.log = LogPanel()
        self.browser_dock = self._dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.panel_dock = self._dock("Explanations", scrollable(self.panel), Qt.DockWidgetArea.RightDockWidgetArea)
        self.log_dock = self._dock("Log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tags = TagBrowser()
        self.tags_dock = self._dock("DICOM tags", self.tags, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.panel_dock, self.tags_dock)
        self.panel_dock.raise_()
        self.toast = Toast(self, anchor=self.tabs)
        self.toast.clicked.connect(lambda: (self.log_dock.show(), self.log_dock.raise_()))
        self.resizeDocks([self.browser_dock, self.panel_dock], [260, 320], Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [110], Qt.Orientation.Vertical)
        self.pixel_label, self.window_label, self.zoom_label, self.model_status = (QLabel() for _ in range(4))
        self.pixel_label.setMinimumWidth(260)
        for label in (self.pixel_label, self.window_label, self.zoom_label, self.model_status):
            self.statusBar().addPermanentWidget(label)

    def _build_review_docks(self) -> None:
        self.review_dock = self._dock("Review", scrollable(self.review.panel), Qt.DockWidgetArea.LeftDockWidgetArea)
        self.crosseai_dock = self._dock("CrossEAI boxes", scrollable(self.review.crosseai_panel),
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.panel_dock, self.crosseai_dock)
        for dock in (self.review_dock, self.crosseai_dock):
            self.view_menu.addAction(dock.toggleViewAction())
        self.panel_dock.raise_()

    def _connect_widgets(self) -> None:
        canvas, panel = self.canvas, self.panel
        self.browser.image_selected.connect(self.open_ref)
        canvas.step_requested.connect(self.step)
        canvas.cursor_moved.connect(self.pixel_label.setText)
        canvas.window_changed.connect(self._on_window_changed)
        canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"zoom {z * 100:.0f} %"))
        # smooth when zoomed out (no aliasing), plain pixels when zoomed in
        canvas.zoom_changed.connect(lambda z: canvas.image_item.setTransformationMode(
            Qt.TransformationMode.SmoothTransformation if z < 1 else Qt.TransformationMode.FastTransformation))
        panel.run_requested.connect(self.run_explanations)
        panel.road_requested.connect(self.reports.compute_road)
        panel.cancel_requested.connect(self.cancel_explanations)
        panel.style_changed.connect(lambda cmap, opacity, threshold: canvas.set_overlay_style(cmap, opacity, threshold))
        panel.map_selected.connect(self.show_map)
        self.tabs.currentChanged.connect(lambda _: self.update_grid())
        canvas.window_changed.connect(lambda *_: self.update_grid(restyle=False))
        panel.style_changed.connect(
            lambda *style: self.grid.set_style(*style) if self.tabs.currentWidget() is self.grid else None)
        self.tags_dock.visibilityChanged.connect(lambda visible: self._update_tags() if visible else None)

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def add_action(self, menu, text, slot, shortcut=None, action_id: str | None = None) -> QAction:
        """A QAction; ``action_id`` takes its (configurable) key from the shortcut registry."""
        action = QAction(text, self)
        if action_id is not None:
            self.shortcuts.bind(action_id, action)
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        if menu is not None:
            menu.addAction(action)
        else:
            self.addAction(action)
        return action

    def show_plugins(self) -> None:
        """Help > Plugins...: list, enable and disable plugins (their load errors too)."""
        from .plugins_dialog import PluginsDialog

        self.plugins_dialog = PluginsDialog(
            self, log=lambda message, level="info": (self.error if level == "error" else self.info)(message))
        self.plugins_dialog.open()

    # -- messages ----------------------------------------------------------------------------

    def info(self, message: str) -> None:
        self.log.add(message)
        self.statusBar().showMessage(message, 5000)

    def error(self, message: str) -> None:
        """Errors go to the log, the status bar and a notice that fades away; nothing modal."""
        self.log.add(message, "error")
        self.statusBar().showMessage(message, 10000)
        self.toast.show_message(message, "error")

    # -- opening studies and images (image_opener.py) ---------------------------------------------

    def choose_folder(self) -> None:
        folder = ask_folder(self, "Open study folder", "studies")
        if folder is not None:
            self.open_path(folder)

    def choose_file(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "Open image")
        if file:
            self.open_path(file)

    def open_path(self, path, remember: bool = True) -> None:
        self.opener.open_path(path, remember)

    def open_paths(self, paths) -> None:
        self.opener.open_paths(paths)

    def open_ref(self, ref: ImageRef) -> None:
        self.opener.open_ref(ref)

    def step(self, delta: int) -> None:
        self.opener.step(delta)

    def show_image(self, ref: ImageRef, image, image_id) -> None:
        """A decoded image: show it, open it in the session (the review follows), predict."""
        # the next frame of the same file keeps the reader's window/level
        kept = (self.canvas.center, self.canvas.width_, self.canvas.inverted) if (
            self.ref is not None and self.image is not None and self.ref.path == ref.path
            and self.image.shape == image.shape and not self.canvas.use_voi_lut) else None
        self.reports.clear()
        self.canvas.set_image(image)
        if kept is not None:
            self.canvas.set_window(*kept)
        self.opener.focus_canvas()
        self.panel.set_maps([])
        self.panel.show_prediction(None)
        self.session.open(ref, image, image_id, key=ref_key(ref))
        self._update_tags()
        self.update_grid()
        self.setWindowTitle(f"{APP_TITLE} - {ref.path.name}")
        self.explainer.predict()

    # -- the model and explanations (explain_controller.py) ---------------------------------------

    def choose_model_card(self) -> None:
        card, _ = QFileDialog.getOpenFileName(self, "Open model card", "", "Model cards (*.json)")
        if card:
            self.load_model_card(card)

    def load_model_card(self, card) -> None:
        self.explainer.load_model_card(card)

    def set_model(self, model, source: str = "") -> None:
        self.explainer.set_model(model, source)

    def predict(self) -> None:
        self.explainer.predict()

    def run_explanations(self, methods: list[str]) -> None:
        self.explainer.run(methods)

    def cancel_explanations(self) -> None:
        self.explainer.cancel()

    def refresh_maps(self, select: str | None = None) -> None:
        self.explainer.refresh_maps(select)

    def show_map(self, method: str) -> None:
        self.explainer.show_map(method)

    # -- recent paths, drag and drop --------------------------------------------------------------

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent()
        for number, path in enumerate(recent, 1):
            action = self.recent_menu.addAction(f"&{number % 10}  {path}")
            action.setData(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent)
        else:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def dragEnterEvent(self, event) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- settings, shortcuts, reviewer ------------------------------------------------------------

    def _restore_choices(self) -> None:
        """The overlay style and checked methods of the last session; remembered as they change."""
        style = self.settings.overlay_style()
        if style is not None:
            self.panel.set_overlay_style(*style)
        methods = self.settings.checked_methods()
        if methods is not None:
            self.panel.set_checked_methods(methods)
        self.panel.style_changed.connect(lambda *style: self.settings.set_overlay_style(*style))
        self.panel.methods_toggled.connect(lambda: self.settings.set_checked_methods(self.panel.remembered_methods()))

    def showEvent(self, event) -> None:
        if not self._layout_restored:
            # here rather than in __init__, so that every dock and toolbar exists by now
            self._layout_restored = True
            self.settings.restore_window(self)
            bar = self.menuBar()
            bar.removeAction(self.help_menu.menuAction())
            bar.addAction(self.help_menu.menuAction())   # Help stays the last menu
        super().showEvent(event)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcuts, self).exec()

    def choose_reviewer(self) -> None:
        name, ok = QInputDialog.getText(self, "Reviewer", "Your name, recorded with every review:",
                                        text=self.reviewer)
        if ok and name.strip():
            self.reviewer = self.settings.reviewer = name.strip()
            self.info(f"reviewer: {self.reviewer}")

    # -- comparison grid and tags ------------------------------------------------------------------

    def show_comparison(self) -> None:
        if not self.explanations:
            self.info("no maps yet: run explanations first (Explain, Ctrl+R)")
            return
        if self.session.ai_hidden():
            self.info("blinded review: draw your own box or Reveal AI first")
            return
        self.tabs.setCurrentWidget(self.grid)

    def update_grid(self, restyle: bool = True) -> None:
        """Keep the comparison tab in step with the maps; fill it only while it is shown."""
        # blinded review: the grid is AI output too, hidden like the overlay
        explanations = self.explanations
        has_maps = bool(explanations) and not self.session.ai_hidden()
        self.tabs.setTabEnabled(self.tabs.indexOf(self.grid), has_maps)
        if not has_maps and self.tabs.currentWidget() is self.grid:
            self.tabs.setCurrentWidget(self.canvas)
        if self.tabs.currentWidget() is not self.grid:
            return
        self.grid.set_image(self.canvas.image_item.pixmap())
        if restyle:
            self.grid.set_style(*self.panel.overlay_style())
            self.grid.set_maps([(name, f"{e.label} - {e.target_name}", e.map)
                                for name, e in explanations.items()])

    def _update_tags(self) -> None:
        """Fill the tag browser while it is shown; hidden, it lets go of the old image."""
        if self.tags.image is self.image:
            return
        if not self.tags_dock.visibleRegion().isEmpty():
            self.tags.set_image(self.image)
        elif self.tags.image is not None:
            self.tags.set_image(None)

    # -- export ----------------------------------------------------------------------------------

    def choose_export(self) -> None:
        if self.store is None:
            self.error("no review store: there are no boxes to export")
            return
        dialog = ExportDialog(self, default_dir=self.settings.export_folder(), store=self.store, jobs=self.jobs)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export(dialog.result_request())

    def export(self, request: ExportRequest):
        """Write the store's boxes as ``request`` says, as an io job; the handle."""
        store = self.store
        self.settings.set_export_folder(request.out.parent)     # the dialog starts there next time
        self.info(f"exporting {request.which} boxes as {request.fmt} to {request.out}")
        return self.jobs.submit(f"export {request.fmt}", lambda progress, cancelled: export_boxes(store, request),
                                on_success=self.info, on_failure=self.error)

    # -- status and shutdown ------------------------------------------------------------------

    def _on_window_changed(self, center: float, width: float, inverted: bool) -> None:
        lut, image = " (VOI LUT)" if self.canvas.use_voi_lut else "", self.canvas.image
        text = format_window(center, width, image.unit if image is not None else None)
        self.window_label.setText(f"{text}{lut}{'  inverted' if inverted else ''}")

    def closeEvent(self, event) -> None:
        self.settings.save_window(self)
        self.settings.set_checked_methods(self.panel.remembered_methods())
        self.settings.sync()
        self.jobs.close()
        # Jobs get a moment to stop at their next cancellation point, else the process ends
        # without them (app/main.py): every edit is already committed in its own transaction, a
        # half-written map record rolls back, and files are written whole or not at all.
        idle = self.jobs.io_pool.waitForDone(300) and self.jobs.model_pool.waitForDone(100)
        if idle and self.store is not None:
            self.store.close()
        super().closeEvent(event)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no login name (some containers)
        return "reviewer"
