"""The main window: browser | canvas | explanation panel, a log dock, menus and the status bar.

It holds the session state (the model, the open image, its explanations) and turns gestures
into core calls run as jobs; it never runs model code or file decoding itself.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QToolBar

from medxai_desktop.core.imaging import ImageReadError, ImageRef, discover, read_image

from .explanation_panel import ExplanationPanel
from .image_canvas import PRESETS, ImageCanvas
from .jobs import JobRunner
from .log_panel import LogPanel
from .study_browser import StudyBrowser

APP_TITLE = "MedXAI Desktop"


class MainWindow(QMainWindow):
    def __init__(self, store=None, device: str = "auto", parent=None):
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
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
        self.setCentralWidget(self.canvas)
        self.browser = StudyBrowser()
        self.panel = ExplanationPanel()
        self.log = LogPanel()
        self.browser_dock = self._dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.panel_dock = self._dock("Explanations", self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.log_dock = self._dock("Log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.browser_dock, self.panel_dock], [260, 320], Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [110], Qt.Orientation.Vertical)

        self.pixel_label, self.window_label, self.zoom_label, self.model_status = (QLabel() for _ in range(4))
        self.pixel_label.setMinimumWidth(260)
        for label in (self.pixel_label, self.window_label, self.zoom_label, self.model_status):
            self.statusBar().addPermanentWidget(label)
        self._build_actions()

        self.browser.image_selected.connect(self.open_ref)
        self.canvas.step_requested.connect(self.browser.step)
        self.canvas.cursor_moved.connect(self.pixel_label.setText)
        self.canvas.window_changed.connect(self._on_window_changed)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"zoom {z * 100:.0f} %"))
        self.panel.run_requested.connect(self.run_explanations)
        self.panel.cancel_requested.connect(self.cancel_explanations)
        self.panel.style_changed.connect(lambda cmap, opacity, threshold:
                                         self.canvas.set_overlay_style(cmap, opacity, threshold))
        self.panel.map_selected.connect(self.show_map)
        self.canvas.set_overlay_style(*self.panel.overlay_style())
        self._update_model_status()

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "Open &folder...", self.choose_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open f&ile...", self.choose_file, "Ctrl+Shift+O")
        self._action(file_menu, "Open &model card...", self.choose_model_card, "Ctrl+M")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = self.menuBar().addMenu("&View")
        # Keys 1-6, I, F, 0 are handled by the canvas; the menu shows them without binding them.
        for index, (name, center, width) in enumerate(PRESETS):
            text = name if center is None else f"{name} ({center:g}/{width:g})"
            self._action(view_menu, f"{text}\t{index + 1}", lambda _=False, i=index: self.canvas.apply_preset(i))
        view_menu.addSeparator()
        self._action(view_menu, "&Invert\tI", self.canvas.toggle_invert)
        self._action(view_menu, "&Fit to window\tF", self.canvas.fit)
        self._action(view_menu, "&Actual size (1:1)\t0", self.canvas.actual_size)
        view_menu.addSeparator()
        for dock in (self.browser_dock, self.panel_dock, self.log_dock):
            view_menu.addAction(dock.toggleViewAction())

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
        run = self._action(None, "Explain", lambda: self.run_explanations(self.panel.checked_methods()), "Ctrl+R")
        tools.addAction(run)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        if menu is not None:
            menu.addAction(action)
        else:
            self.addAction(action)
        return action

    # -- messages ----------------------------------------------------------------------------

    def info(self, message: str) -> None:
        self.log.add(message)
        self.statusBar().showMessage(message, 5000)

    def error(self, message: str) -> None:
        """Errors go to the log and the status bar; nothing modal."""
        self.log.add(message, "error")
        self.statusBar().showMessage(message, 10000)

    # -- opening studies and images ------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open study folder")
        if folder:
            self.open_path(folder)

    def choose_file(self) -> None:
        file, _ = QFileDialog.getOpenFileName(self, "Open image")
        if file:
            self.open_path(file)

    def open_path(self, path) -> None:
        """Scan a folder, DICOMDIR or file (in the background), list it, show its first image."""
        path = Path(path)
        self.info(f"scanning {path}")
        self.jobs.submit(f"scan {path}", lambda progress, cancelled: discover(path),
                         on_success=self._on_discovered, on_failure=self.error)

    def _on_discovered(self, result) -> None:
        self.browser.populate(result)
        for failure in result.failures:
            self.log.add(f"unreadable: {failure}", "warning")
        self.info(f"{len(result.images)} image(s), {len(result.failures)} unreadable file(s)")
        if result.images:
            self.browser.select_index(0)

    def open_ref(self, ref: ImageRef) -> None:
        """Decode an image (and register it in the store) in the background, then show it."""
        self._token += 1
        token, store = self._token, self.store

        def job(progress, cancelled):
            try:
                image = read_image(ref.path, ref.frame)
            except ImageReadError as exc:
                return None, None, exc
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
        self.ref, self.image, self.image_id = ref, image, image_id
        self.explanations, self.prediction = {}, None
        self.canvas.set_image(image)
        self.canvas.setFocus()
        self.panel.set_maps([])
        self.panel.show_prediction(None)
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
            progress(0.05, "shared pass...")
            result = engine.explain(model.preprocess(image), methods, "predicted",
                                    progress=progress, cancelled=cancelled)
            store_error = None
            if store is not None and image_id is not None:
                progress(0.95, "saving...")
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
        self.prediction = result.prediction
        self.panel.show_prediction(result.prediction)
        entries = [(name, f"{e.label}  - {e.target_name}  ({e.seconds * 1000:.0f} ms)")
                   for name, e in self.explanations.items()]
        first = next(iter(result.explanations))
        self.panel.set_maps(entries, select=first)
        self.info(f"explained {self.ref.path.name}: predicted {result.prediction.class_name}, "
                  f"shared pass {result.shared_pass_seconds * 1000:.0f} ms")

    def show_map(self, method: str) -> None:
        explanation = self.explanations.get(method)
        self.canvas.set_heatmap(None if explanation is None else explanation.map)

    # -- status and shutdown ------------------------------------------------------------------

    def _on_window_changed(self, center: float, width: float, inverted: bool) -> None:
        lut = " (VOI LUT)" if self.canvas.use_voi_lut else ""
        self.window_label.setText(f"W {width:g}  L {center:g}{lut}{'  inverted' if inverted else ''}")

    def closeEvent(self, event) -> None:
        self.jobs.cancel_all()
        self.jobs.wait(10000)
        if self.store is not None:
            self.store.close()
        super().closeEvent(event)
