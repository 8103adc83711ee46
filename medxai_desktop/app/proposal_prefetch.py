"""Proposals of the next unread image, made in the background while the reader reads this one.

After the open image's own proposals are asked for, the image N would open next (browser or
worklist order) is read, registered in the store and, when it has no boxes yet, explained on
the model worker (after the open image's work: the pool runs one job at a time) with the
proposal panel's method and rule; its boxes are stored as AI proposals of a run, so opening it
shows them at once. Stored proposals follow the blinded-first rule like any other.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject

from medxai_desktop.core.review.session import ref_key


class ProposalPrefetch(QObject):
    def __init__(self, window, review):
        super().__init__(review)
        self.window, self.review = window, review
        self.in_flight: set = set()    # ref keys whose proposals are being made
        self.done: set = set()         # ref keys proposed (or found with boxes) in this window

    def claimed(self, key) -> bool:
        """Whether the image of ``key`` is (being) proposed here: opening it proposes nothing."""
        return key in self.in_flight or key in self.done

    def start(self) -> None:
        """Propose the next unread image, once, if it has no boxes."""
        window, review = self.window, self.review
        index = review.statuses.next_unread_index()
        if window.model is None or window.store is None or index is None:
            return
        ref = window.browser.image_refs()[index]
        key = ref_key(ref)
        if self.claimed(key):
            return
        self.in_flight.add(key)
        job = self._job(ref, window.model, window.explainer.engine, window.store, review.crosseai.method,
                        review.crosseai.panel.params())
        window.jobs.submit(f"propose {ref.path.name} in advance", job, model=True,
                           on_success=lambda image_id: self._stored(key, ref, image_id),
                           on_failure=lambda message: self._failed(key, message))

    @staticmethod
    def _job(ref, model, engine, store, method, params):
        def job(progress, cancelled):
            from medxai_desktop.core.explain.proposals import needed_maps, rule_boxes
            from medxai_desktop.core.imaging import read_image

            image = read_image(ref.path, ref.frame)
            image_id = store.add_image(image)
            if store.latest_boxes(image_id, include_removed=True):
                return image_id        # reviewed or proposed before: left as it is
            start = time.perf_counter()
            result = engine.explain(model.preprocess(image), needed_maps(method))
            proposals, _ = rule_boxes(result, method, params, image.shape)
            if proposals:
                run_id = store.record_run(store.add_model(model), method, params.to_dict(), device=str(model.device),
                                          seconds=time.perf_counter() - start)
                store.add_proposals(image_id, run_id, proposals)
            return image_id
        return job

    def _stored(self, key, ref, image_id: int) -> None:
        self.in_flight.discard(key)
        self.done.add(key)
        self.review.statuses.ids.setdefault(key, image_id)
        self.window.log.add(f"proposals made in advance for {ref.path.name}", "info")
        if self.window.session.key == key:
            self.review.reload()      # opened meanwhile: show them now

    def _failed(self, key, message: str) -> None:
        self.in_flight.discard(key)
        self.window.log.add(f"proposing in advance: {message}", "warning")
        if self.window.session.key == key:
            self.review.flow.on_loaded()   # opened meanwhile: propose it the usual way
