"""The CrossEAI panel's controller: the live preview and "Propose boxes", over the review session.

The preview re-thresholds the maps already computed for the open image: CrossEAI's Guided
Backprop and Grad-CAM++, or the map of the model's learned box head when the panel proposes with
it (``ReviewSession.preview``: numpy/scipy on a 224 x 224 map, milliseconds; the smoothed guided
map is cached per sigma). The maps are computed once, on the model worker, as a normal
explanation that is also recorded in the store. A newly loaded model selects its card's
recommended proposal method and that method's box rule. In blinded-first review the panel's
summary and the messages say nothing of the boxes (no count, no class) until the session shows
the AI output again (its ``ai_hidden`` event).
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject

from medxai_desktop.core.explain.crosseai_params import CrossEAIParams
from medxai_desktop.core.explain.proposals import needed_maps, recommended_proposal

from .crosseai_panel import CrossEAIPanel

HIDDEN_SUMMARY = "Preview computed; hidden (blinded review) until your own box or Reveal AI."
HIDDEN_PROPOSED = "Propose boxes: done; the result is hidden (blinded review) until your own box or Reveal AI"



def method_label(name: str) -> str:
    """An explainer's display name (the registry, and torch with it, load on first use)."""
    from medxai_desktop.core.explain.registry import get_explainer

    return get_explainer(name).label

class CrossEAIController(QObject):
    """``window`` is the MainWindow (model, session, store, jobs, messages); ``review`` the box
    review controller (notices, the editor's preview boxes, reloading the stored boxes)."""

    def __init__(self, window, review):
        super().__init__(review)
        self.window, self.review = window, review
        self.session = window.session
        self.panel = CrossEAIPanel()
        self._showing_fused = False
        self._propose_pending = False
        self._defaults_model = None
        panel = self.panel
        panel.params_changed.connect(lambda _: self.update_preview())
        panel.fused_toggled.connect(lambda _: self.update_preview())
        panel.preview_toggled.connect(self.on_preview_toggled)
        panel.propose_requested.connect(self.propose)
        panel.defaults_requested.connect(self.apply_defaults)
        panel.method_changed.connect(self.on_method_changed)
        panel.params_changed.connect(lambda _: self.show_plan())
        self.session.events.connect("ai_hidden", lambda hidden: self.update_preview())
        self._computing = False      # "Computing ..." is shown until the maps' job ends
        window.jobs.job_finished.connect(self._on_job_finished)

    def image_changed(self) -> None:
        self._propose_pending = self._showing_fused = False
        if self.panel.preview_box.isChecked():
            self.on_preview_toggled(True)   # this image's maps, computed once

    # -- parameters -------------------------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.panel.current_method()

    def sync_model(self) -> None:
        """A newly loaded model brings its proposal methods, its recommended one selected, and
        that method's box rule from its card."""
        model = self.window.model
        if model is not self._defaults_model:
            self._defaults_model = model
            if model is not None:
                methods = ["crosseai"] + (["boxhead"] if model.box_head is not None else [])
                recommended = recommended_proposal(model)
                self.panel.set_methods([(m, "CrossEAI" if m == "crosseai" else method_label(m))
                                        for m in methods], recommended if recommended in methods else "crosseai")
                self.panel.set_params(self.default_params())
            self.show_plan()

    def show_plan(self) -> None:
        """The method and rule Propose boxes will use (and the click rule), before any run."""
        model = self.window.model
        if model is None:
            self.panel.set_plan("No model: nothing to propose with.")
            return
        from medxai_desktop.core.explain.click_box import card_click_rule

        self.panel.set_plan(f"<b>Propose</b> (and when an image opens): {self.panel.method.currentText()}, "
                            f"{self.panel.params().describe(self.method == 'crosseai')}.<br><b>Click</b> "
                            f"(or Ctrl+click): {card_click_rule(model.card).describe()}.")

    def on_method_changed(self, _method: str) -> None:
        self.apply_defaults()
        if self.panel.preview_box.isChecked():
            self.on_preview_toggled(True)

    def default_params(self) -> CrossEAIParams:
        """The model card's rule for the panel's method (``crosseai``, or its entry in
        ``proposals``) over the built-in defaults."""
        model, method = self.window.model, self.method
        meta = model.card.metadata if model is not None else {}
        try:
            if method == "crosseai":
                return CrossEAIParams.from_dict(meta.get("crosseai"))
            return CrossEAIParams.from_dict((meta.get("proposals") or {}).get(method)).with_(alpha=0.0)
        except (TypeError, ValueError) as exc:
            self.review.notify(f"the model card's {method} values are not usable ({exc}); using defaults",
                               "error")
            return CrossEAIParams()

    def apply_defaults(self) -> None:
        self.panel.set_params(self.default_params())

    # -- the maps ---------------------------------------------------------------------------------

    def cached_maps(self) -> bool:
        """Whether the open image's maps of the panel's method are computed."""
        return self.session.has_maps(self.method)

    def request_maps(self) -> bool:
        """True when the method's maps are there; else start computing the missing ones (once)."""
        if self.cached_maps():
            return True
        window = self.window
        if window.model is None or window.image is None:
            self.panel.set_summary("CrossEAI needs a model and an open image.")
            return False
        if window.explaining():
            self.panel.set_summary("Waiting for the running explanation...")
            return False
        have = self.session.explanations()
        missing = [m for m in needed_maps(self.method) if have is None or m not in have.explanations]
        self.panel.set_summary(f"Computing {' and '.join(method_label(m) for m in missing)} (once)...")
        window.run_explanations(missing)
        self._computing = window.explaining()
        if not self._computing:
            self._propose_pending = False
            self.panel.set_summary("The maps could not be computed now (see the log).")
        return False

    def _on_job_finished(self, _handle) -> None:
        """No "Computing ..." outlives its job: failed or cancelled, the summary says so."""
        if not self._computing or self.window.explaining():
            return
        self._computing = False
        if not self.cached_maps():
            self._propose_pending = False
            self.panel.set_summary("The maps were not computed (failed or cancelled, see the log); "
                                   "tick Live preview or press Propose boxes to try again.")

    def on_explanations(self) -> None:
        """The window has new maps for the open image."""
        if not (self._propose_pending or self.panel.preview_box.isChecked()):
            return
        if not self.cached_maps():
            self.request_maps()     # the explanation that ran was not (all) ours
        elif self._propose_pending:
            self.propose()
        else:
            self.update_preview()

    def on_preview_toggled(self, on: bool) -> None:
        if on:
            self.request_maps()
        self.update_preview()

    # -- the preview ------------------------------------------------------------------------------

    def compute_boxes(self, params: CrossEAIParams):
        """(proposals in image pixels, fused map) from the cached maps; no model call."""
        return self.session.preview(params, method=self.method)

    def update_preview(self) -> None:
        self.sync_model()
        panel, editor = self.panel, self.review.editor
        if not panel.preview_box.isChecked() or not self.cached_maps() or self.window.image is None:
            self.session.clear_preview()
            editor.set_preview([])
            self._restore_overlay()
            if not panel.preview_box.isChecked():
                panel.set_summary("Preview off.")
            return
        start = time.perf_counter()
        proposals, fused = self.compute_boxes(panel.params())
        seconds = time.perf_counter() - start
        editor.set_preview(proposals)
        if panel.fused_box.isChecked():
            self.window.canvas.set_heatmap(fused, f"{self.panel.method.currentText()} preview")
            self._showing_fused = True
        else:
            self._restore_overlay()
        scores = ", ".join(f"{p.score:.2f}" for p in proposals)
        panel.set_summary(self.session.ai_text(
            f"{len(proposals)} box(es) for <b>{self.session.explanations().target_name}</b>"
            f"{' (scores ' + scores + ')' if scores else ''}; {seconds * 1000:.0f} ms", HIDDEN_SUMMARY))

    def _restore_overlay(self) -> None:
        if self._showing_fused:
            self._showing_fused = False
            self.window.show_map(self.window.panel.selected_map())

    # -- storing proposals ------------------------------------------------------------------------

    def propose(self) -> None:
        """Store the boxes of the current settings as proposals of a run of the panel's method."""
        window, store, session = self.window, self.window.store, self.session
        self.sync_model()
        if store is None or session.image_id is None or window.model is None:
            self.review.notify("proposing boxes needs a model, an open image and a review store", "error")
            return
        if not self.cached_maps():
            self._propose_pending = True
            self.request_maps()
            return
        self._propose_pending = False
        start = time.perf_counter()
        proposals, _ = self.compute_boxes(self.panel.params())
        seconds = time.perf_counter() - start
        if not proposals:
            self.review.notify(self.session.ai_text("no boxes at these settings: lower tau or min area",
                                                    HIDDEN_PROPOSED), "info")
            return
        self._store_proposals(proposals, seconds)

    def _store_proposals(self, proposals, seconds: float) -> None:
        window, store, session = self.window, self.window.store, self.session
        token, model, image_id, name = window.token, window.model, session.image_id, session.ref.path.name
        run_parameters, method = dict(proposals[0].parameters), self.method
        label, hidden_then = self.panel.method.currentText(), session.ai_hidden()

        self.panel.set_summary("Storing the proposals...")

        def job(progress, cancelled):
            model_id = store.add_model(model)
            run_id = store.record_run(model_id, method, run_parameters, device=str(model.device),
                                      seconds=seconds)
            return store.add_proposals(image_id, run_id, proposals)

        def stored(box_ids) -> None:
            hidden = session.ai_hidden() if token == window.token else hidden_then
            window.info(f"{HIDDEN_PROPOSED} ({name})" if hidden
                        else f"{len(box_ids)} {label} proposal(s) stored for {name}")
            if token == window.token:
                self.panel.preview_box.setChecked(False)
                self.review.reload()
                self.panel.set_summary("Proposals stored: review them in the Review panel.")

        def failed(message: str) -> None:
            self.panel.set_summary("Storing the proposals failed (see the log).")
            window.error(message)

        window.jobs.submit("propose boxes", job, on_success=stored, on_failure=failed)
