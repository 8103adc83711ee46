"""The foreground mask and the box step's use of it: no box on the background."""
from __future__ import annotations

import numpy as np
import torch

from medxai_desktop.core.evaluation.box_tuning import Grid, ImageMaps
from medxai_desktop.core.explain.crosseai import CrossEAIParams, CrossEAIPreview
from medxai_desktop.core.explain.foreground import foreground_mask, masked


def _head(size=64, radius=20, seed=0):
    """A bright disc (the head) with texture on a dark, slightly noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= radius ** 2
    image = rng.normal(0.05, 0.02, (size, size))
    image[disc] = 0.6 + rng.normal(0, 0.1, disc.sum())
    image[30:34, 30:34] = 0.05   # a dark hole inside (a ventricle): still the patient
    return image.clip(0, 1), disc


def test_the_mask_covers_the_disc_and_its_holes_but_not_the_corners():
    image, disc = _head()
    mask = foreground_mask(image, image.shape, margin=0.0)
    assert mask[disc].mean() > 0.98 and mask[30:34, 30:34].all()
    assert not mask[:8, :8].any() and not mask[-8:, -8:].any()
    # from a model input tensor (1x3xHxW, normalised), at another resolution
    tensor = torch.from_numpy(((image - 0.3) / 0.2)[None, None].repeat(3, 1)).float()
    small = foreground_mask(tensor, (32, 32), margin=0.0)
    assert small.shape == (32, 32) and small[16, 16] and not small[0, 0]
    assert foreground_mask(np.zeros((10, 10)), (5, 5)).all()   # flat: nothing to tell apart


class _Map:
    def __init__(self, values, name="gradcam++"):
        self.map = self.raw = values
        self.target_name, self.cache_key = "tumour", name


def test_the_box_step_with_foreground_never_proposes_the_background():
    image, _ = _head()
    heat = np.zeros(image.shape, np.float32)
    heat[2:8, 2:8] = 1.0       # the strongest blob: a background corner
    heat[36:44, 36:44] = 0.6   # a weaker one inside the head
    tensor = torch.from_numpy(image[None, None].repeat(3, 1)).float()
    gradcampp, guided = _Map(heat), _Map(np.zeros((1, 3) + image.shape, np.float32), "guided")
    preview = CrossEAIPreview()
    plain = CrossEAIParams(alpha=0.0, tau=0.5, sigma=0.0, min_area=0.0, top_k=1)
    (box,), _ = preview.boxes(gradcampp, guided, plain, image.shape, tensor)
    assert box.box.x0 < 10   # without the mask: the corner
    (box,), fused = preview.boxes(gradcampp, guided, plain.with_(foreground=True), image.shape, tensor)
    assert 36 <= box.box.x0 < 44 and fused[:8, :8].max() == 0
    assert np.array_equal(masked(heat, None), heat)


def test_the_grid_tries_each_map_with_and_without_the_mask():
    grid = Grid(alphas=(0.0, 0.5), sigmas=(4.0,), foregrounds=(False, True))
    specs = grid.map_specs()
    assert {s.foreground for s in specs} == {False, True} and len(specs) == 4
    image, _ = _head()
    heat = np.zeros(image.shape, np.float32)
    heat[2:8, 2:8] = 1.0
    maps = ImageMaps("k", "tumour", image.shape, {}, None,
                     foreground=foreground_mask(image, image.shape))
    maps._maps[("layer4", "gradcam++")] = heat
    assert maps.crosseai(CrossEAIParams(alpha=0.0), "layer4").max() == 1.0
    assert maps.crosseai(CrossEAIParams(alpha=0.0, foreground=True), "layer4").max() == 0.0
