"""The Reports menu and the ROAD scores shown beside each map.

Everything here turns a gesture into core calls (core.evaluation.road, core.evaluation.road_run,
core.reports) run as jobs on the model worker; the results come back as text for the panel and
the comparison grid, and as report files the user opens in a browser.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

from medxai_desktop.core.jobs import Progress, check_cancelled, report

from .folder_dialogs import ask_folder
from .long_jobs import estimate_then_start, progress_dialog

ROAD_METHODS = ("gradcam++", "xgradcam", "eigengradcam", "layercam", "ablationcam")


def road_inputs(refs) -> list:
    """The ROAD run's inputs for the listed images ``refs``, each with its record key."""
    from medxai_desktop.core.evaluation.road_run import RoadInput, assign_keys

    inputs = [RoadInput(ref.path, frame=ref.frame if ref.n_frames > 1 else None) for ref in refs]
    assign_keys(inputs)
    return inputs


class ReportsController:
    """Owns the Reports menu of ``window`` (a MainWindow) and the per-image ROAD scores."""

    def __init__(self, window, menu):
        self.window = window
        self.scores: dict[str, object] = {}       # method -> RoadScores of the open image
        self.last_report: Path | None = None
        self._road_job = None
        self.progress = None         # the ROAD report's progress dialog, while it runs
        window.add_action(menu, "&ROAD scores of the open image", self.compute_road, action_id="reports.road_image")
        menu.addSeparator()
        window.add_action(menu, "&Localisation report (review database)...", self.choose_localisation_report,
                       action_id="reports.localisation")
        window.add_action(menu, "&Compare with the version it learned from (review database)...",
                          self.choose_version_comparison, action_id="reports.compare_versions")
        window.add_action(menu, "ROAD &faithfulness report (listed images)...", self.choose_road_report,
                       action_id="reports.road")

    # -- ROAD beside each map -----------------------------------------------------------------

    def clear(self) -> None:
        self.scores = {}

    def forget(self, methods) -> None:
        """New maps for ``methods``: their old scores no longer describe what is shown."""
        for method in methods:
            self.scores.pop(method, None)

    def score_text(self, method: str) -> str:
        scores = self.scores.get(method)
        return "" if scores is None else f"ROAD {scores.combined:+.3f}"

    def compute_road(self) -> None:
        window = self.window
        if window.model is None or window.image is None or not window.explanations:
            window.error("ROAD needs a model, an open image and computed maps (Explain first)")
            return
        if self._road_job is not None and not self._road_job.done:
            window.error("ROAD scores are already being computed")
            return
        from medxai_desktop.core.evaluation.road import road_scores_for

        token, model, idents = window.token, window.model, window.model_thread_idents
        results = list(window.session.results.values())   # one ExplanationSet per explained class

        def job(progress, cancelled):
            idents.append(threading.get_ident())
            scores = {}
            for done, result in enumerate(results):
                report(progress, done, len(results), "ROAD", f"ROAD of {', '.join(result.explanations)}...")
                scores.update(road_scores_for(model, result))
                if cancelled():
                    break
            return scores

        handle = window.jobs.submit("ROAD scores", job, model=True, on_failure=window.error,
                                    on_success=lambda scores: self._on_road(token, scores))
        handle.progress.connect(window.panel.set_progress)
        handle.finished.connect(lambda: window.panel.set_progress(0, "idle"))
        self._road_job = handle
        window.info(f"ROAD scores of {len(window.explanations)} map(s) of {window.ref.path.name}...")

    def _on_road(self, token: int, scores: dict) -> None:
        window = self.window
        if token != window.token:
            return
        self.scores.update(scores)
        window.refresh_maps()
        ranked = sorted(scores.values(), key=lambda s: -s.combined)
        window.info("ROADCombined (higher is better): " +
                    ", ".join(f"{s.method} {s.combined:+.3f}" for s in ranked))

    # -- report files ----------------------------------------------------------------------------

    def _choose_dir(self, title: str) -> Path | None:
        return ask_folder(self.window, title, "report")

    def choose_localisation_report(self) -> None:
        window = self.window
        if window.store is None:
            window.error("no review database is open")
            return
        target = None
        foreign = self.labels_outside_model()
        if foreign:
            target = self.ask_target_class(foreign)
            if target is None:
                return
        out = self._choose_dir("Folder for the localisation report")
        if out is not None:
            self.localisation_report(out, target)

    def labels_outside_model(self) -> list[str]:
        """Reviewed-box labels that are not classes of the open model (free text, other vocabularies)."""
        window = self.window
        if window.model is None or window.store is None:
            return []
        classes = set(window.model.classes)
        return sorted({b.label for b in window.store.reference_annotations().boxes} - classes)

    def ask_target_class(self, labels: list[str]) -> str | None:
        """Which class to explain for boxes whose label the model does not have ("predicted",
        or one of its classes); None when the user cancels."""
        from PySide6.QtWidgets import QInputDialog

        choices = ["the predicted class"] + list(self.window.model.classes)
        shown = ", ".join(labels[:6]) + (" ..." if len(labels) > 6 else "")
        choice, ok = QInputDialog.getItem(
            self.window, "Localisation report", f"The model has no class for the label(s) {shown}.\n"
            "Explain which class for those boxes?", choices, 0, False)
        if not ok:
            return None
        return "predicted" if choice == choices[0] else choice

    def localisation_report(self, out_dir: Path, target_class: str | None = None):
        """IoU/IoBB accuracy, energy, pointing game and proposal-vs-final IoU for the open
        database's reviewed boxes, as ``medxai report localization --db`` writes it;
        ``target_class``: the class explained for labels the model does not have."""
        window = self.window
        if window.store is None:
            window.error("no review database is open")
            return None
        from medxai_desktop.core.reports.localisation_report import build_store_localisation_report

        store, model = window.store, window.model

        def job(progress, cancelled):
            build_store_localisation_report(store, out_dir, model=model, progress=progress,
                                            cancelled=cancelled, fallback_target=target_class)
            return out_dir / "report.html"

        return self._submit("localisation report", job)

    def choose_version_comparison(self) -> None:
        out = self._choose_dir("Folder for the comparison of the two versions")
        if out is not None:
            self.version_comparison(out)

    def version_comparison(self, out_dir: Path):
        """The open model and the card it learned from (its lineage's parent), their proposals
        scored on the open database's reviewed boxes side by side (``compare_versions``)."""
        from medxai_desktop.core.evaluation.localisation import references_from_annotations
        from medxai_desktop.core.evaluation.model_evaluation import model_name
        from medxai_desktop.core.models import load_model
        from medxai_desktop.core.models.lineage import parent_card_path
        from medxai_desktop.core.reports.version_comparison import compare_versions

        window, model = self.window, self.window.model
        parent = parent_card_path(model.card) if model is not None else None
        if window.store is None or parent is None:
            window.error("comparing versions needs a review database and a model learned from another "
                         "card (its parent card, unchanged, beside it or one folder up)")
            return None
        store, names = window.store, [model_name(model.card.path, [])]
        names.append(model_name(parent, names))

        def job(progress, cancelled):
            references = references_from_annotations(store.reference_annotations())
            versions = [(names[0], model), (names[1], load_model(parent, device=model.device))]
            return compare_versions(references, out_dir, versions, progress=progress,
                                    cancelled=cancelled).files["html"]

        window.log.add("the boxes a version learned from are among the reviewed boxes it is scored on: "
                       "for a fair comparison, review images it did not learn from", "warning")
        return self._submit("version comparison", job)

    def _road_refs(self):
        """The listed images a ROAD report would score; None (and a notice) when it cannot run."""
        refs = self.window.browser.image_refs()
        if self.window.model is None or not refs:
            self.window.error("the ROAD report needs a model and listed images")
            return None
        return refs

    def choose_road_report(self) -> None:
        window, refs = self.window, self._road_refs()
        if refs is None:
            return
        out = self._choose_dir("Folder for the ROAD report")
        if out is None:
            return
        from medxai_desktop.core.evaluation.cost_estimate import estimate_road_run

        # timed on the first image, scored as the report will score it (the report reuses it)
        model, methods, inputs = window.model, list(ROAD_METHODS), road_inputs(refs)
        estimate_then_start(window, "ROAD report", f"ROAD of {len(methods)} methods on {len(refs):,} listed "
                                                   f"image(s), written to {out}",
                            lambda: estimate_road_run(model, inputs, out, methods),
                            lambda: self.road_report(out, methods))

    def road_report(self, out_dir: Path, methods=ROAD_METHODS):
        """ROAD of the paper's five CAMs for every image listed in the browser (resumable: a
        re-run in the same folder reuses each image's road.json)."""
        window, refs = self.window, self._road_refs()
        if refs is None:
            return None
        from medxai_desktop.core.evaluation.road_run import run_road, write_summary
        from medxai_desktop.core.reports.road_report import build_road_report

        model, inputs = window.model, road_inputs(refs)

        def job(progress, cancelled):
            def road_progress(p: Progress) -> None:
                check_cancelled(cancelled, "ROAD report")
                progress(replace(p, message=f"{p.done:g}/{p.total:g} {p.info.get('key', p.message)} "
                                            f"({p.info.get('status', '')})"))
            run = run_road(model, inputs, out_dir, list(methods), progress=road_progress)
            if not run.records:
                raise RuntimeError("no image could be scored: " + "; ".join(run.skipped[:3]))
            write_summary(out_dir, run.records)
            build_road_report(run.records, out_dir / "report.html")
            return out_dir / "report.html"

        handle = self._submit("ROAD report", job)
        self.progress = progress_dialog(window, "ROAD report", handle)
        return handle

    def _submit(self, name: str, job):
        window = self.window
        handle = window.jobs.submit(name, job, model=True, on_failure=window.error, on_success=self._on_report)
        handle.progress.connect(window.panel.set_progress)
        handle.finished.connect(lambda: window.panel.set_progress(0, "idle"))
        window.info(f"{name}: started")
        return handle

    def _on_report(self, path: Path) -> None:
        self.last_report = Path(path)
        self.window.info(f"report written: {path}")
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
