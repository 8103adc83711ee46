"""ROAD faithfulness scores of heatmaps (Rong et al., ICML 2022; METHODS.md section 5).

For a map and a percentile p, ROAD removes pixels by noisy linear imputation and measures how
the softmax probability of the explained class changes: MoRF removes the most relevant
pixels (those at or above the map's p-th percentile), LeRF the least relevant. A faithful map
makes the probability drop under MoRF and hold under LeRF, so

    ROADCombined = (mean over p of LeRF - mean over p of MoRF) / 2,   positive is better,

grad-cam's ``ROADCombined``. With the same seed, the scores here equal grad-cam's (its
``ROADLeastRelevantFirst`` / ``ROADMostRelevantFirst`` at each percentile and its
``ROADCombined`` called right after ``torch.manual_seed(seed)``) to float32 rounding (about
1e-5 with the folded batch norms), at a fraction of the cost: the imputations are fast (see
``road_imputation``) and solved in parallel threads, largest first; the original image is run
once for all methods (or not at all when its probability is known from the explanation,
``road_scores_for``); and all imputed images go through the model in a few batches instead of
two single-image passes per percentile, on CPU through a copy with batch norms folded into the
convolutions and a channels-last layout (``models.inference_module``).

The noise comes from a private ``torch.Generator`` seeded with ``seed`` for each method (so a
method's scores do not depend on which other methods are scored with it); the global RNG is
never touched. Per method the draws are made in grad-cam's order: LeRF at each percentile,
then MoRF at each percentile.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ..models.inference_module import as_inference_input, inference_module
from .road_imputation import (
    DEFAULT_NOISE,
    add_noise,
    channels_as_affine_of_first,
    removal_mask,
    solve_imputation,
)

DEFAULT_PERCENTILES = (20, 40, 60, 80)
MAX_WORKERS = 8


@dataclass
class RoadScores:
    """ROAD scores of one map: per percentile, p(class | imputed) - p(class | original)."""

    method: str
    target_class: int
    percentiles: tuple[float, ...]
    morf: tuple[float, ...]
    lerf: tuple[float, ...]
    original_probability: float
    whole_image_replaced: tuple[str, ...] = ()   # e.g. ("morf20",): every pixel tied at the threshold

    @property
    def morf_mean(self) -> float:
        return float(np.mean(self.morf))

    @property
    def lerf_mean(self) -> float:
        return float(np.mean(self.lerf))

    @property
    def combined(self) -> float:
        """grad-cam's ROADCombined: (mean LeRF - mean MoRF) / 2; positive is better."""
        return (self.lerf_mean - self.morf_mean) / 2

    def to_dict(self) -> dict:
        return {"method": self.method, "target_class": self.target_class,
                "percentiles": list(self.percentiles), "morf": list(self.morf), "lerf": list(self.lerf),
                "morf_mean": self.morf_mean, "lerf_mean": self.lerf_mean, "combined": self.combined,
                "original_probability": self.original_probability,
                "whole_image_replaced": list(self.whole_image_replaced)}

    @classmethod
    def from_dict(cls, data: Mapping) -> RoadScores:
        return cls(data["method"], int(data["target_class"]), tuple(data["percentiles"]),
                   tuple(float(v) for v in data["morf"]), tuple(float(v) for v in data["lerf"]),
                   float(data["original_probability"]), tuple(data.get("whole_image_replaced", ())))


def _module_and_device(model) -> tuple[torch.nn.Module, torch.device]:
    module = getattr(model, "module", model)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"ROAD needs a LoadedModel or a torch.nn.Module, got {type(model).__name__}")
    device = getattr(model, "device", None)
    if device is None:
        parameter = next(module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    return module, torch.device(device)


def _check_percentiles(percentiles: Sequence[float]) -> tuple[float, ...]:
    values = tuple(percentiles)
    if not values:
        raise ValueError("ROAD needs at least one percentile")
    for p in values:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
                or not 0 <= float(p) <= 100:
            raise ValueError(f"ROAD percentiles must be numbers within [0, 100], got {p!r}")
    return values


def _check_maps(maps: Mapping[str, np.ndarray], size: tuple[int, int]) -> dict[str, np.ndarray]:
    if not maps:
        raise ValueError("ROAD needs at least one heatmap")
    checked = {}
    for name, heatmap in maps.items():
        array = np.asarray(heatmap)
        if array.shape != size:
            raise ValueError(f"heatmap {name!r} is {array.shape}, but ROAD needs it at the input "
                             f"tensor's size {size}")
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
            raise ValueError(f"heatmap {name!r} has non-finite or non-numeric values")
        checked[name] = array.astype(np.float32)
    return checked


@torch.inference_mode()
def _probabilities(module: torch.nn.Module, device: torch.device, images: list[torch.Tensor],
                   target_class: int, batch_size: int) -> np.ndarray:
    module = inference_module(module, device)
    out = []
    for start in range(0, len(images), batch_size):
        batch = as_inference_input(torch.stack(images[start:start + batch_size]).to(device), module)
        logits = module(batch).float()
        if not 0 <= target_class < logits.shape[1]:
            raise ValueError(f"target class {target_class} out of range; the model has "
                             f"{logits.shape[1]} outputs")
        out.append(torch.softmax(logits, dim=1)[:, target_class].cpu().numpy())
    return np.concatenate(out)


def road_scores(model, tensor: torch.Tensor, maps: Mapping[str, np.ndarray], target_class: int,
                percentiles: Sequence[float] = DEFAULT_PERCENTILES, seed: int = 0,
                noise: float = DEFAULT_NOISE, batch_size: int = 32, workers: int | None = None,
                original_probability: float | None = None) -> dict[str, RoadScores]:
    """ROAD MoRF/LeRF scores at ``percentiles`` and ROADCombined of each map in ``maps``.

    ``model``: a LoadedModel (or a plain ``torch.nn.Module`` in eval mode); ``tensor``: the
    1x3xHxW (or 3xHxW) input exactly as the model sees it (normalised); ``maps``: method name
    -> HxW map at the input size (higher = more relevant); ``target_class``: the output index
    whose softmax probability is measured. Deterministic for a given ``seed``, whatever
    ``workers`` (threads solving imputations; default: the CPU count, at most 8).
    ``original_probability``: that probability for ``tensor`` itself when the caller already
    has it from this model (an explanation's forward pass), which saves one forward pass.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.ndim not in (3, 4) or \
            (tensor.ndim == 4 and tensor.shape[0] != 1):
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"ROAD needs one image as a 1xCxHxW or CxHxW tensor, got {shape}")
    if isinstance(target_class, bool) or not isinstance(target_class, (int, np.integer)):
        raise TypeError(f"target class must be an output index, got {target_class!r}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if original_probability is not None and not 0 <= original_probability <= 1:
        raise ValueError(f"original probability must be within [0, 1], got {original_probability!r}")
    image = tensor.detach().reshape(tensor.shape[-3:]).to("cpu", torch.float32)
    percentiles = _check_percentiles(percentiles)
    maps = _check_maps(maps, tuple(image.shape[-2:]))
    module, device = _module_and_device(model)
    target_class = int(target_class)

    # In the order the noise is drawn: per method, LeRF at each percentile then MoRF (grad-cam's
    # ROADCombined order). The solves are independent and run in parallel (SuperLU releases
    # the GIL); the noise is added afterwards, in this order.
    tasks = [(name, order, p, removal_mask(heatmap, p, order))
             for name, heatmap in maps.items() for order in ("lerf", "morf") for p in percentiles]
    pixels = image.numpy()
    affine = channels_as_affine_of_first(pixels) if pixels.shape[0] > 1 else None
    workers = min(len(tasks), MAX_WORKERS, os.cpu_count() or 1) if workers is None else max(1, workers)
    # Largest systems first, so that no worker is left with a big one at the end.
    by_size = sorted(range(len(tasks)), key=lambda i: -int(tasks[i][3].sum()))
    solutions: list[np.ndarray] = [np.empty(0)] * len(tasks)

    def solve(index: int) -> None:
        solutions[index] = solve_imputation(tasks[index][3], pixels, affine)

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(solve, by_size))
    else:
        for index in by_size:
            solve(index)

    imputed: list[torch.Tensor] = [image] if original_probability is None else []
    replaced: dict[str, list[str]] = {name: [] for name in maps}
    generator = None
    for index, ((name, order, p, removed), values) in enumerate(zip(tasks, solutions)):
        if index % (2 * len(percentiles)) == 0:
            generator = torch.Generator().manual_seed(seed)     # a fresh stream per method
        result = add_noise(image, removed, values, noise, generator)
        imputed.append(result.tensor)
        if result.whole_image_replaced:
            replaced[name].append(f"{order}{p:g}")

    probabilities = _probabilities(module, device, imputed, target_class, batch_size)
    if original_probability is None:
        original, probabilities = float(probabilities[0]), probabilities[1:]
    else:
        original = float(original_probability)
    changes = probabilities - original
    k = len(percentiles)
    scores = {}
    for i, name in enumerate(maps):
        block = changes[2 * k * i: 2 * k * (i + 1)]
        scores[name] = RoadScores(name, target_class, percentiles,
                                  morf=tuple(float(v) for v in block[k:]),
                                  lerf=tuple(float(v) for v in block[:k]),
                                  original_probability=original,
                                  whole_image_replaced=tuple(replaced[name]))
    return scores


def road_scores_for(model, explained, methods: Sequence[str] | None = None,
                    percentiles: Sequence[float] = DEFAULT_PERCENTILES, seed: int = 0,
                    **options) -> dict[str, RoadScores]:
    """ROAD of the maps of an ``ExplanationSet`` of ``model`` (what the app and ``medxai road``
    hold for an image): its input tensor, its explained class, and the maps of ``methods``
    (default: all of them). The explained class's probability comes from the set's prediction,
    made by the same model on the same tensor, so the original image is not run again."""
    names = list(explained.explanations) if methods is None else list(methods)
    missing = [m for m in names if m not in explained.explanations]
    if missing:
        raise ValueError(f"no map for {', '.join(missing)} in this explanation set "
                         f"(it has {', '.join(explained.explanations)})")
    options.setdefault("original_probability", explained.prediction.probabilities.get(explained.target_name))
    return road_scores(model, explained.input_tensor, {m: explained.explanations[m].map for m in names},
                       explained.target_index, percentiles, seed, **options)
