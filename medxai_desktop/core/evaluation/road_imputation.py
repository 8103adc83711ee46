"""ROAD's noisy linear imputation (Rong et al., ICML 2022), as grad-cam 1.5.x computes it, fast.

Every removed pixel becomes the weighted mean of its 8 neighbours (1/6 horizontal/vertical,
1/12 diagonal; neighbours outside the image dropped, so the weights of a border pixel sum to
less than 1), which is one sparse linear system over the removed pixels, solved for all channels
at once; then Gaussian noise (sigma 0.01) is added to the imputed pixels. The system, its right
hand side and the noise draw are those of grad-cam's ``NoisyLinearImputer`` (same float32/float64
arithmetic, same order of the noise values), so with the same generator state the imputed
tensor equals grad-cam's to float32 rounding.

What differs is the cost. grad-cam assembles the matrix in a ``lil_matrix`` and factorises it
with a column ordering that knows nothing of the image grid. Here:

- the unknowns are numbered in a nested-dissection order of the pixel grid, and the system of
  a mask is sliced out of the whole-grid matrix built once per image size, so SuperLU
  factorises with little fill and no pivoting (the matrix is a diagonally dominant M-matrix:
  LU without pivoting is stable);
- the factorisation is in float32 and the float64 solution is recovered by iterative
  refinement (typically one step, to about 1e-8);
- a grey image replicated to 3 channels (every MRI and X-ray) is solved for one channel: the
  others are affine in it, and so are their imputations.

Removal masks follow grad-cam's ``RemoveMostRelevantFirst``/``RemoveLeastRelevantFirst``
exactly, ties included: MoRF at percentile p removes the pixels whose map value is >= the p-th
percentile of the map; LeRF removes those whose (1 - map) is >= the p-th percentile of
(1 - map). When every pixel ties at the threshold (e.g. a map that is zero on more than p % of
the image, MoRF), every pixel is removed: there is then no known pixel to interpolate from, and
the image becomes 0 (the normalisation mean) plus noise, which is what grad-cam's solver returns
in that case. ``ImputedImage.whole_image_replaced`` says when this happened.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu

# grad-cam's neighbours_weights, in its order (the order of the floating-point sums matters
# for bitwise equality of the system).
NEIGHBOUR_WEIGHTS: tuple[tuple[tuple[int, int], float], ...] = (
    ((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
    ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))

ORDERS = ("morf", "lerf")
DEFAULT_NOISE = 0.01


@dataclass
class ImputedImage:
    tensor: torch.Tensor          # CxHxW float32, the imputed (normalised) image
    removed: np.ndarray           # HxW bool, the pixels that were imputed
    whole_image_replaced: bool    # every pixel tied at the threshold: nothing left to interpolate from


def removal_mask(heatmap: np.ndarray, percentile: float, order: str) -> np.ndarray:
    """The pixels ROAD removes (HxW bool), exactly as grad-cam 1.5.x chooses them.

    ``order`` is "morf" (most relevant first) or "lerf" (least relevant first).
    """
    if order not in ORDERS:
        raise ValueError(f"unknown ROAD order {order!r}; expected one of {', '.join(ORDERS)}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"ROAD percentile must be within [0, 100], got {percentile}")
    scores = torch.from_numpy(np.ascontiguousarray(heatmap, dtype=np.float32))
    if order == "lerf":
        scores = 1 - scores
    threshold = np.percentile(scores.numpy(), percentile)
    # The comparison is made by torch on the float32 tensor, as grad-cam does: a numpy
    # comparison in float64 would break ties differently.
    kept = (scores < threshold).numpy()
    return ~kept


@lru_cache(maxsize=8)
def nested_dissection_rank(height: int, width: int, leaf: int = 4) -> np.ndarray:
    """rank[pixel] = its position in a nested-dissection ordering of the HxW grid.

    A rectangle is split by a one-pixel line across its longer side (a separator for the
    8-neighbour stencil too); both halves are numbered first, recursively, the separator last.
    Restricted to any subset of pixels the order stays a nested dissection of that subset,
    which keeps the LU factors of the imputation system sparse.
    """
    rank = np.empty(height * width, dtype=np.int64)
    grid = np.arange(height * width, dtype=np.int64).reshape(height, width)
    counter = 0
    # Iterative post-order: ("number", pixels) entries are pushed below the two halves of a
    # split so that the separator is numbered after both.
    stack: list[tuple] = [("split", 0, height, 0, width)]
    while stack:
        item = stack.pop()
        if item[0] == "number":
            pixels = item[1]
            rank[pixels] = np.arange(counter, counter + pixels.size)
            counter += pixels.size
            continue
        _, r0, r1, c0, c1 = item
        h, w = r1 - r0, c1 - c0
        if h <= 0 or w <= 0:
            continue
        if h * w <= leaf or (h < 3 and w < 3):
            stack.append(("number", grid[r0:r1, c0:c1].ravel()))
        elif h >= w:
            mid = r0 + h // 2
            stack += [("number", grid[mid, c0:c1].ravel()), ("split", mid + 1, r1, c0, c1),
                      ("split", r0, mid, c0, c1)]
        else:
            mid = c0 + w // 2
            stack += [("number", grid[r0:r1, mid].ravel()), ("split", r0, r1, mid + 1, c1),
                      ("split", r0, r1, c0, mid)]
    return rank


@dataclass(frozen=True)
class _Grid:
    """What every imputation system on an HxW image shares: the pixels in nested-dissection
    order, and the matrix of the system in which every pixel is unknown (grad-cam's values:
    -weight_sum on the diagonal, the neighbour weights off it), numbered in that order. The
    system of a mask is this matrix's principal submatrix on the removed pixels."""
    nd_pixels: np.ndarray
    matrix: sp.csc_matrix


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> _Grid:
    rank = nested_dissection_rank(height, width)
    nd_pixels = np.argsort(rank)
    rows, cols = np.divmod(nd_pixels, width)
    weight_sum = np.ones(height * width)
    a_rows, a_cols, a_vals = [], [], []
    for (dr, dc), weight in NEIGHBOUR_WEIGHTS:
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        weight_sum[~inside] -= weight          # in grad-cam's order: bitwise its diagonal
        a_rows.append(np.flatnonzero(inside))
        a_cols.append(rank[(r * width + c)[inside]])
        a_vals.append(np.full(a_rows[-1].size, weight))
    n = height * width
    a_rows.append(np.arange(n))
    a_cols.append(np.arange(n))
    a_vals.append(-weight_sum)
    matrix = sp.csc_matrix((np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))),
                           shape=(n, n))
    matrix.sort_indices()
    return _Grid(nd_pixels, matrix)


def imputation_system(removed: np.ndarray, image: np.ndarray
                      ) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """The sparse system A x = b of grad-cam's ``setup_sparse_system``, vectorised.

    ``removed``: HxW bool; ``image``: CxHxW float32. Returns A (csc, unknowns numbered in
    nested-dissection order), b (N x C, float64) and ``order``: unknown k of the system is the
    ``order[k]``-th removed pixel in raster order (grad-cam's numbering).
    """
    height, width = removed.shape
    channels = image.shape[0]
    grid = _grid(height, width)
    flat_removed = removed.ravel()
    selected = flat_removed[grid.nd_pixels]
    system_pixels = grid.nd_pixels[selected]
    order = np.cumsum(flat_removed)[system_pixels] - 1
    matrix = grid.matrix[:, selected][selected, :]
    # b = -(sum of weight x value over the known neighbours), summed in grad-cam's neighbour
    # order with its arithmetic (float32 products subtracted in float64), over the whole grid.
    known = np.where(removed, np.float32(0), np.asarray(image, dtype=np.float32).reshape(channels, height, width))
    b_grid = np.zeros((channels, height, width))
    for (dr, dc), weight in NEIGHBOUR_WEIGHTS:
        target = b_grid[:, max(0, -dr):height - max(0, dr), max(0, -dc):width - max(0, dc)]
        target -= weight * known[:, max(0, dr):height + min(0, dr), max(0, dc):width + min(0, dc)]
    b = b_grid.reshape(channels, -1)[:, system_pixels].T
    return matrix, b, order


# The factorisation runs in float32 (a quarter faster than float64 here) and the solution is
# refined in float64 (iterative refinement: each step solves for the residual in float32). The
# error left after a step is about correction**2 / previous correction (the steps converge
# linearly); once that is below this, relative to the solution, it stops, typically after one
# step with about 1e-8 left. A system too ill-conditioned for that gets a float64 factorisation.
_REFINE_TOLERANCE = 1e-7
_REFINE_STEPS = 4


def _factorise(matrix: sp.csc_matrix):
    return splu(matrix, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})


def _solve(matrix: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
    lu = _factorise(matrix.astype(np.float32))
    x = lu.solve(b.astype(np.float32)).astype(np.float64)
    scale = max(float(np.abs(x).max()), 1e-30)
    previous = scale
    for _ in range(_REFINE_STEPS):
        correction = lu.solve((b - matrix @ x).astype(np.float32))
        x += correction
        size = float(np.abs(correction).max())
        if size == 0 or size * size / previous <= _REFINE_TOLERANCE * scale:
            return x
        if size >= previous:                       # not converging: float32 is not enough here
            break
        previous = size
    return _factorise(matrix).solve(b)


# Channels that are an affine function of the first to within this (times max(1, |values|))
# are imputed from the first channel's solution; float32 normalisation of one grey value per
# channel is exact to about 3e-7 at |values| <= 3.
_AFFINE_TOLERANCE = 2e-6


def channels_as_affine_of_first(image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(alpha, beta) with image[c] == alpha[c] * image[0] + beta[c] for every channel c, or None.

    A grey image replicated to RGB and normalised with per-channel mean/std (every MRI and
    X-ray the app reads) is such an image. Imputation is linear and reproduces constants (the
    weights of every row sum to its diagonal), so its solution for channel c is then
    alpha[c] * (solution for channel 0) + beta[c]: one right-hand side instead of C.
    """
    channels = image.reshape(image.shape[0], -1).astype(np.float64)
    first = channels[0]
    low, high = int(np.argmin(first)), int(np.argmax(first))
    span = first[high] - first[low]
    if span > 0:
        alpha = (channels[:, high] - channels[:, low]) / span
    else:
        alpha = np.zeros(len(channels))
    beta = channels[:, low] - alpha * first[low]
    deviation = np.abs(channels - (alpha[:, None] * first + beta[:, None])).max()
    if deviation > _AFFINE_TOLERANCE * max(1.0, float(np.abs(channels).max())):
        return None
    return alpha, beta


def solve_imputation(removed: np.ndarray, image: np.ndarray,
                     affine: tuple[np.ndarray, np.ndarray] | None | bool = True) -> np.ndarray:
    """The noise-free imputed values, N x C float64, removed pixels in raster order.

    ``affine``: the (alpha, beta) of :func:`channels_as_affine_of_first` when the caller has
    it (computed here when True; False or None: solve every channel).
    """
    n = int(removed.sum())
    channels = image.shape[0]
    if n == removed.size:
        # No known pixel: the system is singular with a zero right-hand side; grad-cam's
        # solver returns zeros here, and so do we.
        return np.zeros((n, channels))
    if n == 0:
        return np.zeros((0, channels))
    if affine is True:
        affine = channels_as_affine_of_first(image) if channels > 1 else None
    if affine:
        alpha, beta = affine
        return solve_imputation(removed, image[:1], affine=False) * alpha + beta
    matrix, b, order = imputation_system(removed, image)
    solution = _solve(matrix, b)
    values = np.empty_like(solution)
    values[order] = solution
    return values


def noisy_linear_impute(image: torch.Tensor, removed: np.ndarray, noise: float = DEFAULT_NOISE,
                        generator: torch.Generator | None = None) -> ImputedImage:
    """Impute the ``removed`` pixels of one CxHxW image (normalised, as the model sees it).

    The noise is drawn from ``generator`` (a private one seeded with 0 when None: the global
    RNG is never touched) with exactly grad-cam's call, so a generator in the state of the
    global RNG reproduces grad-cam's imputation.
    """
    image, removed = _checked(image, removed)
    return add_noise(image, removed, solve_imputation(removed, image.numpy()), noise, generator)


def _checked(image: torch.Tensor, removed: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    if image.ndim != 3:
        raise ValueError(f"ROAD imputation needs a CxHxW image, got shape {tuple(image.shape)}")
    removed = np.asarray(removed, dtype=bool)
    if removed.shape != tuple(image.shape[-2:]):
        raise ValueError(f"ROAD mask {removed.shape} does not match the image {tuple(image.shape[-2:])}")
    return image.detach().to("cpu", torch.float32), removed


def add_noise(image: torch.Tensor, removed: np.ndarray, values: np.ndarray, noise: float = DEFAULT_NOISE,
              generator: torch.Generator | None = None) -> ImputedImage:
    """The imputed image: ``values`` (from :func:`solve_imputation`) plus noise at the removed
    pixels, the original elsewhere. Separate from the solve so that solves can run in
    parallel while the noise is still drawn in a fixed order."""
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    # grad-cam's spsolve returns a Fortran-ordered N x C array, so its res.t() is a contiguous
    # C x N tensor and torch.randn_like(res.t()) fills it in that order: draw the same block.
    imputed = torch.from_numpy(np.ascontiguousarray(values.T, dtype=np.float32))
    draws = torch.empty_like(imputed).normal_(generator=generator)
    flat = image.reshape(image.shape[0], -1).clone()
    flat[:, torch.from_numpy(np.flatnonzero(removed.ravel()))] = imputed + noise * draws
    return ImputedImage(flat.reshape_as(image), removed, bool(removed.all()))
