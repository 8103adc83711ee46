"""One open image under review, without widgets: views subscribe to its events.

The session holds the open image (ref, image_id, pixels), the prediction, the explanations of
that image accumulated into one :class:`ExplanationSet` per target, the CrossEAI preview with
its cached maps, the blinded-first rule and the review-status transitions
(unread -> in review on the first edit -> signed off; an edit after sign-off puts the image back
in review). No Qt, no threads: a GUI adapter calls it and listens on :attr:`ReviewSession.events`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from medxai_desktop.core.explain.proposals import needed_maps
from medxai_desktop.core.store.views import IN_REVIEW, SIGNED_OFF, UNREAD

CROSSEAI_MAPS = ("gradcam++", "guided")
HIDDEN_DEFAULT_LABEL = "finding"   # a new box's label in blinded review, unless the card names one


class _LazyPreview:
    """A CrossEAIPreview made on first use: the session (and the window holding it) exists
    before torch is imported."""

    def __init__(self) -> None:
        self._preview = None

    def __getattr__(self, name: str):
        if self._preview is None:
            from medxai_desktop.core.explain.crosseai import CrossEAIPreview

            self._preview = CrossEAIPreview()
        return getattr(self._preview, name)


def ref_key(ref) -> tuple[str, int]:
    """How the store knows an image of a listing (an ImageRef): resolved path and frame."""
    return str(Path(ref.path).resolve()), int(ref.frame)


class Events:
    """A tiny observer: ``connect(name, fn)``; ``emit(name, *args)`` calls each fn in order."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callable[..., Any]]] = defaultdict(list)

    def connect(self, name: str, fn: Callable[..., Any]) -> None:
        self._subscribers[name].append(fn)

    def disconnect(self, name: str, fn: Callable[..., Any]) -> None:
        if fn in self._subscribers.get(name, []):
            self._subscribers[name].remove(fn)

    def emit(self, name: str, *args: Any) -> None:
        for fn in list(self._subscribers.get(name, [])):
            fn(*args)


def merge_explanations(old, new):
    """One ExplanationSet for the same image and target: ``new``'s maps over ``old``'s.
    A different target (or no ``old``) gives ``new`` itself."""
    if old is None or old.target_index != new.target_index:
        return new
    gradient = new.input_gradient if new.input_gradient is not None else old.input_gradient
    return replace(new, explanations={**old.explanations, **new.explanations},
                   input_gradient=gradient)


class ReviewSession:
    """The open image and its review state. Events: ``opened``, ``closed``, ``explained``,
    ``predicted``, ``status`` (new status), ``ai_hidden`` (bool), ``preview`` (proposals, fused)."""

    def __init__(self, blinded: bool = False) -> None:
        self.events = Events()
        self.blinded = blinded
        self.revealed: set = set()
        self._crosseai = _LazyPreview()
        self._reset(None, None, None, None)

    # -- the open image ---------------------------------------------------------------------------

    def open(self, ref, image=None, image_id: str | None = None, key=None) -> None:
        self._reset(ref, image, image_id, key if key is not None else ref)
        self.events.emit("opened", ref)

    def close(self) -> None:
        self._reset(None, None, None, None)
        self.events.emit("closed")

    def _reset(self, ref, image, image_id, key) -> None:
        self.ref, self.image, self.image_id, self.key = ref, image, image_id, key
        self.prediction = None
        self.out_of_domain = False            # the card's domain check warned about this image
        self.results: dict[int, Any] = {}     # target index -> accumulated ExplanationSet
        self.status: str | None = None
        self.has_own_box = False
        self.preview_boxes, self.fused = [], None
        self._crosseai = _LazyPreview()

    @property
    def preview_computations(self) -> int:
        """Smoothed guided maps computed for the open image (re-thresholding computes none)."""
        return self._crosseai.computations

    def set_prediction(self, prediction, out_of_domain: bool | None = None) -> None:
        """``out_of_domain``: the image is unlike the card's training images (a domain warning);
        None keeps what the last prediction of this image said."""
        self.prediction = prediction
        if out_of_domain is not None:
            self.out_of_domain = out_of_domain
        self.events.emit("predicted", prediction)

    def add_explanations(self, result):
        """Merge ``result`` (of the open image) into the set of its target; return the set."""
        merged = merge_explanations(self.results.get(result.target_index), result)
        self.results[result.target_index] = merged
        self.events.emit("explained", merged)
        return merged

    def explanations(self, target_index: int | None = None):
        if target_index is None:
            return next(reversed(self.results.values()), None) if self.results else None
        return self.results.get(target_index)

    # -- blinded first ----------------------------------------------------------------------------

    def ai_hidden(self) -> bool:
        """Blinded review and nothing of the reviewer's own on this image yet (nor revealed)."""
        if not self.blinded or self.ref is None or self.key in self.revealed:
            return False
        return not self.has_own_box

    def set_own_box(self, present: bool, reveal: bool | None = None) -> None:
        """Whether the reviewer has a box of their own (drawn, not removed or rejected).
        ``reveal`` (default: ``present``) says the reviewer has just drawn or edited one:
        boxes merely loaded from the store hide the AI again once they are gone."""
        before = self.ai_hidden()
        self.has_own_box = present
        if (present if reveal is None else reveal) and self.blinded and self.ref is not None:
            self.revealed.add(self.key)   # once seen, the AI output stays shown
        self._hidden_changed(before)

    def reveal(self) -> None:
        before = self.ai_hidden()
        if self.ref is not None:
            self.revealed.add(self.key)
        self._hidden_changed(before)

    def set_blinded(self, blinded: bool) -> None:
        before = self.ai_hidden()
        self.blinded = blinded
        self._hidden_changed(before)

    def _hidden_changed(self, before: bool) -> None:
        if self.ai_hidden() != before:
            self.events.emit("ai_hidden", self.ai_hidden())

    # -- what the screen may show: every view asks here --------------------------------------------

    def shown_prediction(self):
        """The prediction as a view may show it: None while the AI output is hidden."""
        return None if self.ai_hidden() else self.prediction

    def all_explanations(self) -> dict:
        """Method -> Explanation over all explained targets (latest last), hidden or not: a view
        shows their classes and scores only through :meth:`ai_text`."""
        merged: dict = {}
        for result in self.results.values():
            merged.update(result.explanations)
        return merged

    def ai_text(self, text: str, hidden: str = "") -> str:
        """``text`` (which tells something of the model's output: a class, a probability, a
        box count) where it may be shown, else ``hidden`` (which must tell nothing of it)."""
        return hidden if self.ai_hidden() else text

    def labels_from_prediction(self) -> bool:
        """A new box gets the predicted class: shown, and of an image in the card's domain."""
        return not self.ai_hidden() and self.prediction is not None and not self.out_of_domain

    def default_label(self, classes=(), fallback: str | None = None) -> str:
        """The label of a new box the reviewer named none: the predicted class once the AI
        output may be shown and the image is in the card's domain; otherwise ``fallback`` (the
        card's ``default_label``), else the first class when the review is not blinded nor the
        image out of domain, else "finding". While the AI output is hidden it is never the
        prediction, nor a class picked because of it."""
        if self.labels_from_prediction():
            return self.prediction.class_name
        if fallback:
            return fallback
        neutral = self.ai_hidden() or self.out_of_domain
        return classes[0] if classes and not neutral else HIDDEN_DEFAULT_LABEL

    # -- status -----------------------------------------------------------------------------------

    def can_edit(self) -> bool:
        return self.ref is not None and self.image_id is not None

    def set_status(self, status: str | None) -> None:
        if status != self.status:
            self.status = status
            self.events.emit("status", status)

    def first_edit(self) -> str | None:
        """The status an edit moves the image to, or None when it stays: an unread or
        signed-off image goes (back) in review."""
        if self.status == IN_REVIEW:
            return None
        return IN_REVIEW

    @staticmethod
    def reopens(status: str | None) -> bool:
        """An edit of an image in ``status`` puts a signed-off image back in review."""
        return status == SIGNED_OFF

    @staticmethod
    def unread(status: str | None) -> bool:
        return (status or UNREAD) == UNREAD

    # -- the CrossEAI preview ---------------------------------------------------------------------

    def cached_maps(self, target_index: int | None = None):
        """(gradcam++, guided) explanations of one target, or None when not both computed."""
        result = self.explanations(target_index)
        if result is None or any(m not in result.explanations for m in CROSSEAI_MAPS):
            return None
        return result.explanations["gradcam++"], result.explanations["guided"]

    def clear_preview(self) -> None:
        self.preview_boxes, self.fused = [], None
        self.events.emit("preview", self.preview_boxes, self.fused)

    def has_maps(self, method: str = "crosseai", target_index: int | None = None) -> bool:
        """Whether the open image's maps that ``method``'s boxes come from are computed."""
        result = self.explanations(target_index)
        return result is not None and all(m in result.explanations for m in needed_maps(method))

    def preview(self, params, target_index: int | None = None, method: str = "crosseai"):
        """(proposals in image pixels, the map they come from) from the cached maps of
        ``method`` (CrossEAI, or one map's own: a CAM, the box head); no model call. The
        smoothed guided map is cached per sigma, so re-thresholding recomputes nothing."""
        if self.image is None or not self.has_maps(method, target_index):
            self.clear_preview()
            return self.preview_boxes, self.fused
        result = self.explanations(target_index)
        if method == "crosseai":
            proposals, fused = self._crosseai.boxes(*self.cached_maps(target_index), params, self.image.shape,
                                                    result.input_tensor)
        else:
            from medxai_desktop.core.explain.crosseai import single_map_boxes

            proposals, fused = single_map_boxes(result[method], params, self.image.shape, result.input_tensor)
        self.preview_boxes, self.fused = proposals, fused
        self.events.emit("preview", proposals, fused)
        return proposals, fused
