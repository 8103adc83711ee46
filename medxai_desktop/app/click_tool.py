"""Click-to-box in the app: a click (the C tool, or Ctrl+click) on the image shows the box of
the map's component under it (core ``click_box.propose_at``, from the maps alone); Enter adds it.

The maps the card's click rule needs are computed once on the model worker when missing (the
click waits for them). The box is shown as a preview until Enter adds it as the reader's box
(one undo step, with a comment naming the click); a new click replaces it, Escape or another
image drops it. A click box is AI output: while blinded review hides it, a click is refused
with a notice until the reader's own box or Reveal AI.
"""
from __future__ import annotations

from PySide6.QtCore import QObject

from .undo_commands import AddBoxCommand

HIDDEN_REFUSAL = "click-to-box is AI output: draw your own box or Reveal AI first (blinded review)"


class ClickToBox(QObject):
    def __init__(self, window, review):
        super().__init__(review)
        self.window, self.review, self.session = window, review, window.session
        self.pending: tuple[float, float] | None = None   # a click waiting for its maps
        self.proposal = None                               # the box shown, not yet added
        review.editor.point_clicked.connect(self.propose_at)

    def arm(self) -> None:
        self.review.editor.arm_click()
        self.window.canvas.setFocus()

    def clear(self) -> None:
        self.pending = None
        if self.proposal is not None:
            self.proposal = None
            self.review.editor.set_preview([])

    def _rule(self):
        from medxai_desktop.core.explain.click_box import card_click_rule

        return card_click_rule(self.window.model.card)

    def propose_at(self, x: float, y: float) -> None:
        window, review = self.window, self.review
        if self.session.ai_hidden():
            review.notify(HIDDEN_REFUSAL, "info")
            return
        if window.model is None or self.session.image is None:
            review.notify("click-to-box needs a model and an open image", "info")
            return
        rule = self._rule()
        if not self.session.has_maps(rule.source):
            self.pending = (x, y)
            self._request_maps(rule)
            return
        self.pending = None
        self._show(x, y, rule)

    def _request_maps(self, rule) -> None:
        from medxai_desktop.core.explain.click_box import click_maps

        if self.window.explaining():
            return   # on_explanations tries again when it ends
        have = self.session.explanations()
        missing = [m for m in click_maps(rule) if have is None or m not in have.explanations]
        self.review.notify(f"click-to-box: computing {', '.join(missing)} once...", "info")
        self.window.run_explanations(missing)

    def _show(self, x: float, y: float, rule) -> None:
        from medxai_desktop.core.explain.click_box import NoComponentAtClick, propose_at_image

        try:
            proposal = propose_at_image(self.session.explanations(), self.window.model, (x, y),
                                        self.session.image.shape, rule)
        except NoComponentAtClick as exc:
            self.clear()
            self.review.notify(str(exc), "info")
            return
        self.proposal = proposal
        self.review.editor.set_preview([proposal])
        self.window.statusBar().showMessage(f"click box at ({x:.0f}, {y:.0f}): Enter adds it, Escape drops it", 10000)

    def on_explanations(self) -> None:
        """New maps of the open image: a click that waited for them is answered."""
        if self.pending is not None:
            self.propose_at(*self.pending)

    def accept(self) -> bool:
        """Enter: add the shown click box as the reader's box; False when none is shown."""
        proposal, review = self.proposal, self.review
        if proposal is None or not review.editor.previews:
            self.proposal = None
            return False
        if not review._can_edit():
            return True
        self.clear()
        x, y = proposal.parameters["click"]
        label = review.panel.current_label() or proposal.label or review._default_label()
        review.push(AddBoxCommand(review, self.session.image_id, proposal.box, label, "Click box",
                                  f"click-to-box at ({x:.0f}, {y:.0f}), {proposal.parameters['source']} map"))
        return True
