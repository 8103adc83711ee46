"""Training a box head (``box_head.py``) on reference boxes, the classifier frozen.

Each boxed image is read and preprocessed exactly as for inference (``LoadedModel.preprocess``),
run once through the classifier (and once mirrored, with its mask mirrored), and the features at
the head's layers are kept (fp16). The head is then trained on those features alone, so a
training costs one forward pass per image plus seconds of head updates: it fits on a CPU
workstation while the reviewer works. Loss per image: binary cross-entropy of the head's logits
(bilinear to twice the finest feature size) against the box mask (each cell the fraction a box
covers) plus a soft Dice loss, which keeps small boxes from being drowned by background.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.jobs import CancelFn, ProgressFn, check_cancelled, report

from .box_head import BoxHead, backbone_features, default_layers
from .box_supervision import ReferenceBoxes


@dataclass(frozen=True)
class HeadRecipe:
    width: int = 32
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    dice_weight: float = 1.0
    flip: bool = True
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HeadTraining:
    head: BoxHead
    images: int           # boxed images the head learned from
    skipped: list[str]    # boxed images that could not be read, with the reason
    final_loss: float
    seconds: float


@dataclass
class BoxedFeatures:
    features: list[torch.Tensor]   # per head layer: S x C x h x w (fp16)
    masks: torch.Tensor            # S x 1 x h2 x w2 coverage in [0, 1] at twice the finest feature size
    images: int
    skipped: list[str]


def boxed_features(model, references: ReferenceBoxes, layers, flip: bool = True,
                   progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                   batch: int = 16) -> BoxedFeatures:
    """The classifier's features at ``layers`` and the box masks of every boxed image of
    ``references`` (and of their mirror images with ``flip``)."""
    from medxai_desktop.core.imaging import read_image

    paths = sorted(p for p, boxes in references.boxes.items() if boxes)
    masks = references.masks(paths, tuple(model.card.input_size))
    boxed = [(p, masks.masks[slot]) for p, slot in zip(paths, masks.slot) if slot >= 0]
    features: list[list[torch.Tensor]] = [[] for _ in layers]
    mask_parts, skipped, images = [], [], 0
    for start in range(0, len(boxed), batch):
        check_cancelled(cancelled, "box head training")
        tensors, kept = [], []
        for path, mask in boxed[start:start + batch]:
            try:
                tensors.append(model.preprocess(read_image(path)))
            except (InputFileError, MemoryError) as exc:
                warnings.warn(f"skipping unreadable image {exc}", stacklevel=2)
                skipped.append(str(exc))
                continue
            kept.append(mask)
        if tensors:
            x = torch.cat(tensors).to(model.device)
            m = torch.from_numpy(np.stack(kept)).float().div_(255)[:, None]
            for variant, variant_masks in ([(x, m), (x.flip(-1), m.flip(-1))] if flip else [(x, m)]):
                for i, f in enumerate(backbone_features(model.module, layers, variant)):
                    features[i].append(f.to("cpu", torch.float16))
                mask_parts.append(F.interpolate(variant_masks, size=loss_size(features[0][-1]), mode="area"))
            images += len(kept)
        report(progress, min(start + batch, len(boxed)), len(boxed), "features")
    if not images:
        raise ValueError("no boxed image could be read: nothing to train a box head on")
    return BoxedFeatures([torch.cat(f) for f in features], torch.cat(mask_parts), images, skipped)


def loss_size(finest: torch.Tensor) -> tuple[int, int]:
    """Where the loss compares: twice the finest feature map's (and the logits') resolution."""
    return finest.shape[-2] * 2, finest.shape[-1] * 2


def head_loss(logits: torch.Tensor, masks: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """BCE + ``dice_weight`` x soft Dice of ``logits`` (N x 1 x h x w) against ``masks`` (box
    coverage) at twice the logits' resolution."""
    size = loss_size(logits)
    up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    target = masks if masks.shape[-2:] == size else F.interpolate(masks, size=size, mode="area")
    bce = F.binary_cross_entropy_with_logits(up, target)
    p = torch.sigmoid(up).flatten(1)
    t = target.flatten(1)
    dice = 1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
    return bce + dice_weight * dice.mean()


def train_box_head(model, references: ReferenceBoxes, recipe: HeadRecipe = HeadRecipe(),
                   layers=None, progress: ProgressFn | None = None,
                   cancelled: CancelFn | None = None) -> HeadTraining:
    """A new box head for ``model`` (a LoadedModel, left unchanged) from ``references``."""
    started = time.perf_counter()
    layers = list(layers or default_layers(model.card.arch, model.target_layer))
    generator = torch.Generator().manual_seed(recipe.seed)
    with torch.random.fork_rng(devices=[]):   # seeded initial weights; the caller's generator is left alone
        torch.manual_seed(recipe.seed)
        head = BoxHead.for_model(model.module, layers, model.card.input_size, recipe.width)
    data = boxed_features(model, references, head.layers, recipe.flip, progress, cancelled)
    head.train()
    optimiser = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.lr, total_steps=recipe.steps,
                                                   pct_start=0.1)
    n, loss = len(data.masks), torch.zeros(())
    for step in range(recipe.steps):
        check_cancelled(cancelled, "box head training")
        chosen = torch.randint(n, (min(recipe.batch_size, n),), generator=generator)
        loss = head_loss(head([f[chosen].float() for f in data.features]), data.masks[chosen], recipe.dice_weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        report(progress, step + 1, recipe.steps, "train", loss=float(loss.detach()))
    head.eval().requires_grad_(False)
    return HeadTraining(head, data.images, data.skipped, loss.item(), time.perf_counter() - started)


# ------------------------------------------------------------------------------ a new card version

# The box rule a new head starts with, until ``tune-boxes --write-card`` measures one.
HEAD_RULE = {"alpha": 0.0, "tau": 0.5, "sigma": 0.0, "min_area": 0.0, "top_k": 1, "score": "max",
             "foreground": False}


@dataclass
class HeadCard:
    card_path: Path
    training: HeadTraining
    boxes: dict          # the box source's record, as the card's lineage keeps it


def learn_box_head(parent_card: str | Path, data, boxes, out_dir: str | Path,
                   recipe: HeadRecipe = HeadRecipe(), root: str | Path | None = None,
                   device: str = "auto", progress: ProgressFn | None = None,
                   cancelled: CancelFn | None = None) -> HeadCard:
    """Train a box head for ``parent_card``'s frozen model on the reference boxes ``boxes`` (a
    BoxFile or StoreBoxes) of the parent's *training* split of ``data`` (its validation and test
    images stay unseen), and write the new version to ``out_dir``: the parent's checkpoint, the
    head, and a card that declares ``boxhead`` among its proposal methods with its lineage."""
    from .datasets import LabelledImages, find_labelled_images
    from .lineage import read_parent
    from .loaded_model import load_model

    parent = read_parent(parent_card)
    if parent is None or parent.card is None:
        raise ValueError("a box head is trained on a model card's model: give the card (.json)")
    dataset = data if isinstance(data, LabelledImages) else find_labelled_images(data, root)
    dataset = parent.align(dataset, parent.card.arch)
    references = boxes(dataset)
    training_paths = set(_training_paths(parent.card, dataset))
    kept = {p: b for p, b in references.boxes.items() if p in training_paths and b}
    record = {**references.record, "training_images_with_boxes": len(kept)}
    if not kept:
        raise ValueError(f"none of the {len(references.boxes)} boxed image(s) is in the model's "
                         f"training split of {dataset.source}: nothing to learn from")
    model = load_model(parent_card, device=device)
    training = train_box_head(model, ReferenceBoxes(kept, references.sizes, record), recipe,
                              progress=progress, cancelled=cancelled)
    card_path = _write_head_card(parent, training, recipe, record, Path(out_dir))
    return HeadCard(card_path, training, record)


def _training_paths(card, dataset) -> list[str]:
    """The resolved files of ``card``'s training split of ``dataset`` (its recipe's seed and
    fractions, as ``fine_tune`` keeps them)."""
    from .training import split_indices

    recipe = card.metadata.get("recipe") or {}
    train_idx, _, _ = split_indices(np.asarray(dataset.labels), recipe.get("val_fraction", 0.2),
                                    recipe.get("test_fraction", 0.0), recipe.get("seed", 0))
    return [str(Path(dataset.paths[i]).resolve()) for i in train_idx]


def _write_head_card(parent, training: HeadTraining, recipe: HeadRecipe, record: dict, out: Path) -> Path:
    import shutil

    from .box_head import save_box_head
    from .card import load_card
    from .lineage import PROPOSAL_METHODS, lineage

    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "model.pt"
    shutil.copyfile(parent.checkpoint, checkpoint)
    card = load_card(parent.path)
    card.checkpoint = checkpoint.name
    meta = card.metadata
    meta["box_head"] = save_box_head(training.head, out, {
        "recipe": recipe.to_dict(), "images": training.images, "final_loss": round(training.final_loss, 5),
        "seconds": round(training.seconds, 1)})
    meta["lineage"] = {**lineage(parent, record), "method": "box_head"}
    methods = list(meta.get("proposal_methods") or PROPOSAL_METHODS)
    meta["proposal_methods"] = methods + [m for m in ("boxhead",) if m not in methods]
    meta["proposals"] = {**(meta.get("proposals") or {}), "boxhead": dict(HEAD_RULE, layer=card.target_layer)}
    meta.setdefault("recommended_proposal", "crosseai")
    return card.save(out / "model.json")
