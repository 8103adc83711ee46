"""One image explained, with box proposals when asked (CrossEAI, or the card's recommended
proposal method): what ``medxai explain`` and ``medxai demo`` compute before they write and print it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from medxai_desktop.core.boxes import BoxProposal

from .crosseai_params import CROSSEAI_METHODS, CrossEAIParams

if TYPE_CHECKING:
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


def needed_maps(method: str | None) -> list[str]:
    """The explanations a proposal method's boxes come from."""
    return list(CROSSEAI_METHODS) if method == "crosseai" else [method] if method else []


def method_rule(model, method: str, overrides: dict | None = None) -> CrossEAIParams:
    """The card's box rule of ``method`` (its ``crosseai`` entry, or its entry in ``proposals``)."""
    rules = model.card.metadata.get("crosseai") if method == "crosseai" else model.card.metadata["proposals"][method]
    return CrossEAIParams.from_dict(rules).with_(**(overrides or {}))


def method_boxes(result: ExplanationSet, model, method: str, image_size, overrides: dict | None = None):
    """(boxes in the pixels of an image of ``image_size``, the map they come from) of ``method``
    with the card's rule, from an ExplanationSet that holds ``needed_maps(method)``."""
    return rule_boxes(result, method, method_rule(model, method, overrides), image_size)


def rule_boxes(result: ExplanationSet, method: str, params: CrossEAIParams, image_size):
    """(boxes, map) of ``method`` with the rule ``params`` (the app's panel, or the card's)."""
    from .crosseai import crosseai_boxes, crosseai_map, single_map_boxes

    if method == "crosseai":
        return crosseai_boxes(result, params, image_size=image_size), crosseai_map(result, params)
    return single_map_boxes(result[method], params, image_size, result.input_tensor)


def explain_and_propose(image, model, engine, methods, target="predicted", propose: bool | str = False,
                        overrides: dict | None = None) -> ExplainedImage:
    """Explain ``image`` with ``methods`` plus what the proposals need. ``propose``: False (no
    boxes), "crosseai" (or True: CrossEAI boxes from the card's parameters) or "default" (the
    card's recommended proposal method, CrossEAI or one CAM with its tuned box rule); the
    ``overrides`` apply to the rule either way. (A click's box: click_box.explain_and_click.)"""
    method = None if not propose else recommended_proposal(model) if propose == "default" else "crosseai"
    needed = needed_maps(method)
    result = engine.explain(model.preprocess(image), list(methods) + [m for m in needed if m not in methods],
                            target=target)
    if method is None:
        return ExplainedImage(result)
    t0 = time.perf_counter()
    boxes, heatmap = method_boxes(result, model, method, image.shape, overrides)
    return ExplainedImage(result, boxes, heatmap, time.perf_counter() - t0)

