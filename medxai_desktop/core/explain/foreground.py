"""The patient in an image (head, body), as a mask at a map's resolution.

A CAM of a classifier trained on few images often puts mass on the background (corners,
borders, scanner text), where no finding can be. The box step can multiply a map by this mask
so that no component outside the patient is ever proposed: Otsu's threshold of the image
(OpenCV), the largest 8-connected component, its holes filled (scipy), dilated by a small margin
so that a lesion on the patient's edge is kept whole.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def as_gray(image) -> np.ndarray:
    """HxW float pixels of a model input tensor (1x3xHxW or 3xHxW), an HxWxC or an HxW array."""
    array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, np.float32)
    if array.ndim == 4:
        array = array[0]
    if array.ndim == 3:
        array = array.mean(0) if array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3) \
            else array.mean(-1)
    if array.ndim != 2:
        raise ValueError(f"expected an image or a 1x3xHxW tensor, got shape {np.shape(image)}")
    return array


def foreground_mask(image, shape: tuple[int, int], margin: float = 0.03) -> np.ndarray:
    """A bool mask of ``shape`` (height, width) that is True on the patient in ``image``.
    ``margin`` dilates it by that fraction of the larger side. A flat image is all foreground."""
    gray = as_gray(image)
    low, high = float(np.nanmin(gray)), float(np.nanmax(gray))
    if not np.isfinite(low) or not np.isfinite(high) or high - low < 1e-6:
        return np.ones(shape, bool)
    scaled = np.uint8(np.clip((gray - low) / (high - low), 0, 1) * 255 + 0.5)
    scaled = cv2.resize(scaled, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    _, binary = cv2.threshold(scaled, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    labels, count = ndimage.label(binary, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.ones(shape, bool)
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    mask = ndimage.binary_fill_holes(labels == largest)
    radius = int(round(margin * max(shape)))
    if radius > 0:
        mask = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=radius)
    return mask


def masked(heatmap: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``heatmap`` with zero outside ``mask`` (None: unchanged)."""
    if mask is None:
        return heatmap
    if mask.shape != heatmap.shape:
        raise ValueError(f"foreground mask {mask.shape} and map {heatmap.shape} differ in shape")
    return np.where(mask, heatmap, 0).astype(heatmap.dtype, copy=False)
