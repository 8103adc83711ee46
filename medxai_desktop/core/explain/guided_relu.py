"""The ReLU of Guided Backpropagation (Springenberg et al. 2015)."""
from __future__ import annotations

import torch
import torch.fx


class GuidedReLUFunction(torch.autograd.Function):
    """Forward: ReLU. Backward: pass a gradient only where the input and it are positive."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad_output.clamp(min=0) * (x > 0).to(grad_output.dtype)


@torch.fx.wrap
def guided_relu(x: torch.Tensor) -> torch.Tensor:
    return GuidedReLUFunction.apply(x)
