"""MaxBoxAccV2 (Choe et al. 2020) against hand-counted cases."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.evaluation.localisation import BoxRecord, References
from medxai_desktop.core.evaluation.max_box_acc import best_ious, max_box_acc


def _refs(boxes):
    keys = [f"img{i}" for i in range(len(boxes))]
    return References(keys, {k: [BoxRecord(k, "tumour", Box(*b))] for k, b in zip(keys, boxes)},
                      {k: (100, 100) for k in keys})


def test_a_map_on_the_box_is_found_at_every_iou_and_a_half_overlap_only_below_it():
    refs = _refs([(20, 20, 40, 40), (60, 60, 80, 80)])
    on_box = np.zeros((100, 100), np.float32)
    on_box[20:40, 20:40] = 1.0
    half = np.zeros((100, 100), np.float32)
    half[60:80, 70:90] = 1.0          # IoU with (60, 60, 80, 80): 200 / 600 = 1/3
    half[0:5, 0:5] = 0.5              # a second, weaker component: any box may match
    best = best_ious(refs, {("img0", "tumour"): on_box, ("img1", "tumour"): half})
    assert best.shape[1] == 2 and best[:, 0].min() == pytest.approx(1.0)
    assert best[:, 1].max() == pytest.approx(1 / 3)
    row = max_box_acc(best)
    assert row["maxboxacc_0.3"] == 1.0 and row["maxboxacc_0.5"] == 0.5 and row["maxboxacc_0.7"] == 0.5
    assert row["maxboxacc_v2"] == pytest.approx((1.0 + 0.5 + 0.5) / 3)


def test_the_best_threshold_is_reported_and_an_empty_map_finds_nothing():
    refs = _refs([(10, 10, 30, 30)])
    ramp = np.zeros((100, 100), np.float32)
    ramp[10:30, 10:30] = 0.4          # the box, but only above tau 0.4 of the max is it alone
    ramp[5:35, 5:35] += 0.2
    ramp[50, 50] = 1.0
    best = best_ious(refs, {("img0", "tumour"): ramp})
    row = max_box_acc(best)
    assert row["maxboxacc_0.7"] == 1.0 and 0.2 < row["tau_0.7"] <= 0.6
    empty = max_box_acc(best_ious(refs, {("img0", "tumour"): np.zeros((100, 100), np.float32)}))
    assert empty["maxboxacc_v2"] == 0.0
