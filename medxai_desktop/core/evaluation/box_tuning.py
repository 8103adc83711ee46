"""Choosing CrossEAI's box parameters by k-fold cross-validation, and the maps it runs on.

METHODS.md §3 and §7. The explainer maps of every development image are computed once (one
shared pass per image, class and target layer) and cached on disk, so a re-run resumes and
the grid search only re-thresholds: for every map (CAM, layer, alpha, sigma) each tau is
thresholded once, and every box rule (min area, score, top-k) is applied to the same
components. Parameters are chosen on the tuning folds; only the held-out folds' scores are
reported (mean and standard deviation across folds). Images, not patients, are split: where
several images come from one patient (brain_mri), held-out scores are somewhat optimistic.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from medxai_desktop.core.errors import InputFileError, MedXAIError
from medxai_desktop.core.explain.crosseai import CrossEAIParams, fuse, guided_map
from medxai_desktop.core.explain.foreground import foreground_mask, masked
from medxai_desktop.core.jobs import CancelFn, ProgressFn, check_cancelled, report
from medxai_desktop.core.store.map_cache import MapNotCached, load_arrays, save_arrays

from .max_box_acc import max_box_acc_families
from .localisation import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    References,
    component_boxes,
    iobb_matrix,
    iou_matrix,
    map_components,
    metrics_row,
)

GUIDED = "guided"


# ------------------------------------------------------------------------------ cached maps

@dataclass
class ImageMaps:
    """The maps of one image for one target class: raw CAMs per (layer, method) at feature
    resolution (as the engine returns them) and the guided saliency (max |input gradient|
    over channels, unsmoothed) at input resolution. Maps are rebuilt exactly as the engine
    builds them (``Explainer.to_map``), so boxes from here equal ``crosseai_boxes``'."""
    key: str
    target: str
    input_size: tuple[int, int]
    raw: dict[tuple[str, str], np.ndarray]
    saliency: np.ndarray | None
    probabilities: dict[str, float] = field(default_factory=dict)
    foreground: np.ndarray | None = None    # the patient, at input resolution (bool)
    _maps: dict = field(default_factory=dict, repr=False)

    def cam(self, method: str, layer: str) -> np.ndarray:
        from medxai_desktop.core.explain import get_explainer

        if (layer, method) not in self._maps:
            if (layer, method) not in self.raw:
                raise KeyError(f"{self.key}: no {method} map at layer {layer} in the cache")
            self._maps[(layer, method)] = get_explainer(method).to_map(self.raw[(layer, method)],
                                                                     self.input_size)
        return self._maps[(layer, method)]

    def guided(self, sigma: float) -> np.ndarray:
        if self.saliency is None:
            raise KeyError(f"{self.key}: no guided backprop saliency in the cache")
        if ("guided", sigma) not in self._maps:
            self._maps[("guided", sigma)] = guided_map(self.saliency[None], sigma)
        return self._maps[("guided", sigma)]

    def release(self) -> None:
        """Forget the maps built from the raw ones (about 0.2 MB each at 224 px)."""
        self._maps.clear()

    def crosseai(self, params: CrossEAIParams, layer: str, cam: str = "gradcam++") -> np.ndarray:
        """M = alpha G + (1 - alpha) H with H the ``cam`` map (Grad-CAM++ for CrossEAI),
        zeroed outside the patient with ``params.foreground``."""
        if params.alpha == 0:
            fused = self.cam(cam, layer)
        elif params.alpha == 1:
            fused = self.guided(params.sigma)
        else:
            fused = fuse(self.cam(cam, layer), self.guided(params.sigma), params.alpha)
        if not params.foreground:
            return fused
        if self.foreground is None:
            raise KeyError(f"{self.key}: no foreground mask in the cache")
        return masked(fused, self.foreground)


def _model_identity(model) -> dict:
    card = model.card
    # Not the card hash: writing tuned box defaults into the card must not invalidate maps.
    return {"arch": card.arch, "classes": list(card.classes), "input_size": list(card.input_size),
            "mean": list(card.mean), "std": list(card.std),
            "checkpoint": model.checkpoint_sha256 or card.metadata.get("seed"),
            **({"box_head": model.box_head_sha256} if getattr(model, "box_head", None) is not None else {})}


class MapCache:
    """Maps of (image, target class) under ``folder``, one compressed .npz per pair holding
    every layer and method computed so far, stored through the store's map cache
    (``core.store.map_cache``); missing ones are computed and the file rewritten. The key
    covers the model's weights and preprocessing, the image file (path, size, modification
    time) and the class, so a changed file or model misses the cache."""

    def __init__(self, folder: str | Path, model):
        self.folder = Path(folder)
        self.model = model
        self._identity = _model_identity(model)
        self._engines: dict[str, object] = {}
        self.computed = self.loaded = 0

    def engine(self, layer: str):
        from medxai_desktop.core.explain import ExplanationEngine

        if layer not in self._engines:
            self._engines[layer] = ExplanationEngine(self.model, target_layer=layer)
        return self._engines[layer]

    def _key(self, image_path: Path, target: str) -> str:
        try:
            stat = image_path.stat()
        except OSError as exc:
            raise InputFileError(image_path, f"cannot read the image ({exc.strerror or exc})") from None
        ident = json.dumps({"model": self._identity, "image": str(image_path.resolve()),
                            "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "target": target},
                           sort_keys=True)
        return hashlib.sha256(ident.encode()).hexdigest()[:40]

    def _read(self, cache_key: str) -> dict:
        """The cached entry: ``raw`` {(layer, method): map}, ``saliency``, ``foreground``, ``meta``."""
        entry = {"raw": {}, "saliency": None, "foreground": None, "meta": {}}
        try:
            for name, array in load_arrays(self.folder, cache_key).items():
                if name in ("saliency", "foreground"):
                    entry[name] = array
                elif name == "meta":
                    entry["meta"] = json.loads(str(array))
                elif name.startswith("raw__"):
                    _, layer, method = name.split("__", 2)
                    entry["raw"][(layer, method)] = array
        except (MapNotCached, ValueError, KeyError):  # missing, torn or foreign: compute again
            entry = {"raw": {}, "saliency": None, "foreground": None, "meta": {}}
        return entry

    def _write(self, cache_key: str, entry: dict) -> None:
        arrays = {f"raw__{layer}__{method}": a for (layer, method), a in entry["raw"].items()}
        arrays.update({name: entry[name] for name in ("saliency", "foreground") if entry[name] is not None})
        arrays["meta"] = np.asarray(json.dumps(entry["meta"]))
        save_arrays(self.folder, cache_key, arrays)

    def maps(self, key: str, image_path: str | Path, target: str,
             wanted: Mapping[str, Sequence[str]], saliency: bool = True) -> ImageMaps:
        """Maps of the CAMs ``wanted[layer]`` at each layer plus, with ``saliency``, the guided
        saliency, and the foreground mask; computed only where the cache lacks them."""
        from medxai_desktop.core.explain import canonical_name

        image_path = Path(image_path)
        cache_key = self._key(image_path, target)
        entry = self._read(cache_key)
        raw, meta = entry["raw"], entry["meta"]
        missing = {}
        for layer, methods in wanted.items():
            todo = [m for m in dict.fromkeys(canonical_name(m) for m in methods)
                    if m != GUIDED and (layer, m) not in raw]
            if todo:
                missing[layer] = todo
        need_saliency = saliency and entry["saliency"] is None
        if missing or need_saliency or entry["foreground"] is None:
            tensor = self.model.preprocess(_read_image(image_path))
            if missing or need_saliency:
                self._compute(tensor, target, missing, need_saliency, entry,
                              list(wanted) or [self.model.target_layer])
            entry["foreground"] = foreground_mask(tensor, tuple(tensor.shape[-2:]))
            self._write(cache_key, entry)
            self.computed += 1
        else:
            self.loaded += 1
        size = tuple(meta.get("input_size", self.model.card.input_size))
        return ImageMaps(key, target, (int(size[0]), int(size[1])), raw, entry["saliency"],
                         meta.get("probabilities", {}), entry["foreground"])

    def _compute(self, tensor, target: str, missing: dict, need_saliency: bool, entry: dict,
                 layers: Sequence[str]) -> None:
        from medxai_desktop.core.explain.guided_backprop import reduce_input_gradient

        raw, meta = entry["raw"], entry["meta"]
        if need_saliency and not missing:
            missing = {layers[0]: []}
        for n, (layer, todo) in enumerate(missing.items()):
            methods = list(todo) + ([GUIDED] if need_saliency and n == 0 else [])
            result = self.engine(layer).explain(tensor, methods, target=target)
            for name, explanation in result.explanations.items():
                if name != GUIDED:
                    raw[(layer, name)] = np.asarray(explanation.raw, np.float32)
            if GUIDED in methods:
                entry["saliency"] = reduce_input_gradient(result.input_gradient[0])
            meta["probabilities"] = result.prediction.probabilities
            meta["input_size"] = list(tensor.shape[-2:])
            meta["target_index"] = result.target_index


def _read_image(path: Path):
    from medxai_desktop.core.imaging import read_image

    return read_image(path)


def load_maps(cache: MapCache, references: References, wanted: Mapping[str, Sequence[str]],
              saliency: bool = True, progress: ProgressFn | None = None,
              cancelled: CancelFn | None = None
              ) -> tuple[dict[tuple[str, str], ImageMaps], dict[str, str]]:
    """Maps for every (image, target) of ``references`` (see ``References.with_targets``), and
    the images that could not be explained, with the reason (a missing or unreadable file)."""
    pairs = [(key, target) for key in references.images for target in references.targets_of(key)]
    out, skipped = {}, {}
    for n, (key, target) in enumerate(pairs):
        check_cancelled(cancelled, "loading maps")
        path = references.paths.get(key)
        if key in skipped:
            pass
        elif not path:
            skipped[key] = "the image file is not known (give the folder of the images)"
        else:
            try:
                out[(key, target)] = cache.maps(key, path, target, wanted, saliency)
            except InputFileError as exc:
                skipped[key] = str(exc)
        report(progress, n + 1, len(pairs), "maps", key)
    return {k: v for k, v in out.items() if k[0] not in skipped}, skipped


# ------------------------------------------------------------------------------ the grid

@dataclass(frozen=True)
class MapSpec:
    """One map to threshold: a CAM at a layer, fused with the guided map (alpha, sigma), with
    the background zeroed or not (foreground)."""
    cam: str
    layer: str
    alpha: float = 0.0
    sigma: float = 0.0
    foreground: bool = False



@dataclass(frozen=True)
class Grid:
    alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    taus: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    sigmas: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0)
    min_areas: tuple[float, ...] = (0.0, 0.005, 0.02, 0.05)
    scores: tuple[str, ...] = ("mean", "max")
    top_ks: tuple[int, ...] = (1,)
    layers: tuple[str, ...] = ("layer4",)
    cams: tuple[str, ...] = ("gradcam++",)  # others run with alpha = 0 only; "cam@layer": that layer only
    foregrounds: tuple[bool, ...] = (False,)  # (False, True): also try the maps masked to the patient

    def cams_at(self, layer: str) -> list[str]:
        return [c.partition("@")[0] for c in self.cams if c.partition("@")[2] in ("", layer)]

    def map_specs(self) -> list[MapSpec]:
        specs = []
        for layer in self.layers:
            for cam in self.cams_at(layer):
                specs.append(MapSpec(cam, layer))
                if cam != "gradcam++":
                    continue
                specs += [MapSpec(cam, layer, a, s) for a in self.alphas if 0 < a < 1 for s in self.sigmas]
        if 1.0 in self.alphas:  # the guided map alone does not depend on the CAM layer
            specs += [MapSpec("gradcam++", self.layers[0], 1.0, s) for s in self.sigmas]
        specs = [replace(spec, foreground=f) for f in self.foregrounds for spec in specs]
        return list(dict.fromkeys(specs))

    def rules(self) -> list[tuple[float, str, int]]:
        return [(a, s, k) for a in self.min_areas for s in self.scores for k in self.top_ks]


@dataclass(frozen=True)
class GridPoint:
    spec: MapSpec
    tau: float
    min_area: float
    score: str
    top_k: int

    def params(self) -> CrossEAIParams:
        return CrossEAIParams(alpha=self.spec.alpha, tau=self.tau, sigma=self.spec.sigma,
                              min_area=self.min_area, top_k=self.top_k, score=self.score,
                              foreground=self.spec.foreground)

    def to_dict(self) -> dict:
        return {"cam": self.spec.cam, "layer": self.spec.layer,
                **self.params().to_dict()}


@dataclass
class GridScores:
    """Per grid point and reference box: best IoU / IoBB; per grid point and image: boxes and
    false positives at every threshold. Rows follow ``references``' image and box order."""
    points: list[GridPoint]
    references: References
    ref_image: np.ndarray       # (R,)
    best_iou: np.ndarray        # (G, R) float32
    best_iobb: np.ndarray       # (G, R)
    n_pred: np.ndarray          # (G, I) int
    fp_iou: np.ndarray          # (G, I, len(IOU_THRESHOLDS)) int
    fp_iobb: np.ndarray         # (G, I, len(IOBB_THRESHOLDS)) int

    def families(self) -> dict[str, np.ndarray]:
        """Grid point indices per family: each CAM alone at each layer ("gradcam++@layer4"),
        the guided map alone ("guided"), and CrossEAI: every Grad-CAM++-based point (alpha in
        [0, 1], so it can fall back to either map alone), at any layer ("crosseai") and, when
        several layers were tried, at each layer ("crosseai@layer3")."""
        groups: dict[str, list[int]] = {}
        for g, p in enumerate(self.points):
            if 0 < p.spec.alpha < 1:
                continue
            groups.setdefault(GUIDED if p.spec.alpha == 1 else f"{p.spec.cam}@{p.spec.layer}", []).append(g)
        layers = list(dict.fromkeys(p.spec.layer for p in self.points))
        if len(layers) > 1:
            for layer in layers:
                groups[f"crosseai@{layer}"] = [
                    g for g, p in enumerate(self.points)
                    if p.spec.cam == "gradcam++" and (p.spec.layer == layer or p.spec.alpha == 1)]
        groups["crosseai"] = [g for g, p in enumerate(self.points) if p.spec.cam == "gradcam++"]
        return {name: np.asarray(idx) for name, idx in groups.items() if idx}


def evaluate_grid(references: References, maps: dict[tuple[str, str], ImageMaps], grid: Grid,
                  match_labels: bool = True, progress: ProgressFn | None = None) -> GridScores:
    specs, rules = grid.map_specs(), grid.rules()
    points = [GridPoint(s, t, a, sc, k) for s in specs for t in grid.taus for a, sc, k in rules]
    n_rules, n_taus = len(rules), len(grid.taus)
    images = references.images
    ref_image = np.asarray([i for i, key in enumerate(images) for _ in references.boxes.get(key, [])], int)
    G, R, I = len(points), len(ref_image), len(images)
    best_iou = np.zeros((G, R), np.float32)
    best_iobb = np.zeros((G, R), np.float32)
    n_pred = np.zeros((G, I), np.int32)
    fp_iou = np.zeros((G, I, len(IOU_THRESHOLDS)), np.int32)
    fp_iobb = np.zeros((G, I, len(IOBB_THRESHOLDS)), np.int32)
    first_ref = 0
    for i, key in enumerate(images):
        refs = references.boxes.get(key, [])
        size = references.sizes[key]
        ref_xyxy = np.asarray([(b.box.x0, b.box.y0, b.box.x1, b.box.y1) for b in refs], np.float64).reshape(-1, 4)
        for target in references.targets_of(key):
            image_maps = maps[(key, target)]
            ref_mask = np.asarray([(not match_labels) or references.target_of(b.label) == target
                                   for b in refs], bool)
            columns = first_ref + np.flatnonzero(ref_mask)
            mine = ref_xyxy[ref_mask]
            for s, spec in enumerate(specs):
                params = CrossEAIParams(alpha=spec.alpha, sigma=spec.sigma, foreground=spec.foreground)
                heatmap = image_maps.crosseai(params, spec.layer, spec.cam)
                for t, tau in enumerate(grid.taus):
                    comps = map_components(heatmap, tau)
                    if not len(comps):
                        continue
                    g0 = (s * n_taus + t) * n_rules
                    _score_rules(comps, rules, size, mine, columns, best_iou, best_iobb,
                                 n_pred[g0:g0 + n_rules, i], fp_iou[g0:g0 + n_rules, i],
                                 fp_iobb[g0:g0 + n_rules, i], g0)
            image_maps.release()
        first_ref += len(refs)
        report(progress, i + 1, I, "grid", key)
    return GridScores(points, references, ref_image, best_iou, best_iobb, n_pred, fp_iou, fp_iobb)


_T_IOU, _T_IOBB = np.asarray(IOU_THRESHOLDS), np.asarray(IOBB_THRESHOLDS)


def _score_rules(comps, rules, size, refs_xyxy, columns, best_iou, best_iobb, n_pred, fp_iou,
                 fp_iobb, g0) -> None:
    """Every box rule on one thresholding: IoU/IoBB of all components with the references
    once, then per rule only the choice of components (same order as select_components)."""
    every = component_boxes(comps, np.arange(len(comps)), size)
    iou, iobb = iou_matrix(refs_xyxy, every), iobb_matrix(refs_xyxy, every)
    has_refs = len(refs_xyxy) > 0
    comp_iou = iou.max(axis=0) if has_refs else np.zeros(len(comps))
    comp_iobb = iobb.max(axis=0) if has_refs else np.zeros(len(comps))
    fp_at_iou = comp_iou[:, None] <= _T_IOU[None]
    fp_at_iobb = comp_iobb[:, None] <= _T_IOBB[None]
    box_area = (comps.boxes[:, 2] - comps.boxes[:, 0]) * (comps.boxes[:, 3] - comps.boxes[:, 1])
    orders = {sc: np.lexsort((-box_area, -(comps.mean if sc == "mean" else comps.peak)))
              for sc in {r[1] for r in rules}}
    h, w = comps.shape
    for r, (min_area, score, top_k) in enumerate(rules):
        order = orders[score]
        kept = order[comps.area[order] >= min_area * h * w]
        chosen = kept[:top_k] if top_k > 0 else kept
        n_pred[r] += len(chosen)
        if not len(chosen):
            continue
        if has_refs:
            g = g0 + r
            best_iou[g, columns] = np.maximum(best_iou[g, columns], iou[:, chosen].max(axis=1))
            best_iobb[g, columns] = np.maximum(best_iobb[g, columns], iobb[:, chosen].max(axis=1))
        fp_iou[r] += fp_at_iou[chosen].sum(axis=0)
        fp_iobb[r] += fp_at_iobb[chosen].sum(axis=0)


# ------------------------------------------------------------------------------ scoring

OBJECTIVES = ("overall", "mean_iou") + tuple(f"acc_iou_{t:g}" for t in IOU_THRESHOLDS)


def objective_values(metrics: dict[str, np.ndarray], objective: str) -> np.ndarray:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    return metrics["overall_iou" if objective == "overall" else objective]


def grid_metrics(scores: GridScores, rows: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of grid points ``rows`` over the image indices ``images`` (and their boxes)."""
    refs = np.isin(scores.ref_image, images)
    return metrics_row(scores.best_iou[np.ix_(rows, refs)], scores.best_iobb[np.ix_(rows, refs)],
                       scores.n_pred[np.ix_(rows, images)].sum(axis=-1),
                       scores.fp_iou[rows][:, images].sum(axis=-2),
                       scores.fp_iobb[rows][:, images].sum(axis=-2), len(images))


def fixed_box_metrics(references: References, train: Sequence[str], test: Sequence[str],
                      match_labels: bool = True) -> dict[str, float]:
    """The trivial baseline on ``test``: one box per (image, class) at the mean of ``train``'s boxes."""
    from .localisation import fixed_box_predictions, mean_box_fractions, score_boxes

    subset = references.subset(test)
    scores = score_boxes(subset, fixed_box_predictions(subset, mean_box_fractions(references, train)),
                         "fixed box", match_labels)
    row = scores.summary()
    return {k: v for k, v in row.items() if k not in ("method", "images", "boxes")}


@dataclass
class FoldResult:
    fold: int
    family: str
    chosen: dict
    tuning_objective: float
    held_out: dict[str, float]


@dataclass
class TuningResult:
    objective: str
    folds: int
    seed: int
    n_images: int
    n_boxes: int
    fold_results: list[FoldResult]
    chosen_all: dict[str, dict]          # family -> parameters chosen on every image
    grid_size: int
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)   # images left out, with the reason
    max_box_acc: list[dict] = field(default_factory=list)    # MaxBoxAccV2 per family (max_box_acc.py)

    def summary(self) -> list[dict]:
        """Held-out folds' scores per family: mean and sd across folds."""
        rows = []
        for family in dict.fromkeys(r.family for r in self.fold_results):
            results = [r for r in self.fold_results if r.family == family]
            row = {"family": family, "folds": len(results)}
            for metric in results[0].held_out:
                values = np.asarray([r.held_out[metric] for r in results], np.float64)
                row[f"{metric}_mean"] = float(values.mean())
                row[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        return {"objective": self.objective, "folds": self.folds, "seed": self.seed,
                "images": self.n_images, "boxes": self.n_boxes, "grid_points": self.grid_size,
                "held_out_summary": self.summary(), "chosen_on_all_images": self.chosen_all,
                "per_fold": [r.__dict__ for r in self.fold_results], "seconds": self.seconds,
                "skipped": self.skipped, "max_box_acc": self.max_box_acc}


def cross_validate(scores: GridScores, folds: int = 5, seed: int = 0, objective: str = "overall",
                   match_labels: bool = True) -> TuningResult:
    """For each fold and family, choose the grid point with the best ``objective`` on the other
    folds and score it on the held-out fold; also the fixed-box baseline (mean box of the tuning
    folds). Ties go to the first grid point in grid order."""
    from sklearn.model_selection import KFold

    n_images = len(scores.references.images)
    if folds < 2 or folds > n_images:
        raise MedXAIError(f"{folds} folds need between 2 and {n_images} (the number of images)")
    families = scores.families()
    keys = np.asarray(scores.references.images, dtype=object)
    results: list[FoldResult] = []
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    for f, (tune, test) in enumerate(splitter.split(np.arange(n_images))):
        for family, rows in families.items():
            values = objective_values(grid_metrics(scores, rows, tune), objective)
            best = int(rows[int(np.argmax(values))])
            held = grid_metrics(scores, np.asarray([best]), test)
            results.append(FoldResult(f, family, scores.points[best].to_dict(), float(values.max()),
                                      {k: float(v[0]) for k, v in held.items()}))
        results.append(FoldResult(f, "fixed box", {}, float("nan"),
                                  fixed_box_metrics(scores.references, keys[tune], keys[test], match_labels)))
    everything = np.arange(n_images)
    chosen_all = {}
    for family, rows in families.items():
        values = objective_values(grid_metrics(scores, rows, everything), objective)
        best = int(rows[int(np.argmax(values))])
        chosen_all[family] = dict(scores.points[best].to_dict(), objective=float(values.max()))
    return TuningResult(objective, folds, seed, n_images, scores.references.n_boxes, results,
                        chosen_all, len(scores.points))


# ------------------------------------------------------------------------------ the card

def card_defaults(chosen: dict) -> dict:
    """The ``crosseai`` entry of a model card from a chosen grid point."""
    params = CrossEAIParams.from_dict(chosen).to_dict()
    params["layer"] = chosen["layer"]
    return params


def write_card_defaults(card_path: str | Path, chosen: dict, provenance: dict,
                        out_path: str | Path | None = None, extra: dict | None = None) -> Path:
    """Write the chosen CrossEAI defaults into the card's ``crosseai`` entry (and how they were
    chosen into ``crosseai_tuning``) through ModelCard, keeping its canonical form. With
    ``out_path``, the card is left alone and a copy is written there, its checkpoint path made
    relative to the copy's folder (the same checkpoint file, the same sha256). ``extra`` entries
    (the other proposal methods' rules, the recommended one) are written beside."""
    return _write_card(card_path, out_path, {"crosseai": card_defaults(chosen), "crosseai_tuning": provenance,
                                             **(extra or {})})


def write_card_proposals(card_path: str | Path, out_path: str | Path | None, proposals: dict,
                         recommended: str) -> Path:
    """Write measured box rules (``proposals``, merged into the card's) and the recommended
    method into the card (or a copy at ``out_path``), leaving its CrossEAI entry as it is."""
    from medxai_desktop.core.models.card import load_card

    merged = {**(load_card(card_path).metadata.get("proposals") or {}), **proposals}
    return _write_card(card_path, out_path, {"proposals": merged, "recommended_proposal": recommended})


def _write_card(card_path: str | Path, out_path: str | Path | None, entries: dict) -> Path:
    from medxai_desktop.core.models.card import load_card

    card = load_card(card_path)
    card.metadata.update(entries)
    if out_path is None:
        return card.save(card_path)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    source, target = Path(card_path).resolve().parent, out_path.parent.resolve()
    if target != source:  # a card's files live beside it: the copy gets its own (hard-linked where possible)
        if card.checkpoint is not None:
            _link_or_copy(card.checkpoint_path, target / card.checkpoint_path.name)
            card.checkpoint = card.checkpoint_path.name
        head = (card.metadata.get("box_head") or {}).get("file")
        if head:
            _link_or_copy(source / head, target / head)
    return card.save(out_path)


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists() and target.stat().st_size == source.stat().st_size and \
            target.read_bytes() == source.read_bytes():
        return
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def tune(cache: MapCache, references: References, grid: Grid, folds: int = 5, seed: int = 0,
         objective: str = "overall", fallback_target: str | None = None, match_labels: bool = True,
         progress: ProgressFn | None = None) -> tuple[TuningResult, GridScores]:
    """Maps (cached) -> grid scores -> cross-validation."""
    times = {}
    t0 = time.perf_counter()
    references = references.with_targets(cache.model.classes, fallback_target)
    maps, skipped = load_maps(cache, references, {layer: grid.cams_at(layer) for layer in grid.layers},
                              saliency=any(a > 0 for a in grid.alphas),
                              progress=progress)
    times["maps"] = time.perf_counter() - t0
    if skipped:
        references = references.subset([k for k in references.images if k not in skipped])
    t0 = time.perf_counter()
    scores = evaluate_grid(references, maps, grid, match_labels,
                           progress=progress)
    times["grid"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = cross_validate(scores, folds, seed, objective, match_labels)
    times["cross_validation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result.max_box_acc = max_box_acc_families(references, maps, choe_families(grid, result.chosen_all),
                                              match_labels)
    times["max_box_acc"] = time.perf_counter() - t0
    result.seconds = times
    result.skipped = skipped
    return result, scores


def choe_families(grid: Grid, chosen: Mapping[str, dict]) -> dict:
    """The maps MaxBoxAccV2 scores: each CAM alone at each layer (and masked to the patient
    when the grid tried that), the guided map at the grid's middle sigma, and CrossEAI's
    fusion at the alpha, sigma, layer and mask chosen on every image (the threshold is the
    metric's own)."""
    families = {}
    for foreground in grid.foregrounds:
        suffix = " (foreground)" if foreground else ""
        for layer in grid.layers:
            for cam in grid.cams_at(layer):
                params = CrossEAIParams(alpha=0.0, foreground=foreground)
                families[f"{cam}@{layer}{suffix}"] = (
                    lambda m, p=params, c=cam, lay=layer: m.crosseai(p, lay, c))
        if 1.0 in grid.alphas:
            params = CrossEAIParams(alpha=1.0, sigma=grid.sigmas[len(grid.sigmas) // 2], foreground=foreground)
            families[f"{GUIDED}{suffix}"] = lambda m, p=params: m.crosseai(p, grid.layers[0])
    if "crosseai" in chosen:
        best = chosen["crosseai"]
        params = CrossEAIParams.from_dict(best)
        families["crosseai (chosen alpha, sigma, layer)"] = lambda m, p=params, lay=best["layer"]: m.crosseai(p, lay)
    return families


def write_tuning_outputs(result: TuningResult, scores: GridScores, out_dir: str | Path) -> dict[str, Path]:
    """tuning.json (everything), held_out.csv (per family, mean and sd over folds), folds.csv
    (each fold's choice and held-out scores) and grid.csv (every grid point on every image:
    for inspection only, these are not held-out numbers)."""
    from medxai_desktop.core.reports.html_report import write_csv, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folds = [dict(fold=r.fold, family=r.family, tuning_objective=r.tuning_objective,
                  **{f"chosen_{k}": v for k, v in r.chosen.items() if k != "family"},
                  **{f"held_out_{k}": v for k, v in r.held_out.items()}) for r in result.fold_results]
    rows = np.arange(len(scores.points))
    metrics = grid_metrics(scores, rows, np.arange(len(scores.references.images)))
    grid = [dict(scores.points[g].to_dict(), **{k: float(v[g]) for k, v in metrics.items()}) for g in rows]
    return {"json": write_json(out / "tuning.json", result.to_dict()),
            "held_out": write_csv(out / "held_out.csv", result.summary()),
            "max_box_acc": write_csv(out / "max_box_acc.csv", result.max_box_acc),
            "folds": write_csv(out / "folds.csv", folds),
            "grid": write_csv(out / "grid.csv", grid)}


def parse_floats(text: str | Iterable[float]) -> tuple[float, ...]:
    if not isinstance(text, str):
        return tuple(float(v) for v in text)
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def tuned_crosseai(result: TuningResult) -> bool:
    """Whether this run tuned CrossEAI (Grad-CAM++ and the guided map) at all."""
    return "crosseai" in result.chosen_all


def recorded_crosseai_score(card) -> float | None:
    """The held-out mean accuracy over T(IoU) that the card's CrossEAI tuning recorded."""
    held_out = (card.metadata.get("crosseai_tuning") or {}).get("held_out") or {}
    return held_out.get("overall_iou_mean")


def card_family(result: TuningResult, target_layer: str) -> str:
    """The tuned family whose parameters go into the card: the app and ``explain --boxes``
    compute Grad-CAM++ at the card's target layer, so CrossEAI at that layer when it was tried,
    else CrossEAI over all tried layers."""
    family = f"crosseai@{target_layer}"
    return family if family in result.chosen_all else "crosseai"


def other_layers_did_better(result: TuningResult, family: str) -> bool:
    """Whether CrossEAI over all tried layers scored higher held-out than the card's family."""
    held_out = {r["family"]: r for r in result.summary()}
    return family != "crosseai" and held_out["crosseai"]["overall_iou_mean"] > held_out[family]["overall_iou_mean"]


def card_proposals(result: TuningResult, target_layer: str,
                   recorded_crosseai: float | None = None) -> tuple[dict, str]:
    """(``proposals``, ``recommended_proposal``) of a model card: the box rule chosen on every
    image for each CAM alone at the card's target layer (what ``explain --boxes default`` can
    compute there), and the proposal method whose held-out mean accuracy over T(IoU) was best
    among those and CrossEAI (``card_family``; when this run did not tune CrossEAI, the held-out
    score ``recorded_crosseai`` that the card recorded when it was tuned)."""
    held_out = {r["family"]: r["overall_iou_mean"] for r in result.summary()}
    fallback = float("-inf") if recorded_crosseai is None else recorded_crosseai
    proposals, scores = {}, {"crosseai": held_out.get(card_family(result, target_layer), fallback)}
    for family, chosen in result.chosen_all.items():
        cam, _, layer = family.partition("@")
        if layer == target_layer and cam not in ("gradcam++", "crosseai"):
            proposals[cam] = card_defaults(chosen)
            scores[cam] = held_out.get(family, float("-inf"))
    return proposals, max(scores, key=lambda name: (scores[name], name == "crosseai"))
