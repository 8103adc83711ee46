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
        text_height = round(12 * thickness)
        above = round(b.y0) - 4
        baseline = above if above >= text_height else round(b.y0) + text_height + 2
        cv2.putText(out, f"{rank}: {proposal.score:.2f}", (round(b.x0) + 2, baseline),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, colour, thickness, cv2.LINE_AA)
    return out


def write_png(path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]) if rgb.ndim == 3 else rgb)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    data.tofile(str(path))


COLORMAPS = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "inferno": cv2.COLORMAP_INFERNO,
             "viridis": cv2.COLORMAP_VIRIDIS, "hot": cv2.COLORMAP_HOT}


def heatmap_rgba(heatmap: np.ndarray, size: tuple[int, int], colormap: str = "jet",
                 threshold: float = 0.0) -> np.ndarray:
    """A [0, 1] map (any resolution, e.g. the model's input size) -> uint8 HxWx4 RGBA at
    ``size`` = (height, width) of the image, resized exactly as :func:`overlay_heatmap` does
    (the model input is the whole image resized without keeping the aspect ratio, so this
    aligns pixel for pixel). Below ``threshold`` is fully transparent, elsewhere opaque."""
    height, width = size
    resized = cv2.resize(np.asarray(heatmap, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    resized = np.clip(resized, 0, 1)
    rgb = cv2.applyColorMap(np.uint8(resized * 255), COLORMAPS[colormap])[..., ::-1]
    alpha = np.where(resized >= threshold, 255, 0).astype(np.uint8)
    if threshold <= 0:
        alpha[:] = 255
    return np.ascontiguousarray(np.dstack([rgb, alpha]))
