"""Provenance of every computed result, and the cache key derived from it."""
from __future__ import annotations

import functools
import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata

import numpy as np
import torch

_VOLATILE = ("created", "seconds", "shared_pass_seconds")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for dist in ("medxai-desktop", "torch", "torchvision", "numpy", "scipy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return tuple(versions.items())


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on (read once per process)."""
    return dict(_versions())


def tensor_sha256(tensor: torch.Tensor) -> str:
    array = np.ascontiguousarray(tensor.detach().cpu().numpy())
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def cache_key(provenance: dict) -> str:
    """Same inputs (model, input tensor, method, class, layer, parameters, device, versions)
    give the same key; times of computation do not count."""
    stable = {k: v for k, v in provenance.items() if k not in _VOLATILE}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()
