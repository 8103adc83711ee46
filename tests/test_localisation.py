"""Localisation metrics on hand-computed cases, the box step against CrossEAI's, and a store round trip."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.boxes import Box, BoxProposal
from medxai_desktop.core.evaluation.localisation import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    BoxScores,
    References,
    box_weights,
    boxes_from_components,
    energy_inside,
    fixed_box_predictions,
    iobb_matrix,
    iou_matrix,
    map_components,
    mean_box_fractions,
    metrics_row,
    pointing_hit,
    proposal_outcomes,
    references_from_annotations,
    score_boxes,
    score_map,
    select_components,
    summarise_map_scores,
    summarise_outcomes,
    uniform_energy,
)
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.explain.crosseai import boxes_from_map


def ref(key, label, *xyxy):
    return BoxRecord(key, label, Box(*xyxy))


def pred(label, *xyxy, score=1.0):
    return BoxProposal(Box(*xyxy), score, label, "test")


def test_iou_and_iobb_matrices_by_hand():
    reference = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    predicted = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [0, 0, 0, 0]], float)
    iou = iou_matrix(reference, predicted)
    # (0,0,10,10) vs (5,5,15,15): intersection 25, union 175; an empty box scores 0.
    assert iou[0] == pytest.approx([25 / 175, 1.0, 0.0])
    assert iou[1] == pytest.approx([0.0, 0.0, 0.0])
    iobb = iobb_matrix(reference, predicted)
    assert iobb[0] == pytest.approx([25 / 100, 1.0, 0.0])  # over the *predicted* box's area


def test_iobb_divides_by_the_predicted_box_not_the_reference():
    """Boxes of unequal areas, so that dividing by the wrong box gives another number."""
    reference = np.array([[0, 0, 10, 10]], float)                     # area 100
    predicted = np.array([[5, 5, 25, 25], [2, 2, 4, 4], [8, 0, 12, 10]], float)   # 400, 4, 40
    # Intersections 25, 4, 20: over the predicted box 1/16, 1, 1/2 (over the reference: 1/4, 1/25, 1/5).
    assert iobb_matrix(reference, predicted)[0] == pytest.approx([25 / 400, 1.0, 20 / 40])
    assert iobb_matrix(predicted, reference)[:, 0] == pytest.approx([25 / 100, 4 / 100, 20 / 100])
    assert iou_matrix(reference, predicted)[0] == pytest.approx([25 / 475, 4 / 100, 20 / 120])


def _case() -> References:
    boxes = {"a": [ref("a", "glioma", 0, 0, 10, 10)],
             "b": [ref("b", "glioma", 0, 0, 10, 10), ref("b", "meningioma", 20, 20, 30, 30)],
             "c": []}  # a negative image: whatever is predicted there is a false positive
    return References(["a", "b", "c"], boxes, {k: (100, 100) for k in "abc"})


def _predictions():
    return {"a": [pred("glioma", 5, 5, 15, 15), pred("glioma", 50, 50, 60, 60)],
            "b": [pred("meningioma", 0, 0, 10, 10)],
            "c": [pred("glioma", 0, 0, 10, 10)]}


def test_accuracy_mean_iou_and_false_positives_by_hand():
    scores = score_boxes(_case(), _predictions(), "m")
    row = scores.summary()
    assert (row["images"], row["boxes"]) == (3, 3)
    assert row["predicted_per_image"] == pytest.approx(4 / 3)
    # Only a's glioma is hit (IoU 1/7 = 0.143): b's meningioma box lies on b's glioma box.
    assert row["acc_iou_0.1"] == pytest.approx(1 / 3)
    assert row["acc_iou_0.2"] == 0.0
    assert row["mean_iou"] == pytest.approx((1 / 7) / 3)
    assert row["overall_iou"] == pytest.approx((1 / 3) / 7)
    # IoBB of a's hit is exactly 0.25: localised at 0.1, not at 0.25 (strictly greater).
    assert row["acc_iobb_0.1"] == pytest.approx(1 / 3) and row["acc_iobb_0.25"] == 0.0
    # False positives at 0.1: a's far box, b's wrong-class box, c's box -> 3 over 3 images;
    # at 0.2 a's hit (0.143) is one too.
    assert row["afp_iou_0.1"] == pytest.approx(1.0)
    assert row["afp_iou_0.2"] == pytest.approx(4 / 3)
    assert row["afp_iobb_0.25"] == pytest.approx(4 / 3)


def test_per_class_rows_and_class_agnostic_matching():
    per_class = {r["label"]: r for r in score_boxes(_case(), _predictions()).per_class(_case())}
    assert per_class["glioma"]["images"] == 2 and per_class["glioma"]["acc_iou_0.1"] == pytest.approx(0.5)
    # glioma false positives at 0.1 on the 2 images with a glioma box: a's far box (c's box is
    # on an image without one; it counts in the overall row only)
    assert per_class["glioma"]["afp_iou_0.1"] == pytest.approx(0.5)
    assert per_class["meningioma"]["acc_iou_0.1"] == 0.0
    assert per_class["meningioma"]["afp_iou_0.1"] == pytest.approx(1.0)
    agnostic = score_boxes(_case(), _predictions(), match_labels=False).summary()
    assert agnostic["acc_iou_0.5"] == pytest.approx(1 / 3)  # b's glioma now matched exactly
    assert agnostic["mean_iou"] == pytest.approx((1 / 7 + 1.0) / 3)
    # targets: a finding the model does not know is matched by the class explained for it
    relabelled = References(["b"], {"b": [ref("b", "Effusion", 0, 0, 10, 10)]}, {"b": (100, 100)})
    relabelled = relabelled.with_targets(["any_finding", "no_finding"], fallback="any_finding")
    hit = score_boxes(relabelled, {"b": [pred("any_finding", 0, 0, 10, 10)]})
    assert hit.summary()["acc_iou_0.7"] == 1.0 and hit.per_class(relabelled)[0]["label"] == "Effusion"
    with pytest.raises(Exception, match="not a class of the model"):
        relabelled.with_targets(["glioma", "no_tumor"])


def test_nothing_predicted_scores_zero_not_nan():
    row = score_boxes(_case(), {}).summary()
    assert row["acc_iou_0.1"] == 0.0 and row["mean_iou"] == 0.0 and row["afp_iou_0.1"] == 0.0


def _plain_metrics(ref_iou, ref_iobb, pred_iou, pred_iobb, n_images):
    """The metrics written out box by box (the oracle for metrics_row)."""
    n, per_image = len(ref_iou), max(n_images, 1)
    row = {"mean_iou": sum(ref_iou) / n if n else float("nan"),
           "predicted_per_image": len(pred_iou) / per_image}
    for t in IOU_THRESHOLDS:
        row[f"acc_iou_{t:g}"] = sum(1 for v in ref_iou if v > t) / n if n else float("nan")
        row[f"afp_iou_{t:g}"] = sum(1 for v in pred_iou if v <= t) / per_image
    for t in IOBB_THRESHOLDS:
        row[f"acc_iobb_{t:g}"] = sum(1 for v in ref_iobb if v > t) / n if n else float("nan")
        row[f"afp_iobb_{t:g}"] = sum(1 for v in pred_iobb if v <= t) / per_image
    accuracies = [row[f"acc_iou_{t:g}"] for t in IOU_THRESHOLDS]
    row["overall_iou"] = sum(accuracies) / len(accuracies)
    return row


def test_metrics_row_matches_a_plain_per_box_computation():
    rng = np.random.default_rng(7)
    for n_refs, n_preds, n_images in [(5, 7, 3), (0, 4, 2), (3, 0, 1), (0, 0, 0)]:
        rows = []
        for _ in range(3):  # several rows at once, as the tuning grid calls it
            values = np.round(rng.random((4, max(n_refs, n_preds))), 1)  # ties on the thresholds
            rows.append((values[0, :n_refs], values[1, :n_refs], values[2, :n_preds], values[3, :n_preds]))
        got = metrics_row(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]),
                          np.asarray([len(r[2]) for r in rows]),
                          np.stack([[(r[2] <= t).sum() for t in IOU_THRESHOLDS] for r in rows]),
                          np.stack([[(r[3] <= t).sum() for t in IOBB_THRESHOLDS] for r in rows]), n_images)
        for g, r in enumerate(rows):
            expected = _plain_metrics(*(v.tolist() for v in r), n_images)
            assert set(got) == set(expected)
            for key, value in expected.items():
                assert got[key][g] == pytest.approx(value, nan_ok=True), (n_refs, n_preds, key)
        # a report row (BoxScores) is the same function on one row
        ref_iou, ref_iobb, pred_iou, pred_iobb = rows[0]
        scores = BoxScores("m", [f"i{k}" for k in range(n_images)], np.zeros(n_refs, int),
                           np.full(n_refs, "x", object), ref_iou, ref_iobb, np.zeros(n_preds, int),
                           np.full(n_preds, "x", object), pred_iou, pred_iobb)
        summary = scores.summary()
        for key, value in _plain_metrics(*(v.tolist() for v in rows[0]), n_images).items():
            assert summary[key] == pytest.approx(value, nan_ok=True), key


def _reference_boxes(heatmap, tau, min_area, top_k, image_size, score):
    """The box step written plainly with scipy's per-label statistics (the oracle)."""
    from scipy import ndimage

    from medxai_desktop.core.boxes import Box

    peak = float(heatmap.max())
    labels, count = ndimage.label(heatmap >= tau * peak, structure=np.ones((3, 3), bool))
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(np.ones_like(heatmap), labels, index)
    values = (ndimage.mean if score == "mean" else ndimage.maximum)(heatmap, labels, index)
    h, w = heatmap.shape
    found = []
    for (rows, cols), area, value in zip(ndimage.find_objects(labels), areas, values):
        if area >= min_area * h * w:
            box = Box(cols.start, rows.start, cols.stop, rows.stop).scaled(image_size[1] / w, image_size[0] / h)
            found.append((box, float(value)))
    found.sort(key=lambda f: (-f[1], -f[0].area))
    return found[:top_k] if top_k > 0 else found


def test_box_step_matches_a_plain_scipy_reference():
    rng = np.random.default_rng(4)
    for trial in range(6):
        heatmap = rng.random((28, 36)).astype(np.float32) ** 3
        for tau, min_area, top_k, score in [(0.3, 0.0, 0, "mean"), (0.5, 0.005, 3, "max"),
                                            (0.7, 0.01, 1, "mean"), (0.2, 0.02, 2, "max")]:
            expected = _reference_boxes(heatmap, tau, min_area, top_k, (280, 720), score)
            comps = map_components(heatmap, tau)
            got = boxes_from_components(comps, select_components(comps, min_area, top_k, score),
                                        (280, 720), "x", "m", {}, score)
            assert [(p.box, p.score) for p in got] == [(b, pytest.approx(v)) for b, v in expected]
            crosseai = boxes_from_map(heatmap, tau, min_area, top_k, (280, 720), "x", "m", {}, score)
            assert [(p.box, p.score) for p in crosseai] == [(p.box, p.score) for p in got]
    assert len(map_components(np.zeros((5, 5)), 0.5)) == 0


def test_energy_and_pointing_by_hand():
    heatmap = np.zeros((4, 4))
    heatmap[0, 0], heatmap[3, 3] = 3.0, 1.0
    size = (8, 8)  # each map pixel is 2x2 image pixels
    assert energy_inside(heatmap, [Box(0, 0, 4, 4)], size) == pytest.approx(0.75)
    # a box covering a quarter of map pixel (0, 0) gets a quarter of its mass
    assert energy_inside(heatmap, [Box(0, 0, 1, 1)], size) == pytest.approx(0.25 * 3 / 4)
    # two boxes: their union, not the sum
    both = [Box(0, 0, 2, 2), Box(0, 0, 8, 8)]
    assert energy_inside(heatmap, both, size) == pytest.approx(1.0)
    assert box_weights(both, (4, 4), size).max() == 1.0
    assert uniform_energy([Box(0, 0, 4, 4)], size) == pytest.approx(16 / 64)
    assert np.isnan(energy_inside(np.zeros((4, 4)), [Box(0, 0, 4, 4)], size))
    # the maximum is map pixel (0, 0): centre (1, 1) in image pixels
    assert pointing_hit(heatmap, [Box(0, 0, 4, 4)], size)
    assert not pointing_hit(heatmap, [Box(1.5, 1.5, 8, 8)], size)
    scores = [score_map("m", "a", "glioma", heatmap, [Box(0, 0, 4, 4)], size),
              score_map("m", "b", "glioma", heatmap, [Box(4, 4, 8, 8)], size)]
    (row,) = summarise_map_scores(scores)
    assert row["energy"] == pytest.approx((0.75 + 0.25) / 2)
    assert row["energy_over_uniform"] == pytest.approx(((0.75 + 0.25) / 0.25) / 2)
    assert row["pointing"] == pytest.approx(0.5)


def test_fixed_box_baseline_mean_and_leave_one_out():
    boxes = {k: [ref(k, "t", 10 * i, 10 * i, 10 * i + 10, 10 * i + 10)] for i, k in enumerate("abc")}
    refs = References(list("abc"), boxes, {k: (100, 200) for k in "abc"})
    assert mean_box_fractions(refs) == pytest.approx([10 / 200, 10 / 100, 20 / 200, 20 / 100])
    loo = fixed_box_predictions(refs)
    assert loo["a"][0].box.xywh() == pytest.approx((15, 15, 10, 10))  # mean of b and c
    fixed = fixed_box_predictions(refs, np.array([0.0, 0.0, 0.5, 0.5]))
    assert fixed["c"][0].box == Box(0, 0, 100, 50) and fixed["c"][0].label == "t"


def test_references_from_annotations_drop_proposals_and_rejected():
    images = [ImageRecord("a.png", 100, 80), ImageRecord("b.png", 100, 80), ImageRecord("c.png", 10, 10)]
    boxes = [BoxRecord("a.png", "x", Box(0, 0, 5, 5)),
             BoxRecord("a.png", "x", Box(1, 1, 5, 5), kind="proposal"),
             BoxRecord("b.png", "x", Box(0, 0, 5, 5), state="rejected")]
    refs = references_from_annotations(AnnotationSet(images, boxes))
    assert refs.images == ["a.png"] and len(refs.boxes["a.png"]) == 1
    assert refs.sizes["a.png"] == (80, 100)
    with_negatives = references_from_annotations(AnnotationSet(images, boxes), with_boxes_only=False)
    assert with_negatives.images == ["a.png", "b.png", "c.png"] and with_negatives.n_boxes == 1


def test_store_round_trip_proposals_against_reviews(tmp_path):
    from medxai_desktop.core.models import ModelCard
    from medxai_desktop.core.store import ReviewStore

    with ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}", cache_dir=tmp_path / "maps") as store:
        image_id = store.add_image(ImageRecord("slice.png", 100, 100, path=tmp_path / "slice.png"))
        model_id = store.add_model(ModelCard("resnet18", ["glioma", "no_tumor"], (224, 224), (0.5,) * 3,
                                             (0.25,) * 3, "layer4", "model.pt", "ab" * 32))
        run_id = store.record_run(model_id, "crosseai", {"tau": 0.5})
        ids = store.add_proposals(image_id, run_id, [
            BoxProposal(Box(0, 0, 20, 20), 0.9, "glioma", "crosseai"),    # accepted as is
            BoxProposal(Box(40, 40, 60, 60), 0.8, "glioma", "crosseai"),  # edited
            BoxProposal(Box(80, 0, 100, 20), 0.7, "glioma", "crosseai"),  # rejected
            BoxProposal(Box(0, 80, 10, 90), 0.6, "glioma", "crosseai")])  # never reviewed
        store.accept(ids[0], "dr a", 0)
        store.revise_box(ids[1], reviewer="dr a", expected_revision=0, box=Box(40, 40, 60, 70),
                         state="edited")
        store.reject(ids[2], "dr a", 0)
        store.add_box(image_id, Box(70, 70, 90, 90), "glioma", "dr a")  # a box the AI missed
        references = references_from_annotations(store.reference_annotations())
        proposals = store.proposals_annotations()
        outcomes = proposal_outcomes(store)

    assert references.images == ["slice.png"] and references.n_boxes == 3  # accepted, edited, drawn
    predicted = {"slice.png": [BoxProposal(b.box, b.score, b.label, b.method) for b in proposals.boxes]}
    row = score_boxes(references, predicted, "stored").summary()
    # accepted: IoU 1; edited: 400 / 600; drawn: nothing overlaps it
    assert row["mean_iou"] == pytest.approx((1 + 400 / 600 + 0) / 3)
    assert row["acc_iou_0.6"] == pytest.approx(2 / 3) and row["acc_iou_0.7"] == pytest.approx(1 / 3)
    assert row["afp_iou_0.1"] == pytest.approx(2.0)  # the rejected and the unreviewed proposal
    by_state = {o.state: o for o in outcomes}
    assert set(by_state) == {"accepted", "edited", "rejected", "proposed"}
    assert by_state["accepted"].iou == pytest.approx(1.0)
    assert by_state["edited"].iou == pytest.approx(400 / 600) and by_state["edited"].final == Box(40, 40, 60, 70)
    assert by_state["rejected"].iou is None and by_state["proposed"].final is None
    summary = summarise_outcomes(outcomes)
    assert (summary["proposals"], summary["accepted"], summary["edited"], summary["rejected"],
            summary["unreviewed"]) == (4, 1, 1, 1, 1)
    assert summary["mean_iou_with_final"] == pytest.approx((1 + 400 / 600) / 2)
    assert summary["share_iou_with_final_over_0.5"] == pytest.approx(1.0)



def test_leave_one_out_fixed_box_misses_an_image_it_cannot_learn_from():
    from medxai_desktop.core.evaluation.localisation import References, fixed_box_predictions

    only = References(["a"], {"a": [ref("a", "x", 10, 10, 20, 20)]}, {"a": (100, 100)})
    assert fixed_box_predictions(only) == {"a": []}
    two = References(["a", "b"], {"a": [ref("a", "x", 10, 10, 20, 20)], "b": [ref("b", "x", 30, 30, 50, 50)]},
                     {"a": (100, 100), "b": (100, 100)})
    predicted = fixed_box_predictions(two)
    assert predicted["a"][0].box == Box(30, 30, 50, 50) and predicted["b"][0].box == Box(10, 10, 20, 20)
