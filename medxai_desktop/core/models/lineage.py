"""Where a trained model comes from, as its card records it: the model it was fine-tuned from (a
model card, or a bare state_dict), the boxes it learned from, and the proposal methods it offers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medxai_desktop.core.explain.registry import PAPER_METHODS

from .card import ModelCard, ModelCardError, load_card, sha256_of_file
from .checkpoint import CheckpointError, read_state_dict
from .datasets import LabelledImages

# Every card's box proposals: CrossEAI and the box step over each of the paper's CAMs.
PROPOSAL_METHODS = ("crosseai", *PAPER_METHODS)
RECOMMENDED_PROPOSAL = "crosseai"


@dataclass(frozen=True)
class Parent:
    """The weights a training starts from: ``path`` as given (a card or a state_dict file), the
    checkpoint file read, and with a card the card and its file's sha256."""
    path: Path
    checkpoint: Path
    checkpoint_sha256: str
    card: ModelCard | None = None
    card_sha256: str | None = None

    def state_dict(self):
        return read_state_dict(self.checkpoint)

    def record(self) -> dict:
        return {"parent_card_sha256": self.card_sha256, "parent": self.path.name,
                "parent_checkpoint_sha256": self.checkpoint_sha256}

    def align(self, dataset: LabelledImages, arch: str) -> LabelledImages:
        """``dataset`` labelled in the card's class order (the classes the model's outputs
        are); ModelCardError when the card is of another architecture or lacks a data class."""
        card = self.card
        if card is None:
            return dataset
        if card.arch != arch:
            raise ModelCardError(self.path, f"the card's architecture is {card.arch}, the training's {arch}")
        missing = [c for c in dataset.classes if c not in card.classes]
        if missing:
            raise ModelCardError(self.path, f"the data has class(es) {', '.join(missing)} that the card's "
                                 f"model does not ({', '.join(card.classes)})")
        if dataset.classes == card.classes:
            return dataset
        index = {c: i for i, c in enumerate(card.classes)}
        return LabelledImages(dataset.paths, [index[dataset.classes[y]] for y in dataset.labels],
                              list(card.classes), dataset.source, dataset.skipped)


def read_parent(path: str | Path | None) -> Parent | None:
    """The parent of a training that starts from ``path``: a model card (``.json``; its
    checkpoint hash-checked) or a state_dict file; None for a training from scratch."""
    if path is None:
        return None
    path = Path(path)
    if is_card_path(path):
        from .loaded_model import card_checkpoint

        card = load_card(path)
        checkpoint, digest = card_checkpoint(card)
        return Parent(path, checkpoint, digest, card, sha256_of_file(path))
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    return Parent(path, path, sha256_of_file(path))


def is_card_path(path: str | Path | None) -> bool:
    """Is ``path`` (an init checkpoint) a model card rather than a state_dict? By its suffix."""
    return path is not None and Path(path).suffix.lower() == ".json"


def lineage(parent: Parent | None, boxes: dict | None) -> dict:
    """The card's ``lineage``: the parent (card hash, file name, checkpoint hash; null from
    scratch) and the box source (null without boxes)."""
    record = parent.record() if parent is not None else {
        "parent_card_sha256": None, "parent": None, "parent_checkpoint_sha256": None}
    return {**record, "boxes": boxes}


def parent_card_path(card: ModelCard) -> Path | None:
    """The file of the card ``card`` was learned from (its ``lineage``), looked for beside it and
    one folder up (where ``<card>_v2/`` versions are written), and accepted only when its sha256
    is the one recorded; None when there is none."""
    record = card.metadata.get("lineage") or {}
    name, digest = record.get("parent"), record.get("parent_card_sha256")
    if not name or not digest or card.path is None:
        return None
    here = Path(card.path).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_file() and is_card_path(candidate) and sha256_of_file(candidate) == digest:
            return candidate
    return None
