"""Running a model over a labelled image set: predictions, metrics, model comparison."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medxai_desktop.core.models import LoadedModel
from medxai_desktop.core.models.datasets import LabelledImages, find_labelled_images, load_resized

from .classification import ClassificationMetrics, McNemarResult, classification_metrics, mcnemar


@dataclass
class Predictions:
    paths: list[Path]
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    skipped: list[str]

    @property
    def correct(self) -> np.ndarray:
        return self.y_true == self.y_pred


def _aligned(dataset: LabelledImages, model: LoadedModel) -> LabelledImages:
    """Relabel the data in the model's class order; classes the model lacks are an error."""
    unknown = [c for c in dataset.classes if c not in model.classes]
    if unknown:
        raise ValueError(f"the data has classes the model does not know: {', '.join(unknown)} "
                         f"(model classes: {', '.join(model.classes)})")
    mapping = [model.classes.index(c) for c in dataset.classes]
    return LabelledImages(dataset.paths, [mapping[y] for y in dataset.labels], list(model.classes),
                          dataset.source, dataset.skipped)


def predict_dataset(model: LoadedModel, data: str | Path | LabelledImages, root=None,
                    batch_size: int = 32, progress=None) -> Predictions:
    dataset = data if isinstance(data, LabelledImages) else find_labelled_images(data, root)
    dataset = _aligned(dataset, model)
    images, labels, kept = load_resized(dataset, model.card.input_size, progress=progress)
    probs = predict_images(model, images, batch_size)
    return Predictions(kept.paths, labels, probs.argmax(1), probs, kept.skipped)


def predict_images(model: LoadedModel, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Class probabilities (N x classes) of decoded N x H x W x 3 uint8 images at the card's
    input size, normalised with the card's mean/std, in batches (the inference of
    ``medxai evaluate``; ``benchmarks/bench_train.py`` times it)."""
    mean = torch.tensor(model.card.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(model.card.std, dtype=torch.float32).view(1, 3, 1, 1)
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            # channels-last strides, as the N x H x W x 3 array has them: oneDNN runs the whole
            # network in that layout, a quarter faster on the CPU than NCHW (bench_train.py)
            x = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255
            logits = model.module(((x - mean) / std).to(model.device)).float()
            probabilities.append(torch.softmax(logits, dim=1).cpu().numpy())
    return np.concatenate(probabilities)


def evaluate_model(model: LoadedModel, data, root=None, progress=None) -> tuple[ClassificationMetrics, Predictions]:
    predictions = predict_dataset(model, data, root, progress=progress)
    metrics = classification_metrics(predictions.y_true, predictions.y_pred,
                                     predictions.probabilities, model.classes)
    return metrics, predictions


def compare_models(results: dict[str, Predictions]) -> list[McNemarResult]:
    """McNemar between every pair of models, on the images all of them could read."""
    names = list(results)
    common = set.intersection(*(set(map(str, p.paths)) for p in results.values()))
    correct = {}
    for name, p in results.items():
        keep = [i for i, path in enumerate(p.paths) if str(path) in common]
        order = np.argsort([str(p.paths[i]) for i in keep])
        correct[name] = p.correct[np.asarray(keep)[order]]
    return [mcnemar(correct[a], correct[b], a, b)
            for i, a in enumerate(names) for b in names[i + 1:]]


def model_name(card, taken) -> str:
    """How a compared model is named in tables: the card's file stem (its folder's name for a
    ``model.json``), with ``#2``, ``#3`` ... when ``taken`` already has that name (cards in
    folders of the same name, or one card twice)."""
    from pathlib import Path

    card = Path(card)
    name = base = card.stem if card.stem != "model" else card.parent.name
    copy = 1
    while name in taken:
        copy += 1
        name = f"{base}#{copy}"
    return name
