"""Training a classifier the way the overview paper did (METHODS.md §1), every knob exposed.

Images are decoded and resized once into memory; each epoch augments on the fly (random
flip, small rotation/scale/shift, brightness/contrast), trains with SGD and cross-entropy, and
validates on a stratified hold-out split. On the CPU the network and its batches are laid out
channels-last (faster there; the same values). The epoch with the best validation macro-F1 is kept:
its checkpoint and model card are rewritten as soon as it is reached, so an interrupted run
(Ctrl-C, or ``stop()`` from the app) still leaves a usable model.
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
from .card import ModelCard, sha256_of_file
from .checkpoint import load_into, read_state_dict
from .datasets import LabelledImages, find_labelled_images, load_resized
from .device import select_device


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
    init_checkpoint: str | None = None  # fine-tune user-supplied weights
    normalisation: str = "dataset"      # per-channel mean/std of the training set, or "imagenet"
    target_layer: str | None = None
    fp16_checkpoint: bool = True
    device: str = "auto"
    label_smoothing: float = 0.0        # cross-entropy against (1 - e) one-hot + e / classes
    warmup_epochs: float = 0.0          # linear learning-rate warm-up, then the schedule (per step)
    ema_decay: float = 0.0              # > 0: validate and keep an exponential moving average of the weights
    test_fraction: float = 0.0          # a stratified test split set aside first and never used to choose

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be constant or cosine, got {self.schedule!r}")
        if self.class_weights not in ("none", "balanced"):
            raise ValueError(f"class_weights must be none or balanced, got {self.class_weights!r}")
        if self.normalisation not in ("dataset", "imagenet"):
            raise ValueError(f"normalisation must be dataset or imagenet, got {self.normalisation!r}")
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
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * 0.1
    return out.mul_(contrast).add_(brightness).clamp_(0, 1)  # in place: no batch-sized temporaries


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
          stop: Callable[[], bool] | None = None, card_metadata: dict | None = None) -> TrainResult:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = data if isinstance(data, LabelledImages) else find_labelled_images(data, root)
    arch = get_architecture(config.arch)
    device = select_device(config.device)
    dataset, splits, (mean_v, std_v) = _prepare_data(dataset, config, progress)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = splits
    mean = torch.tensor(mean_v, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std_v, dtype=torch.float32).view(1, 3, 1, 1)
    module, weights, optimiser, scheduler = _prepare_training(arch, config, len(dataset.classes),
                                                              train_y, device)
    ema = _ema_of(module, config)
    kept = ema.module if ema is not None else module    # what is validated and saved
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint, card_path = out / "model.pt", out / "model.json"
    history: list[EpochReport] = []
    best_f1, best_epoch, best_state, interrupted = -1.0, 0, None, False
    summary = {"source": str(dataset.source), "classes": dataset.classes,
               "counts": dataset.counts(), "train": len(train_y), "validation": len(val_y),
               "test": len(test_y), "skipped": dataset.skipped}
    card = dict(arch=arch, dataset=dataset, config=config, mean=mean_v, std=std_v, summary=summary,
                extra=card_metadata)
    try:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            train_loss, train_acc = _train_epoch(module, optimiser, train_x, train_y, mean, std,
                                                 device, weights, config, generator, epoch,
                                                 progress, stop, scheduler=scheduler, ema=ema)
            val_loss, val_acc, val_f1 = _evaluate(kept, val_x, val_y, mean, std, device,
                                                  config.batch_size, weights)
            improved = val_f1 > best_f1
            epoch_report = EpochReport(epoch, train_loss, train_acc, val_loss, val_acc,
                                       val_f1, time.perf_counter() - start, improved)
            history.append(epoch_report)
            if improved:
                best_f1, best_epoch = val_f1, epoch
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


def _prepare_data(dataset: LabelledImages, config: TrainConfig, progress):
    """Decoded images split into (train, validation, test) and the normalisation (mean, std).
    The test split (``test_fraction`` of all images, stratified) is set aside first; the
    validation split is ``val_fraction`` of what remains (of all images when there is no test)."""
    images, labels, dataset = load_resized(
        dataset, tuple(config.input_size), progress=sub_progress(progress, "decode"))
    index = np.arange(len(labels))
    test_idx = index[:0]
    if config.test_fraction > 0:
        index, test_idx = _stratified_split(index, labels, config.test_fraction, config.seed)
    train_idx, val_idx = _stratified_split(index, labels, config.val_fraction, config.seed)
    train_x, train_y = images[train_idx], labels[train_idx]
    if config.normalisation == "imagenet":
        from .card import IMAGENET_MEAN, IMAGENET_STD
        mean_v, std_v = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    else:
        pixels = train_x.reshape(-1, 3).astype(np.float64) / 255
        mean_v, std_v = pixels.mean(0), np.maximum(pixels.std(0), 1e-3)
    splits = ((train_x, train_y), (images[val_idx], labels[val_idx]), (images[test_idx], labels[test_idx]))
    return dataset, splits, (mean_v, std_v)


def _stratified_split(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int):
    """(kept, split off): ``fraction`` of ``index``, stratified by label where every class has two."""
    counts = np.bincount(labels[index])
    stratify = labels[index] if counts[counts > 0].min() >= 2 else None
    return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)


def _prepare_training(arch, config: TrainConfig, num_classes: int, train_y: np.ndarray, device):
    """The module (seeded, optionally initialised from a checkpoint), class weights, optimiser
    and learning-rate schedule (stepped once per batch)."""
    torch.manual_seed(config.seed)
    module = arch.build(num_classes)
    if config.init_checkpoint:
        load_into(module, read_state_dict(config.init_checkpoint), config.init_checkpoint)
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
                 scheduler=None, ema=None) -> tuple[float, float]:
    """One pass over the training images; (mean loss, accuracy). Cancelled when ``stop()``.
    The learning-rate ``scheduler`` and the weight average ``ema`` step after every batch."""
    module.train()
    batches = math.ceil(len(train_y) / config.batch_size)
    order = torch.randperm(len(train_y), generator=generator).numpy()
    seen = correct = 0
    total_loss = 0.0
    for b in range(batches):
        check_cancelled(stop, "training")
        chosen = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
        x, y = _training_batch(train_x, train_y, chosen, mean, std, device, config, generator)
        optimiser.zero_grad(set_to_none=True)
        logits = module(x)
        loss = F.cross_entropy(logits, y, weight=weights, label_smoothing=config.label_smoothing)
        loss.backward()
        optimiser.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update_parameters(module)
        seen += len(y)
        correct += int((logits.argmax(1) == y).sum())
        total_loss += loss.item() * len(y)
        report(progress, b + 1, batches, "train", f"epoch {epoch}", epoch=epoch,
               loss=total_loss / seen, accuracy=correct / seen)
    return total_loss / seen, correct / seen


def _training_batch(train_x, train_y, chosen, mean, std, device, config: TrainConfig, generator):
    """The images ``chosen`` (uint8 N x H x W x 3) as one augmented, normalised batch on
    ``device``, and their labels."""
    x = _to_float(train_x[chosen])
    if config.augment:
        x = _augment(x, generator)
    return _normalised(x, mean, std, device), torch.from_numpy(train_y[chosen]).to(device)


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
                best_epoch, extra, interrupted=False, test: dict | None = None) -> None:
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
        **(extra or {}),
    }
    card = ModelCard(arch.name, dataset.classes, tuple(config.input_size),
                     tuple(float(v) for v in mean), tuple(float(v) for v in std),
                     config.target_layer or arch.default_target_layer, checkpoint.name,
                     sha256_of_file(checkpoint), metadata)
    card.save(card_path)  # atomic: core.atomic_files
