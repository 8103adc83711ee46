"""CrossEAI box proposals: Guided Backprop fused with Grad-CAM++, thresholded into boxes.

METHODS.md §3. The paper publishes neither weights nor threshold nor component rule, so
every constant is a parameter. The defaults below are neutral starting points, to be tuned
per task on development data (``medxai tune-boxes``) and stored in the model card under
``crosseai``; a card's values override these.
  1. H = Grad-CAM++ map of the class, in [0, 1] at model input resolution.
  2. G = guided input gradient, max |.| over channels, Gaussian-smoothed (sigma, in model
     input pixels), min-max normalised.
  3. M = alpha G + (1 - alpha) H.
  4. mask = M >= tau * max(M); 8-connected components of at least min_area (fraction of
     the image) become boxes, scored by the mean (or max) of M inside the component; the
     top_k best are kept (0 = all).
  5. Boxes are scaled to the original image's pixel coordinates.
With ``foreground`` (off by default), M is zeroed outside the patient before step 4
(:mod:`.foreground`: Otsu, largest component, holes filled), so no box lies on the background.
The same box step (:func:`boxes_from_map`) turns any map into boxes, so Grad-CAM++ alone
(alpha = 0), the other CAMs and Wang et al.'s fixed thresholds run through identical code.
"""
from __future__ import annotations


import numpy as np
from scipy import ndimage

from medxai_desktop.core.boxes import BoxProposal

from .base import min_max
from .crosseai_params import CROSSEAI_METHODS, CrossEAIParams  # noqa: F401 (re-exported)
from .box_step import boxes_from_map  # noqa: F401 (CrossEAI's box step, re-exported)
from .engine import ExplanationSet
from .foreground import foreground_mask, masked
from .guided_backprop import reduce_input_gradient

# Wang et al. 2017 thresholded heatmaps at these fractions of the maximum.
WANG_THRESHOLDS = (60 / 255, 180 / 255)


def guided_map(input_gradient, sigma: float) -> np.ndarray:
    """G of step 2: a 1x3xHxW or 3xHxW input gradient -> smoothed HxW map in [0, 1]."""
    gradient = np.asarray(input_gradient.detach().cpu() if hasattr(input_gradient, "detach")
                          else input_gradient)
    saliency = reduce_input_gradient(gradient[0] if gradient.ndim == 4 else gradient)
    if sigma > 0:
        saliency = ndimage.gaussian_filter(saliency, sigma)
    return min_max(saliency).astype(np.float32)


def fuse(gradcampp: np.ndarray, guided: np.ndarray, alpha: float) -> np.ndarray:
    return (alpha * guided + (1 - alpha) * gradcampp).astype(np.float32)


def crosseai_map(result: ExplanationSet, params: CrossEAIParams) -> np.ndarray:
    """M, zeroed outside the patient of ``result.input_tensor`` when ``params.foreground``."""
    missing = [m for m in CROSSEAI_METHODS if m not in result.explanations]
    if missing or result.input_gradient is None:
        raise ValueError(f"CrossEAI needs the methods {', '.join(CROSSEAI_METHODS)} in the same "
                         f"explanation (missing: {', '.join(missing) or 'input gradient'})")
    guided = guided_map(result.input_gradient, params.sigma)
    fused = fuse(result["gradcam++"].map, guided, params.alpha)
    if params.foreground:
        fused = masked(fused, foreground_mask(result.input_tensor, fused.shape))
    return fused


def crosseai_boxes(result: ExplanationSet, params: CrossEAIParams | None = None,
                   image_size: tuple[int, int] | None = None) -> list[BoxProposal]:
    """CrossEAI boxes for the explained class, in the original image's pixels."""
    params = params or CrossEAIParams()
    fused = crosseai_map(result, params)
    size = image_size or fused.shape
    return boxes_from_map(fused, params.tau, params.min_area, params.top_k, size,
                          result.target_name, "crosseai", params.to_dict(), params.score)


class CrossEAIPreview:
    """CrossEAI boxes from an image's computed Grad-CAM++ and guided explanations, without a
    model call: the smoothed guided map is kept per (explanation, sigma), so moving alpha, tau,
    min-area or top-k only re-fuses and re-thresholds (the app's live preview)."""

    def __init__(self) -> None:
        self._guided: tuple | None = None     # (guided explanation, sigma, smoothed map)
        self._mask: tuple | None = None       # (input tensor, foreground mask)
        self.computations = 0                 # smoothed maps computed (tests: the cache works)

    def clear(self) -> None:
        self._guided = self._mask = None

    def boxes(self, gradcampp, guided, params: CrossEAIParams, image_size: tuple[int, int],
              input_tensor=None) -> tuple[list[BoxProposal], np.ndarray]:
        """(proposals in the pixels of an image of ``image_size``, fused map). With
        ``params.foreground`` the patient is found in ``input_tensor`` (what the model saw)."""
        if self._guided is None or self._guided[0] is not guided or self._guided[1] != params.sigma:
            self._guided = (guided, params.sigma, guided_map(guided.raw, params.sigma))
            self.computations += 1
        fused = fuse(gradcampp.map, self._guided[2], params.alpha)
        if params.foreground and input_tensor is not None:
            if self._mask is None or self._mask[0] is not input_tensor:
                self._mask = (input_tensor, foreground_mask(input_tensor, fused.shape))
            fused = masked(fused, self._mask[1])
        parameters = dict(params.to_dict(), maps={"gradcam++": gradcampp.cache_key, "guided": guided.cache_key})
        proposals = boxes_from_map(fused, params.tau, params.min_area, params.top_k, tuple(image_size[:2]),
                                   gradcampp.target_name, "crosseai", parameters, params.score)
        return proposals, fused


def single_map_boxes(explanation, params: CrossEAIParams, image_size: tuple[int, int],
                     input_tensor=None) -> tuple[list[BoxProposal], np.ndarray]:
    """(proposals, map) of one explanation's own map through the same box step (a CAM alone,
    the learned box head): CrossEAI's rule without the fusion."""
    heatmap = explanation.map
    if params.foreground and input_tensor is not None:
        heatmap = masked(heatmap, foreground_mask(input_tensor, heatmap.shape))
    parameters = dict(params.to_dict(), maps={explanation.method: explanation.cache_key})
    return boxes_from_map(heatmap, params.tau, params.min_area, params.top_k, tuple(image_size[:2]),
                          explanation.target_name, explanation.method, parameters, params.score), heatmap
