"""The box-parameter grid search: grid scores against the plain box step, cross-validation that
chooses on the tuning folds and reports the held-out folds, the map cache, the model card."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.boxes import Box
from medxai_desktop.core.evaluation.box_tuning import (
    Grid,
    GridPoint,
    GridScores,
    ImageMaps,
    MapCache,
    MapSpec,
    cross_validate,
    evaluate_grid,
    load_maps,
    write_card_defaults,
)
from medxai_desktop.core.evaluation.localisation import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    References,
)
from medxai_desktop.core.exchange.records import BoxRecord
from medxai_desktop.core.explain.crosseai import CrossEAIParams, boxes_from_map

from .helpers import brain_mri_image


def _synthetic(n_images: int = 4, seed: int = 0):
    """Images of 112x112 with one or two boxes; 7x7 CAMs and 56x56 guided saliencies with a
    blob near the first box plus noise, so thresholds and rules give different boxes."""
    rng = np.random.default_rng(seed)
    keys, boxes, sizes, maps = [], {}, {}, {}
    for i in range(n_images):
        key = f"img{i}.png"
        x, y = rng.integers(8, 60, size=2)
        refs = [BoxRecord(key, "glioma", Box(float(x), float(y), float(x + 40), float(y + 32)))]
        if i % 2:
            refs.append(BoxRecord(key, "glioma", Box(0.0, 90.0, 20.0, 112.0)))
        keys.append(key)
        boxes[key], sizes[key] = refs, (112, 112)
        cam = rng.random((7, 7)).astype(np.float32) * 0.6
        cam[y // 16:(y + 32) // 16 + 1, x // 16:(x + 40) // 16 + 1] += 1.0
        saliency = rng.random((56, 56)).astype(np.float32) ** 4
        saliency[y // 2:(y + 32) // 2, x // 2:(x + 40) // 2] += 0.8
        maps[(key, "glioma")] = ImageMaps(key, "glioma", (56, 56), {("layer4", "gradcam++"): cam}, saliency)
    return References(keys, boxes, sizes), maps


def test_grid_scores_equal_the_plain_box_step_for_every_point():
    """Every grid point against the box step and a plain loop over box pairs (Box.iou, Box.iobb:
    no matrix shared with the grid's scoring)."""
    references, maps = _synthetic()
    grid = Grid(alphas=(0.0, 0.5, 1.0), taus=(0.3, 0.6), sigmas=(0.0, 2.0), min_areas=(0.0, 0.05),
                scores=("mean", "max"), top_ks=(1, 2))
    scores = evaluate_grid(references, maps, grid)
    assert len(scores.points) == len({(p.spec, p.tau, p.min_area, p.score, p.top_k) for p in scores.points})
    assert scores.families()["crosseai"].size == len(scores.points)
    for g, point in enumerate(scores.points):
        p = point.params()
        predicted = {key: boxes_from_map(maps[(key, "glioma")].crosseai(p, "layer4"), p.tau, p.min_area,
                                         p.top_k, references.sizes[key], "glioma", "m", {}, p.score)
                     for key in references.images}
        best_iou, best_iobb = [], []
        assert scores.n_pred[g].tolist() == [len(predicted[k]) for k in references.images]
        for i, key in enumerate(references.images):
            refs, preds = [b.box for b in references.boxes[key]], [p.box for p in predicted[key]]
            best_iou += [max((p.iou(r) for p in preds), default=0.0) for r in refs]
            best_iobb += [max((p.iobb(r) for p in preds), default=0.0) for r in refs]
            pred_iou = [max((p.iou(r) for r in refs), default=0.0) for p in preds]
            pred_iobb = [max((p.iobb(r) for r in refs), default=0.0) for p in preds]
            assert scores.fp_iou[g, i].tolist() == [sum(v <= t for v in pred_iou) for t in IOU_THRESHOLDS]
            assert scores.fp_iobb[g, i].tolist() == [sum(v <= t for v in pred_iobb) for t in IOBB_THRESHOLDS]
        np.testing.assert_allclose(scores.best_iou[g], best_iou, atol=1e-6)
        np.testing.assert_allclose(scores.best_iobb[g], best_iobb, atol=1e-6)


def test_families_per_layer_include_both_maps_alone():
    grid = Grid(alphas=(0.0, 0.5, 1.0), taus=(0.5,), sigmas=(2.0,), min_areas=(0.0,), scores=("mean",),
                layers=("layer4", "layer3"), cams=("gradcam++", "layercam@layer3"))
    points = [GridPoint(s, 0.5, 0.0, "mean", 1) for s in grid.map_specs()]
    scores = GridScores(points, References([], {}, {}), *(np.zeros(0),) * 6)
    families = {name: {(points[g].spec.cam, points[g].spec.layer, points[g].spec.alpha) for g in idx}
                for name, idx in scores.families().items()}
    assert set(families) == {"gradcam++@layer4", "gradcam++@layer3", "layercam@layer3", "guided",
                             "crosseai@layer4", "crosseai@layer3", "crosseai"}
    assert families["crosseai@layer3"] == {("gradcam++", "layer3", 0.0), ("gradcam++", "layer3", 0.5),
                                           ("gradcam++", "layer4", 1.0)}  # the guided map has no layer
    assert families["crosseai"] == families["crosseai@layer4"] | families["crosseai@layer3"]
    assert families["layercam@layer3"] == {("layercam", "layer3", 0.0)}


def _two_point_scores(n: int = 10) -> GridScores:
    """Point A localises images 0..7 (IoU 0.9) and misses 8, 9; point B the reverse."""
    refs = References([f"i{k}" for k in range(n)],
                      {f"i{k}": [BoxRecord(f"i{k}", "t", Box(10, 10, 20, 20))] for k in range(n)},
                      {f"i{k}": (100, 100) for k in range(n)})
    a = np.where(np.arange(n) < 8, 0.9, 0.0).astype(np.float32)
    best = np.stack([a, 0.9 - a])
    points = [GridPoint(MapSpec("gradcam++", "layer4"), tau, 0.0, "mean", 1) for tau in (0.3, 0.6)]
    return GridScores(points, refs, np.arange(n), best, best.copy(), np.ones((2, n), np.int32),
                      np.zeros((2, n, len(IOU_THRESHOLDS)), np.int32),
                      np.zeros((2, n, len(IOBB_THRESHOLDS)), np.int32))


def test_cross_validation_chooses_on_tuning_folds_and_scores_held_out_folds():
    from sklearn.model_selection import KFold

    scores = _two_point_scores()
    result = cross_validate(scores, folds=5, seed=3)
    splits = list(KFold(5, shuffle=True, random_state=3).split(np.arange(10)))
    family = [r for r in result.fold_results if r.family == "gradcam++@layer4"]
    assert len(family) == 5
    for r, (tune, test) in zip(family, splits):
        assert r.chosen["tau"] == 0.3  # A wins on every tuning set (at least 6 of its 8 images)
        assert r.tuning_objective == pytest.approx(np.mean(tune < 8))
        assert r.held_out["acc_iou_0.5"] == pytest.approx(np.mean(test < 8))  # held-out images only
        assert r.held_out["mean_iou"] == pytest.approx(0.9 * np.mean(test < 8))
    (row,) = [r for r in result.summary() if r["family"] == "gradcam++@layer4"]
    per_fold = [np.mean(test < 8) for _, test in splits]
    assert row["acc_iou_0.5_mean"] == pytest.approx(np.mean(per_fold))
    assert row["acc_iou_0.5_sd"] == pytest.approx(np.std(per_fold, ddof=1))
    assert result.chosen_all["gradcam++@layer4"]["tau"] == 0.3
    # the fixed box is the same everywhere here and equals every reference: perfect
    (fixed,) = [r for r in result.summary() if r["family"] == "fixed box"]
    assert fixed["mean_iou_mean"] == pytest.approx(1.0)
    with pytest.raises(Exception, match="folds"):
        cross_validate(scores, folds=11)


def test_map_cache_reproduces_crosseai_boxes_and_resumes(tmp_path):
    from medxai_desktop.core.explain import ExplanationEngine
    from medxai_desktop.core.explain.crosseai import crosseai_boxes
    from medxai_desktop.core.imaging import read_image
    from medxai_desktop.core.models import random_model

    model = random_model("resnet18", ["glioma", "meningioma", "no_tumor", "pituitary"], seed=1,
                         input_size=(128, 128), device="cpu")
    path = brain_mri_image("glioma")
    refs = References(["a"], {"a": [BoxRecord("a", "glioma", Box(100, 100, 200, 220))]}, {"a": (512, 512)},
                      {"a": str(path)})
    cache = MapCache(tmp_path / "maps", model)
    maps, skipped = load_maps(cache, refs, {"layer4": ["gradcam++"]})
    assert skipped == {} and cache.computed == 1
    image_maps = maps[("a", "glioma")]
    params = CrossEAIParams(alpha=0.4, tau=0.35, sigma=3.0, top_k=3, score="max")
    result = ExplanationEngine(model).explain(model.preprocess(read_image(path)), ["guided", "gradcam++"],
                                              target="glioma")
    expected = crosseai_boxes(result, params, image_size=(512, 512))
    fused = image_maps.crosseai(params, "layer4")
    got = boxes_from_map(fused, params.tau, params.min_area, params.top_k, (512, 512), "glioma", "crosseai",
                         params.to_dict(), params.score)
    assert [(b.box, b.score) for b in got] == [(b.box, pytest.approx(b.score, abs=1e-6)) for b in expected]
    # a second run reads the file; a new layer is added to it, the old arrays stay
    load_maps(cache, refs, {"layer4": ["gradcam++"]})
    assert (cache.computed, cache.loaded) == (1, 1)
    again, _ = load_maps(cache, refs, {"layer4": ["gradcam++"], "layer3": ["gradcam++"]})
    assert cache.computed == 2 and again[("a", "glioma")].raw[("layer3", "gradcam++")].shape == (8, 8)
    np.testing.assert_array_equal(again[("a", "glioma")].raw[("layer4", "gradcam++")],
                                  image_maps.raw[("layer4", "gradcam++")])
    # a torn file is a miss, not an error
    (cached,) = list((tmp_path / "maps").rglob("*.npz"))
    cached.write_bytes(b"not a zip file")
    load_maps(cache, refs, {"layer4": ["gradcam++"]})
    assert cache.computed == 3
    # an image that cannot be read is left out, with the reason
    refs.paths["a"] = str(tmp_path / "missing.png")
    maps, skipped = load_maps(MapCache(tmp_path / "other", model), refs, {"layer4": ["gradcam++"]})
    assert maps == {} and "missing.png" in skipped["a"]


def test_write_card_defaults_keeps_the_card_canonical(tmp_path):
    from medxai_desktop.core.models import ModelCard
    from medxai_desktop.core.models.card import load_card
    from medxai_desktop.core.reports.localisation_report import crosseai_settings

    path = tmp_path / "model.json"
    ModelCard("resnet18", ["a", "b"], (224, 224), (0.5,) * 3, (0.25,) * 3, "layer4", "model.pt", "cd" * 32,
              metadata={"name": "test", "crosseai": {"alpha": 0.9}}).save(path)
    before = load_card(path)
    chosen = {"family": "crosseai@layer3", "cam": "gradcam++", "layer": "layer3", "alpha": 0.25, "tau": 0.6,
              "sigma": 2.0, "min_area": 0.02, "top_k": 1, "score": "max", "objective": 0.4}
    write_card_defaults(path, chosen, {"folds": 5})
    after = load_card(path)
    assert after.sha256 == before.sha256 and after.target_layer == "layer4" and after.metadata["name"] == "test"
    assert after.metadata["crosseai_tuning"] == {"folds": 5}
    params, layer, from_card = crosseai_settings(after)
    assert params == CrossEAIParams(alpha=0.25, tau=0.6, sigma=2.0, min_area=0.02, top_k=1, score="max")
    assert layer == "layer3" and from_card
    assert after.card_hash != before.card_hash
    assert load_card(path).card_hash == after.card_hash  # what was written reads back the same
    # a copy elsewhere gets the same checkpoint beside it (a card's checkpoint must lie in its
    # folder, issue 14); the original stays as it was
    (tmp_path / "model.pt").write_bytes(b"the weights")
    copy = write_card_defaults(path, dict(chosen, tau=0.3), {}, tmp_path / "tuned" / "copy.json")
    assert load_card(copy).checkpoint_path == tmp_path / "tuned" / "model.pt"
    assert (tmp_path / "tuned" / "model.pt").read_bytes() == b"the weights"
    assert load_card(copy).sha256 == after.sha256
    assert load_card(copy).metadata["crosseai"]["tau"] == 0.3 and load_card(path).metadata["crosseai"]["tau"] == 0.6
