"""Is an image like those a model was trained on? The card's domain against the image's.

A model card may declare (optional keys, checked by :func:`check_domain_keys` when a card is read):

``modality``
    DICOM Modality codes of its training images, e.g. ``["MR"]``.
``body_part``
    DICOM BodyPartExamined values, e.g. ``["BRAIN", "HEAD"]``.
``input_statistics``
    What its training images looked like at the model's input: six intensity statistics per
    image (:data:`FEATURES`: mean grey level, its spread, the dark fraction, the mean of the
    outer frame and of the centre, and colour) as their mean vector and covariance, and a
    ``threshold`` on the Mahalanobis distance of an image to them: the 99.5th percentile of the
    training images' own distances (so about 1 in 200 in-distribution images is flagged).
    ``train`` writes it for every new card; ``fit_input_statistics`` computes it.
``default_label``
    The label of a new box in the app when the reviewer typed none and no prediction may be
    shown (blinded review).

:func:`domain_warnings` compares an image with them: a DICOM Modality or BodyPartExamined that
the card does not list is one warning each; an image whose statistics lie beyond the threshold
(DICOM or not: most non-DICOM files carry no modality at all) another. The statistics are a
simple out-of-distribution check, not a guarantee: the maximum softmax probability was tried
first and does not work here (the demo brain-MRI model gives chest X-rays 0.88-0.94, as
confident as on brain slices), while on the demo card these statistics flag 97 of the 100
chest X-rays and 148 of 150 dermoscopy images of ``../shared/data``, 1.2 % of the held-out
brain slices and none of the sample study (``experiments/card_domain.py`` records them).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

FEATURES = ("mean", "std", "dark_fraction", "border_mean", "centre_mean", "colour")
DARK = 0.05            # grey level under which a pixel counts as dark (background)
QUANTILE = 0.995       # of the training images' distances: the threshold
RIDGE = 1e-4           # added to the covariance's diagonal (a constant feature stays usable)
DOMAIN_LISTS = ("modality", "body_part")


def input_features(rgb01: np.ndarray) -> np.ndarray:
    """The :data:`FEATURES` of one image as the model sees it: HxWx3 (or HxW) in [0, 1] at the
    card's input size (uint8 0..255 is scaled)."""
    array = np.asarray(rgb01)
    rgb = array.astype(np.float32) / np.float32(255) if array.dtype == np.uint8 else array.astype(np.float32)
    if rgb.ndim == 2:
        rgb = rgb[:, :, None]
    grey = rgb.mean(axis=2)
    height, width = grey.shape
    bh, bw = max(1, height // 10), max(1, width // 10)
    frame = np.concatenate([grey[:bh].ravel(), grey[-bh:].ravel(), grey[:, :bw].ravel(), grey[:, -bw:].ravel()])
    centre = grey[height // 4: height - height // 4, width // 4: width - width // 4]
    colour = float(np.abs(rgb - grey[:, :, None]).mean())
    return np.array([grey.mean(), grey.std(), (grey < DARK).mean(), frame.mean(), centre.mean(), colour],
                    dtype=np.float64)


def image_features(image, input_size: tuple[int, int]) -> np.ndarray:
    """:func:`input_features` of a MedicalImage, resized as the model's preprocessing does."""
    from .preprocessing import resize_rgb01

    return input_features(np.clip(resize_rgb01(image.as_rgb01(), tuple(input_size)), 0, 1))


def fit_input_statistics(images: Iterable[np.ndarray], quantile: float = QUANTILE) -> dict[str, Any] | None:
    """The card's ``input_statistics`` of training images (each as :func:`input_features`
    takes it, e.g. the N x H x W x 3 uint8 array ``train`` decodes); None for fewer than
    eight images (too few for a covariance of six statistics)."""
    features = np.array([input_features(image) for image in images])
    if len(features) < len(FEATURES) + 2:
        return None
    mean = features.mean(axis=0)
    covariance = np.cov(features.T) + RIDGE * np.eye(len(FEATURES))
    distances = _mahalanobis(features, mean, covariance)
    return {"features": list(FEATURES), "mean": [float(v) for v in mean],
            "covariance": [[float(v) for v in row] for row in covariance],
            "threshold": float(np.quantile(distances, quantile)), "quantile": quantile, "images": len(features)}


def _mahalanobis(features: np.ndarray, mean, covariance) -> np.ndarray:
    inverse = np.linalg.inv(np.asarray(covariance, dtype=np.float64))
    centred = np.atleast_2d(features) - np.asarray(mean, dtype=np.float64)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", centred, inverse, centred), 0))


def distance(card, image) -> float | None:
    """The image's Mahalanobis distance to the card's training images, or None without statistics."""
    stats = card.metadata.get("input_statistics")
    if not stats:
        return None
    return float(_mahalanobis(image_features(image, card.input_size), stats["mean"], stats["covariance"])[0])


def domain_warnings(card, image) -> list[str]:
    """What makes ``image`` unlike the model's training images, one short reason each ([] if
    nothing): its modality, its body part, its intensity statistics."""
    reasons = []
    meta = card.metadata
    for key, value, what in (("modality", image.modality, "modality"),
                             ("body_part", (image.metadata or {}).get("BodyPartExamined"), "body part")):
        declared = meta.get(key)
        if declared and value and value.strip().upper() not in declared:
            reasons.append(f"its {what} is {value.strip()}, the model's {' / '.join(declared)}")
    found = distance(card, image)
    if found is not None and found > meta["input_statistics"]["threshold"]:
        reasons.append(f"its intensity statistics lie {found:.1f} from the training images' "
                       f"(limit {meta['input_statistics']['threshold']:.1f})")
    return reasons


def domain_warning(card, image) -> str:
    """One sentence for the reader when ``image`` is unlike the model's training images, else ""."""
    reasons = domain_warnings(card, image)
    if not reasons:
        return ""
    return (f"this image is unlike the model's training images ({'; '.join(reasons)}): "
            "its prediction may be meaningless.")


def check_domain_keys(data: dict[str, Any]) -> dict[str, Any]:
    """The card's domain keys, checked: ``modality`` / ``body_part`` lists of codes (upper-cased;
    one string is a list of one), ``input_statistics`` of the right shape, ``default_label`` text.
    ValueError says what is wrong."""
    checked: dict[str, Any] = {}
    for key in DOMAIN_LISTS:
        if data.get(key) is None:
            continue
        values = [data[key]] if isinstance(data[key], str) else data[key]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ValueError(f"{key!r} must be a list of DICOM codes such as [\"MR\"], got {data[key]!r}")
        checked[key] = [v.strip().upper() for v in values]
    if data.get("input_statistics") is not None:
        checked["input_statistics"] = _checked_statistics(data["input_statistics"])
    label = data.get("default_label")
    if label is not None and (not isinstance(label, str) or not label.strip() or len(label) > 200):
        raise ValueError(f"'default_label' must be a short text, got {label!r}")
    return checked


def _checked_statistics(stats) -> dict[str, Any]:
    n = len(FEATURES)
    try:
        ok = (isinstance(stats, dict) and list(stats["features"]) == list(FEATURES)
              and len(stats["mean"]) == n and len(stats["covariance"]) == n
              and all(len(row) == n for row in stats["covariance"]))
        values = [float(v) for v in stats["mean"]] + [float(v) for row in stats["covariance"] for v in row]
        threshold = float(stats["threshold"])
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok or not all(map(math.isfinite, values + [threshold])) or threshold <= 0:
        raise ValueError(f"'input_statistics' must hold features {list(FEATURES)}, their mean, an "
                         f"{n} x {n} covariance and a positive threshold")
    try:
        np.linalg.inv(np.asarray(stats["covariance"], dtype=np.float64))
    except np.linalg.LinAlgError:
        raise ValueError("'input_statistics' covariance is singular") from None
    return stats
