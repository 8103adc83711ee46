"""Click-to-box from the maps alone: the one box of the component under a click.

One map the model already computes for the open image (``ClickRule.source``: the CrossEAI fused
map with the card's ``crosseai`` rule, any model's default; or one explainer's map, e.g.
Grad-CAM++ or the card's learned box head, the default of a card that has one) is thresholded at
a level chosen for the click, not for the image:
  1. the peak of the map within ``radius`` (a fraction of the map's side) of the click;
  2. threshold = ``fraction`` x that peak;
  3. the 8-connected component of ``map >= threshold`` that holds the click (or, when the click
     itself is below the threshold, the peak) is the box, scaled to the image's pixels.
A click where the map is flat (the local peak under ``floor`` x the map's maximum) is refused
with a one-line :class:`NoComponentAtClick`: no box is made up there, the reader draws one.
The constants are chosen by cross-validation on the development data
(``experiments/click_box_rule.py``; docs/RESULTS.md "Click-to-box").
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from scipy import ndimage

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.errors import MedXAIError

CLICK_METHOD = "click"


class NoComponentAtClick(MedXAIError):
    """The map has no component under the click: nothing to propose there."""


@dataclass(frozen=True)
class ClickRule:
    source: str = "crosseai"   # the map: "crosseai" (fused, the card's rule) or one method's map
    fraction: float = 0.2      # threshold as a fraction of the peak near the click
    radius: float = 0.1        # where that peak is looked for, as a fraction of the map's side
    floor: float = 0.1         # refuse when that peak is under floor x the map's maximum
    alpha: float | None = None  # CrossEAI only: the fusion weight and guided smoothing (model pixels)
    sigma: float | None = None  # instead of the card's ``crosseai`` rule (None: the card's)

    def __post_init__(self):
        if not 0 < self.fraction <= 1 or not 0 <= self.radius < 1 or not 0 <= self.floor < 1:
            raise ValueError("click rule: 0 < fraction <= 1, 0 <= radius < 1 and 0 <= floor < 1 are required")

    @classmethod
    def from_dict(cls, values: dict | None) -> ClickRule:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})

    def with_(self, **changes) -> ClickRule:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        fused = "" if self.source != "crosseai" else "".join(
            f" {k} {v:g}" for k, v in (("alpha", self.alpha), ("sigma", self.sigma)) if v is not None)
        near = "the map's value there" if self.radius == 0 else f"the peak within {self.radius * 100:g} % of the side"
        return (f"{self.source}{fused} map; the component under the click at {self.fraction:g} x {near} "
                f"(refused under {self.floor:g} x the maximum)")


# Chosen by 5-fold cross-validation on the development validation split (experiments/click_box_rule.py):
# the learned box head's map where the card has one, else the CrossEAI fused map (any model).
BOX_HEAD_RULE = ClickRule("boxhead", fraction=0.7, radius=0.0)
MAPS_RULE = ClickRule()


def card_click_rule(card) -> ClickRule:
    """The card's ``click_box`` rule; else the box head's map when the card has a box head, else
    CrossEAI's fused map, each at the fraction and radius the development data chose."""
    entry = card.metadata.get("click_box")
    if entry:
        return ClickRule.from_dict(entry)
    return BOX_HEAD_RULE if card.metadata.get("box_head") else MAPS_RULE


def _local_peak(heatmap: np.ndarray, row: int, col: int, radius: int) -> tuple[float, int, int]:
    h, w = heatmap.shape
    r0, r1, c0, c1 = max(row - radius, 0), min(row + radius + 1, h), max(col - radius, 0), min(col + radius + 1, w)
    window = heatmap[r0:r1, c0:c1]
    at = np.unravel_index(int(np.argmax(window)), window.shape)
    return float(window[at]), r0 + int(at[0]), c0 + int(at[1])


def click_component(heatmap: np.ndarray, point: tuple[float, float], image_size: tuple[int, int],
                    rule: ClickRule) -> tuple[np.ndarray, float]:
    """(x0, y0, x1, y1) in map pixels (exclusive ends) of the component under ``point`` (x, y in
    the pixels of an image of ``image_size`` = (height, width)), and the map's mean inside it."""
    heatmap = np.nan_to_num(np.asarray(heatmap, np.float64), nan=0.0)
    height, width = image_size[:2]
    x, y = point
    if not (0 <= x < width and 0 <= y < height):
        raise NoComponentAtClick(f"the click ({x:.0f}, {y:.0f}) is outside the {width} x {height} image")
    h, w = heatmap.shape
    row, col = min(int(y * h / height), h - 1), min(int(x * w / width), w - 1)
    top = float(heatmap.max()) if heatmap.size else 0.0
    peak, peak_row, peak_col = _local_peak(heatmap, row, col, int(round(rule.radius * max(h, w))))
    if top <= 0 or peak <= rule.floor * top:
        raise NoComponentAtClick(f"no map component under the click ({x:.0f}, {y:.0f}): the map there is "
                                 f"{peak / top if top > 0 else 0:.2f} of its maximum (under {rule.floor:g}); "
                                 "draw the box")
    labels, _ = ndimage.label(heatmap >= rule.fraction * peak, structure=np.ones((3, 3), bool))
    which = labels[row, col] or labels[peak_row, peak_col]
    rows, cols = np.nonzero(labels == which)
    box = np.asarray([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float64)
    return box, float(heatmap[rows, cols].mean())


def propose_at(heatmap: np.ndarray, point: tuple[float, float], image_size: tuple[int, int],
               rule: ClickRule | None = None, label: str = "", parameters: dict | None = None) -> BoxProposal:
    """The box of the component under the click, in the pixels of an image of ``image_size``
    (height, width). ``heatmap`` is the map ``rule.source`` names (see :func:`click_map`).
    Raises :class:`NoComponentAtClick` (one line) when the map is flat there."""
    rule = rule or ClickRule()
    box, score = click_component(heatmap, point, image_size, rule)
    h, w = np.asarray(heatmap).shape
    scale = np.asarray([image_size[1] / w, image_size[0] / h] * 2)
    x0, y0, x1, y1 = (box * scale).tolist()
    params = dict(rule.to_dict(), click=[float(point[0]), float(point[1])], **(parameters or {}))
    return BoxProposal(Box(x0, y0, x1, y1), score, label, CLICK_METHOD, params)


def click_maps(rule: ClickRule) -> list[str]:
    """The explanations the rule's map is made of."""
    from .proposals import needed_maps

    return needed_maps(rule.source)


def click_map(result, model, rule: ClickRule) -> np.ndarray:
    """The map ``rule.source`` names, of an ExplanationSet holding :func:`click_maps`: CrossEAI's
    fused map with the card's ``crosseai`` rule, or the method's own map."""
    from .crosseai import crosseai_map
    from .proposals import method_rule

    if rule.source == "crosseai":
        overrides = {k: v for k, v in (("alpha", rule.alpha), ("sigma", rule.sigma)) if v is not None}
        return crosseai_map(result, method_rule(model, "crosseai", overrides))
    return np.asarray(result[rule.source].map)


def explain_and_click(image, model, engine, methods, target, click: tuple[float, float] | None):
    """``medxai explain --boxes click``: explain ``image`` with ``methods`` plus the click rule's
    maps; an ExplainedImage holding the one box under ``click`` (x, y in image pixels)."""
    from .proposals import ExplainedImage

    if click is None:
        raise ValueError("--boxes click needs --click X,Y (image pixels)")
    rule = card_click_rule(model.card)
    result = engine.explain(model.preprocess(image), list(methods) + [m for m in click_maps(rule) if m not in methods],
                            target=target)
    start = time.perf_counter()
    heatmap = click_map(result, model, rule)
    box = propose_at(heatmap, click, image.shape, rule, result.target_name)
    return ExplainedImage(result, [box], heatmap, time.perf_counter() - start)


def propose_at_image(result, model, point, image_size, rule: ClickRule | None = None) -> BoxProposal:
    """:func:`propose_at` on the maps of an explained image (the CLI's and the app's call)."""
    rule = rule or card_click_rule(model.card)
    return propose_at(click_map(result, model, rule), point, image_size, rule, result.target_name)
