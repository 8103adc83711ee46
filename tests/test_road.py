"""ROAD (core.evaluation.road, road_imputation, road_run.summarise_road).

The reference is grad-cam 1.5.x's own implementation, run in the same test on real images
(a brain MRI and a chest X-ray) with the demo model and real CAM maps: our MoRF/LeRF per
percentile and ROADCombined must equal grad-cam's ROADMostRelevantFirst /
ROADLeastRelevantFirst / ROADCombined with the global RNG seeded as our generator is.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import (
    RemoveLeastRelevantFirst,
    RemoveMostRelevantFirst,
)
from pytorch_grad_cam.metrics.road import (
    NoisyLinearImputer,
    ROADCombined,
    ROADLeastRelevantFirst,
    ROADMostRelevantFirst,
    neighbors_weights,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

from medxai_desktop.core.evaluation import road_imputation
from medxai_desktop.core.evaluation.road import RoadScores, road_scores, road_scores_for
from medxai_desktop.core.evaluation.road_imputation import (
    channels_as_affine_of_first,
    imputation_system,
    nested_dissection_rank,
    noisy_linear_impute,
    removal_mask,
    solve_imputation,
)
from medxai_desktop.core.evaluation.road_run import summarise_road
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.models import load_model, random_model
from medxai_desktop.core.models.inference_module import inference_module
from medxai_desktop.core.resources import demo_model_card

from .helpers import brain_mri_image, shared_data

PERCENTILES = (20, 40, 60, 80)
# grad-cam converts tensors with np.float32(tensor), which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")
# Measured differences from grad-cam: 6e-8 to 1.8e-7 (float32 rounding). Our noise seeded one
# higher moves a score by 3.5e-5 to 2e-4, no noise at all by 3e-4 to 2e-3: both must fail.
TOLERANCE = 1e-5


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """grad-cam runs 16 single-image forward passes per ROADCombined; on a busy 2-core machine
    each layer of each pass waits for the second OpenMP thread (20x slower), so one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def demo_model():
    card = demo_model_card()
    if card is None:
        pytest.skip("the demo model is not bundled")
    return load_model(card, device="cpu")


def _explained(model, path, methods):
    tensor = model.preprocess(read_image(path))
    result = ExplanationEngine(model).explain(tensor, methods)
    return tensor, result.target_index, {m: e.map for m, e in result.explanations.items()}


def _grad_cam_per_percentile(model, tensor, heatmap, target, seed, percentiles=PERCENTILES):
    """grad-cam's LeRF then MoRF at each percentile, the global RNG seeded once: the draws
    ROADCombined makes, in its order."""
    cams, targets = heatmap[None].astype(np.float32), [ClassifierOutputSoftmaxTarget(target)]
    torch.manual_seed(seed)
    lerf = [float(ROADLeastRelevantFirst(p)(tensor, cams, targets, model.module)[0]) for p in percentiles]
    morf = [float(ROADMostRelevantFirst(p)(tensor, cams, targets, model.module)[0]) for p in percentiles]
    return morf, lerf


def _grad_cam_combined(model, tensor, heatmap, target, seed, percentiles=PERCENTILES):
    torch.manual_seed(seed)
    return float(ROADCombined(list(percentiles))(tensor, heatmap[None].astype(np.float32),
                                                 [ClassifierOutputSoftmaxTarget(target)], model.module)[0])


# grad-cam's imputation takes about a second per percentile, so each map is checked once:
# per percentile (MoRF and LeRF) for one map, ROADCombined for another.

def test_equals_grad_cam_on_a_brain_mri(demo_model):
    tensor, target, maps = _explained(demo_model, brain_mri_image("glioma"), ["gradcam++", "eigengradcam"])
    # EigenGradCAM's map is zero on over 20% of this image: MoRF at 20 ties every pixel at
    # the threshold and replaces the whole image, in grad-cam as here.
    assert (maps["eigengradcam"] == 0).mean() > 0.2
    ours = road_scores(demo_model, tensor, maps, target, PERCENTILES, seed=3)
    assert ours["eigengradcam"].whole_image_replaced == ("morf20",)
    assert ours["gradcam++"].whole_image_replaced == ()

    morf, lerf = _grad_cam_per_percentile(demo_model, tensor, maps["gradcam++"], target, seed=3)
    np.testing.assert_allclose(ours["gradcam++"].morf, morf, atol=TOLERANCE)
    np.testing.assert_allclose(ours["gradcam++"].lerf, lerf, atol=TOLERANCE)
    reference = _grad_cam_combined(demo_model, tensor, maps["eigengradcam"], target, seed=3)
    assert ours["eigengradcam"].combined == pytest.approx(reference, abs=TOLERANCE)
    # The scores are not trivially equal: the probability moves, and MoRF/LeRF differ.
    assert max(abs(v) for v in morf) > 0.05 and ours["gradcam++"].morf != ours["gradcam++"].lerf


def test_equals_grad_cam_on_a_chest_x_ray(demo_model):
    path = shared_data("chest_xray", "images", "00000100_000.png")
    tensor, target, maps = _explained(demo_model, path, ["layercam", "xgradcam"])
    percentiles = (20, 80)
    ours = road_scores(demo_model, tensor, maps, target, percentiles, seed=11)
    morf, lerf = _grad_cam_per_percentile(demo_model, tensor, maps["layercam"], target, 11, percentiles)
    np.testing.assert_allclose(ours["layercam"].morf, morf, atol=TOLERANCE)
    np.testing.assert_allclose(ours["layercam"].lerf, lerf, atol=TOLERANCE)
    assert ours["xgradcam"].combined == pytest.approx(
        _grad_cam_combined(demo_model, tensor, maps["xgradcam"], target, 11, percentiles), abs=TOLERANCE)


def test_combined_is_lerf_minus_morf_over_two():
    s = RoadScores("m", 0, (20, 80), morf=(-0.4, -0.1), lerf=(-0.2, 0.0), original_probability=0.9)
    assert s.morf_mean == pytest.approx(-0.25) and s.lerf_mean == pytest.approx(-0.1)
    assert s.combined == pytest.approx((-0.1 + 0.25) / 2)
    assert RoadScores.from_dict(s.to_dict()) == s


# --- imputation -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mri_tensor():
    from medxai_desktop.core.models.preprocessing import to_model_tensor

    rgb = read_image(brain_mri_image("glioma")).as_rgb01()
    return to_model_tensor(rgb, (96, 96), (0.18, 0.18, 0.18), (0.2, 0.2, 0.2))[0]


def test_system_is_grad_cams_system(mri_tensor):
    rng = np.random.default_rng(0)
    removed = rng.random((96, 96)) < 0.6
    matrix, b, order = imputation_system(removed, mri_tensor.numpy())
    reference_a, reference_b = NoisyLinearImputer.setup_sparse_system(
        (~removed).astype(np.float32), mri_tensor.numpy(), neighbors_weights)
    back = np.argsort(order)          # our numbering -> grad-cam's raster numbering
    assert abs(matrix[back][:, back] - sp.csc_matrix(reference_a)).max() == 0
    assert np.array_equal(b[back], reference_b)


@pytest.mark.parametrize("fraction", [0.2, 0.8, 1.0])
def test_imputation_equals_grad_cams_with_the_same_noise(mri_tensor, fraction):
    rng = np.random.default_rng(1)
    removed = rng.random((96, 96)) < fraction
    torch.manual_seed(7)
    reference = NoisyLinearImputer()(mri_tensor, torch.from_numpy((~removed).astype(np.float32)))
    ours = noisy_linear_impute(mri_tensor, removed, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(ours.tensor, reference, atol=1e-6, rtol=0)
    assert ours.whole_image_replaced == (fraction == 1.0)


def test_grey_image_is_imputed_from_one_channel():
    from medxai_desktop.core.models.preprocessing import to_model_tensor

    grey = read_image(brain_mri_image("pituitary")).as_rgb01()
    # Per-channel mean/std (ImageNet's): the channels differ, but each is affine in the first.
    image = to_model_tensor(grey, (80, 80), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))[0].numpy()
    alpha, beta = channels_as_affine_of_first(image)
    np.testing.assert_allclose(alpha, [1, 0.229 / 0.224, 0.229 / 0.225], rtol=1e-5)
    removed = np.random.default_rng(5).random((80, 80)) < 0.6
    removed[10:60, 20:70] = True
    shortcut = solve_imputation(removed, image)
    every_channel = solve_imputation(removed, image, affine=False)
    assert np.abs(shortcut - every_channel).max() < 1e-6
    # A colour image has no such relation: every channel is solved.
    colour = image + np.random.default_rng(6).normal(0, 0.05, image.shape).astype(np.float32)
    assert channels_as_affine_of_first(colour) is None
    constant = np.stack([np.full((8, 8), 0.5), np.full((8, 8), -1.0)]).astype(np.float32)
    alpha, beta = channels_as_affine_of_first(constant)
    assert np.allclose(alpha * 0.5 + beta, [0.5, -1.0])


def test_float32_factorisation_is_refined_to_the_float64_solution(mri_tensor, monkeypatch):
    heatmap = np.random.default_rng(8).random((96, 96)).astype(np.float32)
    heatmap[20:80, 10:90] += 2                      # one large removed region: the worst conditioned
    matrix, b, _ = imputation_system(removal_mask(heatmap, 30, "morf"), mri_tensor.numpy())
    exact = sp.linalg.splu(matrix).solve(b)
    dtypes = []
    factorise = road_imputation._factorise
    monkeypatch.setattr(road_imputation, "_factorise", lambda m: dtypes.append(m.dtype) or factorise(m))
    assert np.abs(road_imputation._solve(matrix, b) - exact).max() < 1e-9
    assert dtypes == [np.float32]
    # When refinement cannot reach the tolerance, a float64 factorisation answers instead.
    monkeypatch.setattr(road_imputation, "_REFINE_TOLERANCE", 0.0)
    dtypes.clear()
    assert np.abs(road_imputation._solve(matrix, b) - exact).max() < 1e-12
    assert dtypes == [np.float32, np.float64]


def test_only_removed_pixels_change(mri_tensor):
    removed = np.zeros((96, 96), bool)
    removed[30:50, 10:70] = True
    out = noisy_linear_impute(mri_tensor, removed).tensor
    assert torch.equal(out[:, ~torch.from_numpy(removed)], mri_tensor[:, ~torch.from_numpy(removed)])
    assert (out[:, torch.from_numpy(removed)] != mri_tensor[:, torch.from_numpy(removed)]).all()


def test_constant_image_stays_constant():
    image = torch.full((3, 40, 50), 0.7)
    removed = np.random.default_rng(2).random((40, 50)) < 0.7   # touches the borders too
    out = noisy_linear_impute(image, removed, noise=0.0).tensor
    assert torch.allclose(out, image, atol=1e-6, rtol=0)


def test_linear_ramp_is_reproduced():
    rows, cols = np.mgrid[0:40, 0:50].astype(np.float32)
    image = torch.from_numpy(np.stack([0.1 * rows, -0.05 * cols + 1, 0.02 * rows + 0.03 * cols]))
    removed = np.zeros((40, 50), bool)
    removed[5:30, 8:45] = True        # an interior block: every removed pixel has 8 neighbours
    removed[12, 2:8] = True
    out = noisy_linear_impute(image, removed, noise=0.0).tensor
    assert torch.allclose(out, image, atol=1e-5, rtol=0)
    # With noise, the imputed values are the ramp plus N(0, 0.01^2).
    noisy = noisy_linear_impute(image, removed, noise=0.01).tensor
    residual = (noisy - image)[:, torch.from_numpy(removed)]
    assert 0.008 < float(residual.std()) < 0.012 and abs(float(residual.mean())) < 1e-3


def test_nested_dissection_rank_is_a_permutation():
    for shape in [(224, 224), (7, 5), (1, 9), (33, 64)]:
        rank = nested_dissection_rank(*shape)
        assert np.array_equal(np.sort(rank), np.arange(shape[0] * shape[1]))


# --- removal masks: grad-cam's convention, ties included ---------------------------------------

def _grad_cam_removed(heatmap, percentile, order):
    # grad-cam's Remove* classes hand the imputer a keep-mask; capture it.
    cls = RemoveMostRelevantFirst if order == "morf" else RemoveLeastRelevantFirst
    keep = cls(percentile, lambda image, mask: mask)(None, torch.from_numpy(heatmap))
    return ~keep.numpy().astype(bool)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_removal_masks_follow_grad_cam_including_ties(order):
    rng = np.random.default_rng(3)
    distinct = rng.random((30, 30)).astype(np.float32)
    tied = np.where(rng.random((30, 30)) < 0.7, 0, rng.integers(1, 4, (30, 30)) / 3).astype(np.float32)
    for heatmap in (distinct, tied):
        for p in (0, 10, 20, 40, 50, 60, 80, 99, 100):
            assert np.array_equal(removal_mask(heatmap, p, order), _grad_cam_removed(heatmap, p, order)), (p, order)
    # MoRF 80 removes the top 20 % of a map without ties; LeRF 80 the bottom 20 %.
    removed = removal_mask(distinct, 80, order)
    assert removed.mean() == pytest.approx(0.2, abs=0.002)
    inside, outside = distinct[removed], distinct[~removed]
    assert (inside.min() > outside.max()) if order == "morf" else (inside.max() < outside.min())
    # 70 % zeros: MoRF at 20..60 ties every pixel at threshold 0 and removes all of them.
    assert removal_mask(tied, 40, "morf").all() and not removal_mask(tied, 80, "morf").all()


def test_tie_heavy_map_scores_like_grad_cam(demo_model):
    from medxai_desktop.core.models.preprocessing import to_model_tensor

    rgb = read_image(brain_mri_image("meningioma")).as_rgb01()    # at 112 px: grad-cam is slow
    tensor = to_model_tensor(rgb, (112, 112), demo_model.card.mean, demo_model.card.std)
    heatmap = np.zeros((112, 112), np.float32)
    heatmap[25:75, 25:85] = 1.0            # three values only (24 % ones): every threshold is a tie
    heatmap[45:50, 50:60] = 0.5
    ours = road_scores(demo_model, tensor, {"block": heatmap}, 0, PERCENTILES, seed=5)["block"]
    assert ours.whole_image_replaced == ("lerf20", "morf20", "morf40", "morf60")
    assert ours.combined == pytest.approx(_grad_cam_combined(demo_model, tensor, heatmap, 0, seed=5),
                                          abs=TOLERANCE)


# --- determinism, the global RNG, bad input ---------------------------------------------------

@pytest.fixture(scope="module")
def small():
    model = random_model("resnet18", ["a", "b", "c"], seed=1, input_size=(64, 64), device="cpu")
    tensor = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(4)
    maps = {"x": rng.random((64, 64)).astype(np.float32), "y": rng.random((64, 64)).astype(np.float32)}
    return model, tensor, maps


def test_deterministic_private_rng_and_independent_of_other_methods_and_threads(small):
    model, tensor, maps = small
    state = torch.get_rng_state()
    first = road_scores(model, tensor, maps, 1, (30, 70), seed=9)
    assert torch.equal(torch.get_rng_state(), state), "ROAD must not touch the global RNG"
    again = road_scores(model, tensor, maps, 1, (30, 70), seed=9, batch_size=3, workers=1)
    alone = road_scores(model, tensor, {"y": maps["y"]}, 1, (30, 70), seed=9)
    other_seed = road_scores(model, tensor, maps, 1, (30, 70), seed=10)
    for name in maps:
        np.testing.assert_allclose(first[name].morf + first[name].lerf, again[name].morf + again[name].lerf,
                                   atol=1e-6)
    np.testing.assert_allclose(alone["y"].morf, first["y"].morf, atol=1e-6)
    assert other_seed["x"].morf != first["x"].morf


def test_scores_of_an_explanation_set(small):
    model, tensor, _ = small
    explained = ExplanationEngine(model).explain(tensor, ["gradcam++", "layercam"], target=2)
    scores = road_scores_for(model, explained, ["layercam"], (50,), seed=4)
    direct = road_scores(model, tensor, {"layercam": explained["layercam"].map}, 2, (50,), seed=4)
    assert list(scores) == ["layercam"] and scores["layercam"].target_class == 2
    assert scores["layercam"].combined == pytest.approx(direct["layercam"].combined, abs=1e-5)
    # The original's probability is the explanation's: only the 2 imputed images are run.
    assert scores["layercam"].original_probability == pytest.approx(
        explained.prediction.probabilities["c"], abs=1e-7)
    batches = []
    copy = inference_module(model.module, model.device)
    hook = copy.register_forward_hook(lambda module, inputs, output: batches.append(len(inputs[0])))
    try:
        road_scores_for(model, explained, ["layercam"], (50,), seed=4)
        road_scores(model, tensor, {"layercam": explained["layercam"].map}, 2, (50,), seed=4)
    finally:
        hook.remove()
    assert batches == [2, 3]
    with pytest.raises(ValueError, match="no map for xgradcam"):
        road_scores_for(model, explained, ["xgradcam"])


def test_bad_input_is_refused_with_a_clear_message(small):
    model, tensor, maps = small
    with pytest.raises(ValueError, match="heatmap 'x' is \\(32, 32\\)"):
        road_scores(model, tensor, {"x": np.zeros((32, 32))}, 0)
    bad = maps["x"].copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="'x' has non-finite"):
        road_scores(model, tensor, {"x": bad}, 0)
    with pytest.raises(ValueError, match="at least one heatmap"):
        road_scores(model, tensor, {}, 0)
    with pytest.raises(ValueError, match="within \\[0, 100\\]"):
        road_scores(model, tensor, maps, 0, percentiles=(20, 120))
    with pytest.raises(ValueError, match="at least one percentile"):
        road_scores(model, tensor, maps, 0, percentiles=())
    with pytest.raises(ValueError, match="one image"):
        road_scores(model, torch.zeros(2, 3, 64, 64), maps, 0)
    with pytest.raises(ValueError, match="original probability must be within"):
        road_scores(model, tensor, maps, 0, original_probability=1.5)
    with pytest.raises(ValueError, match="target class 3 out of range"):
        road_scores(model, tensor, maps, 3)
    with pytest.raises(TypeError, match="output index"):
        road_scores(model, tensor, maps, "a")
    with pytest.raises(ValueError, match="does not match the image"):
        noisy_linear_impute(tensor[0], np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match="unknown ROAD order"):
        removal_mask(maps["x"], 20, "random")


# --- the summary over images --------------------------------------------------------------------

def _record(key, label, scores):
    return {"key": key, "image": f"/x/{key}.png", "label": label, "parameters": {"seed": 0},
            "target": {"index": 0, "name": label}, "prediction": {"class": label},
            "scores": {m: RoadScores(m, 0, (20, 80), morf, lerf, 0.9).to_dict()
                       for m, (morf, lerf) in scores.items()}}


def test_summary_by_hand():
    records = [
        _record("a", "glioma", {"p": ((-0.4, -0.2), (0.0, 0.0)), "q": ((-0.2, 0.0), (0.0, 0.0))}),
        _record("b", "glioma", {"p": ((-0.2, -0.2), (0.0, 0.2)), "q": ((0.0, 0.0), (0.0, 0.0))}),
        _record("c", "pituitary", {"p": ((0.0, 0.0), (0.0, 0.0)), "q": ((0.0, -0.4), (0.0, 0.0))}),
    ]
    # combined: p = [0.15, 0.15, 0.0], q = [0.05, 0.0, 0.1]
    summary = summarise_road(records)
    rows = {r["method"]: r for r in summary["per_method"]}
    assert rows["p"]["mean"] == pytest.approx(0.1) and rows["q"]["mean"] == pytest.approx(0.05)
    assert rows["p"]["n"] == 3 and rows["p"]["median"] == pytest.approx(0.15)
    assert rows["p"]["sd"] == pytest.approx(np.std([0.15, 0.15, 0.0], ddof=1))
    assert rows["p"]["morf_20"] == pytest.approx(-0.2) and rows["p"]["lerf_80"] == pytest.approx(0.2 / 3)
    glioma = {r["method"]: r for r in summary["per_class"] if r["class"] == "glioma"}
    assert glioma["p"]["mean"] == pytest.approx(0.15) and glioma["q"]["mean"] == pytest.approx(0.025)
    assert summary["classes"] == {"glioma": 2, "pituitary": 1}
    (test,) = summary["paired_tests"]
    assert (test["method_a"], test["method_b"], test["n"]) == ("p", "q", 3)
    assert test["mean_difference"] == pytest.approx(0.05)
    assert test["p_holm"] == pytest.approx(test["p"])       # one pair: Holm changes nothing
    assert math.isnan(next(t for t in summary["paired_tests_per_class"] if t["class"] == "pituitary")["t"])


def test_road_report_leaves_methods_with_degenerate_maps_out_of_the_ranking(tmp_path):
    from medxai_desktop.core.reports.road_report import build_road_report

    def record(key, flat_replaced):
        rec = _record(key, "glioma", {"flat": ((-0.9, -0.9), (0.0, 0.0)), "good": ((-0.3, -0.2), (0.0, 0.0)),
                                      "weak": ((-0.1, 0.0), (0.0, 0.0))})
        rec["parameters"] = {"seed": 0, "target": "predicted", "percentiles": [20, 80], "noise": 0.01,
                             "model": {"arch": "resnet18", "classes": ["glioma"], "target_layer": "layer4"}}
        if flat_replaced:
            rec["scores"]["flat"]["whole_image_replaced"] = ["morf80", "lerf20"]
        return rec

    records = [record("a", True), record("b", True), record("c", False)]
    report = build_road_report(records, tmp_path / "report.html", examples=0)
    html = (tmp_path / "report.html").read_text()
    assert "Not ranked: flat." in html
    table = html[html.index("ROADCombined per method"):]
    # "flat" has the highest ROADCombined but its maps replaced the whole image on 2 of 3 images
    assert table.index(">good<") < table.index(">weak<") < table.index(">flat<")
    assert "not ranked: degenerate maps" in table
    assert report.summary["per_method"]     # the summary itself is unchanged
