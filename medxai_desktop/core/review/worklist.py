"""A worklist by uncertainty: read first the images the model is least sure of.

Active learning's simplest rule: the reviewer's boxes teach the model most where its predictive
distribution is flattest. The uncertainty of an image is the entropy of the model's class
probabilities, normalised by log(number of classes) to [0, 1] (0: one class certain, 1: every
class equally likely). With ``disagreement``, also where the model's proposal methods disagree
about where the lesion is: 1 - IoU of the top box of its recommended method and of a second one
(CrossEAI; or, when CrossEAI is the recommended one, its best other tuned method), and the
ranking follows the mean of the two. Images that cannot be read are listed last, with the reason.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from medxai_desktop.core.errors import MedXAIError
from medxai_desktop.core.jobs import CancelFn, ProgressFn, check_cancelled, report


def predictive_entropy(probabilities: Mapping[str, float]) -> float:
    """Entropy of the class probabilities over log(classes), in [0, 1]."""
    values = [p for p in probabilities.values() if p > 0]
    if len(probabilities) < 2:
        return 0.0
    return -sum(p * math.log(p) for p in values) / math.log(len(probabilities))


@dataclass(frozen=True)
class Uncertainty:
    ref: object                  # what was ranked (the app's ImageRef)
    entropy: float | None        # None: the image could not be read
    predicted: str | None = None
    error: str | None = None
    disagreement: float | None = None   # 1 - IoU of two proposal methods' top boxes

    @property
    def score(self) -> float | None:
        """What the ranking follows: the entropy, or its mean with the disagreement."""
        if self.entropy is None or self.disagreement is None:
            return self.entropy
        return (self.entropy + self.disagreement) / 2


def disagreement_methods(model) -> tuple[str, str] | None:
    """The two proposal methods compared: the recommended one and CrossEAI, or CrossEAI and its
    best other tuned method (by the card's order of ``proposals``); None with only one."""
    from medxai_desktop.core.explain.proposals import recommended_proposal

    first = recommended_proposal(model)
    if first != "crosseai":
        return first, "crosseai"
    others = [m for m in (model.card.metadata.get("proposals") or {}) if m != "crosseai"]
    return (first, others[0]) if others else None


def top_box_disagreement(first, second) -> float:
    """1 - IoU of the best-scored box of each list (1 when either is empty)."""
    if not first or not second:
        return 1.0
    a, b = (max(boxes, key=lambda p: p.score).box for boxes in (first, second))
    return 1.0 - a.iou(b)


def _assess(model, image, methods, engine) -> Uncertainty:
    from medxai_desktop.core.explain.proposals import method_boxes, needed_maps

    tensor = model.preprocess(image)
    if methods is None:
        prediction = model.predict(tensor)
        return Uncertainty(None, predictive_entropy(prediction.probabilities), prediction.class_name)
    maps = list(dict.fromkeys(needed_maps(methods[0]) + needed_maps(methods[1])))
    result = engine.explain(tensor, maps)
    boxes = [method_boxes(result, model, m, image.shape)[0] for m in methods]
    return Uncertainty(None, predictive_entropy(result.prediction.probabilities),
                       result.prediction.class_name, disagreement=top_box_disagreement(*boxes))


def rank_by_uncertainty(model, refs: Sequence, progress: ProgressFn | None = None,
                        cancelled: CancelFn | None = None, disagreement: bool = False) -> list[Uncertainty]:
    """Predict every image of ``refs`` (objects with ``path`` and ``frame``) and order them most
    uncertain first; unreadable ones last. ``disagreement``: explain each image with two
    proposal methods too (``disagreement_methods``) and rank by the mean of the two scores."""
    from medxai_desktop.core.imaging import read_image

    methods = disagreement_methods(model) if disagreement else None
    if disagreement and methods is None:
        raise MedXAIError("the model's card offers one proposal method only: nothing to disagree")
    engine = None
    if methods is not None:
        from medxai_desktop.core.explain import ExplanationEngine

        engine = ExplanationEngine(model)
    ranked = []
    for done, ref in enumerate(refs):
        check_cancelled(cancelled, "uncertainty worklist")
        try:
            ranked.append(replace(_assess(model, read_image(ref.path, ref.frame), methods, engine), ref=ref))
        except MedXAIError as exc:
            ranked.append(Uncertainty(ref, None, error=str(exc)))
        report(progress, done + 1, len(refs), "uncertainty", getattr(ref.path, "name", str(ref.path)))
    return sorted(ranked, key=lambda u: (u.score is None, -(u.score or 0.0)))
