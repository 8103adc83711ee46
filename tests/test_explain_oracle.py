"""Every explainer against grad-cam (the oracle) on the same model and input."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from pytorch_grad_cam import (AblationCAM, EigenCAM, EigenGradCAM, GradCAM, GradCAMPlusPlus,
                              GuidedBackpropReLUModel, HiResCAM, LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.explain.base import cam_to_map
from medxai_desktop.core.models import random_model

from .helpers import brain_mri_image

ORACLES = {
    "gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM,
    "eigengradcam": EigenGradCAM, "eigencam": EigenCAM, "layercam": LayerCAM,
    "hirescam": HiResCAM, "ablationcam": AblationCAM, "scorecam": ScoreCAM,
}
TOL = 1e-4


def _real_input(model, size=None) -> torch.Tensor:
    import cv2
    path = brain_mri_image("meningioma")
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    from medxai_desktop.core.models.preprocessing import to_model_tensor
    return to_model_tensor(rgb, size or model.card.input_size, model.card.mean, model.card.std)


def _oracle_map(model, method, x, target, layer=None, **kwargs):
    module = copy.deepcopy(model.module).requires_grad_(True)
    layer = module.get_submodule(layer or model.target_layer)
    # grad-cam keeps a reference to the layer's output on CPU; DenseNet then applies
    # F.relu(inplace=True) to it, so grad-cam's CPU result would use post-ReLU activations
    # (and its GPU result, which copies, would not). Cloning makes the oracle capture the
    # layer's true output on every device.
    cam = ORACLES[method](model=module, target_layers=[layer], reshape_transform=torch.clone, **kwargs)
    try:
        return cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(target)])[0]
    finally:
        cam.activations_and_grads.release()


@pytest.fixture(scope="module")
def resnet18():
    return random_model("resnet18", ["glioma", "meningioma", "pituitary", "no_tumor"], seed=3,
                        device="cpu")


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam",
                                    "eigengradcam", "ablationcam"])
def test_method_matches_grad_cam_on_resnet18(resnet18, method):
    x = _real_input(resnet18)
    result = ExplanationEngine(resnet18).explain(x, [method], target=1)
    ours = result[method].map
    oracle = _oracle_map(resnet18, method, x, 1)
    assert ours.shape == oracle.shape == (224, 224)
    assert ours.max() == pytest.approx(1, abs=1e-3)
    if method == "eigengradcam":
        _assert_equal_up_to_sign(ours, oracle, result[method].raw,
                                 _oracle_projection(resnet18, x, 1, with_gradients=True))
    else:
        assert np.abs(ours - oracle).max() <= TOL


def _oracle_projection(model, x, target, with_gradients):
    """grad-cam's own 2D projection of A (or g*A), to compare EigenCAMs up to sign."""
    split_engine = ExplanationEngine(model)
    a, _ = split_engine.split.run_prefix(x)
    stack = a
    if with_gradients:
        leaf = a.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(split_engine.split.run_suffix(leaf, [])[0, target], leaf)
        stack = g * a
    return get_2d_projection(stack.detach().numpy())[0]


def _assert_equal_up_to_sign(ours_map, oracle_map, ours_raw, oracle_raw):
    scale = np.abs(oracle_raw).max()
    same = np.abs(ours_raw - oracle_raw).max() / scale
    flipped = np.abs(ours_raw + oracle_raw).max() / scale
    assert min(same, flipped) <= 1e-4
    expected = oracle_map if same <= flipped else cam_to_map(-oracle_raw, ours_map.shape)
    assert np.abs(ours_map - expected).max() <= TOL


def test_eigencam_matches_grad_cam_up_to_sign_and_correlates_with_activations(resnet18):
    x = _real_input(resnet18)
    result = ExplanationEngine(resnet18).explain(x, ["eigencam"], target=0)
    raw = result["eigencam"].raw
    _assert_equal_up_to_sign(result["eigencam"].map, _oracle_map(resnet18, "eigencam", x, 0), raw,
                             _oracle_projection(resnet18, x, 0, with_gradients=False))
    a, _ = ExplanationEngine(resnet18).split.run_prefix(x)
    assert np.corrcoef(raw.ravel(), a[0].sum(0).numpy().ravel())[0, 1] > 0


def test_resnet50_paper_methods_match_grad_cam():
    model = random_model("resnet50", ["a", "b", "c", "d"], seed=0, device="cpu")
    x = _real_input(model)
    result = ExplanationEngine(model).explain(x, ["gradcam++", "xgradcam", "layercam", "ablationcam"],
                                              target=2)
    assert model.module.fc.weight.requires_grad is False  # frozen, and left as it was
    for method in ["gradcam++", "xgradcam", "layercam"]:
        assert np.abs(result[method].map - _oracle_map(model, method, x, 2)).max() <= TOL, method
    # grad-cam's AblationCAM on ResNet-50 takes minutes; it is compared in the benchmark and
    # below on ResNet-18. Here: the closed form equals an explicit ablation of a few channels.
    engine = ExplanationEngine(model)
    a, _ = engine.split.run_prefix(x)
    with torch.no_grad():
        y = engine.split.run_suffix(a, [])[0, 2]
        for k in [0, 7, 2047]:
            ablated = a.clone()
            ablated[0, k] = 0
            y_k = engine.split.run_suffix(ablated, [])[0, 2]
            w_k = (y - y_k) / y
            from medxai_desktop.core.explain.ablation_cam import AblationCAM as Ours
            from medxai_desktop.core.explain.base import PassContext
            ctx = PassContext(engine.split, x, a, [], engine.split.run_suffix(a, [])[None, 0], 2)
            assert Ours().weights(ctx)[k].item() == pytest.approx(w_k.item(), rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("arch", ["densenet121", "efficientnet_b0", "vgg16"])
def test_gradient_cams_match_grad_cam_on_other_paper_architectures(arch):
    model = random_model(arch, ["a", "b"], seed=1, input_size=(128, 128), device="cpu")
    x = _real_input(model)
    result = ExplanationEngine(model).explain(x, ["gradcam++", "xgradcam", "layercam"], target=1)
    for method in ["gradcam++", "xgradcam", "layercam"]:
        assert np.abs(result[method].map - _oracle_map(model, method, x, 1)).max() <= TOL, method


def test_ablation_batched_path_matches_grad_cam_when_head_is_not_linear(resnet18):
    # After layer3 come layer4 + pool + fc: no closed form; only the suffix is re-run.
    x = _real_input(resnet18, size=(64, 64))
    engine = ExplanationEngine(resnet18, target_layer="layer3")
    assert engine.split.linear_head is None
    ours = engine.explain(x, ["ablationcam"], target=0)["ablationcam"].map
    oracle = _oracle_map(resnet18, "ablationcam", x, 0, layer="layer3")
    assert np.abs(ours - oracle).max() <= TOL


def test_ablation_batched_path_on_vgg_head(tmp_path):
    model = random_model("vgg16", ["a", "b"], seed=2, input_size=(64, 64), device="cpu")
    x = _real_input(model)
    engine = ExplanationEngine(model)
    assert engine.split.linear_head is None
    ours = engine.explain(x, ["ablationcam"], target=1)["ablationcam"].map
    assert np.abs(ours - _oracle_map(model, "ablationcam", x, 1)).max() <= TOL


def test_scorecam_matches_grad_cam():
    model = random_model("resnet18", ["a", "b"], seed=4, input_size=(64, 64), device="cpu")
    x = _real_input(model)
    ours = ExplanationEngine(model).explain(x, ["scorecam"], target=0)["scorecam"].map
    assert np.abs(ours - _oracle_map(model, "scorecam", x, 0)).max() <= TOL


def test_guided_backprop_matches_grad_cam_and_leaves_the_model_untouched(resnet18):
    x = _real_input(resnet18)
    modules_before = [type(m) for m in resnet18.module.modules()]
    result = ExplanationEngine(resnet18).explain(x, ["guided", "gradcam++"], target=2)
    module = copy.deepcopy(resnet18.module).requires_grad_(True)
    oracle = GuidedBackpropReLUModel(module, device="cpu")(x.clone(), target_category=2)
    ours = result.input_gradient[0].numpy().transpose(1, 2, 0)
    assert np.abs(ours - oracle).max() <= TOL * np.abs(oracle).max()
    assert [type(m) for m in resnet18.module.modules()] == modules_before
    # The Grad-CAM++ map from the guided pass is the same as from a plain pass.
    plain = ExplanationEngine(resnet18).explain(x, ["gradcam++"], target=2)["gradcam++"].map
    assert np.abs(plain - result["gradcam++"].map).max() <= 1e-6


def test_guided_backprop_guides_functional_relus_too():
    # DenseNet applies F.relu after norm5: grad-cam leaves it unguided; ours guides it, so
    # negative gradients never pass any ReLU. Check on the gradient at the input of that ReLU.
    model = random_model("densenet121", ["a", "b"], seed=0, input_size=(64, 64), device="cpu")
    engine = ExplanationEngine(model)
    x = _real_input(model)
    a, extras = engine.split.run_prefix(x)
    leaf = a.detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(engine.split.run_suffix(leaf, extras, guided=True)[0, 1], leaf)
    assert (g >= 0).all() and (g > 0).any()


def test_all_methods_in_one_call_share_one_pass(resnet18):
    x = _real_input(resnet18)
    methods = ["gradcam", "gradcam++", "xgradcam", "eigencam", "eigengradcam", "layercam",
               "hirescam", "ablationcam", "guided"]
    result = ExplanationEngine(resnet18).explain(x, methods)
    assert list(result.explanations) == methods
    assert result.target_index == result.prediction.class_index
    for method in methods:
        single = ExplanationEngine(resnet18).explain(x, [method])[method]
        assert np.abs(single.map - result[method].map).max() <= 1e-5
        prov = result[method].provenance
        assert prov["method"] == method and prov["target_layer"] == "layer4"
        assert prov["model"]["arch"] == "resnet18" and prov["versions"]["torch"]
        assert result[method].cache_key == single.cache_key
    assert result["gradcam"].cache_key != result["layercam"].cache_key
