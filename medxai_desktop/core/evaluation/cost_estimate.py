"""How long a long job will take, said before it starts: one timed forward pass of the model on
this machine, times the forward passes the job needs.

Passes per image: the shared pass of the gradient methods counts as three forward passes (one
forward, one backward); Ablation-CAM and Score-CAM run one masked or ablated input per channel
of the target layer; ROAD scores every map at each percentile, most and least relevant first.
The estimate is of the order of the truth (a factor of two either way), enough to decide.
A ROAD report is timed better: :func:`estimate_road_run` scores the first listed image as the
report will (its record is reused when the report runs) and scales that time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from medxai_desktop.core.explain.registry import canonical_name

PER_CHANNEL = frozenset({"ablationcam", "scorecam"})
SHARED_PASS = 3.0


@dataclass(frozen=True)
class CostEstimate:
    seconds: float
    forward_seconds: float      # one image through the model, measured now
    passes_per_image: float
    measured_image_seconds: float | None = None    # one whole image of the job, timed

    def text(self) -> str:
        measured = "" if self.measured_image_seconds is None else \
            f"the first image took {self.measured_image_seconds:.1f} s; "
        return f"about {duration_text(self.seconds)} on this machine ({measured}" \
               f"{self.forward_seconds * 1000:.0f} ms per forward pass, " \
               f"~{self.passes_per_image:,.0f} forward passes per image)"


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def measure_forward(model, batch: int = 8) -> tuple[float, int]:
    """(seconds per image of a batched forward pass, channels of the target layer)."""
    height, width = model.card.input_size
    x = torch.zeros(batch, 3, height, width, device=model.device)
    layer = dict(model.module.named_modules())[model.target_layer]
    shape = {}

    def channels(_module, _inputs, out) -> None:   # a hook that returns nothing keeps the output
        shape.setdefault("c", out.shape[1])

    hook = layer.register_forward_hook(channels)
    try:
        with torch.no_grad():
            model.module(x[:1])             # warm-up (and the channel count)
            start = time.perf_counter()
            model.module(x)
            seconds = (time.perf_counter() - start) / batch
    finally:
        hook.remove()
    return seconds, int(shape.get("c", 512))


def explain_passes(methods, channels: int) -> float:
    names = {canonical_name(m) for m in methods}
    return SHARED_PASS * bool(names - PER_CHANNEL) + channels * len(names & PER_CHANNEL)


def estimate_explain(model, methods, images: int = 1) -> CostEstimate:
    forward, channels = measure_forward(model)
    passes = explain_passes(methods, channels)
    return CostEstimate(images * passes * forward, forward, passes)


def estimate_road(model, methods, images: int, percentiles=None) -> CostEstimate:
    from .road import DEFAULT_PERCENTILES

    forward, channels = measure_forward(model)
    levels = len(percentiles or DEFAULT_PERCENTILES)
    passes = explain_passes(methods, channels) + len(methods) * (2 * levels + 1)
    return CostEstimate(images * passes * forward, forward, passes)


def estimate_road_run(model, inputs, out_dir, methods, progress=None) -> CostEstimate:
    """Score ``inputs[0]`` into ``out_dir`` as ``run_road`` will (its record is reused by the
    run), timed: the remaining images take that long each. Falls back to :func:`estimate_road`
    when the first image cannot be timed (unreadable, or already scored in ``out_dir``)."""
    from .road_run import run_road

    formula = estimate_road(model, methods, len(inputs))
    start = time.perf_counter()
    run = run_road(model, list(inputs[:1]), out_dir, list(methods), progress=progress)
    seconds = time.perf_counter() - start
    if not run.records or run.reused:
        return formula
    return CostEstimate(seconds * (len(inputs) - 1), formula.forward_seconds, formula.passes_per_image, seconds)
