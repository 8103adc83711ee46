"""The learned box head's map ("boxhead"): where the model's localisation head puts the lesion.

Not an attribution of the classifier's decision but the card's own proposal method, trained on
reviewed boxes (``core/models/box_head.py``). Its map is the head's probability per cell,
bilinear to the input size and *not* min-max normalised, so what the viewer shows is the head's
probability (the box step thresholds it relative to its maximum, like every map).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from scipy.special import expit

from .base import Explainer, PassContext


class NoBoxHead(ValueError):
    """The model explained has no box head."""


class BoxHeadMap(Explainer):
    name = "boxhead"
    label = "Box head (learned)"
    needs_gradients = False

    def compute(self, ctx: PassContext) -> torch.Tensor:
        head = getattr(ctx.model, "box_head", None)
        if head is None:
            raise NoBoxHead("this model has no box head (medxai train --box-method head trains one "
                            "from reviewed boxes)")
        head = head.to(ctx.input.device)
        return head.logits(ctx.split.module, ctx.input)[0, 0]

    def to_map(self, raw: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
        logits = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
        probability = expit(logits.astype(np.float32))
        return np.clip(cv2.resize(probability, (size[1], size[0])), 0, 1).astype(np.float32)
