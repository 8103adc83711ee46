"""Two actions for a right proposal: proposals made when an unread image opens, and Enter.

When an unread image with no boxes opens (and Review > Propose boxes when an image opens is
on), the proposal panel's method and rule (the card's recommended ones) propose its boxes as
"Propose boxes" would: the maps on the model worker, the boxes stored as AI proposals, nothing
waits on the GUI thread; then the next unread image's are made in the background
(proposal_prefetch.py), so it opens with them. In blinded-first review they are stored but stay
hidden like any AI proposal until the reader's own box or Reveal AI.

Enter on the image (``review.finish``) adds the shown click box (click_tool.py) when there is
one; otherwise it accepts the AI proposals shown and not yet judged (one undo step), signs the
image off and opens the next unread one. A right proposal costs Enter alone; an edited one
one drag per edge, then Enter.
"""
from __future__ import annotations

from PySide6.QtCore import QObject

from medxai_desktop.core.store import ACCEPTED, EDITED, PROPOSED, SIGNED_OFF

from .box_items import is_ai
from .click_tool import ClickToBox
from .proposal_prefetch import ProposalPrefetch
from .undo_commands import CopyBoxesCommand, VerdictCommand

OPEN_TEXT = "Propose boxes when an image &opens"


class ReviewFlow(QObject):
    def __init__(self, window, review):
        super().__init__(review)
        self.window, self.review, self.session = window, review, window.session
        self.click = ClickToBox(window, review)
        self.prefetch = ProposalPrefetch(window, review)
        self.propose_on_open = window.settings.propose_on_open()
        self._proposed: set = set()     # ref keys of the images proposed on open in this window
        self.session.events.connect("opened", lambda ref: self.click.clear())
        self.session.events.connect("predicted", lambda prediction: self.on_loaded())   # a model came later
        review.editor.escaped.connect(self.click.clear)

    def set_propose_on_open(self, on: bool) -> None:
        self.propose_on_open = bool(on)
        self.window.settings.set_propose_on_open(self.propose_on_open)
        if on:
            self.on_loaded()

    # -- proposals when an image opens ------------------------------------------------------------

    def on_loaded(self) -> None:
        """The open image's boxes are loaded: propose when it is unread and has none (and nobody
        is proposing it in advance); then the next unread image's, in the background."""
        review, window, session = self.review, self.window, self.session
        if (not self.propose_on_open or window.model is None or window.store is None or session.image_id is None
                or not review.loaded):
            return
        if not (review.views or not session.unread(session.status) or session.key in self._proposed
                or self.prefetch.claimed(session.key)):
            self._proposed.add(session.key)
            review.crosseai.propose()
        self.prefetch.start()

    def on_explanations(self) -> None:
        self.click.on_explanations()

    # -- Enter ------------------------------------------------------------------------------------

    def finish(self) -> None:
        """Add the click box; else accept the shown proposals, sign off, open the next unread."""
        review = self.review
        if self.click.accept() or not review._can_edit():
            return
        open_ai = [v for v in review.visible_views() if is_ai(v) and v.state in (PROPOSED, EDITED)]
        if open_ai:
            review.push(CopyBoxesCommand(f"Accept {len(open_ai)} proposal(s)", [
                VerdictCommand(review, view, ACCEPTED, "Accept box") for view in open_ai]))
        if review.status != SIGNED_OFF:
            review.sign_off()
        if review.status == SIGNED_OFF:
            review.next_unread()
