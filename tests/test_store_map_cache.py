"""Heatmaps cached as compressed .npz files keyed by their provenance cache key."""
from __future__ import annotations

import numpy as np
import pytest

from medxai_desktop.core.explain.provenance import cache_key
from medxai_desktop.core.store import MapNotCached, has_map, load_map, map_path, save_map


def test_save_and_load_give_back_the_same_array(tmp_path):
    key = cache_key({"method": "gradcam++", "target_class": 2, "input_sha256": "ab" * 32})
    heatmap = np.random.default_rng(1).random((224, 224)).astype(np.float32)
    path = save_map(tmp_path, key, heatmap)
    assert path == map_path(tmp_path, key) == tmp_path / key[:2] / f"{key}.npz"
    assert has_map(tmp_path, key)
    loaded = load_map(tmp_path, key)
    assert loaded.dtype == np.float32 and loaded.shape == (224, 224)
    assert np.array_equal(loaded, heatmap)
    smooth = np.zeros((224, 224), np.float32)
    save_map(tmp_path, key, smooth)                             # replaced atomically
    assert np.array_equal(load_map(tmp_path, key), smooth)
    assert path.stat().st_size < smooth.nbytes / 10              # compressed
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


def test_missing_or_damaged_maps_are_a_cache_miss(tmp_path):
    key = "0123456789abcdef" * 4
    with pytest.raises(MapNotCached) as caught:
        load_map(tmp_path, key)
    assert isinstance(caught.value, KeyError) and key[:12] in str(caught.value)
    save_map(tmp_path, key, np.ones((4, 4), np.float32))
    map_path(tmp_path, key).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MapNotCached):
        load_map(tmp_path, key)
    assert not has_map(tmp_path, "f" * 64)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ABCDEF0123456789", "", "abc"])
def test_keys_that_are_not_hex_digests_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match="cache key"):
        save_map(tmp_path, key, np.zeros((2, 2)))
