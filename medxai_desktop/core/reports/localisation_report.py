"""The localisation report: how well each explainer's boxes and maps agree with reference boxes.

``build_localisation_report`` is what ``medxai report localization`` and the desktop app's
Reports menu call. For every evaluated image it explains the class of each reference box once
(maps cached on disk, so an interrupted run resumes), turns the maps into boxes by each box
method, and writes a self-contained HTML report (accuracy-vs-threshold curves, per-class
tables, energy and pointing game, false positives, examples) and the CSV/JSON of every number.

Box methods (names as given to ``methods``):
  crosseai            CrossEAI with the given parameters (the model card's ``crosseai`` entry)
  crosseai-defaults   CrossEAI with the built-in defaults (added when the card's differ)
  <cam>[@layer]       that CAM alone through the same box step: its own rule from the card's
                      ``proposals`` when tuned at that layer, else CrossEAI's (tau, min area, top-k, score)
  guided              the smoothed Guided Backprop map alone, same box step
  wang                Grad-CAM++ thresholded at Wang et al.'s 60/255 and 180/255 of the max
  fixed-box           one box per image at the mean training-box position (trivial baseline)
  stored              the proposals in the review database (store reports only)
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medxai_desktop.core.boxes import BoxProposal
from medxai_desktop.core.errors import MedXAIError
from medxai_desktop.core.jobs import CancelFn, ProgressFn
from medxai_desktop.core.evaluation.box_tuning import (
    GUIDED,
    ImageMaps,
    MapCache,
    load_maps,
)
from medxai_desktop.core.evaluation.localisation import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    References,
    fixed_box_predictions,
    proposal_outcomes,
    score_boxes,
    score_map,
    summarise_map_scores,
    summarise_outcomes,
)
from medxai_desktop.core.explain.crosseai import (
    WANG_THRESHOLDS,
    CrossEAIParams,
    boxes_from_map,
)

from .html_report import HtmlReport, legend_beside, write_csv, write_json

DEFAULT_METHODS = ("crosseai", "gradcam++", "xgradcam", "eigengradcam", "layercam", "ablationcam",
                   "gradcam", "guided", "wang", "fixed-box")


@dataclass(frozen=True)
class BoxMethod:
    name: str
    kind: str                      # crosseai, cam, guided, wang, fixed, stored
    cam: str = "gradcam++"
    layer: str | None = None
    params: CrossEAIParams | None = None

    def describe(self) -> str:
        p = self.params
        if self.kind in ("fixed", "stored"):
            return {"fixed": "one box at the mean training-box position",
                    "stored": "the proposals stored in the review database"}[self.kind]
        rule = f"tau {p.tau:g}, min area {p.min_area:g}, top-k {p.top_k}, score {p.score}"
        if self.kind == "crosseai":
            same = " (alpha 1 weighs the Guided Backprop map alone: the boxes of 'guided')" if p.alpha == 1 else ""
            return f"alpha {p.alpha:g}{same}, sigma {p.sigma:g}, {rule}, Grad-CAM++ at {self.layer}"
        if self.kind == "guided":
            return f"Guided Backprop map (sigma {p.sigma:g}), {rule}"
        return f"{self.cam} at {self.layer}, {rule}"


def crosseai_settings(card) -> tuple[CrossEAIParams, str | None, bool]:
    """(parameters, layer, from the card?) of CrossEAI for a model card."""
    entry = card.metadata.get("crosseai") if card is not None else None
    if not entry:
        return CrossEAIParams(), None, False
    return CrossEAIParams.from_dict(entry), entry.get("layer"), True


def parse_methods(names: Sequence[str], model, params: CrossEAIParams | None = None,
                  crosseai_layer: str | None = None, layer: str | None = None,
                  has_store: bool = False) -> list[BoxMethod]:
    """Box methods from their names (see the module docstring)."""
    from medxai_desktop.core.explain import canonical_name

    card_params, card_layer, from_card = crosseai_settings(model.card if model is not None else None)
    params = params or card_params
    default_layer = layer or (model.target_layer if model is not None else None)
    crosseai_layer = crosseai_layer or card_layer or default_layer
    methods: list[BoxMethod] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name in ("stored", "fixed-box", "fixed box"):
            if name == "stored" and not has_store:
                raise ValueError("'stored' proposals exist only in a review database (--db)")
            methods.append(BoxMethod("stored proposals" if name == "stored" else "fixed box",
                                     "stored" if name == "stored" else "fixed"))
            continue
        if model is None:
            raise ValueError(f"method {raw!r} needs a model (--model)")
        if name == "crosseai":
            methods.append(BoxMethod("crosseai", "crosseai", layer=crosseai_layer, params=params))
            if from_card and (params != CrossEAIParams() or crosseai_layer != default_layer):
                methods.append(BoxMethod("crosseai (defaults)", "crosseai", layer=default_layer,
                                         params=CrossEAIParams()))
        elif name == "crosseai-defaults":
            methods.append(BoxMethod("crosseai (defaults)", "crosseai", layer=default_layer,
                                     params=CrossEAIParams()))
        elif name == "wang":
            for t in WANG_THRESHOLDS:
                methods.append(BoxMethod(f"wang {round(t * 255)}/255", "wang", "gradcam++", default_layer,
                                         params.with_(alpha=0.0, tau=float(t))))
        elif canonical_name(name.partition("@")[0]) == GUIDED:
            methods.append(BoxMethod(GUIDED, "guided", params=params.with_(alpha=1.0)))
        else:
            cam, _, at = name.partition("@")
            cam = canonical_name(cam)
            at = at or default_layer
            label = cam if at == default_layer else f"{cam}@{at}"
            methods.append(BoxMethod(label, "cam", cam, at, _cam_rule(model.card, cam, at, params)))
    seen = set()
    unique = [m for m in methods if not (m.name in seen or seen.add(m.name))]
    if not unique:
        raise ValueError("no localisation method given")
    return unique


def _cam_rule(card, cam: str, layer: str, params: CrossEAIParams) -> CrossEAIParams:
    """A CAM's own tuned box rule from the card's ``proposals`` (tune-boxes --write-card) when
    it was tuned at ``layer``; else CrossEAI's rule with alpha 0."""
    rule = (card.metadata.get("proposals") or {}).get(cam) if card is not None else None
    if rule and rule.get("layer", layer) == layer:
        return CrossEAIParams.from_dict(rule).with_(alpha=0.0)
    return params.with_(alpha=0.0)


def _wanted_maps(methods: Sequence[BoxMethod]) -> tuple[dict[str, list[str]], bool]:
    wanted: dict[str, list[str]] = {}
    saliency = False
    for m in methods:
        if m.kind in ("crosseai", "cam", "wang"):
            wanted.setdefault(m.layer, [])
            if m.cam not in wanted[m.layer]:
                wanted[m.layer].append(m.cam)
        saliency |= m.kind == "guided" or (m.kind == "crosseai" and m.params.alpha > 0)
    return wanted, saliency


def _method_map(method: BoxMethod, maps: ImageMaps) -> np.ndarray:
    if method.kind == "guided":
        return maps.guided(method.params.sigma)
    if method.kind == "crosseai":
        return maps.crosseai(method.params, method.layer)
    return maps.cam(method.cam, method.layer)


@dataclass
class LocalisationResult:
    summary: list[dict]
    per_class: list[dict]
    per_box: list[dict]
    map_summary: list[dict]
    map_per_class: list[dict]
    map_scores: list[dict]
    proposals: list[dict] = field(default_factory=list)
    proposal_summary: dict | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def predict_boxes(method: BoxMethod, references: References, key: str,
                  maps: Mapping[tuple[str, str], ImageMaps]) -> list[BoxProposal]:
    """Predicted boxes of a map-based method on one image, labelled with the target."""
    p, out = method.params, []
    for target in references.targets_of(key):
        heatmap = _method_map(method, maps[(key, target)])
        out += boxes_from_map(heatmap, p.tau, p.min_area, p.top_k, references.sizes[key], target,
                              method.name, p.to_dict(), p.score)
    return out


def _stored_predictions(store, references: References) -> dict[str, list[BoxProposal]]:
    proposals = store.proposals_annotations()
    out: dict[str, list[BoxProposal]] = {k: [] for k in references.images}
    for b in proposals.boxes:
        if b.image_key in out:
            out[b.image_key].append(BoxProposal(b.box, b.score or 0.0, b.label, b.method or "stored"))
    return out


def evaluate_localisation(references: References, model=None, methods: Sequence[str] = DEFAULT_METHODS,
                          params: CrossEAIParams | None = None, crosseai_layer: str | None = None,
                          layer: str | None = None, cache_dir: str | Path | None = None,
                          fallback_target: str | None = None, store=None, fixed_fractions=None,
                          progress: ProgressFn | None = None,
                          cancelled: CancelFn | None = None
                          ) -> tuple[LocalisationResult, dict, list[BoxMethod], References, dict]:
    """The numbers: box scores per method, map scores per map, proposal outcomes (store); also
    the predictions, the methods, the references evaluated and the maps, for the report."""
    box_methods = parse_methods(methods, model, params, crosseai_layer, layer, store is not None)
    if model is not None:
        references = references.with_targets(model.classes, fallback_target)
    maps: dict = {}
    skipped: dict[str, str] = {}
    wanted, saliency = _wanted_maps(box_methods)
    if wanted or saliency:
        if cache_dir is None:
            raise MedXAIError("a map cache folder is needed to explain images")
        cache = MapCache(cache_dir, model)
        maps, skipped = load_maps(cache, references, wanted or {model.target_layer: []}, saliency,
                                  progress, cancelled)
        references = references.subset([k for k in references.images if k not in skipped])
    if not references.images:
        raise MedXAIError("no image with reference boxes could be evaluated"
                          + (f" ({len(skipped)} skipped, e.g. {next(iter(skipped.values()))})" if skipped else ""))
    boxed = [m for m in box_methods if m.kind in ("crosseai", "cam", "guided", "wang")]
    map_methods = [m for m in boxed if m.kind != "wang"]  # Wang's map is Grad-CAM++'s
    predictions: dict[str, dict[str, list[BoxProposal]]] = {m.name: {} for m in boxed}
    map_scores = []
    for key in references.images:  # image by image, so that only one image's maps are held
        for m in boxed:
            predictions[m.name][key] = predict_boxes(m, references, key, maps)
        for target in references.targets_of(key):
            boxes = [b.box for b in references.boxes[key] if references.target_of(b.label) == target]
            for m in map_methods:
                map_scores.append(score_map(m.name, key, target, _method_map(m, maps[(key, target)]),
                                            boxes, references.sizes[key]))
            if (key, target) in maps:
                maps[(key, target)].release()
    for m in box_methods:
        if m.kind == "fixed":
            predictions[m.name] = fixed_box_predictions(references, fixed_fractions, m.name)
        elif m.kind == "stored":
            predictions[m.name] = _stored_predictions(store, references)
    summary, per_class, per_box = [], [], []
    for m in box_methods:
        scores = score_boxes(references, predictions[m.name], m.name)
        summary.append(dict(scores.summary(), settings=m.describe()))
        per_class += scores.per_class(references)
        per_box += scores.per_box(references)
    result = LocalisationResult(
        summary, per_class, per_box, summarise_map_scores(map_scores),
        summarise_map_scores(map_scores, by_label=True),
        [s.__dict__ for s in map_scores], skipped=skipped)
    if store is not None:
        outcomes = proposal_outcomes(store)
        result.proposals = [{"image": o.image, "box_id": o.box_id, "method": o.method, "label": o.label,
                             "state": o.state, "iou_with_final": o.iou,
                             **{f"proposal_{k}": v for k, v in zip(("x0", "y0", "x1", "y1"), _xyxy(o.proposal))},
                             **{f"final_{k}": v for k, v in zip(("x0", "y0", "x1", "y1"), _xyxy(o.final))}}
                            for o in outcomes]
        result.proposal_summary = summarise_outcomes(outcomes)
    return result, predictions, box_methods, references, maps


def _xyxy(box) -> tuple:
    return (None,) * 4 if box is None else (box.x0, box.y0, box.x1, box.y1)


# ------------------------------------------------------------------------------ figures

def _curve_figure(rows: Sequence[dict], thresholds, prefix: str, xlabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    colours = plt.get_cmap("tab20").colors
    for n, row in enumerate(rows):
        axis.plot(thresholds, [row[f"{prefix}_{t:g}"] for t in thresholds], marker="os^vDP*X"[n % 8],
                  color=colours[(2 * n) % 20 if n < 10 else (2 * n + 1) % 20], label=row["method"],
                  linestyle="-" if n < 10 else "--")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("localisation accuracy")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    legend_beside(axis, ncol=1 if len(rows) <= 12 else 2)
    return figure


def _box_plot(per_box: Sequence[dict], methods: Sequence[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    data = [[r["best_iou"] for r in per_box if r["method"] == m] for m in methods]
    axis.boxplot(data, showmeans=True)
    axis.set_xticks(range(1, len(methods) + 1), methods, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel("best IoU per reference box")
    axis.grid(alpha=0.3, axis="y")
    return figure


def _energy_figure(rows: Sequence[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    names = [r["method"] for r in rows]
    axis.bar(range(len(rows)), [r["energy"] for r in rows], color="#4477aa", label="energy inside boxes")
    axis.bar(range(len(rows)), [r["pointing"] for r in rows], width=0.3, color="#ee6677", label="pointing game")
    if rows:
        axis.axhline(rows[0]["uniform_energy"], color="k", linestyle="--", label="uniform map's energy")
    axis.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
    axis.set_ylim(0, 1)
    legend_beside(axis)
    axis.grid(alpha=0.3, axis="y")
    return figure


def _example_tile(image_path: str, heatmap: np.ndarray | None, predicted: Sequence[BoxProposal],
                  references: Sequence, width: int = 300) -> np.ndarray:
    import cv2

    from medxai_desktop.core.imaging import read_image
    from medxai_desktop.core.overlay import draw_boxes, overlay_heatmap

    display = read_image(image_path).display()
    tile = overlay_heatmap(display, heatmap) if heatmap is not None else np.repeat(
        display[:, :, None] if display.ndim == 2 else display[..., :1], 3, axis=2)
    tile = draw_boxes(tile, list(predicted), colour=(0, 255, 0))
    thickness = max(1, round(max(tile.shape[:2]) / 200))
    for b in references:
        cv2.rectangle(tile, (round(b.box.x0), round(b.box.y0)), (round(b.box.x1) - 1, round(b.box.y1) - 1),
                      (255, 40, 40), thickness)
    scale = width / tile.shape[1]
    return cv2.resize(tile, (width, max(1, round(tile.shape[0] * scale))), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------------ the report

_TABLE_COLUMNS = (["method", "images", "boxes", "predicted_per_image", "mean_iou"]
                  + [f"acc_iou_{t:g}" for t in IOU_THRESHOLDS] + ["overall_iou"])


def build_localisation_report(references: References, out_dir: str | Path, model=None,
                              methods: Sequence[str] = DEFAULT_METHODS,
                              params: CrossEAIParams | None = None, crosseai_layer: str | None = None,
                              layer: str | None = None, cache_dir: str | Path | None = None,
                              fallback_target: str | None = None, store=None, fixed_fractions=None,
                              examples: int = 8, title: str = "Localisation report",
                              description: str = "", progress: ProgressFn | None = None,
                              cancelled: CancelFn | None = None) -> LocalisationResult:
    """Evaluate and write ``report.html`` plus CSV/JSON under ``out_dir``. ``references``: the
    reviewed boxes (``references_from_annotations`` of an import or of
    ``store.reference_annotations()``); ``store``: also score the stored proposals and each
    proposal against its final revision; ``fixed_fractions``: the trivial baseline's box as
    fractions of the image (None: leave-one-image-out mean)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result, predictions, box_methods, references, maps = evaluate_localisation(
        references, model, methods, params, crosseai_layer, layer,
        cache_dir if cache_dir is not None else out / "maps", fallback_target, store,
        fixed_fractions, progress, cancelled)
    seconds = time.perf_counter() - t0
    result.settings = {
        "model": None if model is None else {"card": str(model.card.path) if model.card.path else None,
                                             "arch": model.card.arch, "classes": model.classes,
                                             "target_layer": model.target_layer,
                                             "card_sha256": model.card.card_hash},
        "methods": [{"name": m.name, "settings": m.describe()} for m in box_methods],
        "images": len(references.images), "boxes": references.n_boxes,
        "targets": references.targets, "fixed_box_fractions": None if fixed_fractions is None
        else [float(v) for v in fixed_fractions], "seconds": seconds, "description": description,
        "iou_thresholds": list(IOU_THRESHOLDS), "iobb_thresholds": list(IOBB_THRESHOLDS),
    }
    files = {
        "summary": write_csv(out / "summary.csv", result.summary),
        "per_class": write_csv(out / "per_class.csv", result.per_class),
        "per_box": write_csv(out / "per_box.csv", result.per_box),
        "map_summary": write_csv(out / "map_summary.csv", result.map_summary),
        "map_per_class": write_csv(out / "map_per_class.csv", result.map_per_class),
        "map_scores": write_csv(out / "map_scores.csv", result.map_scores),
    }
    if result.proposals:
        files["proposals"] = write_csv(out / "proposals.csv", result.proposals)
    if result.skipped:
        files["skipped"] = write_csv(out / "skipped.csv", [{"image": k, "reason": v} for k, v in result.skipped.items()])
    files["json"] = write_json(out / "report.json", {
        "settings": result.settings, "summary": result.summary, "per_class": result.per_class,
        "map_summary": result.map_summary, "map_per_class": result.map_per_class,
        "proposal_summary": result.proposal_summary, "skipped": result.skipped})
    report = _html(result, predictions, box_methods, references, maps, examples, title, description)
    files["html"] = report.write(out / "report.html")
    result.files = files
    return result


def _html(result: LocalisationResult, predictions, box_methods, references: References, maps,
          examples: int, title: str, description: str) -> HtmlReport:
    s = result.settings
    report = HtmlReport(title, f"{s['images']} images, {s['boxes']} reference boxes")
    if description:
        report.add_paragraph(description)
    report.add_paragraph(
        "A reference box counts as localised at threshold T when a predicted box for its class on "
        "its image has IoU > T (or IoBB > T, the intersection over the predicted box's area); "
        "accuracy is the share of localised reference boxes. A predicted box overlapping no "
        "reference box by more than T is a false positive; AFP = false positives per image. "
        "'Best of several boxes' rewards emitting many boxes, so read the accuracies next to "
        "'predicted per image' and the false positives, and against the fixed-box baseline.")
    if s["model"]:
        report.add_paragraph(f"Model: {s['model']['arch']} ({', '.join(s['model']['classes'])}), "
                             f"card {s['model']['card'] or '(in memory)'}, CAM layer {s['model']['target_layer']}.")
    report.add_table([{"method": m["name"], "settings": m["settings"]} for m in s["methods"]],
                     caption="Methods")
    report.add_heading("Accuracy against IoU thresholds")
    report.add_table(result.summary, columns=_TABLE_COLUMNS, caption="All images (overall_iou: mean accuracy over T(IoU))")
    report.add_figure(_curve_figure(result.summary, IOU_THRESHOLDS, "acc_iou", "T(IoU)"),
                      "Localisation accuracy vs T(IoU)")
    report.add_table(result.summary, columns=["method"] + [f"acc_iobb_{t:g}" for t in IOBB_THRESHOLDS],
                     caption="Accuracy against IoBB thresholds")
    report.add_figure(_curve_figure(result.summary, IOBB_THRESHOLDS, "acc_iobb", "T(IoBB)"),
                      "Localisation accuracy vs T(IoBB)")
    report.add_heading("False positives")
    report.add_table(result.summary, columns=["method", "predicted_per_image"]
                     + [f"afp_iou_{t:g}" for t in IOU_THRESHOLDS], caption="False-positive boxes per image at T(IoU)")
    report.add_figure(_box_plot(result.per_box, [m.name for m in box_methods]),
                      "Best IoU per reference box (box: quartiles, triangle: mean)")
    report.add_heading("Per class")
    for label in references.labels():
        rows = [r for r in result.per_class if r["label"] == label]
        report.add_table(rows, columns=["method", "images", "boxes", "predicted_per_image", "mean_iou",
                                        "acc_iou_0.1", "acc_iou_0.3", "acc_iou_0.5", "acc_iou_0.7",
                                        "afp_iou_0.1", "afp_iou_0.5"], caption=label)
    if result.map_summary:
        report.add_heading("Maps: energy inside the boxes and pointing game")
        report.add_paragraph(
            "Energy: the share of the map's mass inside the reference boxes; a constant map scores "
            "the boxes' share of the image ('uniform'), so energy / uniform > 1 means the map "
            "concentrates on the boxes. Pointing: the map's maximum falls inside a box.")
        report.add_table(result.map_summary, caption="All images")
        report.add_figure(_energy_figure(result.map_summary), "Energy inside the boxes and pointing game")
        report.add_table(result.map_per_class, caption="Per explained class")
    if result.proposal_summary:
        report.add_heading("AI proposals against their final human revision")
        report.add_table([result.proposal_summary], caption="Proposals in the review database")
    _add_examples(report, predictions, box_methods, references, maps, result, examples)
    if result.skipped:
        report.add_heading("Images left out")
        report.add_table([{"image": k, "reason": v} for k, v in result.skipped.items()])
    return report


def _add_examples(report: HtmlReport, predictions, box_methods, references: References, maps,
                  result: LocalisationResult, examples: int) -> None:
    if examples <= 0:
        return
    shown = [m for m in box_methods if m.kind in ("crosseai", "cam")][:2]
    if not shown:
        return
    first = shown[0].name
    best = {}
    for row in result.per_box:
        if row["method"] == first:
            best[row["image"]] = max(best.get(row["image"], 0.0), row["best_iou"])
    ranked = [k for k in sorted(best, key=best.get) if references.paths.get(k)]
    if not ranked:
        return
    picks = [ranked[round(i)] for i in np.linspace(0, len(ranked) - 1, min(examples, len(ranked)))]
    report.add_heading("Examples")
    report.add_paragraph(f"From the worst to the best by {first}'s IoU, evenly spaced. Green: predicted "
                         "boxes (rank: score); red: reference boxes; the colour map is the method's map.")
    for key in dict.fromkeys(picks):
        for m in shown:
            target = references.targets_of(key)[0]
            try:
                heatmap = _method_map(m, maps[(key, target)])
                tile = _example_tile(references.paths[key], heatmap, predictions[m.name].get(key, []),
                                     references.boxes[key])
            except MedXAIError:
                continue
            ious = [r["best_iou"] for r in result.per_box if r["method"] == m.name and r["image"] == key]
            report.add_image(tile, f"{Path(key).name} ({target}), {m.name}: best IoU "
                                   f"{max(ious) if ious else 0:.2f}")



def build_store_localisation_report(store, out_dir: str | Path, model=None,
                                    methods: Sequence[str] | None = None, **options) -> LocalisationResult:
    """The report for an open review database (the desktop app's Reports menu): its latest
    reviewed boxes are the references; its stored proposals are scored too, and each against
    its final revision. Without a model (and no ``methods``) the stored proposals and the
    fixed box are scored."""
    from medxai_desktop.core.evaluation.localisation import references_from_annotations

    references = references_from_annotations(store.reference_annotations())
    if not references.images:
        raise MedXAIError(f"{store!r} holds no reviewed boxes to evaluate against")
    names = list(methods) if methods is not None else list(DEFAULT_METHODS)
    if "stored" not in names:
        names.append("stored")
    if model is None and methods is None:
        names = ["stored", "fixed-box"]
    return build_localisation_report(references, out_dir, model, names, store=store, **options)
