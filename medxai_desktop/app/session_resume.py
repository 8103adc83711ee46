"""Where the reviewer left off: the study opened last (File > Open, remembered) and the image
shown in it are kept in the settings; at the next start without a path the app opens that study
again, shows that image, and, once the model has predicted it, explains it again with the
methods stored for it in the review database (the slow ones excepted), so its maps are back."""
from __future__ import annotations

from pathlib import Path


class SessionResume:
    def __init__(self, window):
        self.window = window
        self.target: dict | None = None
        window.session.events.connect("opened", self._on_opened)
        window.session.events.connect("predicted", self._on_predicted)

    # -- remembering ------------------------------------------------------------------------------

    def _on_opened(self, ref) -> None:
        if self.target is not None:
            self._select_target(ref)
            return
        recent = self.window.settings.recent()
        study = Path(recent[0]) if recent else None
        path = Path(ref.path).absolute()
        if study is not None and (path == study or study in path.parents):
            self.window.settings.set_resume_point(str(study), str(path), ref.frame)

    # -- resuming --------------------------------------------------------------------------------

    def saved(self) -> dict | None:
        value = self.window.settings.resume_point()
        if value is None or not Path(str(value.get("study", ""))).exists():
            return None
        return value

    def resume(self) -> bool:
        """Open the study and image of the last session; False when there is none to resume."""
        target = self.saved()
        if target is None:
            return False
        self.target = dict(target, explained=False, selected=False)
        self.window.info(f"resuming where you left off: {Path(target['path']).name}")
        self.window.open_path(target["study"], remember=False)
        return True

    def _is_target(self, ref) -> bool:
        return str(Path(ref.path).absolute()) == self.target["path"] and int(ref.frame) == self.target["frame"]

    def _select_target(self, ref) -> None:
        if self._is_target(ref) or self.target["selected"]:
            return
        self.target["selected"] = True    # one try: if the reader moves on, the resume stops
        refs = self.window.browser.image_refs()
        match = next((i for i, r in enumerate(refs) if self._is_target(r)), None)
        if match is None:
            self.target = None
        else:
            self.window.browser.select_index(match)

    def _on_predicted(self, prediction) -> None:
        window, target = self.window, self.target
        if target is None or window.ref is None or not self._is_target(window.ref) or target["explained"]:
            return
        target["explained"] = True
        self.target = None
        if window.store is None or window.session.image_id is None:
            return
        stored = {e.method for e in window.store.explanations(window.session.image_id)}
        offered = [m for m in window.panel.method_boxes if not window.panel.method_boxes[m].isHidden()]
        methods = sorted(m for m in stored if m in offered and m not in window.panel.slow)
        if methods:
            window.run_explanations(methods)
