"""MaxBoxAccV2 (Choe et al., CVPR 2020, "Evaluating Weakly Supervised Object Localization
Methods Right"): the localisation of a map family, free of any tuned threshold.

For every CAM threshold tau (a fine grid over (0, 1), of the map's maximum), the boxes of
*every* connected component are proposed; a reference box counts as found at IoU delta when one
of them has IoU >= delta with it (Choe's >=; this project's tuned accuracies use > T).
BoxAcc(tau, delta) is the share of reference boxes found; MaxBoxAcc(delta) its maximum over tau;
MaxBoxAccV2 the mean of MaxBoxAcc over delta in {0.3, 0.5, 0.7}. The maximum over tau is taken on
the scored images themselves, by the metric's definition: it says how good the best single
threshold could be, not what a tuned rule reaches on new images.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .localisation import References, component_boxes, iou_matrix, map_components

CHOE_IOUS = (0.3, 0.5, 0.7)
CHOE_TAUS = tuple(np.round(np.arange(0.02, 1.0, 0.02), 2))


def best_ious(references: References, heatmaps: Mapping[tuple[str, str], np.ndarray],
              taus=CHOE_TAUS, match_labels: bool = True) -> np.ndarray:
    """(len(taus), boxes): each reference box's best IoU with a box of any component of its
    image's map (``heatmaps[(image, target)]``) thresholded at each tau."""
    columns = []
    for key in references.images:
        refs = references.boxes.get(key, [])
        best = np.zeros((len(taus), len(refs)))
        xyxy = np.asarray([(b.box.x0, b.box.y0, b.box.x1, b.box.y1) for b in refs], np.float64).reshape(-1, 4)
        for target in references.targets_of(key):
            mine = np.asarray([(not match_labels) or references.target_of(b.label) == target for b in refs])
            heatmap = heatmaps.get((key, target))
            if heatmap is None or not mine.any():
                continue
            for t, tau in enumerate(taus):
                components = map_components(heatmap, tau)
                if not len(components):
                    continue
                boxes = component_boxes(components, np.arange(len(components)), references.sizes[key])
                found = iou_matrix(xyxy[mine], boxes).max(1)
                best[t, mine] = np.maximum(best[t, mine], found)
        columns.append(best)
    return np.concatenate(columns, axis=1) if columns else np.zeros((len(taus), 0))


def max_box_acc(best: np.ndarray, taus=CHOE_TAUS, deltas=CHOE_IOUS) -> dict:
    """MaxBoxAcc at each delta (with the tau that reaches it) and MaxBoxAccV2, from ``best_ious``."""
    row: dict = {}
    for delta in deltas:
        accuracy = (best >= delta).mean(1) if best.shape[1] else np.zeros(len(taus))
        t = int(np.argmax(accuracy))
        row[f"maxboxacc_{delta:g}"] = float(accuracy[t])
        row[f"tau_{delta:g}"] = float(taus[t])
    row["maxboxacc_v2"] = float(np.mean([row[f"maxboxacc_{d:g}"] for d in deltas]))
    return row


def max_box_acc_families(references: References, maps: Mapping[tuple[str, str], object],
                         families: Mapping[str, Callable[[object], np.ndarray]],
                         match_labels: bool = True) -> list[dict]:
    """One MaxBoxAccV2 row per family; ``families[name](image_maps)`` builds that family's map
    from an image's cached maps (box_tuning.ImageMaps)."""
    rows = []
    for name, build in families.items():
        heatmaps = {key: build(image_maps) for key, image_maps in maps.items()}
        rows.append({"family": name, **max_box_acc(best_ious(references, heatmaps, match_labels=match_labels))})
    return rows
