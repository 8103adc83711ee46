"""What every explainer shares: the pass context it reads and the map post-processing.

A method is a small class in the spirit of grad-cam's ``BaseCAM`` subclasses: most only say
how they weight the target layer's channels. ``PassContext`` holds what one shared forward
and backward pass produced for one (image, class), so several methods cost one pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
import torch

from medxai_desktop.core.jobs import CancelFn, Cancelled, ProgressFn, report

from .graph_split import SplitModel



ExplanationCancelled = Cancelled   # the name explainers and plugins know; core.jobs' one exception


@dataclass
class PassContext:
    split: SplitModel
    input: torch.Tensor              # 1x3xHxW on the model's device
    activations: torch.Tensor        # 1xKxhxw, detached
    extras: list[torch.Tensor]       # earlier tensors the suffix reads (usually none)
    logits: torch.Tensor             # 1xC, detached
    target: int
    gradients: torch.Tensor | None = None        # dScore/dA, 1xKxhxw
    input_gradient: torch.Tensor | None = None   # guided dScore/dx, 1x3xHxW
    progress: ProgressFn | None = None
    cancelled: CancelFn | None = None
    cache: dict = field(default_factory=dict)
    model: object | None = None                  # the LoadedModel (its box head, card)

    @property
    def score(self) -> torch.Tensor:
        return self.logits[0, self.target]

    def check_cancelled(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise ExplanationCancelled("explanation cancelled")

    def report(self, fraction: float, message: str) -> None:
        report(self.progress, fraction, 1.0, "explain", message)


class Explainer:
    """Base class. ``compute`` returns the raw map (feature resolution, before ReLU)."""

    name: ClassVar[str]
    label: ClassVar[str]
    needs_gradients: ClassVar[bool] = True
    needs_input_gradient: ClassVar[bool] = False
    slow: ClassVar[bool] = False
    parameters: ClassVar[dict] = {}

    def compute(self, ctx: PassContext) -> torch.Tensor:
        raise NotImplementedError

    def to_map(self, raw: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        return cam_to_map(raw, size)


class ChannelWeightCAM(Explainer):
    """cam = sum_k w_k A_k; subclasses give the weights."""

    def weights(self, ctx: PassContext) -> torch.Tensor:
        raise NotImplementedError

    def compute(self, ctx: PassContext) -> torch.Tensor:
        w = self.weights(ctx)
        return torch.einsum("k,khw->hw", w, ctx.activations[0])


def min_max(array: np.ndarray) -> np.ndarray:
    array = array - array.min()
    return array / (1e-7 + array.max())


def cam_to_map(raw: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU, min-max, bilinear resize to (height, width), min-max again: grad-cam's steps."""
    cam = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
    cam = min_max(np.maximum(cam.astype(np.float32), 0))
    cam = cv2.resize(cam, (size[1], size[0]))
    return min_max(cam).astype(np.float32)
