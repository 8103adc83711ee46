"""Writing one image's explanations to a folder (the CLI's `explain --out DIR` layout).

input.npy           the exact float32 tensor given to the model, 1x3xHxW
<method>.npy        the map at model input resolution (after ReLU and min-max, before resize)
<method>.png        the map over the image at the image's own resolution
crosseai.png        the fused CrossEAI map with its boxes (when boxes were asked for)
boxes.json          the box proposals with their parameters and provenance
explanations.json   prediction with class probabilities, provenance and seconds per method
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medxai_desktop.core.atomic_files import atomic_folder, check_output, output_errors
from medxai_desktop.core.boxes import BoxProposal
from medxai_desktop.core.overlay import draw_boxes, overlay_heatmap, write_png

from .engine import ExplanationSet


def write_explanations(out_dir: str | Path, result: ExplanationSet, display: np.ndarray,
                       image_info: dict, boxes: list[BoxProposal] | None = None,
                       fused_map: np.ndarray | None = None, box_seconds: float | None = None) -> Path:
    """Write into ``out_dir`` (a folder, created; never through a link): every file or none
    (written beside it, then moved in); an OSError such as a full disk is one OutputError."""
    final = check_output(out_dir, folder=True)
    with output_errors(final), atomic_folder(final) as out:
        _write(out, result, display, image_info, boxes, fused_map, box_seconds)
    return final


def _write(out: Path, result: ExplanationSet, display: np.ndarray, image_info: dict,
           boxes: list[BoxProposal] | None, fused_map: np.ndarray | None, box_seconds: float | None) -> None:
    np.save(out / "input.npy", result.input_tensor.numpy().astype(np.float32))
    for name, explanation in result.explanations.items():
        np.save(out / f"{name}.npy", explanation.map.astype(np.float32))
        write_png(out / f"{name}.png", overlay_heatmap(display, explanation.map))
    summary = {
        "image": image_info,
        "prediction": {
            "class": result.prediction.class_name,
            "class_index": result.prediction.class_index,
            "probabilities": result.prediction.probabilities,
        },
        "target": {"class": result.target_name, "class_index": result.target_index},
        "shared_pass_seconds": result.shared_pass_seconds,
        "seconds": {name: e.seconds for name, e in result.explanations.items()},
        "methods": {name: {"label": e.label, "cache_key": e.cache_key, "provenance": e.provenance}
                    for name, e in result.explanations.items()},
    }
    if boxes is not None:
        if fused_map is not None:
            write_png(out / "crosseai.png", draw_boxes(overlay_heatmap(display, fused_map), boxes))
        (out / "boxes.json").write_text(json.dumps({
            "image": image_info,
            "image_size": {"height": int(display.shape[0]), "width": int(display.shape[1])},
            "coordinates": "image pixels, top-left origin; x0,y0 inclusive, x1,y1 exclusive",
            "seconds": box_seconds,
            "boxes": [p.to_dict() for p in boxes],
        }, indent=2) + "\n", encoding="utf-8")
        summary["seconds"]["crosseai_boxes"] = box_seconds
    (out / "explanations.json").write_text(json.dumps(summary, indent=2, default=str) + "\n",
                                           encoding="utf-8")
