"""The CNN architectures a model card may name, each with its default CAM target layer.

Models are always built without pretrained weights (nothing is downloaded); weights come
from a local checkpoint named by the model card.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torchvision

from medxai_desktop.core import registry_hooks


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[[int], torch.nn.Module]
    default_target_layer: str
    description: str = ""


def _torchvision_builder(name: str) -> Callable[[int], torch.nn.Module]:
    def build(num_classes: int) -> torch.nn.Module:
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)

    return build


_REGISTRY: dict[str, Architecture] = {}


def register_architecture(arch: Architecture) -> None:
    """Add an architecture (used by the built-ins below and by model plugins)."""
    if arch.name in _REGISTRY:
        raise ValueError(f"architecture {arch.name!r} is already registered")
    _REGISTRY[arch.name] = arch


def unregister_architecture(name: str) -> None:
    """Remove a plugin's architecture (built-ins stay)."""
    if name not in _BUILT_IN:
        _REGISTRY.pop(name, None)


def _load_plugins() -> None:
    """Register the enabled architecture plugins (imported on the first call only)."""
    registry_hooks.load_plugins("architecture")


for _name, _layer, _desc in [
    ("resnet18", "layer4", "ResNet-18 (torchvision), 7x7 map at 224 px"),
    ("resnet50", "layer4", "ResNet-50 (torchvision), 7x7 map at 224 px"),
    ("densenet121", "features", "DenseNet-121 (torchvision), map after norm5, 7x7 at 224 px"),
    ("vgg16", "features", "VGG-16 (torchvision), map after the last max-pool, 7x7 at 224 px"),
    ("efficientnet_b0", "features", "EfficientNet-B0 (torchvision), 7x7 map at 224 px"),
]:
    register_architecture(Architecture(_name, _torchvision_builder(_name), _layer, _desc))
_BUILT_IN = frozenset(_REGISTRY)


def architecture_names() -> list[str]:
    """Built-ins and the enabled plugins' architectures."""
    _load_plugins()
    return sorted(_REGISTRY)


def get_architecture(name: str) -> Architecture:
    if name not in _REGISTRY:
        _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; known: {', '.join(architecture_names())}"
            f"{registry_hooks.missing_hint('architecture', name)}"
        ) from None
