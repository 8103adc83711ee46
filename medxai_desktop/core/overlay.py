"""Heatmap overlays and box drawings on the image at its own resolution (for PNG output)."""
from __future__ import annotations

import cv2
import numpy as np

from .boxes import BoxProposal


def _to_rgb_uint8(display: np.ndarray) -> np.ndarray:
    return np.repeat(display[:, :, None], 3, axis=2) if display.ndim == 2 else display[..., :3]


def overlay_heatmap(display: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45,
                    threshold: float = 0.0, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a [0, 1] map (any resolution) over a uint8 image; below ``threshold`` stays clear."""
    base = _to_rgb_uint8(display).astype(np.float32)
    h, w = base.shape[:2]
    resized = cv2.resize(heatmap.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(np.uint8(np.clip(resized, 0, 1) * 255), colormap)[..., ::-1]
    alpha = np.where(resized >= threshold, opacity, 0.0)[..., None]
    return np.uint8(np.clip(base * (1 - alpha) + colours.astype(np.float32) * alpha, 0, 255))


def draw_boxes(rgb: np.ndarray, proposals: list[BoxProposal], colour=(0, 255, 0)) -> np.ndarray:
    out = np.ascontiguousarray(_to_rgb_uint8(rgb).copy())
    thickness = max(1, round(max(out.shape[:2]) / 300))
    for rank, proposal in enumerate(proposals, 1):
        b = proposal.box
        cv2.rectangle(out, (round(b.x0), round(b.y0)), (round(b.x1) - 1, round(b.y1) - 1), colour, thickness)
        cv2.putText(out, f"{rank}: {proposal.score:.2f}", (round(b.x0) + 2, max(12, round(b.y0) - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, colour, thickness, cv2.LINE_AA)
    return out


def write_png(path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]) if rgb.ndim == 3 else rgb)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    data.tofile(str(path))
