"""A model ready for inference: architecture + checkpoint + card, on a device, frozen."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .architectures import get_architecture
from .box_head import load_box_head
from .card import IMAGENET_MEAN, IMAGENET_STD, ModelCard, ModelCardError, load_card, sha256_of_file
from .checkpoint import CheckpointError, load_into, read_state_dict
from .device import select_device
from .preprocessing import to_model_tensor


@dataclass
class Prediction:
    class_index: int
    class_name: str
    probabilities: dict[str, float]
    logits: list[float] = field(repr=False, default_factory=list)


@dataclass
class LoadedModel:
    card: ModelCard
    module: torch.nn.Module
    device: torch.device
    checkpoint_sha256: str | None
    box_head: torch.nn.Module | None = None   # the card's learned localisation head, if any

    @property
    def classes(self) -> list[str]:
        return self.card.classes

    @property
    def box_head_sha256(self) -> str | None:
        return (self.card.metadata.get("box_head") or {}).get("sha256") if self.box_head is not None else None

    @property
    def target_layer(self) -> str:
        return self.card.target_layer

    def class_index(self, target: str | int) -> int:
        """Index of a class given by name or index (as a string or int).

        A string that is a class name means that class, even when it looks like a number
        (classes named "0", "1", ... in another order).
        """
        if isinstance(target, str) and target in self.classes:
            return self.classes.index(target)
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            index = int(target)
            if not 0 <= index < len(self.classes):
                raise ValueError(f"class index {index} out of range; the model has "
                                 f"{len(self.classes)} classes: {', '.join(self.classes)}")
            return index
        raise ValueError(f"unknown class {target!r}; the model's classes: {', '.join(self.classes)}")

    def preprocess(self, image) -> torch.Tensor:
        """A MedicalImage (anything with ``as_rgb01()``) or an HxWx3 [0,1] array -> 1x3xHxW."""
        rgb = image.as_rgb01() if hasattr(image, "as_rgb01") else np.asarray(image, np.float32)
        return to_model_tensor(rgb, self.card.input_size, self.card.mean, self.card.std)

    @torch.no_grad()
    def predict(self, tensor: torch.Tensor) -> Prediction:
        logits = self.module(tensor.to(self.device)).float()[0]
        probs = torch.softmax(logits, dim=0).cpu().numpy()
        index = int(np.argmax(probs))
        return Prediction(index, self.classes[index],
                          {c: float(p) for c, p in zip(self.classes, probs)},
                          [float(v) for v in logits.cpu()])

    def provenance(self) -> dict:
        return {
            "arch": self.card.arch,
            "classes": list(self.classes),
            "card_sha256": self.card.card_hash,
            "checkpoint_sha256": self.checkpoint_sha256,
            **({"box_head_sha256": self.box_head_sha256} if self.box_head is not None else {}),
            "card_path": str(self.card.path) if self.card.path else None,
            "device": str(self.device),
        }


def _finish(module: torch.nn.Module, card: ModelCard, device: str | torch.device | None,
            checkpoint_sha: str | None) -> LoadedModel:
    dev = device if isinstance(device, torch.device) else select_device(device)
    module.eval().requires_grad_(False).to(dev)
    try:
        if not card.target_layer:  # get_submodule("") is the whole network, not a layer
            raise AttributeError(card.target_layer)
        module.get_submodule(card.target_layer)
    except AttributeError:
        raise ModelCardError(card.path or Path("<model card>"),
                             f"target layer {card.target_layer!r} does not exist in {card.arch}") from None
    return LoadedModel(card, module, dev, checkpoint_sha)


def load_model(card_or_path: ModelCard | str | Path, device: str | torch.device | None = "auto",
               verify_hash: bool = True) -> LoadedModel:
    """Build the card's architecture and load its checkpoint (hash-checked, weights only)."""
    card = card_or_path if isinstance(card_or_path, ModelCard) else load_card(card_or_path)
    arch = get_architecture(card.arch)
    ckpt, digest = card_checkpoint(card, verify_hash)
    module = arch.build(len(card.classes))
    load_into(module, read_state_dict(ckpt), ckpt)
    model = _finish(module, card, device, digest)
    model.box_head = load_box_head(card, model.device)
    return model


def card_checkpoint(card: ModelCard, verify_hash: bool = True) -> tuple[Path, str]:
    """The checkpoint file the card names and its sha256, checked against the card's."""
    ckpt = card.checkpoint_path
    if ckpt is None:
        raise ModelCardError(card.path or Path("<model card>"), "model card names no checkpoint")
    if card.path is not None and not ckpt.is_relative_to(Path(card.path).resolve().parent):
        # a card is data: it must not make the application read (and hash) any file it names
        raise ModelCardError(card.path, f"checkpoint {card.checkpoint!r} is outside the card's folder; "
                                        "put it beside the card, or give it with --arch/--checkpoint")
    if not ckpt.is_file():
        raise CheckpointError(ckpt, "checkpoint named by the model card not found")
    digest = sha256_of_file(ckpt)
    if verify_hash and card.sha256 and digest != card.sha256:
        raise CheckpointError(ckpt, f"sha256 {digest[:12]}... does not match the model card's "
                              f"{card.sha256[:12]}... (file changed or wrong checkpoint)")
    return ckpt, digest


def model_from_checkpoint(arch_name: str, checkpoint: str | Path, classes: list[str],
                          input_size: tuple[int, int] = (224, 224), mean=IMAGENET_MEAN,
                          std=IMAGENET_STD, target_layer: str | None = None,
                          device: str | torch.device | None = "auto") -> LoadedModel:
    """A model from an architecture name and a bare state_dict, without a card file."""
    arch = get_architecture(arch_name)
    ckpt = Path(checkpoint).resolve()
    card = ModelCard(arch_name, list(classes), tuple(input_size), tuple(mean), tuple(std),
                     target_layer or arch.default_target_layer, str(ckpt), None)
    module = arch.build(len(classes))
    load_into(module, read_state_dict(ckpt), ckpt)
    digest = sha256_of_file(ckpt)
    card.sha256 = digest
    return _finish(module, card, device, digest)


def random_model(arch_name: str, classes: list[str], seed: int = 0,
                 input_size: tuple[int, int] = (224, 224), target_layer: str | None = None,
                 device: str | torch.device | None = "auto") -> LoadedModel:
    """An untrained model with seeded weights, for tests and benchmarks."""
    arch = get_architecture(arch_name)
    # Seed and restore only the CPU generator the weights are drawn from: torch.manual_seed
    # would also (lazily) reseed the CUDA/MPS generators, which are not restored.
    generator_state = torch.random.get_rng_state()
    try:
        torch.random.default_generator.manual_seed(seed)
        module = arch.build(len(classes))
    finally:
        torch.random.set_rng_state(generator_state)
    card = ModelCard(arch_name, list(classes), tuple(input_size), IMAGENET_MEAN, IMAGENET_STD,
                     target_layer or arch.default_target_layer, None, None,
                     metadata={"random_init": True, "seed": seed})
    return _finish(module, card, device, None)
