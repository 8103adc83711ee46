"""Maps on disk: one compressed .npz per cache key (lower-case hex), written atomically; the one
map cache of the project.

The store keeps one heatmap per provenance cache key (``save_map``, ``load_map``) and only its
metadata in the database (``explanations`` rows); tune-boxes and the localisation report keep
several raw maps of an image per key (``save_arrays``, ``load_arrays`` through
``core.evaluation.box_tuning.MapCache``). A map is recomputable, so the folder is a cache: a
missing or damaged file means "compute it again", never an error.
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from medxai_desktop.core.atomic_files import atomic_open
from medxai_desktop.core.errors import MedXAIError

_KEY = re.compile(r"^[0-9a-f]{16,128}$")


class MapNotCached(MedXAIError, KeyError):
    def __init__(self, key: str, path: Path):
        self.key, self.path = key, path
        super().__init__(f"no cached map for key {key[:12]}... at {path}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def map_path(cache_dir: str | Path, cache_key: str) -> Path:
    """``<cache_dir>/<first two hex digits>/<key>.npz``: few files per folder."""
    if not _KEY.match(cache_key or ""):
        raise ValueError(f"not a provenance cache key (lower-case hex): {cache_key!r}")
    return Path(cache_dir) / cache_key[:2] / f"{cache_key}.npz"


def save_arrays(cache_dir: str | Path, cache_key: str, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` (name -> array) as ``<key>.npz`` (compressed); a crash mid-write never
    leaves a torn file under the final name (temporary file, fsync, rename)."""
    path = map_path(cache_dir, cache_key)
    with atomic_open(path, "wb") as stream:
        np.savez_compressed(stream, **{name: np.asarray(a) for name, a in arrays.items()})
    return path


def load_arrays(cache_dir: str | Path, cache_key: str) -> dict[str, np.ndarray]:
    """Every array saved under ``cache_key`` (same names, dtypes and shapes), or MapNotCached."""
    path = map_path(cache_dir, cache_key)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise MapNotCached(cache_key, path) from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        # truncated or foreign file: a miss, so the map is computed again
        raise MapNotCached(cache_key, path) from exc


def save_map(cache_dir: str | Path, cache_key: str, heatmap: np.ndarray) -> Path:
    """Write ``heatmap`` as ``<key>.npz`` (see ``save_arrays``)."""
    return save_arrays(cache_dir, cache_key, {"map": heatmap})


def load_map(cache_dir: str | Path, cache_key: str) -> np.ndarray:
    """The map saved under ``cache_key`` (same dtype and shape), or MapNotCached."""
    arrays = load_arrays(cache_dir, cache_key)
    if "map" not in arrays:  # a foreign file: a miss
        raise MapNotCached(cache_key, map_path(cache_dir, cache_key))
    return arrays["map"]


def has_map(cache_dir: str | Path, cache_key: str) -> bool:
    return map_path(cache_dir, cache_key).is_file()
