"""One image explained, with CrossEAI box proposals when asked: what ``medxai explain`` and
``medxai demo`` compute before they write and print it."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from medxai_desktop.core.boxes import BoxProposal

from .crosseai import CROSSEAI_METHODS, CrossEAIParams, crosseai_boxes, crosseai_map
from .engine import ExplanationSet


@dataclass
class ExplainedImage:
    result: ExplanationSet
    boxes: list[BoxProposal] | None = None   # None when no boxes were asked for
    fused: np.ndarray | None = None
    box_seconds: float | None = None


def explain_and_propose(image, model, engine, methods, target="predicted", propose: bool = False,
                        overrides: dict | None = None) -> ExplainedImage:
    """Explain ``image`` with ``methods`` (plus CrossEAI's two when ``propose``); with
    ``propose``, CrossEAI boxes from the card's parameters with ``overrides`` applied."""
    if propose:
        methods = list(methods) + [m for m in CROSSEAI_METHODS if m not in methods]
    result = engine.explain(model.preprocess(image), methods, target=target)
    if not propose:
        return ExplainedImage(result)
    params = CrossEAIParams.from_dict(model.card.metadata.get("crosseai")).with_(**(overrides or {}))
    t0 = time.perf_counter()
    boxes = crosseai_boxes(result, params, image_size=image.shape)
    seconds = time.perf_counter() - t0
    return ExplainedImage(result, boxes, crosseai_map(result, params), seconds)
