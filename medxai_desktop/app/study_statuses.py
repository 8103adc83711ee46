"""The review status and store id of every image listed in the study browser: read from the
store when a study is listed (in the background), kept current as images are opened and edited,
and shown as the browser's status marks. "Next unread" walks them in browser order, or, once
ordered by uncertainty (core.review.worklist, a model job), most uncertain first."""
from __future__ import annotations

from medxai_desktop.core.review.session import ReviewSession, ref_key
from medxai_desktop.core.review.worklist import rank_by_uncertainty


class StudyStatuses:
    """``window`` is the MainWindow: its browser and jobs are used."""

    def __init__(self, window):
        self.window = window
        self.by_key: dict[tuple[str, int], str] = {}   # ref_key -> review status
        self.ids: dict[tuple[str, int], int] = {}      # ref_key -> the store's image id
        self.uncertainty: dict[tuple[str, int], float | None] | None = None   # ordered, most uncertain first
        self._ranking = None

    def set(self, ref, status: str | None) -> None:
        self.by_key[ref_key(ref)] = status
        self.window.browser.set_status(ref, status)

    def scan(self, store) -> None:
        """Read the stored status of each listed image (an io job) and show it."""
        refs = self.window.browser.image_refs()
        if store is None or not refs:
            return

        def job(progress, cancelled):
            known = {(info.path, info.frame): info.id for info in store.images() if info.path}
            found = {}
            for ref in refs:
                image_id = known.get(ref_key(ref))
                if image_id is not None:
                    found[ref] = (image_id, store.status(image_id).status)
            return found

        self.window.jobs.submit("review statuses", job, on_success=self._on_scanned,
                                on_failure=self.window.error)

    def _on_scanned(self, found: dict) -> None:
        for ref, (image_id, status) in found.items():
            key = ref_key(ref)
            self.ids.setdefault(key, image_id)
            if key not in self.by_key:   # what was loaded or edited since is newer
                self.set(ref, status)

    def select_next_unread(self) -> bool:
        """Select the next unread image: after the current one in browser order (wrapping), or
        the most uncertain unread one once ordered; False when none is left."""
        candidate = self.next_unread_index()
        if candidate is not None:
            self.window.browser.select_index(candidate)
        return candidate is not None

    def next_unread_index(self) -> int | None:
        """The browser index N would open next (None: no unread image left)."""
        browser = self.window.browser
        refs, index = browser.image_refs(), browser.current_index()
        candidates = [(index + step) % len(refs) for step in range(1, len(refs))]
        if self.uncertainty is not None:
            rank = {key: n for n, key in enumerate(self.uncertainty)}
            candidates.sort(key=lambda i: rank.get(ref_key(refs[i]), len(rank)))
        return next((c for c in candidates if ReviewSession.unread(self.by_key.get(ref_key(refs[c])))), None)

    # -- the worklist by uncertainty ----------------------------------------------------------------

    def order_by_uncertainty(self, model, disagreement: bool = False) -> None:
        """Predict every listed image (a model job with progress and cancel), then let "next
        unread" follow the most uncertain first; with ``disagreement`` the uncertainty is the
        mean of the entropy and the disagreement of the model's proposal methods."""
        window, refs = self.window, self.window.browser.image_refs()
        if model is None or not refs:
            window.error("ordering by uncertainty needs a model and listed images")
            return
        if self._ranking is not None and not self._ranking.done:
            return
        handle = window.jobs.submit("uncertainty worklist",
                                    lambda progress, cancelled: rank_by_uncertainty(model, refs, progress, cancelled,
                                                                                    disagreement),
                                    model=True, on_success=self._on_ranked, on_failure=window.error)
        handle.progress.connect(window.panel.set_progress)
        handle.finished.connect(lambda: window.panel.set_progress(0, "idle"))
        self._ranking = handle
        window.info(f"ordering {len(refs)} image(s) by the model's uncertainty...")

    def clear_order(self) -> None:
        if self._ranking is not None and not self._ranking.done:
            self._ranking.cancel()
        self.uncertainty = None

    def _on_ranked(self, ranked) -> None:
        self.uncertainty = {ref_key(u.ref): u.score for u in ranked}
        unreadable = sum(u.score is None for u in ranked)
        top = next((u for u in ranked if u.score is not None), None)
        what = "normalised entropy" if top is None or top.disagreement is None else \
            "mean of normalised entropy and proposal disagreement"
        self.window.info(f"next unread follows the model's uncertainty ({what}; highest {top.score:.2f})"
                         if top else "no listed image could be read")
        if unreadable:
            self.window.log.add(f"{unreadable} image(s) could not be read for the worklist", "warning")
