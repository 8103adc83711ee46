"""From an image to the exact tensor a model card asks for."""
from __future__ import annotations

import cv2
import numpy as np
import torch


def resize_rgb01(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWx3 float image to (height, width): area averaging down, bilinear up."""
    height, width = size
    if rgb.shape[:2] == (height, width):
        return np.ascontiguousarray(rgb, dtype=np.float32)
    shrinking = rgb.shape[0] * rgb.shape[1] > height * width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (width, height),
                      interpolation=interpolation)


def to_model_tensor(rgb01: np.ndarray, size: tuple[int, int], mean, std) -> torch.Tensor:
    """HxWx3 float in [0, 1] -> 1x3xHxW float32, resized (aspect not kept) and z-scored.

    A grayscale HxW (or HxWx1) image is replicated to 3 channels.
    """
    rgb01 = np.asarray(rgb01)
    if rgb01.ndim == 3 and rgb01.shape[2] == 1:
        rgb01 = rgb01[:, :, 0]  # cv2.resize would drop the channel axis and break the z-score
    if rgb01.ndim == 2:
        rgb01 = np.repeat(rgb01[:, :, None], 3, axis=2)
    if rgb01.ndim != 3 or rgb01.shape[2] != 3:
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {rgb01.shape}")
    resized = resize_rgb01(rgb01, size)
    normalised = (resized - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))[None]


def from_model_tensor(tensor: torch.Tensor, mean, std) -> np.ndarray:
    """Inverse of :func:`to_model_tensor` (without the resize): 1x3xHxW -> HxWx3 in [0, 1]."""
    array = tensor.detach().cpu().numpy()[0].transpose(1, 2, 0)
    return np.clip(array * np.asarray(std, np.float32) + np.asarray(mean, np.float32), 0, 1)
