"""The box head (core.models.box_head, box_head_training; `medxai train --box-method head`): a
localisation head learned from reference boxes on the frozen classifier finds the squares on new
images, leaves the classifier exactly as it was, is stored and hash-checked beside its card, and
is the card's ``boxhead`` proposal method through the one box step and tune-boxes.

The data are test_box_supervision's: a bright square on noise, 48 px, a tiny CNN, one thread.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medxai_desktop.cli import main as medxai
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.explain.box_head_map import NoBoxHead
from medxai_desktop.core.explain.proposals import explain_and_propose
from medxai_desktop.core.models import load_card, load_model, sha256_of_file
from medxai_desktop.core.models.box_head import BoxHead, load_box_head
from medxai_desktop.core.models.box_head_training import HeadRecipe, learn_box_head
from medxai_desktop.core.models.box_supervision import BoxFile
from medxai_desktop.core.models.card import ModelCardError
from medxai_desktop.core.models.checkpoint import CheckpointError
from medxai_desktop.core.models.training import train
from tests.test_box_supervision import SIZE, config, square_image, tiny_architecture, write_squares

RECIPE = HeadRecipe(width=16, steps=300, batch_size=16, lr=5e-3)


setting = pytest.fixture(scope="module", autouse=True)(tiny_architecture)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    root = tmp_path_factory.mktemp("head")
    images, boxes = write_squares(root / "squares")
    card = train(images, root / "parent", config(epochs=4, box_weight=0.0)).card_path
    return images, boxes, card


@pytest.fixture(scope="module")
def learned(parent, tmp_path_factory):
    images, boxes, card = parent
    return learn_box_head(card, images, BoxFile(boxes), tmp_path_factory.mktemp("v2") / "model", RECIPE,
                          device="cpu")


def held_out(n: int = 20, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [square_image(label, rng) for label in (0, 1) for _ in range(n)]


def top_box_ious(model, images) -> list[float]:
    engine = ExplanationEngine(model)
    out = []
    for image, box in images:
        rgb = np.repeat(image[..., None], 3, 2).astype(np.float32) / 255
        explained = explain_and_propose(rgb, model, engine, [], propose="default",
                                        overrides={"top_k": 1})
        out.append(explained.boxes[0].box.iou(box) if explained.boxes else 0.0)
    return out


def test_the_head_finds_the_squares_on_new_images(learned):
    model = load_model(learned.card_path, device="cpu")
    model.card.metadata["recommended_proposal"] = "boxhead"
    trained = top_box_ious(model, held_out())
    untrained = model.box_head.__class__(**{k: v for k, v in model.box_head.config().items()})
    torch.manual_seed(0)
    model.box_head = untrained.eval()
    before = top_box_ious(model, held_out())
    print(f"held-out top-box IoU: untrained head {np.mean(before):.3f}, trained {np.mean(trained):.3f}")
    # seed 0: 0.06 -> 0.7x; a box within a 12 x 12 map's cell of the 10 px square
    assert np.mean(trained) > 0.5 and np.mean(trained) > np.mean(before) + 0.3
    assert np.mean(np.asarray(trained) >= 0.3) >= 0.8


def test_the_classifier_is_the_parents_and_the_card_records_the_head(parent, learned):
    images, boxes, parent_card = parent
    card = load_card(learned.card_path)
    assert card.sha256 == load_card(parent_card).sha256 == sha256_of_file(card.checkpoint_path)
    head = card.metadata["box_head"]
    assert head["sha256"] == sha256_of_file(learned.card_path.parent / head["file"])
    assert head["layers"] == ["features"] and head["recipe"]["steps"] == RECIPE.steps
    lineage = card.metadata["lineage"]
    assert lineage["method"] == "box_head" and lineage["parent"] == parent_card.name
    assert lineage["boxes"]["source"] == "file" and lineage["boxes"]["sha256"] == sha256_of_file(boxes)
    # only the parent's training split learns: its validation images' boxes stay unseen
    assert 0 < lineage["boxes"]["training_images_with_boxes"] == learned.training.images < 64
    assert "boxhead" in card.metadata["proposal_methods"] and "boxhead" in card.metadata["proposals"]
    x = torch.randn(3, 3, SIZE, SIZE)
    old, new = load_model(parent_card, device="cpu"), load_model(learned.card_path, device="cpu")
    assert old.box_head is None and isinstance(new.box_head, BoxHead)
    with torch.no_grad():
        assert torch.equal(old.module(x), new.module(x))
    assert new.provenance()["box_head_sha256"] == head["sha256"] and "box_head_sha256" not in old.provenance()


def test_a_changed_or_misplaced_head_file_is_refused(learned, tmp_path):
    card = load_card(learned.card_path)
    head_file = learned.card_path.parent / card.metadata["box_head"]["file"]
    copy = tmp_path / "box_head.pt"
    copy.write_bytes(head_file.read_bytes() + b"x")
    card.metadata["box_head"]["file"] = "../" + tmp_path.name + "/box_head.pt"
    with pytest.raises(ModelCardError, match="not in the card's folder"):
        load_box_head(card)
    card.path = tmp_path / "model.json"
    card.metadata["box_head"]["file"] = "box_head.pt"
    with pytest.raises(CheckpointError, match="sha256"):
        load_box_head(card)


def test_boxhead_on_a_model_without_a_head_says_so(parent):
    model = load_model(parent[2], device="cpu")
    with pytest.raises(NoBoxHead, match="no box head"):
        ExplanationEngine(model).explain(torch.zeros(1, 3, SIZE, SIZE), ["boxhead"])


def test_tune_boxes_measures_the_head_and_its_copy_keeps_the_head(parent, learned, tmp_path, capsys):
    images, boxes, _ = parent
    code = medxai(["tune-boxes", str(images), "--model", str(learned.card_path), "--boxes", str(boxes),
                   "--cams", "boxhead", "--alphas", "0", "--sigmas", "0", "--folds", "3",
                   "--out", str(tmp_path / "tune"), "--write-card", str(tmp_path / "tuned" / "model.json")])
    assert code == 0
    summary = {r["family"]: r for r in json.loads((tmp_path / "tune" / "tuning.json").read_text())["held_out_summary"]}
    assert summary["boxhead@features"]["overall_iou_mean"] > summary["fixed box"]["overall_iou_mean"]
    tuned = load_card(tmp_path / "tuned" / "model.json")
    assert tuned.metadata["recommended_proposal"] == "boxhead"
    assert load_model(tuned.path, device="cpu").box_head is not None   # the head went with the copy


def test_cli_trains_a_head_and_a_box_file_that_does_not_fit_stops_with_one_line(parent, tmp_path, capsys):
    images, boxes, card = parent
    code = medxai(["train", str(images), "--init-checkpoint", str(card), "--boxes", str(boxes),
                   "--box-method", "head", "--head-steps", "20", "--device", "cpu", "--out", str(tmp_path / "h")])
    out = capsys.readouterr().out
    assert code == 0 and "box head trained on" in out and "boxes from boxes.csv" in out
    assert load_model(tmp_path / "h" / "model.json", device="cpu").box_head is not None
    bad = tmp_path / "bad.csv"
    bad.write_text("image,label,x,y,w,h\nimages/dim/nowhere.png,dim,1,1,5,5\n")
    code = medxai(["train", str(images), "--init-checkpoint", str(card), "--boxes", str(bad),
                   "--box-method", "head", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bad.csv" in err[0] and "nowhere.png not found" in err[0]
    bad.write_text("image,label,x,y,w,h\nimages/dim/dim_00.png,tumour,1,1,5,5\n")
    code = medxai(["train", str(images), "--init-checkpoint", str(card), "--boxes", str(bad), "--box-images",
                   str(images.parent), "--box-method", "head", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bad.csv" in err[0] and "'tumour'" in err[0]
    assert not (tmp_path / "bad").exists()
    code = medxai(["train", str(images), "--boxes", str(boxes), "--box-method", "head", "--out", str(tmp_path / "x")])
    assert code == 2 and "init-checkpoint" in capsys.readouterr().err


def test_the_localisation_report_compares_the_versions_on_the_same_images(parent, learned, tmp_path, capsys):
    images, boxes, parent_card = parent
    card = load_card(learned.card_path)
    card.metadata["recommended_proposal"] = "boxhead"
    tuned = card.save(learned.card_path.parent / "tuned.json")
    code = medxai(["report", "localization", "--model", str(tuned), "--compare-with", str(parent_card),
                   "--boxes", str(boxes), "--data", str(images), "--device", "cpu", "--examples", "1",
                   "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    assert code == 0 and "comparison.html" in out
    rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["rows"]
    proposes = {r["version"]: r for r in rows if r["proposes"]}
    assert set(proposes) == {"tuned", "parent"}
    assert proposes["tuned"]["method"] == "boxhead" and proposes["parent"]["method"] == "crosseai"
    assert proposes["tuned"]["images"] == proposes["parent"]["images"] == 64
    assert proposes["tuned"]["overall_iou"] > proposes["parent"]["overall_iou"]
    assert (tmp_path / "cmp" / "tuned" / "report.html").exists() and (tmp_path / "cmp" / "parent" / "report.html").exists()


def test_the_parent_card_is_found_only_when_it_is_the_one_recorded(parent, learned):
    import shutil

    from medxai_desktop.core.models.lineage import parent_card_path

    card = load_card(learned.card_path)
    assert parent_card_path(card) is None                       # not beside it, nor one folder up
    beside = learned.card_path.parent.parent / parent[2].name
    shutil.copyfile(parent[2], beside)
    assert parent_card_path(card) == beside
    beside.write_text(beside.read_text().replace("{", "{ ", 1))   # another file: another sha256
    assert parent_card_path(card) is None


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "efficientnet_b0", "vgg16"])
def test_every_paper_architecture_has_three_head_layers_finest_first(arch):
    from medxai_desktop.core.models import random_model
    from medxai_desktop.core.models.box_head import default_layers

    model = random_model(arch, ["a", "b"], input_size=(64, 64), device="cpu")
    layers = default_layers(arch, model.target_layer)
    head = BoxHead.for_model(model.module, layers, (64, 64), width=8)
    logits = head.logits(model.module, torch.zeros(2, 3, 64, 64))
    assert len(head.layers) == 3 and logits.shape == (2, 1, 8, 8)   # the finest: stride 8


def test_every_view_the_head_learns_from_keeps_the_box_mask_on_the_image(tmp_path, monkeypatch):
    """The image and its mask, as the head is trained on them, straight and mirrored: the bright
    square (off-centre, so that a mirror moves it) is where the mask is, in every view. The
    held-out IoU cannot tell (an unmirrored mask only costs 0.67 -> 0.65), so this pins it."""
    import cv2
    import torch.nn.functional as F

    from medxai_desktop.core.boxes import Box
    from medxai_desktop.core.models import box_head_training, random_model
    from medxai_desktop.core.models.box_supervision import ReferenceBoxes

    image = np.full((SIZE, SIZE), 40, np.uint8)
    image[8:20, 4:16] = 220
    path = str((tmp_path / "square.png").resolve())
    cv2.imwrite(path, image)
    references = ReferenceBoxes({path: [Box(4, 8, 16, 20)]}, {path: (SIZE, SIZE)})
    # The "features" are the image itself at half size: the loss compares at twice that, the input size.
    monkeypatch.setattr(box_head_training, "backbone_features",
                        lambda module, layers, x: [F.avg_pool2d(x[:, :1], 2)])
    model = random_model("resnet18", ["a", "b"], seed=0, input_size=(SIZE, SIZE), device="cpu")
    data = box_head_training.boxed_features(model, references, ["layer4"], flip=True)
    (features,) = data.features
    assert features.shape[0] == data.masks.shape[0] == 2 and data.masks.shape[-2:] == (SIZE, SIZE)
    squares = []
    for feature, mask in zip(features.float(), data.masks):
        bright = feature[0] > feature[0].mean()
        assert torch.equal(bright, F.avg_pool2d(mask[None], 2)[0, 0] > 0.5)
        squares.append(bright)
    assert torch.equal(squares[1], squares[0].flip(-1)) and not torch.equal(squares[0], squares[1])
