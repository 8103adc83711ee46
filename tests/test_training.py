"""Training a classifier (core.models.training) on tiny generated data sets, as the app and
the `medxai train` command do: what the run writes, what the card records, which epoch is
kept, how it stops, and what the options do.

Everything is small (32-48 px, resnet18, 1-4 epochs of a few batches) and seeded through
the config's seed, on the CPU with one intra-op thread, so the file runs in seconds.
"""
from __future__ import annotations

import csv
import shutil
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from sklearn.model_selection import train_test_split

from medxai_desktop.cli import main as medxai
from medxai_desktop.core.evaluation.model_evaluation import evaluate_model
from medxai_desktop.core.explain import ExplanationEngine
from medxai_desktop.core.imaging import read_image
from medxai_desktop.core.models import get_architecture, load_card, load_model, sha256_of_file
from medxai_desktop.core.models import training
from medxai_desktop.core.models.card import REQUIRED_KEYS
from medxai_desktop.core.models.training import TrainConfig, train

CLASSES = ("alpha", "beta", "gamma")


# --- Generated data ------------------------------------------------------------------------------

def _pattern(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A dark noisy image with a bright class-dependent block (left-right symmetric, so the
    random horizontal flip of the augmentation does not turn one class into another)."""
    image = rng.uniform(0, 40, (size, size))
    q, jitter = size // 4, int(rng.integers(-2, 3))
    if label == 0:    # block at the top
        image[2 + jitter:2 + jitter + q, q:3 * q] = 220
    elif label == 1:  # block at the bottom
        image[size - 2 - q + jitter:size - 2 + jitter, q:3 * q] = 220
    else:             # bar across the middle
        image[2 * q - 3 + jitter:2 * q + 3 + jitter, 2:size - 2] = 220
    return np.uint8(image)


def write_dicom(path: Path, pixels8: np.ndarray) -> Path:
    """A minimal 16-bit MONOCHROME2 Secondary Capture image."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "OT", "Synthetic^Training", "0"
    ds.Rows, ds.Columns = pixels8.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (pixels8.astype(np.uint16) * 257).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_dataset(root: Path, classes=CLASSES, per_class: int = 8, size: int = 48,
                 seed: int = 0) -> Path:
    """Class sub-folders of PNGs; the first image of the first three classes is a 16-bit
    PNG, a JPEG and a 16-bit DICOM file respectively."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for k in range(per_class):
            image = _pattern(label % 3, size, rng)
            stem = folder / f"{name}_{k:02d}"
            if k == 0 and label == 0:
                cv2.imwrite(f"{stem}.png", image.astype(np.uint16) * 257)
            elif k == 0 and label == 1:
                cv2.imwrite(f"{stem}.jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            elif k == 0 and label == 2:
                write_dicom(Path(f"{stem}.dcm"), image)
            else:
                cv2.imwrite(f"{stem}.png", image)
    return root


def add_corrupt_images(root: Path) -> list[Path]:
    """A truncated PNG in the first class, a text file named .jpg in the second."""
    first, second = sorted(p for p in root.iterdir() if p.is_dir())[:2]
    good = sorted(first.glob("*.png"))[-1].read_bytes()
    truncated = first / "truncated.png"
    truncated.write_bytes(good[:len(good) // 2])
    text = second / "notes.jpg"
    text.write_text("not an image, just notes\n")
    return [truncated, text]


def config(**changes) -> TrainConfig:
    base = dict(arch="resnet18", epochs=1, input_size=(48, 48), batch_size=4, device="cpu", seed=0)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The 2-core test machine is shared with other jobs: one intra-op thread is several
    # times faster there than two competing ones (and gives the same numbers).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "images")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Two classes of 5 images at 32 px: 8 for training, 2 for validation."""
    return make_dataset(tmp_path_factory.mktemp("small") / "images", CLASSES[:2], per_class=5,
                        size=32, seed=1)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """Three epochs with an fp32 checkpoint; the checkpoint's hash is noted after each epoch."""
    out = tmp_path_factory.mktemp("run")
    hashes, reports = [], []

    def on_epoch(report):
        reports.append(report)
        hashes.append(sha256_of_file(out / "model.pt"))

    result = train(data, out, config(epochs=3, fp16_checkpoint=False), on_epoch=on_epoch)
    return result, out, hashes, reports


# --- One run: what it writes and records -------------------------------------------------------

def test_generated_formats_are_what_they_claim(data):
    assert read_image(data / "alpha" / "alpha_00.png").metadata["StoredType"] == "uint16"
    assert read_image(data / "beta" / "beta_00.jpg").metadata["Format"] == "JPEG"
    dicom = read_image(data / "gamma" / "gamma_00.dcm")
    assert dicom.dataset.BitsAllocated == 16 and dicom.photometric == "MONOCHROME2"


def test_run_writes_checkpoint_and_card_with_required_keys(run):
    result, out, _, reports = run
    assert result.card_path == out / "model.json" and (out / "model.pt").is_file()
    assert not result.interrupted and len(result.history) == 3 and reports == result.history
    assert all(report.seconds < 30 for report in result.history)  # seconds, not minutes
    card = load_card(out / "model.json")
    raw = card.to_dict()
    assert all(key in raw for key in REQUIRED_KEYS)
    assert card.arch == "resnet18" and card.classes == list(CLASSES)
    assert card.input_size == (48, 48) and card.target_layer == "layer4"
    assert card.checkpoint == "model.pt" and card.sha256 == sha256_of_file(out / "model.pt")
    # dataset normalisation: per-channel mean/std of the (gray -> equal RGB) training pixels
    assert len(set(card.mean)) == 1 and len(set(card.std)) == 1
    assert 0.05 < card.mean[0] < 0.6 and 0.05 < card.std[0] < 0.6


def test_card_metadata_data_recipe_validation_seed_versions(run, data):
    result, out, _, _ = run
    meta = load_card(out / "model.json").metadata
    summary = meta["data"]
    # 3 x 8 images, all readable (16-bit PNG, JPEG and DICOM included); 20 % stratified hold-out
    assert summary["counts"] == {"alpha": 8, "beta": 8, "gamma": 8}
    assert summary["classes"] == list(CLASSES) and summary["skipped"] == []
    assert (summary["train"], summary["validation"]) == (19, 5)
    assert summary["source"] == str(data)
    recipe = meta["recipe"]
    assert (recipe["lr"], recipe["momentum"], recipe["weight_decay"]) == (1e-3, 0.9, 5e-4)
    assert recipe["epochs"] == 3 and recipe["schedule"] == "constant"
    assert recipe["batch_size"] == 4 and recipe["input_size"] == [48, 48]
    assert recipe["class_weights"] == "none" and recipe["augment"] is True
    best = result.history[result.best_epoch - 1]
    assert meta["validation"] == {"best_epoch": result.best_epoch, "accuracy": best.val_accuracy,
                                  "macro_f1": best.val_macro_f1, "loss": best.val_loss}
    assert [h["val_macro_f1"] for h in meta["history"]] == [h.val_macro_f1 for h in result.history]
    assert meta["seed"] == 0 and meta["interrupted"] is False
    assert meta["versions"]["torch"] == version("torch")
    assert {"python", "torchvision", "numpy"} <= set(meta["versions"])


def test_trained_model_loads_and_explains(run, data):
    _, out, _, _ = run
    model = load_model(out / "model.json", device="cpu")
    assert model.classes == list(CLASSES)
    for path in [data / "gamma" / "gamma_00.dcm", data / "alpha" / "alpha_00.png"]:
        tensor = model.preprocess(read_image(path))
        assert tuple(tensor.shape) == (1, 3, 48, 48)
        result = ExplanationEngine(model).explain(tensor, ["gradcam"])
        heatmap = result["gradcam"].map
        assert heatmap.shape == (48, 48) and np.isfinite(heatmap).all()
        assert result.prediction.class_name in CLASSES


# --- The best epoch is kept --------------------------------------------------------------------

def test_best_epoch_is_first_maximum_of_validation_macro_f1(run):
    result, out, hashes, _ = run
    f1 = [h.val_macro_f1 for h in result.history]
    best = int(np.argmax(f1)) + 1  # argmax returns the first maximum
    card = load_card(out / "model.json")
    assert result.best_epoch == best == card.metadata["validation"]["best_epoch"]
    assert [h.best for h in result.history] == [
        f > max(f1[:i], default=-1.0) for i, f in enumerate(f1)]
    # the checkpoint on disk is the one written at the best epoch, untouched afterwards
    assert sha256_of_file(out / "model.pt") == card.sha256 == hashes[best - 1]
    assert all(h == hashes[best - 1] for h in hashes[best - 1:])


def test_kept_checkpoint_reproduces_the_recorded_validation_scores(run):
    result, out, _, _ = run
    card = load_card(out / "model.json")
    # the same stratified hold-out the run used (seeded), over the images it read
    labels = np.asarray(result.dataset.labels)
    _, val_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=0,
                                  stratify=labels)
    metrics, _ = evaluate_model(load_model(card, device="cpu"), result.dataset.subset(val_idx))
    assert metrics.n == card.metadata["data"]["validation"] == 5
    assert metrics.accuracy == pytest.approx(card.metadata["validation"]["accuracy"], abs=1e-12)
    assert metrics.macro_f1 == pytest.approx(card.metadata["validation"]["macro_f1"], abs=1e-12)


def test_later_worse_or_equal_epochs_do_not_replace_the_kept_one(small, tmp_path, monkeypatch):
    """Validation macro-F1 scripted to 0.5, 0.8, 0.8, 0.3: epoch 2 (the first 0.8) is kept."""
    scripted = iter([0.5, 0.8, 0.8, 0.3])
    real = training._evaluate

    def evaluate(*args, **kwargs):
        loss, accuracy, _ = real(*args, **kwargs)
        return loss, accuracy, next(scripted)

    monkeypatch.setattr(training, "_evaluate", evaluate)
    hashes = []
    result = train(small, tmp_path, config(epochs=4, input_size=(32, 32), batch_size=8),
                   on_epoch=lambda r: hashes.append(sha256_of_file(tmp_path / "model.pt")))
    assert result.best_epoch == 2 and [h.best for h in result.history] == [True, True, False, False]
    assert hashes[0] != hashes[1] == hashes[2] == hashes[3]
    card = load_card(result.card_path)
    assert card.sha256 == hashes[1] == sha256_of_file(tmp_path / "model.pt")
    assert card.metadata["validation"]["best_epoch"] == 2
    assert card.metadata["validation"]["macro_f1"] == 0.8
    assert card.metadata["validation"]["accuracy"] == result.history[1].val_accuracy
    assert len(card.metadata["history"]) == 4


# --- Stopping ------------------------------------------------------------------------------------

def test_stop_after_the_first_epoch_keeps_it(small, tmp_path):
    calls = []

    def progress(p):
        if p.stage == "train":
            calls.append((p.info["epoch"], p.done, p.total))

    def stop() -> bool:  # asked before every batch; yes once epoch 1's batches are all done
        return any(epoch == 1 and done == total for epoch, done, total in calls)

    result = train(small, tmp_path, config(epochs=3, input_size=(32, 32)), progress=progress,
                   stop=stop)
    assert calls == [(1, 1, 2), (1, 2, 2)]  # 8 training images, batches of 4; no epoch 2 batch
    assert result.interrupted and result.best_epoch == 1 and len(result.history) == 1
    card = load_card(result.card_path)
    assert card.metadata["interrupted"] is True and card.metadata["validation"]["best_epoch"] == 1
    assert len(card.metadata["history"]) == 1
    assert load_model(card, device="cpu").classes == list(CLASSES[:2])


def test_stop_before_an_epoch_finishes_saves_nothing(small, tmp_path):
    batches = []
    with pytest.raises(KeyboardInterrupt, match="nothing saved"):
        train(small, tmp_path, config(epochs=2, input_size=(32, 32)),
              progress=lambda p: batches.append(p.stage) if p.stage == "train" else None,
              stop=lambda: len(batches) >= 1)  # after the first batch of epoch 1
    assert batches == ["train"]
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "model.json").exists()


# --- Unreadable images, CSV data, options --------------------------------------------------------

def test_unreadable_images_are_skipped_named_and_listed(small, tmp_path):
    data = shutil.copytree(small, tmp_path / "data")
    truncated, text = add_corrupt_images(data)
    with pytest.warns(UserWarning) as caught:
        result = train(data, tmp_path / "out", config(input_size=(32, 32)))
    messages = [str(w.message) for w in caught]
    assert any(str(truncated) in m and "truncated" in m for m in messages)
    assert any(str(text) in m and "not an image" in m for m in messages)
    summary = load_card(result.card_path).metadata["data"]
    assert len(summary["skipped"]) == 2
    assert any(s.startswith(f"{truncated}: ") and "truncated" in s for s in summary["skipped"])
    assert any(s.startswith(f"{text}: ") for s in summary["skipped"])
    assert summary["counts"] == {"alpha": 5, "beta": 5}
    assert summary["train"] + summary["validation"] == 10


def test_cli_trains_from_a_csv_with_root(small, tmp_path, capsys):
    """Labels come from the CSV (not the folders), paths are relative to --root."""
    table = tmp_path / "lists" / "labels.csv"
    table.parent.mkdir()
    rows = [(p.relative_to(small).as_posix(), "pos" if p.parent.name == "beta" else "neg")
            for p in sorted(small.rglob("*.*"))]
    rows = rows[:-1]  # leave one image out: only what the CSV lists is used
    with open(table, "w", newline="") as handle:
        csv.writer(handle).writerows([("image", "label"), *rows])
    out = tmp_path / "out"
    code = medxai(["train", str(table), "--root", str(small), "--arch", "resnet18", "--epochs", "1",
                   "--size", "32", "--batch", "4", "--device", "cpu", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and "kept epoch 1: validation accuracy" in stdout
    card = load_card(out / "model.json")
    assert card.classes == ["neg", "pos"] and card.input_size == (32, 32)
    assert card.metadata["data"]["source"] == str(table)
    assert card.metadata["data"]["counts"] == {"neg": 5, "pos": 4}
    # default checkpoint storage is fp16 (read back as float32 for the model)
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["conv1.weight"].dtype == torch.float16
    assert load_model(card, device="cpu").module.conv1.weight.dtype == torch.float32


def test_cli_options_are_recorded_and_init_checkpoint_is_the_starting_point(small, tmp_path, capsys):
    torch.manual_seed(123)
    init = get_architecture("resnet18").build(2).state_dict()
    torch.save(init, tmp_path / "init.pt")
    out = tmp_path / "out"
    code = medxai(["train", str(small), "--arch", "resnet18", "--epochs", "1", "--size", "32",
                   "--batch", "4", "--lr", "0", "--class-weights", "balanced", "--schedule", "cosine",
                   "--no-augment", "--fp32", "--init-checkpoint", str(tmp_path / "init.pt"),
                   "--normalisation", "imagenet", "--seed", "3", "--device", "cpu", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    card = load_card(out / "model.json")
    recipe = card.metadata["recipe"]
    assert recipe["class_weights"] == "balanced" and recipe["schedule"] == "cosine"
    assert recipe["augment"] is False and recipe["fp16_checkpoint"] is False
    assert recipe["init_checkpoint"] == str(tmp_path / "init.pt") and recipe["lr"] == 0.0
    assert recipe["normalisation"] == "imagenet" and card.metadata["seed"] == 3
    assert card.mean == (0.485, 0.456, 0.406) and card.std == (0.229, 0.224, 0.225)
    saved = torch.load(out / "model.pt", weights_only=True)
    # lr 0: every learned weight is bit-identical to the init checkpoint (fp32 storage) ...
    for key in ["conv1.weight", "layer4.1.conv2.weight", "bn1.weight", "fc.weight", "fc.bias"]:
        assert saved[key].dtype == torch.float32 and torch.equal(saved[key], init[key]), key
    # ... while BatchNorm's running statistics did see the training batches
    assert not torch.equal(saved["bn1.running_mean"], init["bn1.running_mean"])
    assert int(saved["bn1.num_batches_tracked"]) == 2


def test_init_checkpoint_that_does_not_fit_is_an_error(small, tmp_path):
    torch.save(get_architecture("resnet18").build(5).state_dict(), tmp_path / "five.pt")
    with pytest.raises(Exception, match="fc.weight"):
        train(small, tmp_path / "out", config(input_size=(32, 32),
                                              init_checkpoint=str(tmp_path / "five.pt")))


@pytest.mark.parametrize("changes, message", [
    ({"schedule": "step"}, "schedule"),
    ({"class_weights": "auto"}, "class_weights"),
    ({"normalisation": "imagnet"}, "normalisation"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_config_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        config(**changes)


# --- Memory layout (the CPU trains in channels-last; benchmarks/bench_train.py) ----------------

def _setup_step(memory_format_module: bool):
    cfg = config(input_size=(32, 32), batch_size=4)
    labels = np.array([0, 1, 2, 0], np.int64)
    module, weights, optimiser, _ = training._prepare_training(
        get_architecture("resnet18"), cfg, 3, labels, torch.device("cpu"))
    if not memory_format_module:
        module.to(memory_format=torch.contiguous_format)
    return cfg, labels, module, optimiser


def test_cpu_training_batches_and_weights_are_channels_last_with_the_same_values():
    cfg, labels, module, _ = _setup_step(True)
    assert module.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    mean = torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.6, 0.7]).view(1, 3, 1, 1)
    chosen = np.array([0, 2, 3, 5])
    x, y = training._training_batch(images, np.arange(6), chosen, mean, std, torch.device("cpu"),
                                    cfg, torch.Generator().manual_seed(7))
    assert x.is_contiguous(memory_format=torch.channels_last) and y.tolist() == [0, 2, 3, 5]
    source = training._to_float(images[chosen])
    augmented = training._augment(source, torch.Generator().manual_seed(7))
    assert torch.equal(source, training._to_float(images[chosen]))  # the input is left alone
    assert torch.equal(x, (augmented - mean) / std)                 # same values, bit for bit


def test_a_channels_last_step_computes_what_an_nchw_step_does():
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0])
    results = []
    for channels_last in (True, False):
        _, _, module, optimiser = _setup_step(channels_last)
        batch = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        module.train()
        loss = torch.nn.functional.cross_entropy(module(batch), y)
        loss.backward()
        optimiser.step()
        results.append((loss.item(), module.conv1.weight.detach().contiguous(), module.fc.weight.detach()))
    (loss_cl, conv_cl, fc_cl), (loss_nchw, conv_nchw, fc_nchw) = results
    assert loss_cl == pytest.approx(loss_nchw, rel=1e-5)
    assert torch.allclose(conv_cl, conv_nchw, atol=1e-6) and torch.allclose(fc_cl, fc_nchw, atol=1e-6)


def test_checkpoint_of_a_channels_last_run_is_contiguous(small, tmp_path):
    train(small, tmp_path, config(input_size=(32, 32), fp16_checkpoint=False))
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(t.is_contiguous() for t in state.values())
    assert state["conv1.weight"].stride() == (147, 49, 7, 1)


# --- The recipe's knobs: test split, warm-up and schedule, label smoothing, weight average -------

def test_a_test_split_is_set_aside_first_and_only_reported(data, tmp_path):
    result = train(data, tmp_path, config(input_size=(32, 32), test_fraction=0.25, val_fraction=0.2))
    card = load_card(result.card_path)
    counts = card.metadata["data"]
    assert counts["test"] == 6 and counts["validation"] + counts["train"] == 18   # 24 images
    test = card.metadata["test"]
    assert test["n"] == 6 and {c["class"] for c in test["per_class"]} == set(CLASSES)
    assert "test" not in load_card(train(data, tmp_path / "none", config(input_size=(32, 32))).card_path).metadata


def test_warm_up_then_cosine_per_step():
    factor = training._lr_factor(config(epochs=4, warmup_epochs=1, schedule="cosine"), 10)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(25) == pytest.approx(0.5)
    assert factor(39) == pytest.approx(0.5 * (1 + np.cos(np.pi * 29 / 30)))
    constant = training._lr_factor(config(epochs=4, warmup_epochs=2), 10)
    assert constant(4) == pytest.approx(0.25) and constant(30) == 1.0


@pytest.mark.parametrize("bad", [dict(label_smoothing=1.0), dict(ema_decay=-0.1), dict(warmup_epochs=1),
                                 dict(test_fraction=0.9, val_fraction=0.2)])
def test_bad_recipe_values_are_refused(bad):
    with pytest.raises(ValueError):
        config(**bad)


def test_the_weight_average_is_what_is_validated_and_saved(small, tmp_path):
    plain = train(small, tmp_path / "plain", config(input_size=(32, 32), epochs=2, lr=0.05, fp16_checkpoint=False))
    ema = train(small, tmp_path / "ema", config(input_size=(32, 32), epochs=2, lr=0.05, fp16_checkpoint=False,
                                                ema_decay=0.5, label_smoothing=0.1))
    a = torch.load(tmp_path / "plain" / "model.pt")
    b = torch.load(tmp_path / "ema" / "model.pt")
    assert a.keys() == b.keys() and not torch.equal(a["fc.weight"], b["fc.weight"])
    recipe = load_card(ema.card_path).metadata["recipe"]
    assert recipe["ema_decay"] == 0.5 and recipe["label_smoothing"] == 0.1
    assert load_card(plain.card_path).metadata["recipe"]["ema_decay"] == 0.0
