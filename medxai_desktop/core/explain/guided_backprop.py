"""Guided Backpropagation: the input gradient of the class score through guided ReLUs."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import Explainer, PassContext, min_max


def reduce_input_gradient(gradient: torch.Tensor | np.ndarray) -> np.ndarray:
    """3xHxW gradient -> HxW saliency: max over channels of |gradient|."""
    g = gradient.detach().cpu().numpy() if isinstance(gradient, torch.Tensor) else np.asarray(gradient)
    return np.abs(g).max(axis=0).astype(np.float32)


class GuidedBackprop(Explainer):
    name, label = "guided", "Guided Backprop"
    needs_gradients = False
    needs_input_gradient = True

    def compute(self, ctx: PassContext) -> torch.Tensor:
        return ctx.input_gradient[0]

    def to_map(self, raw: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        saliency = reduce_input_gradient(raw)
        if saliency.shape != tuple(size):
            saliency = cv2.resize(saliency, (size[1], size[0]))
        return min_max(saliency).astype(np.float32)
