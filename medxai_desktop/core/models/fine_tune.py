"""Fine-tuning a model card on the review store's boxes: the app's "Learn from reviewed boxes".

The new version keeps the parent's architecture, input size, normalisation, target layer and
splits (seed, validation and test fractions), so its validation images are the parent's and the
two can be compared on them; it is written beside the parent (``<card>_v2/``, ``_v3/``...).
"""
from __future__ import annotations

from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, ProgressFn

from .card import load_card
from .training import TrainConfig, train

# A short, gentle fine-tune: the parent is already trained; the boxes move its maps.
FINE_TUNE = dict(epochs=5, lr=0.01, schedule="cosine", warmup_epochs=0.0, box_weight=0.5)


def fine_tune_config(parent_card: str | Path, **changes) -> TrainConfig:
    """A TrainConfig that continues ``parent_card`` (``changes`` override ``FINE_TUNE``)."""
    card = load_card(parent_card)
    recipe = card.metadata.get("recipe") or {}
    base = dict(arch=card.arch, input_size=tuple(card.input_size), init_checkpoint=str(parent_card),
                normalisation="card", target_layer=card.target_layer, seed=recipe.get("seed", 0),
                val_fraction=recipe.get("val_fraction", 0.2), test_fraction=recipe.get("test_fraction", 0.0),
                label_smoothing=recipe.get("label_smoothing", 0.0), batch_size=recipe.get("batch_size", 32),
                device=recipe.get("device", "auto"))
    return TrainConfig(**{**base, **FINE_TUNE, **changes})


def next_version_dir(parent_card: str | Path) -> Path:
    """The first free ``<card stem>_v<n>`` folder beside the parent card (n from 2)."""
    parent_card = Path(parent_card)
    n = 2
    while (parent_card.parent / f"{parent_card.stem}_v{n}").exists():
        n += 1
    return parent_card.parent / f"{parent_card.stem}_v{n}"


def learn_from_store(store, data: str | Path, parent_card: str | Path, out_dir: str | Path | None = None,
                     progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                     method: str = "head", **changes):
    """Learn from the store's reference boxes of ``data``'s images (labelled images) and write
    the new card to ``out_dir`` (default ``next_version_dir``). ``method`` "head": a box head
    on ``parent_card``'s frozen model (``changes`` go to its HeadRecipe; returns a HeadCard);
    "cam": fine-tune the network with the CAM-in-box loss (``changes`` go to its TrainConfig;
    returns a TrainResult)."""
    from .box_supervision import StoreBoxes

    out = Path(out_dir) if out_dir is not None else next_version_dir(parent_card)
    if method == "head":
        from .box_head_training import HeadRecipe, learn_box_head

        return learn_box_head(parent_card, data, StoreBoxes(store=store), out, HeadRecipe(**changes),
                              device=(load_card(parent_card).metadata.get("recipe") or {}).get("device", "auto"),
                              progress=progress, cancelled=cancelled)
    if method != "cam":
        raise ValueError(f"unknown way to learn from boxes {method!r} (head or cam)")
    return train(data, out, fine_tune_config(parent_card, **changes), progress=progress,
                 stop=cancelled, boxes=StoreBoxes(store=store))
