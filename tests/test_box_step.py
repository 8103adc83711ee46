"""The box step's edges, each on a map made so that the wrong rule gives another answer
(core/explain/box_step.py): a pixel exactly at tau x max is in, a component of exactly
min_area is kept, equal scores rank the larger box first, top_k, scaling, bad maps."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.explain.box_step import (
    boxes_from_components,
    boxes_from_map,
    component_boxes,
    map_components,
    select_components,
)


def _boxes(heatmap, tau=0.5, min_area=0.0, top_k=0, size=None, score="mean"):
    size = size or heatmap.shape
    return [(p.box, p.score) for p in boxes_from_map(heatmap, tau, min_area, top_k, size, "x", "m", {}, score)]


def test_a_pixel_exactly_at_the_threshold_is_in():
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[1, 1], heatmap[5, 5] = 1.0, 0.5          # 0.5 == tau * max, exactly
    assert _boxes(heatmap) == [(Box(1, 1, 2, 2), 1.0), (Box(5, 5, 6, 6), 0.5)]
    assert _boxes(heatmap, tau=0.51) == [(Box(1, 1, 2, 2), 1.0)]
    heatmap[1, 2] = 0.5                               # joins the peak's component at the threshold
    assert _boxes(heatmap)[0] == (Box(1, 1, 3, 2), pytest.approx(0.75))


def test_a_component_of_exactly_min_area_is_kept():
    heatmap = np.zeros((10, 10), np.float32)
    heatmap[0:2, 0:2] = 1.0                           # 4 pixels of 100: 0.04 of the map
    heatmap[6, 6] = 1.0                               # 1 pixel: 0.01
    assert [b for b, _ in _boxes(heatmap, min_area=0.04)] == [Box(0, 0, 2, 2)]
    assert [b for b, _ in _boxes(heatmap, min_area=0.01)] == [Box(0, 0, 2, 2), Box(6, 6, 7, 7)]
    assert _boxes(heatmap, min_area=0.041) == []


@pytest.mark.parametrize("score", ["mean", "max"])
def test_equal_scores_rank_the_larger_box_first_whatever_the_raster_order(score):
    heatmap = np.zeros((12, 12), np.float32)
    heatmap[0, 0] = 0.8                               # found first in raster order, 1x1
    heatmap[4:7, 4:8] = 0.8                           # 3x4, same mean and max
    heatmap[10, 0:2] = 0.8                            # 1x2
    assert [b for b, _ in _boxes(heatmap, score=score)] == [Box(4, 4, 8, 7), Box(0, 10, 2, 11), Box(0, 0, 1, 1)]
    assert [b for b, _ in _boxes(heatmap, top_k=1, score=score)] == [Box(4, 4, 8, 7)]


def test_the_score_ranks_before_the_area_and_mean_differs_from_max():
    heatmap = np.zeros((12, 12), np.float32)
    heatmap[0:6, 0:6] = 0.6
    heatmap[0, 0] = 0.9                               # the large component: mean 0.6083, max 0.9
    heatmap[9, 9] = 0.8                               # one pixel: mean and max 0.8
    by_mean = _boxes(heatmap, score="mean")
    assert [b for b, _ in by_mean] == [Box(9, 9, 10, 10), Box(0, 0, 6, 6)]
    assert [s for _, s in by_mean] == pytest.approx([0.8, (35 * 0.6 + 0.9) / 36])
    assert _boxes(heatmap, score="max") == [(Box(0, 0, 6, 6), pytest.approx(0.9)),
                                            (Box(9, 9, 10, 10), pytest.approx(0.8))]
    assert [b for b, _ in _boxes(heatmap, top_k=1)] == [Box(9, 9, 10, 10)]
    assert len(_boxes(heatmap, top_k=2)) == len(_boxes(heatmap, top_k=0)) == 2
    with pytest.raises(ValueError, match="mean, max"):
        select_components(map_components(heatmap, 0.5), 0, 0, "median")


def test_eight_connected_exclusive_corners_and_scaling():
    heatmap = np.zeros((10, 20), np.float32)
    heatmap[2, 3] = heatmap[3, 4] = 1.0               # diagonal: one component
    components = map_components(heatmap, 0.5)
    assert len(components) == 1 and components.boxes.tolist() == [[3, 2, 5, 4]]
    assert components.area.tolist() == [2] and components.shape == (10, 20)
    assert components.mean.shape == components.peak.shape == components.area.shape == (1,)
    # An image of 40 x 100 (height, width): x scales by 5, y by 4.
    assert component_boxes(components, np.array([0]), (40, 100)).tolist() == [[15, 8, 25, 16]]
    assert _boxes(heatmap, size=(40, 100)) == [(Box(15, 8, 25, 16), 1.0)]


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf])
def test_a_map_without_a_positive_finite_peak_has_no_boxes(value):
    heatmap = np.full((6, 6), value, np.float64)
    heatmap[0, 0] = min(value, 0.0) if np.isfinite(value) else value
    empty = map_components(heatmap, 0.5)
    assert len(empty) == 0 and _boxes(heatmap) == [] and empty.shape == (6, 6)
    # shaped like any other result, so that every rule and score applies to it
    assert empty.boxes.shape == (0, 4) and empty.area.shape == empty.mean.shape == empty.peak.shape == (0,)
    assert select_components(empty, 0, 0, "max").size == select_components(empty, 0, 1, "mean").size == 0
    assert component_boxes(empty, np.zeros(0, int), (60, 60)).shape == (0, 4)
    assert _boxes(np.zeros((0, 0))) == []


def test_the_defaults_score_by_the_mean_and_every_proposal_says_where_it_came_from():
    heatmap = np.zeros((10, 10), np.float32)
    heatmap[2:4, 2:4] = [[1.0, 0.6], [0.6, 0.6]]          # mean 0.7, max 1.0
    components = map_components(heatmap, 0.5)
    chosen = select_components(components, 0.0, 0)
    parameters = {"tau": 0.5}
    for (proposal,) in (boxes_from_components(components, chosen, (20, 20), "glioma", "crosseai", parameters),
                        boxes_from_map(heatmap, 0.5, 0.0, 0, (20, 20), "glioma", "crosseai", parameters)):
        assert proposal.score == pytest.approx(0.7) and proposal.box == Box(4, 4, 8, 8)
        assert (proposal.label, proposal.method, proposal.parameters) == ("glioma", "crosseai", {"tau": 0.5})
        assert proposal.parameters is not parameters       # a copy: the caller's dict stays its own
