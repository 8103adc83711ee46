"""The built-in names a plugin may not take, known without importing torch or the registries.

A plugin named like a built-in (``gradcam++``, ``csv``, ``resnet18``) would shadow it, or be
imported only to fail registering; it is refused from its declaration, before any of its code
runs. tests/test_plugins.py checks that these lists equal the registries'.
"""
from __future__ import annotations

EXPLAINERS = frozenset({"ablationcam", "boxhead", "eigencam", "eigengradcam", "gradcam", "gradcam++",
                        "guided", "hirescam", "layercam", "scorecam", "xgradcam"})
# other spellings the explainer registry accepts for a built-in (core.explain.registry._ALIASES)
EXPLAINER_ALIASES = frozenset({"gbp", "gradcamplusplus", "gradcampp", "guided_backprop", "guidedbackprop"})
EXPORTERS = frozenset({"coco", "csv", "dicom-sr", "nih-csv", "voc", "yolo"})
ARCHITECTURES = frozenset({"densenet121", "efficientnet_b0", "resnet18", "resnet50", "vgg16"})

_KIND_NAMES = (("explainer", EXPLAINERS | EXPLAINER_ALIASES), ("exporter", EXPORTERS),
               ("architecture", ARCHITECTURES))


def shadowed_builtin(name: str) -> str:
    """'the built-in explainer 'gradcam++'' when ``name`` is (a spelling of) a built-in of any
    kind, else ''. Explainer names are compared the way the registry reads them (case, '-', ' ')."""
    explainer_key = name.strip().lower().replace("-", "").replace(" ", "")
    for kind, names in _KIND_NAMES:
        if name in names or (kind == "explainer" and explainer_key in names):
            return f"the built-in {kind} {name!r}"
    return ""
