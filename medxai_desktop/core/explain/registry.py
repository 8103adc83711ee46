"""Explainers by name. Built-ins here; plugins add theirs with ``register_explainer``."""
from __future__ import annotations

from medxai_desktop.core import registry_hooks

from .ablation_cam import AblationCAM
from .base import Explainer
from .box_head_map import BoxHeadMap
from .eigen_cams import EigenCAM, EigenGradCAM
from .gradient_cams import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from .guided_backprop import GuidedBackprop
from .score_cam import ScoreCAM

_EXPLAINERS: dict[str, type[Explainer]] = {}
_ALIASES = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++", "guidedbackprop": "guided",
            "gbp": "guided", "guided_backprop": "guided"}

# The five CAMs the overview paper compares by ROAD.
PAPER_METHODS = ("gradcam++", "xgradcam", "eigengradcam", "layercam", "ablationcam")


def register_explainer(cls: type[Explainer]) -> None:
    if cls.name in _EXPLAINERS:
        raise ValueError(f"explainer {cls.name!r} is already registered")
    _EXPLAINERS[cls.name] = cls


def unregister_explainer(name: str) -> None:
    """Remove a plugin's explainer (built-ins stay)."""
    if name not in _BUILT_IN:
        _EXPLAINERS.pop(name, None)


def _load_plugins() -> None:
    """Register the enabled explainer plugins (imported on the first call only)."""
    registry_hooks.load_plugins("explainer")


for _cls in (GradCAM, GradCAMPlusPlus, XGradCAM, EigenCAM, EigenGradCAM, LayerCAM, HiResCAM,
             AblationCAM, ScoreCAM, GuidedBackprop, BoxHeadMap):
    register_explainer(_cls)
_BUILT_IN = frozenset(_EXPLAINERS)


def explainer_names() -> list[str]:
    """Built-ins, then the enabled plugins' explainers."""
    _load_plugins()
    return list(_EXPLAINERS)


def canonical_name(name: str) -> str:
    key = name.strip().lower().replace("-", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key not in _EXPLAINERS:
        _load_plugins()
    if key not in _EXPLAINERS:
        raise ValueError(f"unknown explanation method {name!r}; known: {', '.join(_EXPLAINERS)}"
                         f"{registry_hooks.missing_hint('explainer', name.strip())}")
    return key


def method_catalog() -> list[tuple[str, str, bool, bool]]:
    """(name, display label, compared in the paper, slow) of every explainer, plugins included."""
    return [(name, _EXPLAINERS[name].label, name in PAPER_METHODS, _EXPLAINERS[name].slow)
            for name in explainer_names()]


def slow_methods(names) -> list[str]:
    """Those of ``names`` whose explainer is marked slow (minutes per image on a CPU)."""
    return [n for n in names if _EXPLAINERS[canonical_name(n)].slow]


def get_explainer(name: str, **options) -> Explainer:
    return _EXPLAINERS[canonical_name(name)](**options)
