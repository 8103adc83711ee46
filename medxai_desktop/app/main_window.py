"""The main window: browser | canvas | explanation panel, a log dock, menus and the status bar.

It holds the session state (the model, the open image, its explanations) and turns gestures
into core calls run as jobs; it never runs model code or file decoding itself.
"""
from __future__ import annotations

import getpass
import threading
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QDialog, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QTabWidget,
                               QToolBar)

from medxai_desktop.core.imaging import DiscoveryResult, ImageReadError, ImageRef, discover, read_image
from medxai_desktop.core.jobs import report

from .box_review import BoxReviewController
from .comparison_grid import ComparisonGrid
from .explanation_panel import ExplanationPanel
from .export_dialog import ExportDialog, ExportRequest, export_boxes
from .image_canvas import PRESETS, ImageCanvas
from .jobs import JobRunner
from .log_panel import LogPanel
from .notifications import Toast
from .reports_menu import ReportsController
from .rendering import WindowLut
from .settings import AppSettings
from .shortcuts import ShortcutManager, ShortcutsDialog
from .study_browser import StudyBrowser
from .tag_browser import TagBrowser

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
        self._requested_ref: ImageRef | None = None
        self._layout_restored = False
        self.store = store
        self.device = device
        self.jobs = JobRunner(self)
        self.model = self.engine = None
        self.model_source = ""
        self.ref: ImageRef | None = None
        self.image = None
        self.image_id: int | None = None
        self.prediction = None
        self.explanations: dict = {}
        self.model_thread_idents: list[int] = []   # threads that ran model code (for tests)
        self._token = 0
        self._explain_job = None

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
        self.panel = ExplanationPanel()
        self.log = LogPanel()
        self.browser_dock = self._dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.panel_dock = self._dock("Explanations", self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
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
        self._build_actions()
        self.review = BoxReviewController(self)   # box editing, review status, CrossEAI preview
        self.review_dock = self._dock("Review", self.review.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.crosseai_dock = self._dock("CrossEAI boxes", self.review.crosseai_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.panel_dock, self.crosseai_dock)
        for dock in (self.review_dock, self.crosseai_dock):
            self._view_menu.addAction(dock.toggleViewAction())
        self.panel_dock.raise_()

        self.browser.image_selected.connect(self.open_ref)
        self.canvas.step_requested.connect(self.step)
        self.canvas.cursor_moved.connect(self.pixel_label.setText)
        self.canvas.window_changed.connect(self._on_window_changed)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"zoom {z * 100:.0f} %"))
        # smooth when zoomed out (no aliasing), plain pixels when zoomed in
        self.canvas.zoom_changed.connect(lambda z: self.canvas.image_item.setTransformationMode(
            Qt.TransformationMode.SmoothTransformation if z < 1 else Qt.TransformationMode.FastTransformation))
        self.panel.run_requested.connect(self.run_explanations)
        self.panel.road_requested.connect(self.reports.compute_road)
        self.panel.cancel_requested.connect(self.cancel_explanations)
        self.panel.style_changed.connect(lambda cmap, opacity, threshold:
                                         self.canvas.set_overlay_style(cmap, opacity, threshold))
        self.panel.map_selected.connect(self.show_map)
        self._restore_choices()
        self.canvas.set_overlay_style(*self.panel.overlay_style())
        self.tabs.currentChanged.connect(lambda _: self._update_grid())
        self.canvas.window_changed.connect(lambda *_: self._update_grid(restyle=False))
        self.panel.style_changed.connect(
            lambda *style: self.grid.set_style(*style) if self.tabs.currentWidget() is self.grid else None)
        self.tags_dock.visibilityChanged.connect(lambda visible: self._update_tags() if visible else None)
        # keys the canvas (and its box editor) also handle themselves: once moved, the old key is dead there
        self.shortcuts.guard(self.canvas, [f"view.preset.{i + 1}" for i in range(len(PRESETS))]
                             + ["view.invert", "view.fit", "view.actual_size", "review.draw", "review.accept",
                                "review.reject", "review.delete"])
        self.setAcceptDrops(True)
        for widget in (self.canvas, self.canvas.viewport()):
            widget.setAcceptDrops(False)     # its scene would take file drags and drop them
        self._update_model_status()

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "Open &folder...", self.choose_folder, action_id="file.open_folder")
        self._action(file_menu, "Open f&ile...", self.choose_file, action_id="file.open_file")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        self._action(file_menu, "Open &model card...", self.choose_model_card, action_id="file.open_model")
        file_menu.addSeparator()
        self.reviewer_action = self._action(file_menu, "Reviewer name...", self.choose_reviewer)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, action_id="file.quit")

        view_menu = self.menuBar().addMenu("&View")
        # Keys 1-6, I, F, 0 (configurable, see shortcuts.py) act on the canvas wherever the focus is.
        for index, (name, center, width) in enumerate(PRESETS):
            text = name if center is None else f"{name} ({center:g}/{width:g})"
            self._action(view_menu, text, lambda _=False, i=index: self.canvas.apply_preset(i),
                         action_id=f"view.preset.{index + 1}")
        view_menu.addSeparator()
        self._action(view_menu, "&Invert", self.canvas.toggle_invert, action_id="view.invert")
        self._action(view_menu, "&Fit to window", self.canvas.fit, action_id="view.fit")
        self._action(view_menu, "&Actual size (1:1)", self.canvas.actual_size, action_id="view.actual_size")
        view_menu.addSeparator()
        self.comparison_action = self._action(view_menu, "&Comparison grid", self.show_comparison,
                                              action_id="view.comparison")
        view_menu.addSeparator()
        for dock in (self.browser_dock, self.panel_dock, self.log_dock):
            view_menu.addAction(dock.toggleViewAction())
        self._view_menu = view_menu   # the review docks are added once they exist
        view_menu.addAction(self.shortcuts.bind("view.tags", self.tags_dock.toggleViewAction()))

        export_menu = self.menuBar().addMenu("&Export")
        self._action(export_menu, "&Boxes (COCO, VOC, YOLO, CSV, DICOM SR)...", self.choose_export,
                     action_id="export.boxes")
        self.reports = ReportsController(self, self.menuBar().addMenu("&Reports"))
        self.help_menu = self.menuBar().addMenu("&Help")
        self._action(self.help_menu, "&Keyboard shortcuts...", self.show_shortcuts, action_id="help.shortcuts")
        self._action(self.help_menu, "&Plugins...", self.show_plugins)

        tools = QToolBar("Tools", self)
        tools.setObjectName("Tools")
        self.addToolBar(tools)
        tools.addAction(self._action(None, "Open folder", self.choose_folder))
        tools.addSeparator()
        group = QActionGroup(self)
        self.tool_actions = {}
        for tool, label in (("window", "Window/level"), ("pan", "Pan"), ("zoom", "Zoom")):
            action = QAction(label, self, checkable=True)
            action.setChecked(tool == "window")
            action.triggered.connect(lambda _=False, t=tool: setattr(self.canvas, "tool", t))
            group.addAction(action)
            tools.addAction(action)
            self.tool_actions[tool] = action
        tools.addSeparator()
        tools.addAction(self._action(None, "Fit", self.canvas.fit))
        tools.addAction(self._action(None, "1:1", self.canvas.actual_size))
        tools.addAction(self._action(None, "Invert", self.canvas.toggle_invert))
        tools.addSeparator()
        run = self._action(None, "Explain", lambda: self.run_explanations(self.panel.checked_methods()),
                           action_id="explain.run")
        tools.addAction(run)

    @property
    def token(self) -> int:
        """Changes each time another image is opened: a job's result for an older token is stale."""
        return self._token

    def add_action(self, menu, text, slot, shortcut=None, action_id: str | None = None) -> QAction:
        """A menu action, registered with the shortcut manager under ``action_id``."""
        return self._action(menu, text, slot, shortcut, action_id)

    def update_grid(self, restyle: bool = True) -> None:
        self._update_grid(restyle)

    def _action(self, menu, text, slot, shortcut=None, action_id: str | None = None) -> QAction:
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

    # -- opening studies and images ------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open study folder")
        if folder:
            self.open_path(folder)

    def choose_file(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "Open image")
        if file:
            self.open_path(file)

    def open_path(self, path, remember: bool = True) -> None:
        """Scan a folder, DICOMDIR or file (in the background), list it, show its first image;
        ``remember`` puts it on File > Open recent."""
        path = Path(path)
        if remember:
            self.settings.add_recent(path)
        self.info(f"scanning {path}")
        self.jobs.submit(f"scan {path}", lambda progress, cancelled: discover(path),
                         on_success=self._on_discovered, on_failure=self.error)

    def _on_discovered(self, result) -> None:
        self.browser.populate(result)
        self.review.on_discovered()
        for failure in result.failures:
            self.log.add(f"unreadable: {failure}", "warning")
        self.info(f"{len(result.images)} image(s), {len(result.failures)} unreadable file(s)")
        if result.images:
            self.browser.select_index(0)

    def open_ref(self, ref: ImageRef) -> None:
        """Decode an image (and register it in the store) in the background, then show it."""
        self._token += 1
        self._requested_ref = ref
        token, store = self._token, self.store

        def job(progress, cancelled):
            try:
                image = read_image(ref.path, ref.frame)
            except ImageReadError as exc:
                return None, None, exc
            WindowLut.for_image(image)   # the display table of a big image, built here, not on the GUI thread
            image_id, store_error = None, None
            if store is not None:
                try:
                    image_id = store.add_image(image)
                except Exception as exc:  # noqa: BLE001 - the image is still shown
                    store_error = f"review store: {exc}"
            return image, image_id, store_error

        self.jobs.submit(f"open {ref.path.name}", job,
                         on_success=lambda result: self._on_image(token, ref, *result),
                         on_failure=self.error)

    def _on_image(self, token: int, ref: ImageRef, image, image_id, store_error) -> None:
        if isinstance(store_error, ImageReadError):
            self._on_unreadable(token, ref, store_error)
            return
        if token != self._token:
            return  # the user has moved on to another image
        if store_error:
            self.error(store_error)
        # the next frame of the same file keeps the reader's window/level
        kept = (self.canvas.center, self.canvas.width_, self.canvas.inverted) if (
            self.ref is not None and self.image is not None and self.ref.path == ref.path
            and self.image.shape == image.shape and not self.canvas.use_voi_lut) else None
        self.ref, self.image, self.image_id = ref, image, image_id
        self.explanations, self.prediction = {}, None
        self.reports.clear()
        self.canvas.set_image(image)
        if kept is not None:
            self.canvas.set_window(*kept)
        self._update_tags()
        self._update_grid()
        self.canvas.setFocus()
        self.panel.set_maps([])
        self.panel.show_prediction(None)
        self.review.set_image(ref, image, image_id)
        self.setWindowTitle(f"{APP_TITLE} - {ref.path.name}")
        self.predict()

    def _on_unreadable(self, token: int, ref: ImageRef, failure: ImageReadError) -> None:
        """Listed but not decodable: say why, move it under Failures, show a readable one."""
        self.error(f"cannot open {failure}")
        index = self.browser.current_index()
        self.browser.mark_failed(ref, failure.reason)
        if token == self._token and self.image is None and self.browser.image_refs():
            self.browser.select_index(max(0, min(index, len(self.browser.image_refs()) - 1)))

    # -- the model -------------------------------------------------------------------------------

    def choose_model_card(self) -> None:
        card, _ = QFileDialog.getOpenFileName(self, "Open model card", "", "Model cards (*.json)")
        if card:
            self.load_model_card(card)

    def load_model_card(self, card) -> None:
        from medxai_desktop.core.models import load_model

        device = self.device
        self.panel.set_model_text(f"Loading {Path(card).name}...")
        self.jobs.submit(f"load model {card}", lambda progress, cancelled: load_model(card, device),
                         model=True, on_success=lambda model: self.set_model(model, str(card)),
                         on_failure=self._on_model_failed)

    def _on_model_failed(self, message: str) -> None:
        self.error(message)
        self._update_model_status()

    def set_model(self, model, source: str = "") -> None:
        from medxai_desktop.core.explain import ExplanationEngine

        self.model, self.model_source = model, source
        self.engine = ExplanationEngine(model)
        self._update_model_status()
        self.info(f"model {model.card.arch} ({', '.join(model.classes)}) on {model.device}")
        self.predict()

    def _update_model_status(self) -> None:
        if self.model is None:
            self.panel.set_model_text("No model loaded (File > Open model card...)")
            self.model_status.setText("no model loaded")
            return
        card = self.model.card
        source = f"{Path(self.model_source).name}: " if self.model_source else ""
        untrained = "<br><b>UNTRAINED</b> (random weights): maps show the pipeline, not findings" \
            if card.metadata.get("random_init") else ""
        self.panel.set_model_text(f"{source}{card.arch}, {len(card.classes)} classes, on "
                                  f"{self.model.device}{untrained}")
        self.model_status.setText(f"{card.arch} on {self.model.device}")

    def predict(self) -> None:
        """Class probabilities for the open image, on the model worker."""
        if self.model is None or self.image is None:
            return
        token, model, image = self._token, self.model, self.image
        idents = self.model_thread_idents

        def job(progress, cancelled):
            idents.append(threading.get_ident())
            return model.predict(model.preprocess(image))

        self.jobs.submit("predict", job, model=True, on_failure=self.error,
                         on_success=lambda prediction: self._on_prediction(token, prediction))

    def _on_prediction(self, token: int, prediction) -> None:
        if token == self._token:
            self.prediction = prediction
            self.panel.show_prediction(prediction)

    # -- explanations -------------------------------------------------------------------------

    def run_explanations(self, methods: list[str]) -> None:
        if self.model is None:
            self.error("no model loaded: File > Open model card...")
            return
        if self.image is None:
            self.error("no image open")
            return
        if not methods:
            self.error("no explanation method checked")
            return
        if self._explain_job is not None and not self._explain_job.done:
            self.error("an explanation is already running")
            return
        token, model, engine, image = self._token, self.model, self.engine, self.image
        store, image_id, idents = self.store, self.image_id, self.model_thread_idents

        def job(progress, cancelled):
            idents.append(threading.get_ident())
            report(progress, 0.05, 1, "explain", "shared pass...")
            result = engine.explain(model.preprocess(image), methods, "predicted",
                                    progress=progress, cancelled=cancelled)
            store_error = None
            if store is not None and image_id is not None:
                report(progress, 0.95, 1, "explain", "saving...")
                try:
                    model_id = store.add_model(model)
                    for explanation in result.explanations.values():
                        store.record_explanation(image_id, model_id, explanation)
                except Exception as exc:  # noqa: BLE001 - the maps are still shown
                    store_error = f"review store: {exc}"
            return result, store_error

        self.panel.set_running(True)
        handle = self.jobs.submit(f"explain ({', '.join(methods)})", job, model=True,
                                  on_success=lambda r: self._on_explained(token, *r),
                                  on_failure=self.error)
        handle.progress.connect(self.panel.set_progress)
        handle.cancelled.connect(lambda: self.info("explanation cancelled"))
        handle.finished.connect(lambda: self.panel.set_running(False))
        handle.finished.connect(lambda: self.panel.set_progress(0, "idle"))
        self._explain_job = handle
        self.info(f"explaining {self.ref.path.name} with {', '.join(methods)}")

    def cancel_explanations(self) -> None:
        if self._explain_job is not None:
            self._explain_job.cancel()

    def _on_explained(self, token: int, result, store_error) -> None:
        if store_error:
            self.error(store_error)
        if token != self._token:
            return
        self.explanations.update(result.explanations)
        self.reports.forget(result.explanations)
        self.prediction = result.prediction
        self.panel.show_prediction(result.prediction)
        self.refresh_maps(select=next(iter(result.explanations)))
        self.info(f"explained {self.ref.path.name}: predicted {result.prediction.class_name}, "
                  f"shared pass {result.shared_pass_seconds * 1000:.0f} ms")
        self.review.on_explanations()

    def refresh_maps(self, select: str | None = None) -> None:
        """The computed maps in the panel and the grid, with their ROAD scores once known."""
        entries = []
        for name, e in self.explanations.items():
            road = self.reports.score_text(name)
            entries.append((name, f"{e.label}  - {e.target_name}  ({e.seconds * 1000:.0f} ms)"
                                  f"{'  ' + road if road else ''}"))
        self.panel.set_maps(entries, select=select if select is not None else self.panel.selected_map() or None)
        self.grid.set_scores({name: self.reports.score_text(name) for name in self.explanations})
        self._update_grid()

    def show_map(self, method: str) -> None:
        explanation = self.explanations.get(method)
        self.canvas.set_heatmap(None if explanation is None else explanation.map)

    # -- frames, recent paths, drag and drop ------------------------------------------------------

    def step(self, delta: int) -> None:
        """The wheel: previous/next frame of a multi-frame image (or volume slice), past its
        first or last frame the previous/next image of the browser."""
        ref = self._requested_ref if self._requested_ref is not None else self.ref
        if ref is not None and ref.n_frames > 1 and 0 <= ref.frame + delta < ref.n_frames:
            self.open_ref(replace(ref, frame=ref.frame + delta))
        else:
            self.browser.step(delta)

    def open_paths(self, paths) -> None:
        """Open one path as File > Open does; several (a drop) are scanned together and listed as one."""
        paths = [Path(p) for p in paths]
        if len(paths) == 1:
            self.open_path(paths[0])
            return
        for path in paths:
            self.settings.add_recent(path)
        self.info(f"scanning {len(paths)} paths")
        self.jobs.submit(f"scan {len(paths)} paths",
                         lambda progress, cancelled: merge_discoveries([discover(p) for p in paths]),
                         on_success=self._on_discovered, on_failure=self.error)

    def _fill_recent_menu(self) -> None:
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
        for box in self.panel.method_boxes.values():
            box.toggled.connect(lambda _: self.settings.set_checked_methods(self.panel.checked_methods()))

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
        if self.review.ai_hidden():
            self.info("blinded review: draw your own box or Reveal AI first")
            return
        self.tabs.setCurrentWidget(self.grid)

    def _update_grid(self, restyle: bool = True) -> None:
        """Keep the comparison tab in step with the maps; fill it only while it is shown."""
        review = getattr(self, "review", None)
        # blinded review: the grid is AI output too, hidden like the overlay
        has_maps = bool(self.explanations) and not (review is not None and review.ai_hidden())
        self.tabs.setTabEnabled(self.tabs.indexOf(self.grid), has_maps)
        if not has_maps and self.tabs.currentWidget() is self.grid:
            self.tabs.setCurrentWidget(self.canvas)
        if self.tabs.currentWidget() is not self.grid:
            return
        self.grid.set_image(self.canvas.image_item.pixmap())
        if restyle:
            self.grid.set_style(*self.panel.overlay_style())
            self.grid.set_maps([(name, f"{e.label} - {e.target_name}", e.map)
                                for name, e in self.explanations.items()])

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
        dialog = ExportDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export(dialog.result_request())

    def export(self, request: ExportRequest):
        """Write the store's boxes as ``request`` says, as an io job; the handle."""
        store = self.store
        self.info(f"exporting {request.which} boxes as {request.fmt} to {request.out}")
        return self.jobs.submit(f"export {request.fmt}", lambda progress, cancelled: export_boxes(store, request),
                                on_success=self.info, on_failure=self.error)

    # -- status and shutdown ------------------------------------------------------------------

    def _on_window_changed(self, center: float, width: float, inverted: bool) -> None:
        lut = " (VOI LUT)" if self.canvas.use_voi_lut else ""
        self.window_label.setText(f"W {width:g}  L {center:g}{lut}{'  inverted' if inverted else ''}")

    def closeEvent(self, event) -> None:
        self.settings.save_window(self)
        self.settings.set_checked_methods(self.panel.checked_methods())
        self.settings.sync()
        self.jobs.cancel_all()
        self.jobs.wait(10000)
        if self.store is not None:
            self.store.close()
        super().closeEvent(event)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no login name (some containers)
        return "reviewer"


def dropped_paths(mime) -> list[Path]:
    """The local files and folders of a drag (URLs that are not files are ignored)."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def merge_discoveries(results: list[DiscoveryResult]) -> DiscoveryResult:
    """Several scans as one listing: the same study or series found twice is listed once."""
    studies: dict = {}
    failures = []
    for result in results:
        failures.extend(result.failures)
        for study in result.studies:
            known = studies.setdefault(study.study_uid, replace(study, series=[]))
            for series in study.series:
                same = next((s for s in known.series if s.series_uid == series.series_uid), None)
                if same is None:
                    known.series.append(replace(series, images=list(series.images)))
                else:
                    same.images.extend(ref for ref in series.images if ref not in same.images)
    return DiscoveryResult(list(studies.values()), failures)
