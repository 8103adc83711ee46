"""The CAMs computed from activations A and their gradients g (definitions: METHODS.md §2)."""
from __future__ import annotations

import torch

from .base import ChannelWeightCAM, Explainer, PassContext


class GradCAM(ChannelWeightCAM):
    name, label = "gradcam", "Grad-CAM"

    def weights(self, ctx: PassContext) -> torch.Tensor:
        return ctx.gradients[0].mean(dim=(1, 2))


class GradCAMPlusPlus(ChannelWeightCAM):
    name, label = "gradcam++", "Grad-CAM++"

    def weights(self, ctx: PassContext) -> torch.Tensor:
        g, a = ctx.gradients[0], ctx.activations[0]
        g2 = g * g
        alpha = g2 / (2 * g2 + a.sum(dim=(1, 2))[:, None, None] * g2 * g + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        return (g.clamp(min=0) * alpha).sum(dim=(1, 2))


class XGradCAM(ChannelWeightCAM):
    name, label = "xgradcam", "XGrad-CAM"

    def weights(self, ctx: PassContext) -> torch.Tensor:
        g, a = ctx.gradients[0], ctx.activations[0]
        return (g * a / (a.sum(dim=(1, 2))[:, None, None] + 1e-7)).sum(dim=(1, 2))


class LayerCAM(Explainer):
    name, label = "layercam", "LayerCAM"

    def compute(self, ctx: PassContext) -> torch.Tensor:
        return (ctx.gradients[0].clamp(min=0) * ctx.activations[0]).sum(dim=0)


class HiResCAM(Explainer):
    name, label = "hirescam", "HiResCAM"

    def compute(self, ctx: PassContext) -> torch.Tensor:
        return (ctx.gradients[0] * ctx.activations[0]).sum(dim=0)
