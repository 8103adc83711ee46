"""ScoreCAM: each channel, upsampled and min-max scaled, masks the input; weights are the
softmax over channels of the class scores of the masked inputs. One forward pass per
channel (batched): a background job with progress and cancel."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ChannelWeightCAM, PassContext


class ScoreCAM(ChannelWeightCAM):
    name, label = "scorecam", "Score-CAM"
    needs_gradients = False
    slow = True
    parameters = {"batch_size": 32}

    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size

    def weights(self, ctx: PassContext) -> torch.Tensor:
        x = ctx.input
        with torch.no_grad():
            up = F.interpolate(ctx.activations, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]
            flat = up.reshape(up.shape[0], -1)
            lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
            masks = (up - lo[:, None, None]) / (hi - lo + 1e-8)[:, None, None]
            scores = []
            channels = masks.shape[0]
            for start in range(0, channels, self.batch_size):
                ctx.check_cancelled()
                batch = x * masks[start:start + self.batch_size, None]
                activations, extras = ctx.split.run_prefix(batch)
                scores.append(ctx.split.run_suffix(activations, extras)[:, ctx.target])
                ctx.report(min(1.0, (start + self.batch_size) / channels), "scoring masked inputs")
            return torch.softmax(torch.cat(scores), dim=0)
