"""A localisation head on the frozen classifier: the card's learned proposal method ("boxhead").

The classifier's features at a few layers (for a ResNet layer2, layer3 and layer4: 28, 14 and
7 cells at 224 px) are each projected to ``width`` channels by a 1x1 convolution, resized to the
finest of them and added (a small feature pyramid), then two 3x3 convolutions give one logit per
cell: the log-odds that the cell lies inside a reference box. The classifier's weights are never
changed, so its predictions and its CAMs (CrossEAI included) are exactly the parent's.

The head is stored beside its card (``box_head.pt``, a plain state_dict, sha256 in the card's
``box_head`` entry) and loaded with the model; ``core/explain/box_head_map.py`` turns its output
into a map (sigmoid, bilinear to the input size) that the one box step thresholds like any CAM.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medxai_desktop.core.atomic_files import atomic_write_bytes

from .card import ModelCard, ModelCardError, sha256_of_file
from .checkpoint import CheckpointError, load_into, read_state_dict

HEAD_FILE = "box_head.pt"
# The layers the head reads, finest first, for the architectures whose stages we know.
DEFAULT_LAYERS = {
    "resnet": ("layer2", "layer3", "layer4"),
    "densenet": ("features.denseblock2", "features.denseblock3", "features.denseblock4"),
    "vgg": ("features.16", "features.23", "features.30"),
    "efficientnet": ("features.3", "features.5", "features.8"),
}


def default_layers(arch: str, target_layer: str) -> tuple[str, ...]:
    """The head's layers for ``arch`` (by family), else the CAM target layer alone."""
    for family, layers in DEFAULT_LAYERS.items():
        if arch.startswith(family):
            return layers
    return (target_layer,)


class LayerOutputs:
    """The outputs of ``module``'s layers ``names`` in one forward pass (``values``, in the
    order of ``names``) while the ``with`` block lasts."""

    def __init__(self, module: nn.Module, names: Sequence[str]):
        self.layers = [module.get_submodule(n) for n in names]
        self.values: list[torch.Tensor | None] = [None] * len(names)
        self._handles: list = []

    def __enter__(self) -> "LayerOutputs":
        for i, layer in enumerate(self.layers):
            self._handles.append(layer.register_forward_hook(
                lambda _m, _inputs, output, i=i: self.values.__setitem__(i, output)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@torch.no_grad()
def backbone_features(module: nn.Module, layers: Sequence[str], x: torch.Tensor) -> list[torch.Tensor]:
    """The (frozen) classifier's outputs at ``layers`` for the batch ``x``."""
    with LayerOutputs(module, layers) as captured:
        module(x)
    return [v.detach() for v in captured.values]


class BoxHead(nn.Module):
    """Multi-layer features -> N x 1 x h x w logits at the finest layer's resolution."""

    def __init__(self, layers: Sequence[str], in_channels: Sequence[int], width: int = 32):
        super().__init__()
        if len(layers) != len(in_channels) or not layers:
            raise ValueError("a box head needs one channel count per layer, and at least one layer")
        self.layers, self.in_channels, self.width = list(layers), [int(c) for c in in_channels], int(width)
        self.lateral = nn.ModuleList(nn.Conv2d(c, self.width, 1) for c in self.in_channels)
        self.fuse = nn.Sequential(
            nn.ReLU(), nn.Conv2d(self.width, self.width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(self.width, self.width, 3, padding=1), nn.ReLU(), nn.Conv2d(self.width, 1, 1))

    @classmethod
    def for_model(cls, module: nn.Module, layers: Sequence[str], input_size: Sequence[int],
                  width: int = 32) -> "BoxHead":
        """A new head sized to ``module``'s channels at ``layers`` (one probe pass)."""
        device = next(module.parameters()).device
        probe = torch.zeros(1, 3, *input_size, device=device)
        features = backbone_features(module, layers, probe)
        order = sorted(range(len(layers)), key=lambda i: -features[i].shape[-1])  # finest first
        return cls([layers[i] for i in order], [features[i].shape[1] for i in order], width)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        fused = 0
        for lateral, f in zip(self.lateral, features):
            projected = lateral(f.float())
            if projected.shape[-2:] != size:
                projected = F.interpolate(projected, size=size, mode="bilinear", align_corners=False)
            fused = fused + projected
        return self.fuse(fused)

    def logits(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The head's logits for the images ``x`` run through the classifier ``module``."""
        return self(backbone_features(module, self.layers, x))

    def config(self) -> dict:
        return {"layers": list(self.layers), "in_channels": list(self.in_channels), "width": self.width}


def save_box_head(head: BoxHead, folder: str | Path, record: dict) -> dict:
    """Write ``head`` as ``folder/box_head.pt``; returns the card's ``box_head`` entry."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in head.state_dict().items()}, buffer)
    path = Path(folder) / HEAD_FILE
    atomic_write_bytes(path, buffer.getvalue())
    return {"file": HEAD_FILE, "sha256": sha256_of_file(path), **head.config(), **record}


def load_box_head(card: ModelCard, device: torch.device | str = "cpu") -> BoxHead | None:
    """The card's box head (hash-checked, weights only), or None when it declares none. The
    file must lie in the card's folder."""
    entry = card.metadata.get("box_head")
    if not entry:
        return None
    where = card.path or Path("<model card>")
    folder = Path(card.path).resolve().parent if card.path else Path.cwd()
    path = (folder / str(entry.get("file", ""))).resolve()
    if path.parent != folder:
        raise ModelCardError(where, f"box head file {entry.get('file')!r} is not in the card's folder")
    if not path.is_file():
        raise CheckpointError(path, "box head named by the model card not found")
    if entry.get("sha256") and sha256_of_file(path) != entry["sha256"]:
        raise CheckpointError(path, "sha256 does not match the model card's box_head entry")
    try:
        head = BoxHead(entry["layers"], entry["in_channels"], entry.get("width", 32))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(where, f"box_head entry is malformed ({exc})") from None
    load_into(head, read_state_dict(path), path)
    return head.eval().requires_grad_(False).to(device)
