"""Occlusion sensitivity (Zeiler & Fergus, ECCV 2014) as an explainer plugin.

Model-agnostic: it only runs the whole network forward. A square patch of the model input is
replaced by a baseline at every position on a grid of ``stride``; the map at a pixel is the mean
drop of the target class's probability over the patches covering it. Patches go through the
network ``batch_size`` at a time. No random numbers are involved: the same image, model and
parameters give the same map.

``baseline``: ``"blur"`` (default) takes the patch from a Gaussian-blurred copy of the input, which
hides structure without painting a grey square onto dark background (a constant patch is itself
a feature the network reacts to, on MRI with black surroundings most of all); ``"mean"`` is 0 in
the normalised input (the training mean); a number is that value in the normalised input.
"""
from typing import ClassVar

import torch
from torchvision.transforms.functional import gaussian_blur

from medxai_desktop.core.explain.base import Explainer, PassContext

MEDXAI_PLUGIN = {
    "kind": "explainer",
    "name": "occlusion",
    "version": "1.0.0",
    "description": "Occlusion sensitivity: drop of the class probability when a patch is hidden",
    "object": "OcclusionSensitivity",
}


def grid_starts(length: int, patch: int, stride: int) -> list[int]:
    """Patch start positions covering 0..length, the last one flush with the edge."""
    if patch >= length:
        return [0]
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


class OcclusionSensitivity(Explainer):
    name, label = "occlusion", "Occlusion sensitivity"
    needs_gradients = False
    slow = True
    parameters: ClassVar[dict] = {"patch": 48, "stride": 24, "baseline": "blur", "batch_size": 32}

    def __init__(self, patch: int = 48, stride: int = 24, baseline: str | float = "blur", batch_size: int = 32):
        if patch < 1 or stride < 1 or batch_size < 1:
            raise ValueError("occlusion: patch, stride and batch_size must be at least 1")
        if not isinstance(baseline, (int, float)) and baseline not in ("blur", "mean"):
            raise ValueError(f"occlusion: baseline must be 'blur', 'mean' or a number, not {baseline!r}")
        self.patch, self.stride, self.baseline, self.batch_size = patch, stride, baseline, batch_size

    def baseline_image(self, x: torch.Tensor) -> torch.Tensor:
        if self.baseline == "blur":
            sigma = max(1.0, self.patch / 4)
            kernel = 2 * round(2 * sigma) + 1
            return gaussian_blur(x, [kernel, kernel], [sigma, sigma])
        return torch.full_like(x, 0.0 if self.baseline == "mean" else float(self.baseline))

    def compute(self, ctx: PassContext) -> torch.Tensor:
        x = ctx.input
        height, width = x.shape[-2:]
        patch_h, patch_w = min(self.patch, height), min(self.patch, width)
        positions = [(y, xx) for y in grid_starts(height, patch_h, self.stride)
                     for xx in grid_starts(width, patch_w, self.stride)]
        module = ctx.split.module
        with torch.no_grad():
            fill = self.baseline_image(x)
            reference = torch.softmax(ctx.logits[0].float(), dim=0)[ctx.target]
            drop = torch.zeros(height, width, dtype=torch.float64, device=x.device)
            count = torch.zeros(height, width, dtype=torch.float64, device=x.device)
            for start in range(0, len(positions), self.batch_size):
                ctx.check_cancelled()
                chunk = positions[start:start + self.batch_size]
                batch = x.repeat(len(chunk), 1, 1, 1)
                for i, (y, xx) in enumerate(chunk):
                    batch[i, :, y:y + patch_h, xx:xx + patch_w] = fill[0, :, y:y + patch_h, xx:xx + patch_w]
                scores = torch.softmax(module(batch).float(), dim=1)[:, ctx.target]
                for (y, xx), score in zip(chunk, (reference - scores).double()):
                    drop[y:y + patch_h, xx:xx + patch_w] += score
                    count[y:y + patch_h, xx:xx + patch_w] += 1
                ctx.report(min(1.0, (start + len(chunk)) / len(positions)), "occluding patches")
        return (drop / count.clamp(min=1)).float()
