"""The ROAD faithfulness report: one self-contained HTML file plus the CSV/JSON of every number.

Built from the per-image results of ``core.evaluation.road_run`` (``road.json`` files): the
mean ROADCombined per method (overall and per class), the ROAD curves (mean MoRF and LeRF per
percentile), box plots of the per-image scores, paired t-tests between methods with Holm's
correction, and a few example images with each method's map and scores.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medxai_desktop.core.evaluation.road import RoadScores
from medxai_desktop.core.evaluation.road_run import (
    MAPS_NAME,
    record_class,
    score_rows,
    summarise_road,
)

from .html_report import HtmlReport, legend_beside, write_csv, write_json

DEGENERATE_SHARE = 0.5    # a method whose maps replaced the whole image on this share of images is not ranked
_METHOD_COLUMNS = ["rank", "method", "n", "mean", "sd", "ci_low", "ci_high", "median", "morf_mean", "lerf_mean",
                   "whole_image_replaced"]
_TEST_COLUMNS = ["method_a", "method_b", "n", "mean_a", "mean_b", "mean_difference", "ci_low", "ci_high",
                 "t", "p", "p_holm", "significant_holm"]
_MARKERS = "os^vDP*X"


@dataclass
class RoadReport:
    summary: dict
    files: dict[str, Path]


def _figure(width: float, height: float, columns: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, axes


def _percentiles(summary: dict) -> list[float]:
    parameters = summary.get("parameters") or {}
    if parameters.get("percentiles"):
        return [float(p) for p in parameters["percentiles"]]
    row = summary["per_method"][0]
    return [float(k.split("_", 1)[1]) for k in row if k.startswith("morf_") and k != "morf_mean"]


def curve_rows(summary: dict) -> list[dict]:
    """Long format of the ROAD curves: class, method, order, percentile, mean score."""
    rows = []
    percentiles = _percentiles(summary)
    for row in summary["per_method"] + summary["per_class"]:
        for order in ("morf", "lerf"):
            for p in percentiles:
                rows.append({"class": row["class"], "method": row["method"], "order": order.upper(),
                             "percentile": p, "mean_score": row[f"{order}_{p:g}"], "n": row["n"]})
    return rows


def _curves_figure(summary: dict):
    percentiles = _percentiles(summary)
    figure, axes = _figure(9.5, 3.8, 2)
    for n, row in enumerate(summary["per_method"]):
        for axis, order in zip(axes, ("morf", "lerf")):
            axis.plot(percentiles, [row[f"{order}_{p:g}"] for p in percentiles],
                      marker=_MARKERS[n % len(_MARKERS)], label=row["method"])
    axes[0].set_title("MoRF: most relevant pixels removed first", fontsize=10)
    axes[1].set_title("LeRF: least relevant pixels removed first", fontsize=10)
    for axis in axes:
        axis.set_xlabel("percentile p (pixels kept: MoRF below it, LeRF above 100 - p)", fontsize=8)
        axis.set_ylabel("mean change of p(class)", fontsize=9)
        axis.axhline(0, color="k", linewidth=0.6)
        axis.grid(alpha=0.3)
    legend_beside(axes[1])
    figure.tight_layout()
    return figure


def _box_figure(records: Sequence[dict], methods: Sequence[str], classes: Sequence[str]):
    groups = [("all images", list(records))]
    if len(classes) > 1:
        groups += [(name, [r for r in records if record_class(r) == name]) for name in classes]
    figure, axes = _figure(min(3.2 * len(groups) + 1, 16), 3.8, len(groups))
    for axis, (title, subset) in zip(axes, groups):
        data = [[RoadScores.from_dict(r["scores"][m]).combined for r in subset if m in r["scores"]]
                for m in methods]
        axis.boxplot([d if d else [np.nan] for d in data], showmeans=True)
        axis.set_xticks(range(1, len(methods) + 1), methods, rotation=35, ha="right", fontsize=8)
        axis.axhline(0, color="k", linewidth=0.6)
        axis.set_title(f"{title} (n={len(subset)})", fontsize=9)
        axis.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("ROADCombined per image")
    figure.tight_layout()
    return figure


def _class_table(summary: dict, methods: Sequence[str]) -> list[dict]:
    rows = []
    for name, count in summary["classes"].items():
        row = {"class": name, "images": count}
        for entry in summary["per_class"]:
            if entry["class"] == name:
                row[entry["method"]] = entry["mean"]
        rows.append(row)
    overall = {"class": "all", "images": summary["n_images"]}
    overall.update({r["method"]: r["mean"] for r in summary["per_method"]})
    return rows + [overall]


def _example_records(records: Sequence[dict], classes: Sequence[str], count: int) -> list[dict]:
    """The first image (by key) of each class in turn, up to ``count``."""
    by_class = {name: [r for r in records if record_class(r) == name] for name in classes}
    chosen: list[dict] = []
    depth = 0
    while len(chosen) < count and any(len(v) > depth for v in by_class.values()):
        for name in classes:
            if depth < len(by_class[name]) and len(chosen) < count:
                chosen.append(by_class[name][depth])
        depth += 1
    return chosen


def _add_examples(report: HtmlReport, records: Sequence[dict], methods: Sequence[str],
                  classes: Sequence[str], count: int, width: int = 200) -> None:
    import cv2

    from medxai_desktop.core.errors import InputFileError
    from medxai_desktop.core.imaging import read_image
    from medxai_desktop.core.overlay import overlay_heatmap

    missing = []
    for record in _example_records(records, classes, count):
        maps_path = Path(record.get("_path", "")).parent / MAPS_NAME
        try:
            image = read_image(record["image"], frame=record.get("frame"))
            maps = dict(np.load(maps_path))
        except (InputFileError, OSError, ValueError) as exc:
            missing.append(f"{record.get('key')}: {exc}")
            continue
        display = image.display()
        scale = width / display.shape[1]
        size = (width, max(1, round(display.shape[0] * scale)))
        label = f"label {record['label']}, " if record.get("label") else ""
        report.add_heading(f"{record.get('key')} ({label}explained class {record['target']['name']}, "
                           f"predicted {record['prediction']['class']})", level=3)
        plain = cv2.resize(np.repeat(display[:, :, None], 3, axis=2) if display.ndim == 2 else display[..., :3],
                           size, interpolation=cv2.INTER_AREA)
        report.add_image(plain, "image")
        for method in methods:
            if method not in maps or method not in record["scores"]:
                continue
            s = RoadScores.from_dict(record["scores"][method])
            tile = cv2.resize(overlay_heatmap(display, maps[method].astype(np.float32) / 255), size,
                              interpolation=cv2.INTER_AREA)
            report.add_image(tile, f"{method}: combined {s.combined:+.3f} (MoRF {s.morf_mean:+.3f}, "
                                   f"LeRF {s.lerf_mean:+.3f})")
    if missing:
        report.add_paragraph("Examples not shown (image or maps not found): " + "; ".join(missing))


def _describe_parameters(summary: dict) -> str:
    parameters = summary.get("parameters")
    if parameters is None:
        return ("WARNING: these results were computed with different parameters (methods, "
                "percentiles, seed, model or target); the numbers below mix them.")
    model = parameters["model"]
    checkpoint = (model.get("checkpoint_sha256") or "none")[:12]
    target = ("the image's label" if parameters["target"] == "label" else "the predicted class")
    return (f"{summary['n_images']} images; model {model['arch']} (classes {', '.join(model['classes'])}; "
            f"checkpoint sha256 {checkpoint}...; maps at {model['target_layer']}); explained class: "
            f"{target}. Percentiles {', '.join(f'{p:g}' for p in parameters['percentiles'])}, noise sigma "
            f"{parameters['noise']:g}, seed {parameters['seed']}. Images are grouped by "
            f"{summary['grouped_by']}.")


def rank_methods(per_method: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """The method rows best first, each with its ``rank``; methods with degenerate maps (the whole
    image replaced at some percentile on at least DEGENERATE_SHARE of the images) come last,
    flagged and unranked. Also the names of those methods."""
    def degenerate(row) -> bool:
        return bool(row["n"]) and row.get("whole_image_replaced", 0) / row["n"] >= DEGENERATE_SHARE

    usable = sorted((r for r in per_method if not degenerate(r)),
                    key=lambda r: -r["mean"] if np.isfinite(r["mean"]) else np.inf)
    flagged = [r for r in per_method if degenerate(r)]
    rows = [dict(r, rank=i) for i, r in enumerate(usable, 1)]
    rows += [dict(r, rank="not ranked: degenerate maps") for r in flagged]
    return rows, [r["method"] for r in flagged]


def build_road_report(records: Sequence[dict], out_html: str | Path, examples: int = 4,
                      title: str = "ROAD faithfulness of the explanations") -> RoadReport:
    """Write ``out_html`` and, beside it, ``<stem>.json`` and ``<stem>_*.csv``."""
    summary = summarise_road(records)
    methods = summary["methods"]
    classes = list(summary["classes"])
    out_html = Path(out_html)
    stem = out_html.with_suffix("")
    ranked, degenerate = rank_methods(summary["per_method"])

    report = HtmlReport(title, subtitle=f"{summary['n_images']} images, {len(methods)} methods")
    report.add_paragraph(
        "ROAD (Rong et al., ICML 2022) removes pixels in the order a heatmap ranks them, replaces them "
        "by noisy linear imputation (each removed pixel the weighted mean of its 8 neighbours, plus "
        "Gaussian noise of sigma 0.01), and measures the change of the softmax probability of the "
        "explained class. MoRF at percentile p removes the pixels at or above the map's p-th "
        "percentile (the most relevant); LeRF removes the least relevant (100 - p) %. "
        "ROADCombined = (mean LeRF - mean MoRF) / 2 over the percentiles, grad-cam's ROADCombined: "
        "positive is better (removing what the map calls relevant hurts more than removing the rest).")
    report.add_paragraph(_describe_parameters(summary))
    report.add_heading("ROADCombined per method")
    if degenerate:
        report.add_paragraph(
            f"Not ranked: {', '.join(degenerate)}. On at least {DEGENERATE_SHARE:.0%} of the images some "
            "percentile of its map removed every pixel (the map is tied, often flat, at the threshold), so "
            "its score measures the imputation of the whole image, not the map (grad-cam's ROAD warns of "
            "such ties too).")
    report.add_table(ranked, columns=_METHOD_COLUMNS,
                     caption="ROADCombined over images: mean, SD, 95% t interval of the mean, median; mean "
                             "MoRF and LeRF over percentiles; images where some percentile removed every pixel "
                             "(a map tied at its threshold)")
    report.add_table(_class_table(summary, methods), caption="mean ROADCombined per class")
    report.add_heading("ROAD curves")
    report.add_figure(_curves_figure(summary), "mean change of the explained class's probability per "
                                               "percentile, all images")
    report.add_heading("Per-image scores")
    report.add_figure(_box_figure(records, methods, classes),
                      "ROADCombined per image (box: quartiles, line: median, triangle: mean)")
    report.add_heading("Paired t-tests between methods")
    report.add_paragraph(
        "scipy.stats.ttest_rel on the per-image ROADCombined of each pair of methods (the same images): "
        "mean difference A - B with its 95% t interval, t, two-sided p, and p adjusted by Holm's "
        "step-down method over all pairs of the table (significant: adjusted p < 0.05).")
    report.add_table(summary["paired_tests"], columns=_TEST_COLUMNS, caption="all images", digits=4)
    for name in classes:
        rows = [t for t in summary["paired_tests_per_class"] if t["class"] == name]
        if rows and len(classes) > 1:
            report.add_table(rows, columns=_TEST_COLUMNS, caption=f"class {name} (Holm within the class)",
                             digits=4)
    if examples > 0:
        report.add_heading("Examples")
        _add_examples(report, records, methods, classes, examples)

    files = {"html": report.write(out_html)}
    rows = score_rows(records)
    files["json"] = write_json(stem.with_suffix(".json"), {"summary": summary, "scores": rows})
    files["methods_csv"] = write_csv(f"{stem}_methods.csv", summary["per_method"] + summary["per_class"])
    files["curves_csv"] = write_csv(f"{stem}_curves.csv", curve_rows(summary))
    files["tests_csv"] = write_csv(f"{stem}_tests.csv",
                                   summary["paired_tests"] + summary["paired_tests_per_class"])
    files["scores_csv"] = write_csv(f"{stem}_scores.csv", rows)
    return RoadReport(summary, files)
