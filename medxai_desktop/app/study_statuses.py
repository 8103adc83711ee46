"""The review status and store id of every image listed in the study browser: read from the
store when a study is listed (in the background), kept current as images are opened and edited,
and shown as the browser's status marks. "Next unread" walks them."""
from __future__ import annotations

from medxai_desktop.core.review.session import ReviewSession, ref_key


class StudyStatuses:
    """``window`` is the MainWindow: its browser and jobs are used."""

    def __init__(self, window):
        self.window = window
        self.by_key: dict[tuple[str, int], str] = {}   # ref_key -> review status
        self.ids: dict[tuple[str, int], int] = {}      # ref_key -> the store's image id

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
        """Select the next unread image after the current one (wrapping); False when none is left."""
        browser = self.window.browser
        refs, index = browser.image_refs(), browser.current_index()
        for step in range(1, len(refs)):
            candidate = (index + step) % len(refs)
            if ReviewSession.unread(self.by_key.get(ref_key(refs[candidate]))):
                browser.select_index(candidate)
                return True
        return False
