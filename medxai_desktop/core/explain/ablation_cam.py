"""AblationCAM: w_k = (y_c - y_c with channel k of A zeroed) / y_c.

grad-cam runs the whole network once per channel. When the layers after the target are
global-average-pool + Linear, zeroing channel k lowers y_c by exactly W_ck * mean(A_k), so
all K weights come from one matrix product. Otherwise the ablated activations are pushed,
in batches, through the suffix only (the layers after the target), never the prefix.
"""
from __future__ import annotations

import torch

from .base import ChannelWeightCAM, PassContext


class AblationCAM(ChannelWeightCAM):
    name, label = "ablationcam", "Ablation-CAM"
    needs_gradients = False
    parameters = {"batch_size": 128}

    def __init__(self, batch_size: int = 128):
        self.batch_size = batch_size

    def ablated_scores(self, ctx: PassContext) -> torch.Tensor:
        a = ctx.activations
        head = ctx.split.linear_head
        if head is not None:
            return ctx.score - head.weight[ctx.target].to(a.dtype) * a[0].mean(dim=(1, 2))
        channels = a.shape[1]
        scores = []
        with torch.no_grad():
            for start in range(0, channels, self.batch_size):
                ctx.check_cancelled()
                index = torch.arange(start, min(channels, start + self.batch_size), device=a.device)
                batch = a.expand(len(index), -1, -1, -1).clone()
                batch[torch.arange(len(index), device=a.device), index] = 0
                extras = [e.expand(len(index), *e.shape[1:]) for e in ctx.extras]
                scores.append(ctx.split.run_suffix(batch, extras)[:, ctx.target])
                ctx.report(min(1.0, (start + len(index)) / channels), "ablating channels")
        return torch.cat(scores)

    def weights(self, ctx: PassContext) -> torch.Tensor:
        score = ctx.score
        return (score - self.ablated_scores(ctx)) / score
