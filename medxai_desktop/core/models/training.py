"""Training a classifier the way the overview paper did (METHODS.md §1), every knob exposed.

Images are decoded and resized once into memory; each epoch augments on the fly (random
flip, small rotation/scale/shift, brightness/contrast), trains with SGD and cross-entropy, and
validates on a stratified hold-out split. On the CPU the network and its batches are laid out
channels-last (faster there; the same values). The epoch with the best validation macro-F1 is kept:
its checkpoint and model card are rewritten as soon as it is reached, so an interrupted run
(Ctrl-C, or ``stop()`` from the app) still leaves a usable model.

With reference boxes (``boxes``: a box file or the review store, core.models.box_supervision)
the images that have them are also trained to put their class activation map inside them (a
CAM-in-box loss of weight ``box_weight``); the energy in the boxes is reported per epoch and
breaks ties of validation macro-F1. ``init_checkpoint`` may be a model card: training starts
from its weights, in its class order, and the new card records it as its parent (``lineage``).
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from medxai_desktop.core.evaluation.classification import macro_f1
from medxai_desktop.core.atomic_files import atomic_write_bytes
from medxai_desktop.core.explain.provenance import library_versions, now_iso
from medxai_desktop.core.jobs import Cancelled, ProgressFn, check_cancelled, report, sub_progress

from .architectures import get_architecture
from .box_supervision import BoxMasks, BoxSource, BoxTraining, box_energies, box_supervised_forward
from .card import ModelCard, sha256_of_file
from .checkpoint import load_into
from .datasets import LabelledImages, find_labelled_images, load_resized
from .device import select_device
from .domain import fit_input_statistics
from .lineage import PROPOSAL_METHODS, RECOMMENDED_PROPOSAL, Parent, lineage, read_parent


@dataclass
class TrainConfig:
    arch: str = "resnet50"
    epochs: int = 30
    input_size: tuple[int, int] = (224, 224)
    batch_size: int = 32
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "constant"          # or "cosine"
    class_weights: str = "none"         # or "balanced"
    augment: bool = True
    val_fraction: float = 0.2
    seed: int = 0
    init_checkpoint: str | None = None  # fine-tune user-supplied weights: a state_dict or a model card
    normalisation: str = "dataset"      # per-channel mean/std of the training set, "imagenet", or
                                        # "card" (the init_checkpoint card's)
    target_layer: str | None = None
    fp16_checkpoint: bool = True
    device: str = "auto"
    label_smoothing: float = 0.0        # cross-entropy against (1 - e) one-hot + e / classes
    warmup_epochs: float = 0.0          # linear learning-rate warm-up, then the schedule (per step)
    ema_decay: float = 0.0              # > 0: validate and keep an exponential moving average of the weights
    test_fraction: float = 0.0          # a stratified test split set aside first and never used to choose
    box_weight: float = 1.0             # weight of the CAM-in-box loss (with reference boxes only)

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be constant or cosine, got {self.schedule!r}")
        if self.class_weights not in ("none", "balanced"):
            raise ValueError(f"class_weights must be none or balanced, got {self.class_weights!r}")
        if self.normalisation not in ("dataset", "imagenet", "card"):
            raise ValueError(f"normalisation must be dataset, imagenet or card, got {self.normalisation!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError("val_fraction must be between 0 and 1")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.ema_decay < 1:
            raise ValueError("label_smoothing and ema_decay must be in [0, 1)")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError("warmup_epochs must be at least 0 and fewer than epochs")
        if not 0 <= self.test_fraction < 1 or self.test_fraction + self.val_fraction >= 1:
            raise ValueError("test_fraction must be in [0, 1) and leave images to train on")
        if not (self.box_weight >= 0 and math.isfinite(self.box_weight)):
            raise ValueError(f"box_weight must be a number >= 0, got {self.box_weight!r}")


@dataclass
class EpochReport:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    seconds: float
    best: bool
    train_box_energy: float | None = None   # with boxes: mean CAM energy inside them
    val_box_energy: float | None = None


@dataclass
class TrainResult:
    card_path: Path
    best_epoch: int
    history: list[EpochReport]
    interrupted: bool
    dataset: LabelledImages = field(repr=False)


# Callbacks: progress(Progress) with stage "decode" (images) and "train" (batches; info epoch,
# loss, accuracy); epoch(EpochReport); stop() -> True cancels (core.jobs.Cancelled).


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return _augment_with(batch, None, generator)[0]


def _augment_with(batch: torch.Tensor, extra: torch.Tensor | None,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images (N x 3 x H x W in [0, 1]) randomly flipped, rotated, scaled and shifted, then
    given a random contrast and brightness; ``extra`` (N x K x H x W, e.g. box masks) moved by
    the same geometry only. The random draws do not depend on ``extra``."""
    n = batch.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 0.05
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if extra is not None:
        extra = F.grid_sample(extra, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    return out.mul_(contrast).add_(brightness).clamp_(0, 1), extra  # in place: no batch-sized temporaries


def _memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on the CPU, where oneDNN's convolutions (forward and backward) take about
    a quarter less time for a ResNet-18 training step than in NCHW (benchmarks/bench_train.py);
    the layout changes no value beyond float rounding. Elsewhere the default layout."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def _to_float(batch_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).float().div_(255)


def _normalised(x: torch.Tensor, mean, std, device) -> torch.Tensor:
    """(x - mean) / std on ``device``, in the layout the module's weights have there."""
    return x.sub_(mean).div_(std).to(device, memory_format=_memory_format(device))


def _evaluate(module, images, labels, mean, std, device, batch_size, weights=None):
    module.eval()
    losses, predictions = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = _normalised(_to_float(images[start:start + batch_size]), mean, std, device)
            y = torch.from_numpy(labels[start:start + batch_size]).to(device)
            logits = module(x)
            losses.append(F.cross_entropy(logits, y, weight=weights, reduction="sum").item())
            predictions.append(logits.argmax(1).cpu().numpy())
    predicted = np.concatenate(predictions)
    return (sum(losses) / len(images), float((predicted == labels).mean()),
            macro_f1(labels, predicted, logits.shape[1]))


def train(data: str | Path | LabelledImages, out_dir: str | Path, config: TrainConfig,
          root: str | Path | None = None, progress: ProgressFn | None = None,
          on_epoch: Callable[[EpochReport], None] | None = None,
          stop: Callable[[], bool] | None = None, card_metadata: dict | None = None,
          boxes: BoxSource | None = None) -> TrainResult:
    """Train (or fine-tune from ``config.init_checkpoint``) a classifier on ``data``; with
    ``boxes`` (core.models.box_supervision.BoxFile or StoreBoxes) the images they box are also
    trained to put their class activation map inside the boxes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parent = read_parent(config.init_checkpoint)
    dataset = data if isinstance(data, LabelledImages) else find_labelled_images(data, root)
    dataset = parent.align(dataset, config.arch) if parent is not None else dataset
    references = boxes(dataset) if boxes is not None else None  # checked before decoding
    arch = get_architecture(config.arch)
    layer = config.target_layer or (parent.card.target_layer if parent and parent.card else None) \
        or arch.default_target_layer
    device = select_device(config.device)
    dataset, splits, (mean_v, std_v), split_paths = _prepare_data(dataset, config, progress, parent)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = splits
    supervision = None if references is None else BoxTraining(
        layer, config.box_weight, *(references.masks(p, config.input_size) for p in split_paths[:2]))
    mean = torch.tensor(mean_v, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std_v, dtype=torch.float32).view(1, 3, 1, 1)
    module, weights, optimiser, scheduler = _prepare_training(arch, config, len(dataset.classes),
                                                              train_y, device, parent=parent)
    if supervision is not None:
        supervision.check(module, arch.name)
    ema = _ema_of(module, config)
    kept = ema.module if ema is not None else module    # what is validated and saved
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint, card_path = out / "model.pt", out / "model.json"
    history: list[EpochReport] = []
    best, best_epoch, best_state, interrupted = (-1.0, -1.0), 0, None, False
    summary = {"source": str(dataset.source), "classes": dataset.classes,
               "counts": dataset.counts(), "train": len(train_y), "validation": len(val_y),
               "test": len(test_y), "skipped": dataset.skipped}
    statistics = fit_input_statistics(train_x)   # what an image like the training ones looks like
    extra = {**({"input_statistics": statistics} if statistics else {}), **(card_metadata or {})}
    card = dict(arch=arch, dataset=dataset, config=config, mean=mean_v, std=std_v, summary=summary,
                extra=extra, target_layer=layer,
                lineage=lineage(parent, _boxes_record(references, supervision)))
    try:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            train_loss, train_acc, train_energy = _train_epoch(
                module, optimiser, train_x, train_y, mean, std, device, weights, config, generator,
                epoch, progress, stop, scheduler=scheduler, ema=ema, boxes=supervision)
            val_loss, val_acc, val_f1 = _evaluate(kept, val_x, val_y, mean, std, device,
                                                  config.batch_size, weights)
            val_energy = _validation_energy(kept, val_x, val_y, mean, std, device, config, supervision)
            score = (val_f1, -1.0 if val_energy is None else val_energy)  # energy breaks F1 ties
            improved = score > best
            epoch_report = EpochReport(epoch, train_loss, train_acc, val_loss, val_acc, val_f1,
                                       time.perf_counter() - start, improved, train_energy, val_energy)
            history.append(epoch_report)
            if improved:
                best, best_epoch = score, epoch
                best_state = _save(kept, checkpoint, config.fp16_checkpoint)
                _write_card(card_path, checkpoint, history=history, best_epoch=best_epoch, **card)
            if on_epoch is not None:
                on_epoch(epoch_report)
    except KeyboardInterrupt:  # Ctrl-C, or Cancelled from ``stop``
        interrupted = True
    if best_epoch == 0:
        raise Cancelled("training stopped before the first epoch finished; nothing saved")
    test = _test_metrics(kept, best_state, test_x, test_y, mean, std, device, config, dataset.classes)
    _write_card(card_path, checkpoint, history=history, best_epoch=best_epoch, interrupted=interrupted,
                test=test, **card)
    return TrainResult(card_path, best_epoch, history, interrupted, dataset)


def _boxes_record(references, supervision: BoxTraining | None) -> dict | None:
    """The card's ``lineage["boxes"]``: the box source's record and the boxed images per split."""
    if references is None:
        return None
    return {**references.record, "training_images_with_boxes": supervision.train.count,
            "validation_images_with_boxes": supervision.val.count}


def _prepare_data(dataset: LabelledImages, config: TrainConfig, progress, parent: Parent | None = None):
    """Decoded images split into (train, validation, test), the normalisation (mean, std) and
    the image files of the training and validation splits, in split order. The test split
    (``test_fraction`` of all images, stratified) is set aside first; the validation split is
    ``val_fraction`` of what remains (of all images when there is no test)."""
    images, labels, dataset = load_resized(
        dataset, tuple(config.input_size), progress=sub_progress(progress, "decode"))
    train_idx, val_idx, test_idx = split_indices(labels, config.val_fraction, config.test_fraction, config.seed)
    train_x, train_y = images[train_idx], labels[train_idx]
    if config.normalisation == "imagenet":
        from .card import IMAGENET_MEAN, IMAGENET_STD
        mean_v, std_v = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    elif config.normalisation == "card":
        if parent is None or parent.card is None:
            raise ValueError("normalisation 'card' needs a model card as init_checkpoint")
        mean_v, std_v = np.array(parent.card.mean), np.array(parent.card.std)
    else:
        pixels = train_x.reshape(-1, 3).astype(np.float64) / 255
        mean_v, std_v = pixels.mean(0), np.maximum(pixels.std(0), 1e-3)
    splits = ((train_x, train_y), (images[val_idx], labels[val_idx]), (images[test_idx], labels[test_idx]))
    split_paths = ([dataset.paths[i] for i in train_idx], [dataset.paths[i] for i in val_idx])
    return dataset, splits, (mean_v, std_v), split_paths


def split_indices(labels: np.ndarray, val_fraction: float, test_fraction: float = 0.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) indices of ``labels``, as ``train`` splits them: the test
    split (``test_fraction``, stratified) first, then ``val_fraction`` of the rest."""
    index = np.arange(len(labels))
    test_idx = index[:0]
    if test_fraction > 0:
        index, test_idx = _stratified_split(index, labels, test_fraction, seed)
    train_idx, val_idx = _stratified_split(index, labels, val_fraction, seed)
    return train_idx, val_idx, test_idx


def _stratified_split(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int):
    """(kept, split off): ``fraction`` of ``index``, stratified by label where every class has two."""
    counts = np.bincount(labels[index])
    stratify = labels[index] if counts[counts > 0].min() >= 2 else None
    return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)


def _prepare_training(arch, config: TrainConfig, num_classes: int, train_y: np.ndarray, device,
                      parent: Parent | None = None):
    """The module (seeded, optionally initialised from a checkpoint: ``parent``, else read from
    ``config.init_checkpoint``), class weights, optimiser and learning-rate schedule (stepped
    once per batch)."""
    torch.manual_seed(config.seed)
    module = arch.build(num_classes)
    if config.init_checkpoint:
        parent = parent if parent is not None else read_parent(config.init_checkpoint)
        load_into(module, parent.state_dict(), parent.checkpoint)
    module.to(device, memory_format=_memory_format(device))
    weights = None
    if config.class_weights == "balanced":
        train_counts = np.bincount(train_y, minlength=num_classes).astype(np.float64)
        weights = torch.tensor(len(train_y) / (len(train_counts) * np.maximum(train_counts, 1)),
                               dtype=torch.float32, device=device)
    optimiser = torch.optim.SGD(module.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    steps = math.ceil(len(train_y) / config.batch_size)
    scheduler = None
    if config.schedule == "cosine" or config.warmup_epochs > 0:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _lr_factor(config, steps))
    return module, weights, optimiser, scheduler


def _lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The learning rate's factor at each step: linear warm-up over ``warmup_epochs``, then
    constant or a cosine to zero at the last step."""
    warm = config.warmup_epochs * steps_per_epoch
    total = config.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1.0, total - warm)))
        return 1.0

    return factor


def _ema_of(module: torch.nn.Module, config: TrainConfig):
    """An exponential moving average of ``module``'s weights and batch-norm statistics, or None."""
    if config.ema_decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)


def _test_metrics(module, best_state, test_x, test_y, mean, std, device, config, classes) -> dict | None:
    """The kept epoch's metrics on the test split (None without one): reported, never chosen on."""
    if not len(test_y) or best_state is None:
        return None
    from medxai_desktop.core.evaluation.classification import classification_metrics

    module.load_state_dict(best_state)
    module.eval()
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(test_y), config.batch_size):
            x = _normalised(_to_float(test_x[start:start + config.batch_size]), mean, std, device)
            probabilities.append(torch.softmax(module(x).float(), 1).cpu().numpy())
    probs = np.concatenate(probabilities)
    return classification_metrics(test_y, probs.argmax(1), probs, list(classes)).to_dict()


def _train_epoch(module, optimiser, train_x, train_y, mean, std, device, weights,
                 config: TrainConfig, generator, epoch: int, progress, stop,
                 scheduler=None, ema=None, boxes: BoxTraining | None = None):
    """One pass over the training images; (mean loss, accuracy, mean energy in the boxes or
    None). Cancelled when ``stop()``. The learning-rate ``scheduler`` and the weight average
    ``ema`` step after every batch."""
    module.train()
    batches = math.ceil(len(train_y) / config.batch_size)
    order = torch.randperm(len(train_y), generator=generator).numpy()
    seen = correct = 0
    total_loss = 0.0
    energies: list[float] = []  # the boxed images' energies in the box, as they come
    for b in range(batches):
        check_cancelled(stop, "training")
        chosen = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
        x, y, masks = _batch_with_masks(train_x, train_y, chosen, mean, std, device, config, generator,
                                        None if boxes is None else boxes.train)
        optimiser.zero_grad(set_to_none=True)
        logits, loss = _step_loss(module, x, y, masks, weights, config, boxes, energies)
        loss.backward()
        optimiser.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(module)
        seen += len(y)
        correct += int((logits.argmax(1) == y).sum())
        total_loss += loss.item() * len(y)
        energy = float(np.mean(energies)) if energies else None
        report(progress, b + 1, batches, "train", f"epoch {epoch}", epoch=epoch,
               loss=total_loss / seen, accuracy=correct / seen,
               **({"box_energy": energy} if energies else {}))
    return total_loss / seen, correct / seen, energy


def _step_loss(module, x, y, masks, weights, config: TrainConfig, boxes: BoxTraining | None,
               energies: list):
    """(logits, loss) of one batch: cross-entropy, plus ``box_weight`` x the CAM-in-box loss when
    some image of the batch has boxes (their energies in the box appended to ``energies``)."""
    box_loss = None
    if masks is None or boxes is None or boxes.weight == 0:
        logits = module(x)
    else:
        logits, box_loss, energy = box_supervised_forward(module, boxes.layer, x, y, masks)
        energies.extend(energy.cpu().tolist())
    loss = F.cross_entropy(logits, y, weight=weights, label_smoothing=config.label_smoothing)
    return logits, loss if box_loss is None else loss + boxes.weight * box_loss


def _training_batch(train_x, train_y, chosen, mean, std, device, config: TrainConfig, generator):
    """The images ``chosen`` (uint8 N x H x W x 3) as one augmented, normalised batch on
    ``device``, and their labels."""
    x, y, _ = _batch_with_masks(train_x, train_y, chosen, mean, std, device, config, generator)
    return x, y


def _batch_with_masks(train_x, train_y, chosen, mean, std, device, config: TrainConfig, generator,
                      masks: BoxMasks | None = None):
    """:func:`_training_batch` and the images' box masks (N x 1 x H x W, moved by the same
    augmentation; None when no image of the batch has boxes)."""
    x = _to_float(train_x[chosen])
    m = None if masks is None else masks.batch(chosen)
    if config.augment:
        x, m = _augment_with(x, m, generator)
    y = torch.from_numpy(train_y[chosen]).to(device)
    return _normalised(x, mean, std, device), y, None if m is None else m.to(device)


def _validation_energy(module, val_x, val_y, mean, std, device, config: TrainConfig,
                       boxes: BoxTraining | None) -> float | None:
    """Mean CAM energy inside the boxes of the boxed validation images (None without)."""
    if boxes is None or not boxes.val.count:
        return None
    module.eval()
    boxed = np.flatnonzero(boxes.val.slot >= 0)
    energies = []
    for start in range(0, len(boxed), config.batch_size):
        chosen = boxed[start:start + config.batch_size]
        x = _normalised(_to_float(val_x[chosen]), mean, std, device)
        y = torch.from_numpy(val_y[chosen]).to(device)
        energies.append(box_energies(module, boxes.layer, x, y, boxes.val.batch(chosen).to(device)))
    values = np.concatenate(energies)
    return float(values.mean()) if len(values) else None


def _save(module: torch.nn.Module, path: Path, fp16: bool) -> dict:
    """Write ``module``'s weights (fp16 with ``fp16``); the state as written."""
    # contiguous copies: the checkpoint's layout does not depend on the one trained in
    state = {k: (v.detach().half() if fp16 and v.is_floating_point() else v.detach()).cpu()
             .clone(memory_format=torch.contiguous_format) for k, v in module.state_dict().items()}
    buffer = io.BytesIO()  # not the temporary file: torch names the archive after the file
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return state


def _write_card(card_path, checkpoint, *, arch, dataset, config, mean, std, summary, history,
                best_epoch, extra, target_layer, lineage, interrupted=False,
                test: dict | None = None) -> None:
    best = history[best_epoch - 1]
    metadata = {
        "name": f"{arch.name} trained on {Path(summary['source']).name}",
        "created": now_iso(),
        "data": summary,
        "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "validation": {"best_epoch": best_epoch, "accuracy": best.val_accuracy,
                       "macro_f1": best.val_macro_f1, "loss": best.val_loss},
        "history": [asdict(h) for h in history],
        "seed": config.seed,
        "versions": library_versions(),
        "interrupted": interrupted,
        **({"test": test} if test is not None else {}),
        "lineage": lineage,
        "box_weight": config.box_weight if lineage["boxes"] is not None else None,
        "proposal_methods": list(PROPOSAL_METHODS),
        "recommended_proposal": RECOMMENDED_PROPOSAL,
        **(extra or {}),
    }
    card = ModelCard(arch.name, dataset.classes, tuple(config.input_size),
                     tuple(float(v) for v in mean), tuple(float(v) for v in std),
                     target_layer, checkpoint.name, sha256_of_file(checkpoint), metadata)
    card.save(card_path)  # atomic: core.atomic_files
