"""Explanations: the shared pass, one class per method, and CrossEAI boxes.

The names below load on first use (PEP 562), so that importing a light submodule such as
``core.explain.proposals`` does not import torch: the desktop app paints its window first.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ExplanationCancelled": ".base", "Explainer": ".base", "PassContext": ".base",
    "Explanation": ".engine", "ExplanationEngine": ".engine", "ExplanationSet": ".engine",
    "PAPER_METHODS": ".registry", "canonical_name": ".registry", "explainer_names": ".registry",
    "get_explainer": ".registry", "register_explainer": ".registry",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
