"""Click-to-box from the maps alone (core/explain/click_box.py) and `medxai explain --boxes click`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from medxai_desktop.core.explain.click_box import ClickRule, NoComponentAtClick, propose_at

from .helpers import brain_mri_image, load_demo_model
from .test_cli import medxai


def two_blobs() -> np.ndarray:
    """A 100 x 100 map: a strong blob at rows 10-29, cols 10-39 and a weak one (0.3) at rows
    60-79, cols 50-89, each with a plateau so its component is exactly that rectangle."""
    heatmap = np.zeros((100, 100), np.float32)
    heatmap[10:30, 10:40] = 1.0
    heatmap[60:80, 50:90] = 0.3
    return heatmap


def test_the_box_of_the_component_under_the_click_in_image_pixels():
    box = propose_at(two_blobs(), (50.0, 40.0), (200, 200), ClickRule(fraction=0.5, radius=0.0)).box
    assert (box.x0, box.y0, box.x1, box.y1) == (20.0, 20.0, 80.0, 60.0)


def test_the_threshold_follows_the_click_not_the_image_maximum():
    """The weak blob is under half the map's maximum, yet a click on it gives its own box."""
    proposal = propose_at(two_blobs(), (140.0, 140.0), (200, 200), ClickRule(fraction=0.5, radius=0.0), "glioma")
    box = proposal.box
    assert (box.x0, box.y0, box.x1, box.y1) == (100.0, 120.0, 180.0, 160.0)
    assert proposal.method == "click" and proposal.label == "glioma"
    assert proposal.parameters["click"] == [140.0, 140.0]


def test_a_click_beside_a_component_finds_it_within_the_radius():
    rule = ClickRule(fraction=0.5, radius=0.05)
    box = propose_at(two_blobs(), (84.0, 40.0), (200, 200), rule).box   # 2 map pixels right of the blob
    assert (box.x0, box.y0, box.x1, box.y1) == (20.0, 20.0, 80.0, 60.0)
    with pytest.raises(NoComponentAtClick):
        propose_at(two_blobs(), (84.0, 40.0), (200, 200), rule.with_(radius=0.0))


@pytest.mark.parametrize("point", [(190.0, 10.0), (-1.0, 5.0), (5.0, 200.0)])
def test_a_click_on_a_flat_map_or_outside_the_image_is_refused_in_one_line(point):
    with pytest.raises(NoComponentAtClick) as refused:
        propose_at(two_blobs(), point, (200, 200), ClickRule(radius=0.0))
    assert "\n" not in str(refused.value) and "click" in str(refused.value)


def test_an_empty_or_nan_map_is_refused():
    with pytest.raises(NoComponentAtClick):
        propose_at(np.zeros((10, 10)), (5.0, 5.0), (10, 10))
    with pytest.raises(NoComponentAtClick):
        propose_at(np.full((10, 10), np.nan), (5.0, 5.0), (10, 10))


def test_rule_values_are_checked():
    with pytest.raises(ValueError):
        ClickRule(fraction=0.0)
    assert ClickRule.from_dict({"fraction": 0.4, "unknown": 1}).fraction == 0.4


def map_peak(heatmap, image_size) -> tuple[int, int]:
    """The image pixel (x, y) at the centre of the map's maximum."""
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return (int((col + 0.5) * image_size[1] / heatmap.shape[1]), int((row + 0.5) * image_size[0] / heatmap.shape[0]))


def test_cli_writes_the_one_box_the_core_proposes(tmp_path):
    from medxai_desktop.core.explain import ExplanationEngine
    from medxai_desktop.core.explain.click_box import card_click_rule, click_map, click_maps
    from medxai_desktop.core.imaging import read_image

    model = load_demo_model()
    image_path = brain_mri_image("meningioma")
    image = read_image(image_path)
    rule = card_click_rule(model.card)
    result = ExplanationEngine(model).explain(model.preprocess(image), click_maps(rule))
    heatmap = click_map(result, model, rule)
    x, y = map_peak(heatmap, image.shape)
    box = propose_at(heatmap, (x, y), image.shape, rule).box
    run = medxai("explain", image_path, "--model", model.card.path, "--methods", "gradcam", "--boxes", "click",
                 "--click", f"{x},{y}", "--device", "cpu", "--out", tmp_path)
    assert run.returncode == 0, run.stderr
    written = json.loads((tmp_path / "boxes.json").read_text())["boxes"]
    assert len(written) == 1 and written[0]["method"] == "click"
    assert box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1
    assert [written[0][k] for k in ("x0", "y0", "x1", "y1")] == pytest.approx([box.x0, box.y0, box.x1, box.y1],
                                                                               abs=1e-3)


def test_cli_click_refusals_are_one_line(tmp_path):
    model = load_demo_model()
    image = brain_mri_image("glioma")
    common = ["explain", image, "--model", model.card.path, "--methods", "gradcam", "--device", "cpu",
              "--out", tmp_path]
    for extra, words in ((["--boxes", "click"], "needs --click"),
                         (["--boxes", "click", "--click", "2,2"], "no map component under the click"),
                         (["--boxes", "click", "--click", "9000,2"], "outside"),
                         (["--click", "3,4"], "--boxes click only")):
        run = medxai(*common, *extra)
        assert run.returncode != 0 and words in run.stderr, (extra, run.stderr)
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_the_default_rule_follows_the_card():
    from types import SimpleNamespace

    from medxai_desktop.core.explain.click_box import card_click_rule

    assert card_click_rule(SimpleNamespace(metadata={})).source == "crosseai"
    assert card_click_rule(SimpleNamespace(metadata={"box_head": {"file": "head.pt"}})).source == "boxhead"
    chosen = card_click_rule(SimpleNamespace(metadata={"box_head": {"file": "head.pt"},
                                                       "click_box": {"source": "gradcam++", "fraction": 0.4}}))
    assert (chosen.source, chosen.fraction) == ("gradcam++", 0.4)
    assert "the map's value there" in chosen.with_(radius=0.0).describe()
