"""The model and its explanations of the open image: loading a card, predicting, explaining.

Model code runs on the window's model worker; results land in the window's ReviewSession
(``set_prediction``, ``add_explanations``: one ExplanationSet per target) and are shown by the
explanation panel, the canvas and the comparison grid, as far as the session lets them be shown:
in blinded-first review (``session.ai_hidden()``) the panel says the prediction is hidden, the
maps list names only the methods, and messages name no class until the reviewer's own box or
"Reveal AI" (the session's ``ai_hidden`` event) shows them.

Each prediction also checks the image against what the model card says it was trained on
(``core.models.domain``: modality, body part, intensity statistics); a mismatch is a warning
above the prediction and in the log, blinded or not (it tells nothing of the model's answer).
"""
from __future__ import annotations

import threading
from pathlib import Path

from medxai_desktop.core.jobs import Cancelled, report

HIDDEN_PREDICTION = "Prediction hidden (blinded review): draw your own box or Reveal AI to see it."
HIDDEN_MAP = "hidden until your own box or Reveal AI"


class ExplainController:
    """``window`` is the MainWindow: its session, panel, canvas, jobs and store are used."""

    def __init__(self, window):
        self.window = window
        self.session = window.session
        self.model = self.engine = None
        self.model_source = ""
        self.thread_idents: list[int] = []   # threads that ran model code (for tests)
        self._job = None
        self.session.events.connect("opened", lambda ref: window.panel.set_domain_warning(""))
        self.session.events.connect("ai_hidden", self._on_ai_hidden)

    def explaining(self) -> bool:
        """An explanation job is running."""
        return self._job is not None and not self._job.done

    # -- the model -------------------------------------------------------------------------------

    def load_methods(self, background: bool = False) -> None:
        """Fill the panel's method list: on the model worker at start-up (importing the
        explainers imports torch, after the window is painted), at once when a model is set."""
        def catalog(*_):
            from medxai_desktop.core.explain.registry import method_catalog

            return method_catalog()

        if self.window.panel.method_boxes:
            return
        if not background:
            self.window.panel.set_methods(catalog())
            return
        self.window.jobs.submit("explanation methods", catalog, model=True,
                                on_success=self.window.panel.set_methods, on_failure=self.window.error)

    def load_model_card(self, card) -> None:
        window, device = self.window, self.window.device

        def load(progress, cancelled):
            from medxai_desktop.core.models import load_model   # torch: on the worker, not the GUI thread

            return load_model(card, device)

        window.panel.set_model_text(f"Loading {Path(card).name}...")
        window.jobs.submit(f"load model {card}", load,
                           model=True, on_success=lambda model: self.set_model(model, str(card)),
                           on_failure=self._on_model_failed)

    def _on_model_failed(self, message: str) -> None:
        self.window.error(message)
        self.update_model_status()

    def set_model(self, model, source: str = "") -> None:
        from medxai_desktop.core.explain import ExplanationEngine

        self.model, self.model_source = model, source
        self.engine = ExplanationEngine(model)
        self.load_methods()
        self.window.panel.set_unavailable(() if getattr(model, "box_head", None) is not None else ("boxhead",))
        self.update_model_status()
        self.window.info(f"model {model.card.arch} ({', '.join(model.classes)}) on {model.device}")
        self.predict()

    def update_model_status(self) -> None:
        panel, status = self.window.panel, self.window.model_status
        if self.model is None:
            panel.set_model_text("No model loaded (File > Open model card...)")
            status.setText("no model loaded")
            return
        card = self.model.card
        source = f"{Path(self.model_source).name}: " if self.model_source else ""
        untrained = "<br><b>UNTRAINED</b> (random weights): maps show the pipeline, not findings" \
            if card.metadata.get("random_init") else ""
        panel.set_model_text(f"{source}{card.arch}, {len(card.classes)} classes, on "
                             f"{self.model.device}{untrained}")
        status.setText(f"{card.arch} on {self.model.device}")

    def predict(self) -> None:
        """Class probabilities for the open image, on the model worker."""
        image = self.session.image
        if self.model is None or image is None:
            return
        window, model, idents = self.window, self.model, self.thread_idents
        token = window.token

        def job(progress, cancelled):
            from medxai_desktop.core.models.domain import domain_warning

            if token != window.token:
                raise Cancelled()    # another image came meanwhile (cine, the wheel): no queue of stale work
            idents.append(threading.get_ident())
            return model.predict(model.preprocess(image)), domain_warning(model.card, image)

        self.window.jobs.submit("predict", job, model=True, on_failure=self.window.error,
                                on_success=lambda result: self._on_prediction(token, *result))

    def _on_prediction(self, token: int, prediction, warning: str = "") -> None:
        if token != self.window.token:
            return
        self.window.panel.set_domain_warning(warning)
        self.session.set_prediction(prediction, out_of_domain=bool(warning))
        self.show_prediction()
        if warning:
            self.window.log.add(f"{self.session.ref.path.name}: {warning}", "warning")

    def show_prediction(self) -> None:
        """The session's prediction in the panel, or that it is hidden (blinded review)."""
        session = self.session
        hidden = HIDDEN_PREDICTION if session.prediction is not None and session.ai_hidden() else ""
        self.window.panel.show_prediction(session.shown_prediction(), hidden)

    def _on_ai_hidden(self, hidden: bool) -> None:
        """Blinded review hid or showed the open image's AI output: the prediction and maps again."""
        self.show_prediction()
        self.refresh_maps()
        prediction = self.session.shown_prediction()
        if not hidden and prediction is not None:
            self.window.info(f"{self.session.ref.path.name}: predicted {prediction.class_name} "
                             f"({prediction.probabilities[prediction.class_name] * 100:.1f} %)")

    # -- explanations -----------------------------------------------------------------------------

    def refusal(self, methods) -> str | None:
        """Why ``methods`` cannot be explained now, or None."""
        if self.model is None:
            return "no model loaded: File > Open model card..."
        if self.session.image is None:
            return "no image open"
        if not methods:
            return "no explanation method checked"
        if self.explaining():
            return "an explanation is already running"
        return None

    def run(self, methods: list[str]) -> None:
        refusal = self.refusal(methods)
        if refusal is not None:
            self.window.error(refusal)
            return
        from medxai_desktop.core.explain.registry import slow_methods

        slow = slow_methods(methods)
        if slow:
            # Minutes per image: say how long first, and run them once (they are not kept checked).
            from medxai_desktop.core.evaluation.cost_estimate import estimate_explain

            from .long_jobs import estimate_then_start

            self.window.panel.set_checked_methods([m for m in self.window.panel.checked_methods() if m not in slow])
            model, name = self.model, self.session.ref.path.name
            estimate_then_start(self.window, "Explain", f"{', '.join(methods)} on {name}",
                                lambda: estimate_explain(model, methods), lambda: self.start(methods))
            return
        self.start(methods)

    def start(self, methods: list[str]) -> None:
        """Explain the open image with ``methods`` on the model worker (no question asked)."""
        refusal = self.refusal(methods)
        if refusal is not None:
            self.window.error(refusal)
            return
        window, panel = self.window, self.window.panel
        token = window.token
        panel.set_running(True)
        handle = window.jobs.submit(f"explain ({', '.join(methods)})", self._job_for(methods), model=True,
                                    on_success=lambda r: self._on_explained(token, *r),
                                    on_failure=window.error)
        handle.progress.connect(panel.set_progress)
        jobs = window.jobs    # a closed window's widgets may be gone when the job ends
        handle.cancelled.connect(lambda: None if jobs.closed else window.info("explanation cancelled"))
        handle.finished.connect(lambda: None if jobs.closed else (panel.set_running(False),
                                                                  panel.set_progress(0, "idle")))
        self._job = handle
        window.info(f"explaining {self.session.ref.path.name} with {', '.join(methods)}")

    def _job_for(self, methods):
        model, engine, image = self.model, self.engine, self.session.image
        store, image_id, idents = self.window.store, self.session.image_id, self.thread_idents

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

        return job

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_explained(self, token: int, result, store_error) -> None:
        window = self.window
        if store_error:
            window.error(store_error)
        if token != window.token:
            return
        self.session.add_explanations(result)
        window.reports.forget(result.explanations)
        self.session.set_prediction(result.prediction)
        self.show_prediction()
        self.refresh_maps(select=next(iter(result.explanations)))
        predicted = self.session.ai_text(f": predicted {result.prediction.class_name}",
                                         " (result hidden: blinded review)")
        window.info(f"explained {self.session.ref.path.name}{predicted}, "
                    f"shared pass {result.shared_pass_seconds * 1000:.0f} ms")
        window.review.on_explanations()

    def refresh_maps(self, select: str | None = None) -> None:
        """The computed maps in the panel and the grid, with their ROAD scores once known
        (blinded review, AI output hidden: only the methods' names)."""
        window, explanations, session = self.window, self.window.explanations, self.session
        entries = []
        for name, e in explanations.items():
            road = window.reports.score_text(name)
            entries.append((name, session.ai_text(f"{e.label}  - {e.target_name}  ({e.seconds * 1000:.0f} ms)"
                                                  f"{'  ' + road if road else ''}", f"{e.label}  ({HIDDEN_MAP})")))
        panel = window.panel
        panel.set_maps(entries, select=select if select is not None else panel.selected_map() or None)
        window.grid.set_scores({name: window.reports.score_text(name) for name in explanations})
        window.update_grid()

    def show_map(self, method: str) -> None:
        explanation = self.window.explanations.get(method)
        self.window.canvas.set_heatmap(None if explanation is None else explanation.map,
                                       "" if explanation is None else f"{explanation.label} - {explanation.target_name}")
