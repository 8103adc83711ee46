"""CrossEAI fusion and the box step, on hand-made maps and on a real image."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.explain.crosseai import (CrossEAIParams, boxes_from_map, crosseai_boxes,
                                                  crosseai_map, fuse, guided_map)
from medxai_desktop.core.models import random_model


def _blobs() -> np.ndarray:
    heatmap = np.zeros((100, 200), np.float32)
    heatmap[10:30, 20:60] = 1.0      # strong, 20x40
    heatmap[60:70, 150:160] = 0.7    # weaker, 10x10
    heatmap[90:91, 5:6] = 0.9        # a single hot pixel: below min_area
    return heatmap


def test_boxes_from_map_finds_components_scales_and_ranks():
    boxes = boxes_from_map(_blobs(), tau=0.5, min_area=0.001, top_k=0, image_size=(400, 1000),
                           label="glioma", method="test", parameters={"k": 1})
    assert [b.score for b in boxes] == pytest.approx([1.0, 0.7])
    # map is 100x200; the image 400x1000: x scales by 5, y by 4.
    assert boxes[0].box == Box(20 * 5, 10 * 4, 60 * 5, 30 * 4)
    assert boxes[1].box == Box(150 * 5, 60 * 4, 160 * 5, 70 * 4)
    assert boxes[0].label == "glioma" and boxes[0].parameters == {"k": 1}


def test_threshold_min_area_and_top_k():
    heatmap = _blobs()
    assert len(boxes_from_map(heatmap, 0.8, 0.0, 0, (100, 200), "x", "m", {})) == 2  # 1.0 and 0.9 pixel
    assert len(boxes_from_map(heatmap, 0.8, 0.001, 0, (100, 200), "x", "m", {})) == 1
    assert len(boxes_from_map(heatmap, 0.5, 0.0, 1, (100, 200), "x", "m", {})) == 1
    assert boxes_from_map(np.zeros((10, 10), np.float32), 0.5, 0, 0, (10, 10), "x", "m", {}) == []


def test_diagonal_pixels_form_one_component():
    heatmap = np.zeros((10, 10), np.float32)
    heatmap[2, 2] = heatmap[3, 3] = heatmap[4, 4] = 1
    (box,) = boxes_from_map(heatmap, 0.5, 0, 0, (10, 10), "x", "m", {})
    assert box.box == Box(2, 2, 5, 5)


def test_score_max_versus_mean():
    heatmap = np.zeros((10, 10), np.float32)
    heatmap[2:4, 2:4] = [[1.0, 0.6], [0.6, 0.6]]
    (mean_box,) = boxes_from_map(heatmap, 0.5, 0, 0, (10, 10), "x", "m", {}, score="mean")
    (max_box,) = boxes_from_map(heatmap, 0.5, 0, 0, (10, 10), "x", "m", {}, score="max")
    assert mean_box.score == pytest.approx(0.7) and max_box.score == pytest.approx(1.0)


def test_fusion_weights_and_guided_map():
    h = np.full((8, 8), 0.2, np.float32)
    g = np.zeros((3, 8, 8), np.float32)
    g[1, 4, 4] = -5.0  # max |.| over channels: sign does not matter
    guided = guided_map(g, sigma=0)
    assert guided[4, 4] == pytest.approx(1.0) and guided.sum() == pytest.approx(1.0)
    assert np.allclose(fuse(h, guided, 0.0), h)
    assert np.allclose(fuse(h, guided, 1.0), guided)
    assert fuse(h, guided, 0.25)[4, 4] == pytest.approx(0.25 + 0.75 * 0.2)
    smoothed = guided_map(g, sigma=1.5)
    assert smoothed[4, 4] == pytest.approx(1.0) and 0 < smoothed[4, 6] < 1


def test_params_validation_and_card_overrides():
    with pytest.raises(ValueError):
        CrossEAIParams(alpha=1.5)
    with pytest.raises(ValueError):
        CrossEAIParams(score="median")
    params = CrossEAIParams.from_dict({"alpha": 0.3, "tau": 0.6, "unrelated": 1})
    assert params.alpha == 0.3 and params.tau == 0.6 and params.top_k == CrossEAIParams().top_k


def test_crosseai_on_a_real_slice_gives_boxes_in_image_pixels():
    from .test_explain_oracle import _real_input
    model = random_model("resnet18", ["glioma", "meningioma", "pituitary", "no_tumor"], seed=3, device="cpu")
    x = _real_input(model)
    result = ExplanationEngine(model).explain(x, ["guided", "gradcam++"], target="meningioma")
    params = CrossEAIParams(alpha=0.5, tau=0.4, top_k=2)
    boxes = crosseai_boxes(result, params, image_size=(512, 512))
    assert 1 <= len(boxes) <= 2
    fused = crosseai_map(result, params)
    for proposal in boxes:
        assert 0 <= proposal.box.x0 < proposal.box.x1 <= 512 and 0 <= proposal.box.y0 < proposal.box.y1 <= 512
        assert proposal.label == "meningioma" and proposal.method == "crosseai"
        assert proposal.parameters == params.to_dict()
        # The box's score is the mean of the fused map inside its component: within [tau*max, max].
        assert 0.4 * fused.max() - 1e-6 <= proposal.score <= fused.max() + 1e-6
    with pytest.raises(ValueError, match="gradcam"):
        crosseai_boxes(ExplanationEngine(model).explain(x, ["gradcam"]))


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 5, 15, 15)
    assert a.iou(b) == pytest.approx(25 / 175)
    assert a.iobb(b) == pytest.approx(25 / 100)
    # Over the predicted box (self), not the reference: areas 4 and 100 tell the two apart.
    assert Box(2, 2, 4, 4).iobb(Box(0, 0, 10, 10)) == 1.0
    assert Box(0, 0, 10, 10).iobb(Box(2, 2, 4, 4)) == pytest.approx(4 / 100)
    assert Box(5, 5, 25, 25).iobb(Box(0, 0, 10, 10)) == pytest.approx(25 / 400)
    assert Box(0, 0, 10, 10).iou(Box(20, 20, 30, 30)) == 0
    assert Box.from_xywh(1, 2, 3, 4) == Box(1, 2, 4, 6)
    with pytest.raises(ValueError):
        Box.from_xywh(0, 0, -1, 2)
