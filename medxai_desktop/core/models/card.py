"""Model cards: the JSON file that says what a checkpoint is and how to feed it.

Required keys: arch, classes, input_size, mean, std, target_layer, checkpoint (path
relative to the card) and sha256 (of the checkpoint file). Any other key is free metadata
and is kept as is, except the domain the model was trained on (``modality``, ``body_part``,
``input_statistics``, ``default_label``: optional, checked by ``domain.check_domain_keys``).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medxai_desktop.core.json_input import parse_json
from medxai_desktop.core.atomic_files import atomic_write_text
from medxai_desktop.core.errors import InputFileError
from medxai_desktop.core.user_files import UserFileError, read_user_bytes

from .domain import check_domain_keys

REQUIRED_KEYS = ("arch", "classes", "input_size", "mean", "std", "target_layer",
                 "checkpoint", "sha256")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelCardError(InputFileError):
    """A model card that is missing, malformed or inconsistent."""


@dataclass
class ModelCard:
    arch: str
    classes: list[str]
    input_size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    target_layer: str
    checkpoint: str | None  # relative to the card's folder; None for a random-init model
    sha256: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # where the card was read from

    @property
    def checkpoint_path(self) -> Path | None:
        if self.checkpoint is None:
            return None
        base = self.path.parent if self.path is not None else Path.cwd()
        return (base / self.checkpoint).resolve()

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.metadata)
        # Canonical types (str classes, int size, float mean/std), so a card built in code
        # and the same card read back from its file have the same card_hash.
        data.update(
            arch=self.arch, classes=[str(c) for c in self.classes],
            input_size=[int(s) for s in self.input_size],
            mean=[float(v) for v in self.mean], std=[float(v) for v in self.std],
            target_layer=self.target_layer, checkpoint=self.checkpoint, sha256=self.sha256,
        )
        return data

    @property
    def card_hash(self) -> str:
        """sha256 of the card's canonical JSON (key order and whitespace do not matter)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        self.path = path.resolve()
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> "ModelCard":
        where = path if path is not None else Path("<model card>")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ModelCardError(where, f"model card lacks required key(s): {', '.join(missing)}")
        for key in ("classes", "mean", "std"):
            if not isinstance(data[key], (list, tuple)):  # a string would be split into characters
                raise ModelCardError(where, f"model card {key!r} must be a list, got {data[key]!r}")
        try:
            classes = [str(c) for c in data["classes"]]
            size = data["input_size"]
            if isinstance(size, (int, float)) and not isinstance(size, bool):
                size = (int(size), int(size))
            elif isinstance(size, (list, tuple)):
                size = tuple(int(s) for s in size)
            else:
                raise TypeError(f"'input_size' must be a number or [height, width], got {size!r}")
            mean = tuple(float(v) for v in data["mean"])
            std = tuple(float(v) for v in data["std"])
        except (TypeError, ValueError, OverflowError) as exc:
            raise ModelCardError(where, f"model card has a malformed value: {exc}") from None
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ModelCardError(where, "model card 'classes' must list at least two distinct names")
        if len(size) != 2 or min(size) < 16:
            raise ModelCardError(where, f"model card 'input_size' must be [height, width] >= 16, got {data['input_size']!r}")
        if (len(mean) != 3 or len(std) != 3 or not all(map(math.isfinite, mean + std))
                or min(std) <= 0):
            raise ModelCardError(where, "model card 'mean' and 'std' must have 3 values, std > 0")
        if not isinstance(data["target_layer"], str) or not data["target_layer"]:
            raise ModelCardError(where, "model card 'target_layer' must name a layer, "
                                 f"got {data['target_layer']!r}")
        meta = {k: v for k, v in data.items() if k not in REQUIRED_KEYS}
        try:   # the domain it was trained on: modality, body part, input statistics (domain.py)
            meta.update(check_domain_keys(data))
        except ValueError as exc:
            raise ModelCardError(where, f"model card: {exc}") from None
        return cls(arch=str(data["arch"]), classes=classes, input_size=size, mean=mean, std=std,
                   target_layer=str(data["target_layer"]),
                   checkpoint=None if data["checkpoint"] is None else str(data["checkpoint"]),
                   sha256=None if data["sha256"] is None else str(data["sha256"]).lower(),
                   metadata=meta, path=path.resolve() if path is not None else None)


def load_card(path: str | Path) -> ModelCard:
    path = Path(path)
    try:
        text = read_user_bytes(path, "text").decode("utf-8")
    except UserFileError as exc:
        raise ModelCardError(path, "model card not found" if exc.reason.startswith("file not found")
                             else f"cannot read model card: {exc.reason}") from None
    except UnicodeDecodeError as exc:
        raise ModelCardError(path, f"cannot read model card: {exc}") from None
    try:
        data = parse_json(text)
    except ValueError as exc:  # JSONDecodeError included
        raise ModelCardError(path, f"model card is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelCardError(path, "model card must be a JSON object")
    return ModelCard.from_dict(data, path)


def sha256_of_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
