"""One image explained, with box proposals when asked (CrossEAI, or the card's recommended
proposal method): what ``medxai explain`` and ``medxai demo`` compute before they write and print it."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from medxai_desktop.core.boxes import BoxProposal

from .crosseai import CROSSEAI_METHODS, CrossEAIParams, crosseai_boxes, crosseai_map, single_map_boxes
from .engine import ExplanationSet


@dataclass
class ExplainedImage:
    result: ExplanationSet
    boxes: list[BoxProposal] | None = None   # None when no boxes were asked for
    fused: np.ndarray | None = None
    box_seconds: float | None = None


def recommended_proposal(model) -> str:
    """The card's recommended proposal method (``tune-boxes --write-card`` measures it):
    "crosseai" or a CAM whose box rule is in the card's ``proposals``."""
    method = model.card.metadata.get("recommended_proposal") or "crosseai"
    return method if method == "crosseai" or method in (model.card.metadata.get("proposals") or {}) else "crosseai"


def explain_and_propose(image, model, engine, methods, target="predicted", propose: bool | str = False,
                        overrides: dict | None = None) -> ExplainedImage:
    """Explain ``image`` with ``methods`` plus what the proposals need. ``propose``: False (no
    boxes), "crosseai" (or True: CrossEAI boxes from the card's parameters) or "default" (the
    card's recommended proposal method, CrossEAI or one CAM with its tuned box rule); the
    ``overrides`` apply to the rule either way."""
    method = None if not propose else recommended_proposal(model) if propose == "default" else "crosseai"
    needed = list(CROSSEAI_METHODS) if method == "crosseai" else [method] if method else []
    result = engine.explain(model.preprocess(image), list(methods) + [m for m in needed if m not in methods],
                            target=target)
    if method is None:
        return ExplainedImage(result)
    rules = model.card.metadata.get("crosseai") if method == "crosseai" else model.card.metadata["proposals"][method]
    params = CrossEAIParams.from_dict(rules).with_(**(overrides or {}))
    t0 = time.perf_counter()
    if method == "crosseai":
        boxes, heatmap = crosseai_boxes(result, params, image_size=image.shape), crosseai_map(result, params)
    else:
        boxes, heatmap = single_map_boxes(result[method], params, image.shape, result.input_tensor)
    return ExplainedImage(result, boxes, heatmap, time.perf_counter() - t0)
