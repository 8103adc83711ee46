"""A worklist by uncertainty: read first the images the model is least sure of.

Active learning's simplest rule: the reviewer's boxes teach the model most where its predictive
distribution is flattest. The uncertainty of an image is the entropy of the model's class
probabilities, normalised by log(number of classes) to [0, 1] (0: one class certain, 1: every
class equally likely). Images that cannot be read are listed last, with the reason.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


def rank_by_uncertainty(model, refs: Sequence, progress: ProgressFn | None = None,
                        cancelled: CancelFn | None = None) -> list[Uncertainty]:
    """Predict every image of ``refs`` (objects with ``path`` and ``frame``) and order them most
    uncertain first; unreadable ones last."""
    from medxai_desktop.core.imaging import read_image

    ranked = []
    for done, ref in enumerate(refs):
        check_cancelled(cancelled, "uncertainty worklist")
        try:
            prediction = model.predict(model.preprocess(read_image(ref.path, ref.frame)))
        except MedXAIError as exc:
            ranked.append(Uncertainty(ref, None, error=str(exc)))
        else:
            ranked.append(Uncertainty(ref, predictive_entropy(prediction.probabilities),
                                      prediction.class_name))
        report(progress, done + 1, len(refs), "uncertainty", getattr(ref.path, "name", str(ref.path)))
    return sorted(ranked, key=lambda u: (u.entropy is None, -(u.entropy or 0.0)))
