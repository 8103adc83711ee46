"""EigenCAM and EigenGradCAM: projection on the first principal component.

grad-cam computes a full KxK SVD and leaves the sign arbitrary. The projection on the first
right singular vector equals sqrt(lambda_1) u_1, where u_1 is the top eigenvector of the small
(HW x HW) Gram matrix, which is much cheaper to get. We fix the sign so that the map correlates positively with the channel sum of
the matrix that was projected (A for EigenCAM, g*A for EigenGradCAM), so hot means "more
of what the layer responds to" on every run.
"""
from __future__ import annotations

import torch

from .base import Explainer, PassContext


def first_component_projection(stack: torch.Tensor) -> torch.Tensor:
    """KxHxW -> HxW projection of the centred (HW, K) matrix on its first right singular vector."""
    k, h, w = stack.shape
    matrix = torch.nan_to_num(stack.reshape(k, h * w).T.double())
    matrix = matrix - matrix.mean(dim=0)
    if not torch.any(matrix):
        return torch.zeros(h, w, dtype=stack.dtype, device=stack.device)
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix @ matrix.T)
    projection = eigenvectors[:, -1] * eigenvalues[-1].clamp(min=0).sqrt()
    reference = matrix.sum(dim=1)
    if torch.dot(projection - projection.mean(), reference - reference.mean()) < 0:
        projection = -projection
    return projection.reshape(h, w).to(stack.dtype)


class EigenCAM(Explainer):
    name, label = "eigencam", "EigenCAM"
    needs_gradients = False

    def compute(self, ctx: PassContext) -> torch.Tensor:
        return first_component_projection(ctx.activations[0])


class EigenGradCAM(Explainer):
    name, label = "eigengradcam", "EigenGrad-CAM"

    def compute(self, ctx: PassContext) -> torch.Tensor:
        return first_component_projection(ctx.gradients[0] * ctx.activations[0])
