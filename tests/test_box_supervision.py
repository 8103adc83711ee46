"""Training with reference boxes (core.models.box_supervision, `medxai train --boxes/--from-db`):
the CAM-in-box loss moves the maps into the boxes, the box masks follow the augmentation, the
card records where it learned from, and a box file that does not fit the data stops with one
line.

The data: a bright square at a random place on noise, its brightness telling the two classes
apart, and a bar at the top or the bottom that tells them apart too (the shortcut a classifier
takes without boxes). Tiny: 48 px, a four-layer CNN registered for the tests, seeded, one thread.
"""
from __future__ import annotations

import csv
import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from medxai_desktop.cli import main as medxai
from medxai_desktop.core.boxes import Box
from medxai_desktop.core.evaluation.localisation import box_weights, energy_inside, read_reference_file
from medxai_desktop.core.exchange.records import AnnotationSet, BoxRecord, ImageRecord
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.models import load_card, load_model, sha256_of_file
from medxai_desktop.core.models import training
from medxai_desktop.core.models.architectures import (Architecture, register_architecture,
                                                      unregister_architecture)
from medxai_desktop.core.models.box_supervision import (BoxFile, ReferenceBoxes, box_energies,
                                                        box_supervised_forward)
from medxai_desktop.core.models.training import TrainConfig, train
from medxai_desktop.core.store import ReviewStore, mask_url

SIZE, SIDE = 48, 10
CLASSES = ("dim", "bright")   # the folders; the data's class order is sorted: bright, dim
ARCH = "tiny_cam_net"


def tiny_cam_net(num_classes: int) -> nn.Module:
    """Four 3x3 conv blocks (two of stride 2: a 12 x 12 map at 48 px), average pool, linear."""
    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    net = nn.Sequential()
    net.features = nn.Sequential(*block(3, 16, 1), *block(16, 32, 2), *block(32, 32, 1), *block(32, 48, 2))
    net.pool, net.flat, net.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, num_classes)
    return net


def tiny_architecture():
    """The tiny network registered and torch on one thread while a test module runs (use as a
    module-scoped autouse fixture)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine (see test_training)
    register_architecture(Architecture(ARCH, tiny_cam_net, "features", "test network"))
    yield
    unregister_architecture(ARCH)
    torch.set_num_threads(threads)


setting = pytest.fixture(scope="module", autouse=True)(tiny_architecture)


def square_image(label: int, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    image = rng.uniform(0, 60, (SIZE, SIZE))
    x, y = int(rng.integers(3, SIZE - SIDE - 3)), int(rng.integers(7, SIZE - SIDE - 7))
    image[y:y + SIDE, x:x + SIDE] = (140, 230)[label]
    image[(slice(0, 4) if label == 0 else slice(SIZE - 4, SIZE)), :] = 200  # the shortcut
    return np.uint8(image), Box(x, y, x + SIDE, y + SIDE)


def write_squares(root, per_class: int = 32, seed: int = 0):
    """root/images/<class>/*.png and root/boxes.csv (image,label,x,y,w,h) boxing every square."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, name in enumerate(CLASSES):
        (root / "images" / name).mkdir(parents=True)
        for k in range(per_class):
            image, box = square_image(label, rng)
            key = f"images/{name}/{name}_{k:02d}.png"
            cv2.imwrite(str(root / key), image)
            rows.append([key, name, *box.xywh()])
    write_boxes(root / "boxes.csv", rows)
    return root / "images", root / "boxes.csv"


def write_boxes(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label", "x", "y", "w", "h"])
        writer.writerows(rows)
    return path


def config(**changes) -> TrainConfig:
    base = dict(arch=ARCH, epochs=16, input_size=(SIZE, SIZE), batch_size=16, lr=0.01,
                schedule="cosine", device="cpu", seed=0)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    return write_squares(tmp_path_factory.mktemp("squares"))


@pytest.fixture(scope="module")
def trained(squares, tmp_path_factory):
    """The same training without (box_weight 0) and with box supervision (box_weight 0.5)."""
    images, boxes = squares
    out = tmp_path_factory.mktemp("trained")
    return {weight: train(images, out / str(weight), config(box_weight=weight), boxes=BoxFile(boxes))
            for weight in (0.0, 0.5)}


def held_out_energies(card_path, n: int = 20, seed: int = 1) -> dict[str, float]:
    """On new generated images: the mean energy in the square of the training's own CAM and of
    the shipped Grad-CAM++ (through the explanation engine), and the accuracy."""
    model = load_model(card_path, device="cpu")
    rng = np.random.default_rng(seed)
    held = [(*square_image(label, rng), model.classes.index(CLASSES[label]))
            for label in (0, 1) for _ in range(n)]
    rgb = np.stack([np.repeat(image[..., None], 3, 2) for image, _, _ in held])
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (model.card.mean, model.card.std))
    x = (torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255 - mean) / std
    y = torch.tensor([label for _, _, label in held])
    masks = torch.from_numpy(np.stack([box_weights([box], (SIZE, SIZE), (SIZE, SIZE))
                                       for _, box, _ in held])[:, None]).float()
    own = box_energies(model.module, model.card.target_layer, x, y, masks)
    engine = ExplanationEngine(model)
    shipped = [energy_inside(engine.explain(x[i:i + 1], ["gradcam++"], target=int(y[i]))["gradcam++"].map,
                             [held[i][1]], (SIZE, SIZE)) for i in range(len(held))]
    with torch.no_grad():
        accuracy = float((model.module(x).argmax(1) == y).float().mean())
    return {"cam": float(own.mean()), "gradcam++": float(np.mean(shipped)), "accuracy": accuracy}


def test_box_supervision_moves_the_maps_into_the_boxes(trained):
    plain, boxed = (held_out_energies(trained[w].card_path) for w in (0.0, 0.5))
    print(f"held-out energy in the box: without boxes {plain}, with boxes {boxed}")
    # seed 0: 0.11 -> 0.99 (seeds 1-3: +0.37, +0.87, +0.86); Grad-CAM++ 0.10 -> 0.45 (+0.08 to +0.22)
    assert boxed["cam"] > plain["cam"] + 0.3
    assert boxed["gradcam++"] > plain["gradcam++"] + 0.05      # the shipped CAMs see it too
    assert boxed["accuracy"] >= 0.9 and plain["accuracy"] >= 0.9
    history = trained[0.5].history
    assert history[-1].train_box_energy > history[0].train_box_energy
    assert all(h.train_box_energy is None and h.val_box_energy is not None for h in trained[0.0].history)


def test_box_weight_zero_is_the_training_without_boxes(squares, trained, tmp_path):
    """Boxes with weight 0 change nothing but the choice among epochs of equal macro-F1."""
    images, _ = squares
    without = train(images, tmp_path / "none", config(epochs=3))
    zero = train(images, tmp_path / "zero", config(epochs=3, box_weight=0.0), boxes=BoxFile(squares[1]))
    assert [h.train_loss for h in without.history] == [h.train_loss for h in zero.history]
    assert [h.val_macro_f1 for h in without.history] == [h.val_macro_f1 for h in zero.history]


def test_the_box_mask_follows_the_augmentation_of_the_image():
    """A square of 0.5 on 0.2: after the augmentation the image is, inside the frame, an affine
    function (its brightness and contrast) of the mask moved with it; each image moved its own way."""
    n = 6
    image = torch.full((n, 3, SIZE, SIZE), 0.2)
    mask = torch.zeros((n, 1, SIZE, SIZE))
    image[:, :, 14:30, 18:34] = 0.5
    mask[:, :, 14:30, 18:34] = 1.0
    augmented, moved = training._augment_with(image.clone(), mask.clone(), torch.Generator().manual_seed(3))
    assert torch.equal(augmented, training._augment(image.clone(), torch.Generator().manual_seed(3)))
    _assert_each_image_is_its_mask_moved(augmented, moved)


def _assert_each_image_is_its_mask_moved(images: torch.Tensor, moved: torch.Tensor) -> None:
    """Inside the frame each image is an affine function of its own mask (a square of 0.5 on
    0.2, given a contrast in [0.9, 1.1]), and the masks were moved, each its own way."""
    inner = slice(8, SIZE - 8)  # away from the zero padding at the edges
    for i in range(len(images)):
        m = moved[i, 0, inner, inner].flatten().double()
        v = images[i, 0, inner, inner].flatten().double()
        design = torch.stack([torch.ones_like(m), m], 1)
        fit = torch.linalg.lstsq(design, v[:, None]).solution
        assert (design @ fit - v[:, None]).abs().max() < 1e-4
        assert 0.25 < float(fit[1]) < 0.35                     # 0.3 x a contrast in [0.9, 1.1]
        assert ((m > 0.01) & (m < 0.99)).any()                 # moved by a fraction of a pixel
    assert not torch.equal(moved[0], moved[1]) and moved.max() <= 1.0


def test_the_training_batch_moves_each_mask_with_its_image():
    """The batch the training loop makes (_batch_with_masks, augmentation on): the masks it hands
    back are those moved with the images, not the masks as they were."""
    from medxai_desktop.core.models.box_supervision import BoxMasks

    n = 6
    images = np.full((n, SIZE, SIZE, 3), 51, np.uint8)          # 0.2
    images[:, 14:30, 18:34] = 128                               # 0.502
    masks = BoxMasks(np.zeros((n, SIZE, SIZE), np.uint8), np.arange(n))
    masks.masks[:, 14:30, 18:34] = 255
    zero, one = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    x, y, moved = training._batch_with_masks(images, np.zeros(n, np.int64), np.arange(n), zero, one,
                                             torch.device("cpu"), config(), torch.Generator().manual_seed(3), masks)
    assert x.shape == (n, 3, SIZE, SIZE) and moved.shape == (n, 1, SIZE, SIZE) and y.tolist() == [0] * n
    _assert_each_image_is_its_mask_moved(x.contiguous(), moved)


def test_masks_are_built_at_the_input_size_from_boxes_in_image_pixels(tmp_path):
    path = str((tmp_path / "a.png").resolve())
    references = ReferenceBoxes({path: [Box(0, 0, 50, 100), Box(150, 150, 200, 200)]}, {path: (200, 200)})
    masks = references.masks([tmp_path / "other.png", tmp_path / "a.png"], (8, 8))
    assert masks.slot.tolist() == [-1, 0] and masks.count == 1
    assert masks.batch(np.array([0])) is None
    batch = masks.batch(np.array([0, 1]))
    assert batch.shape == (2, 1, 8, 8) and batch[0].sum() == 0
    expected = np.zeros((8, 8))
    expected[:4, :2] = 1
    expected[6:, 6:] = 1
    assert np.array_equal(batch[1, 0].numpy(), expected)


def test_a_batch_whose_boxes_left_the_frame_adds_nothing():
    module = tiny_cam_net(2)
    x, y = torch.randn(4, 3, SIZE, SIZE), torch.tensor([0, 1, 0, 1])
    logits, loss, energy = box_supervised_forward(module, "features", x, y, torch.zeros(4, 1, SIZE, SIZE))
    assert logits.shape == (4, 2) and float(loss) == 0.0 and energy.numel() == 0
    masks = torch.zeros(4, 1, SIZE, SIZE)
    masks[1, :, :SIZE // 2] = 1
    logits, loss, energy = box_supervised_forward(module, "features", x, y, masks)
    assert energy.shape == (1,) and 0 <= float(energy[0]) <= 1 and loss.item() == pytest.approx(1 - energy.item())
    loss.backward()
    assert module.features[0].weight.grad is not None and torch.isfinite(module.features[0].weight.grad).all()


def test_resnet_layer4_box_supervised_epoch(squares, tmp_path):
    images, boxes = squares
    result = train(images, tmp_path / "r18", TrainConfig(arch="resnet18", epochs=1, input_size=(64, 64),
                                                         batch_size=16, device="cpu"), boxes=BoxFile(boxes))
    report = result.history[0]
    assert math.isfinite(report.train_loss) and 0 <= report.train_box_energy <= 1
    assert load_card(result.card_path).metadata["lineage"]["boxes"]["training_images_with_boxes"] == 51


# --- Lineage ------------------------------------------------------------------------------------

def test_the_card_records_the_box_file_and_no_parent(squares, trained):
    images, boxes = squares
    meta = load_card(trained[0.5].card_path).metadata
    assert meta["lineage"] == {
        "parent_card_sha256": None, "parent": None, "parent_checkpoint_sha256": None,
        "boxes": {"source": "file", "path": "boxes.csv", "sha256": sha256_of_file(boxes),
                  "images_with_boxes": 64, "boxes": 64, "boxes_other_label": 0, "images_outside_data": 0,
                  "training_images_with_boxes": 51, "validation_images_with_boxes": 13}}
    assert meta["box_weight"] == 0.5 and meta["recipe"]["box_weight"] == 0.5
    assert meta["proposal_methods"][0] == "crosseai" and "gradcam++" in meta["proposal_methods"]
    assert meta["recommended_proposal"] == "crosseai"


def test_fine_tuning_from_a_card_with_the_database_boxes_records_both(squares, trained, tmp_path, capsys):
    images, boxes = squares
    url = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    with ReviewStore(url, cache_dir=tmp_path / "maps") as store:
        summary = store.import_annotations(read_reference_file(boxes), reviewer="alice", source="boxes.csv")
        edited, rejected = summary.box_ids[:2]
        store.revise_box(edited, reviewer="bob", expected_revision=1, box=Box(5, 5, 20, 20), state="edited")
        store.reject(rejected, reviewer="bob", expected_revision=1)
        stray = tmp_path / "stray.png"  # a reviewed image that is not in DATA: left out, counted
        cv2.imwrite(str(stray), square_image(0, np.random.default_rng(9))[0])
        store.import_annotations(AnnotationSet([ImageRecord("stray.png", SIZE, SIZE, stray)],
                                               [BoxRecord("stray.png", "dim", Box(1, 1, 9, 9))]),
                                 reviewer="carol", source="elsewhere")
    parent = trained[0.5].card_path
    out = tmp_path / "tuned"
    code = medxai(["train", str(images), "--init-checkpoint", str(parent), "--from-db", "--db", url,
                   "--epochs", "1", "--batch", "16", "--lr", "0.001", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "boxes from sqlite:///" in capsys.readouterr().out
    card, before = load_card(out / "model.json"), load_card(parent)
    assert (card.arch, card.classes, card.input_size) == (ARCH, before.classes, before.input_size)
    assert (card.mean, card.std, card.target_layer) == (before.mean, before.std, before.target_layer)
    lineage = card.metadata["lineage"]
    assert lineage["parent_card_sha256"] == sha256_of_file(parent) and lineage["parent"] == "model.json"
    assert lineage["parent_checkpoint_sha256"] == before.sha256
    record = lineage["boxes"]
    assert record["source"] == "database" and record["url"] == mask_url(url)
    assert record["reviewers"] == ["alice", "bob"] and record["boxes"] == 63
    assert record["images_outside_data"] == 1 and record["images_with_boxes"] == 63  # one rejected
    assert [edited, 2] in record["revisions"] and len(record["revisions"]) == 63
    assert all(box_id != rejected for box_id, _ in record["revisions"])
    assert card.metadata["recipe"]["normalisation"] == "card" and card.metadata["box_weight"] == 1.0


def test_training_without_boxes_records_no_box_source(squares, tmp_path):
    images, _ = squares
    meta = load_card(train(images, tmp_path / "plain", config(epochs=1)).card_path).metadata
    assert meta["lineage"]["boxes"] is None and meta["box_weight"] is None
    assert all(h["val_box_energy"] is None for h in meta["history"])


# --- One-line errors ----------------------------------------------------------------------------

def _one_line_error(capsys, argv) -> str:
    code = medxai(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("case", ["outside", "escape", "missing", "label"])
def test_a_box_file_that_does_not_fit_the_data_stops_with_one_line(squares, tmp_path, capsys, case):
    images, _ = squares
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    cv2.imwrite(str(extra / "stray.png"), square_image(0, np.random.default_rng(5))[0])
    good = ["dim/dim_00.png", "dim", 10, 10, 10, 10]
    bad = {"outside": [str(extra / "stray.png"), "dim", 10, 10, 10, 10],      # one rule for every importer
           "escape": [f"../{extra.name}/stray.png", "dim", 10, 10, 10, 10],
           "missing": ["dim/never_written.png", "dim", 10, 10, 10, 10],
           "label": ["bright/bright_00.png", "tumour", 10, 10, 10, 10]}[case]
    box_file = write_boxes(tmp_path / "reviewed.csv", [good, bad])
    err = _one_line_error(capsys, ["train", str(images), "--arch", ARCH, "--size", "48", "--epochs", "1",
                                   "--device", "cpu", "--boxes", str(box_file), "--box-images", str(images),
                                   "--out", str(tmp_path / "o")])
    assert "reviewed.csv" in err
    reason = {"outside": "not a relative file name", "escape": "not a relative file name",
              "missing": "never_written.png not found", "label": "'tumour'"}[case]
    assert reason in err
    assert not (tmp_path / "o" / "model.json").exists()


def test_a_card_of_other_classes_stops_with_one_line(squares, trained, tmp_path, capsys):
    root = tmp_path / "other"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for k in range(3):
            cv2.imwrite(str(root / name / f"{k}.png"), square_image(0, np.random.default_rng(k))[0])
    err = _one_line_error(capsys, ["train", str(root), "--init-checkpoint", str(trained[0.5].card_path),
                                   "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "o")])
    assert "model.json" in err and "cat, dog" in err


def test_db_without_from_db_is_a_usage_error(squares, tmp_path, capsys):
    err = _one_line_error(capsys, ["train", str(squares[0]), "--db", "sqlite:///x.sqlite3",
                                   "--out", str(tmp_path / "o")])
    assert "--from-db" in err


def test_from_a_missing_database_stops_with_one_line_and_creates_nothing(squares, tmp_path, capsys):
    missing = tmp_path / "no" / "reviews.sqlite3"
    err = _one_line_error(capsys, ["train", str(squares[0]), "--arch", ARCH, "--from-db",
                                   "--db", f"sqlite:///{missing}", "--out", str(tmp_path / "o")])
    assert str(missing) in err and "no review database" in err
    assert not missing.parent.exists()
