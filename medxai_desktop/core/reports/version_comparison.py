"""Versions of a model compared on the same images: did learning from the reviewed boxes make
the proposals better? Each version gets its own localisation report (``build_localisation_report``,
in a sub-folder named by the version) over the same reference boxes; one table puts the versions'
rows side by side with the number the issue tracker asks for, the mean accuracy over T(IoU)
0.1-0.7 at the methods' own box rules.

Method names are the localisation report's, plus ``recommended``: each version's own
recommended proposal method (its card's ``recommended_proposal``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medxai_desktop.core.errors import MedXAIError
from medxai_desktop.core.evaluation.localisation import IOU_THRESHOLDS, References
from medxai_desktop.core.jobs import CancelFn, ProgressFn, sub_progress

from .html_report import HtmlReport, write_csv, write_json
from .localisation_report import build_localisation_report

COLUMNS = ("version", "method", "proposes", "images", "overall_iou", "mean_iou", "acc_iou_0.1", "acc_iou_0.3",
           "acc_iou_0.5", "acc_iou_0.7", "predicted_per_image", "afp_iou_0.5")


@dataclass
class VersionComparison:
    rows: list[dict]
    images: int
    files: dict[str, Path] = field(default_factory=dict)


def version_methods(model, methods: Sequence[str]) -> list[str]:
    """``methods`` for one version: ``recommended`` becomes its card's recommended method."""
    from medxai_desktop.core.explain.proposals import recommended_proposal

    return list(dict.fromkeys(recommended_proposal(model) if m.strip() == "recommended" else m.strip()
                              for m in methods if m.strip()))


def compare_versions(references: References, out_dir: str | Path, versions: Sequence[tuple[str, object]],
                     methods: Sequence[str] = ("recommended", "crosseai", "fixed-box"),
                     cache_dir: str | Path | None = None, fallback_target: str | None = None,
                     fixed_fractions=None, progress: ProgressFn | None = None,
                     cancelled: CancelFn | None = None) -> VersionComparison:
    """One localisation report per (name, LoadedModel) of ``versions`` under ``out_dir/<name>``
    and ``comparison.html/.csv/.json`` beside them."""
    if len(versions) < 2 or len({name for name, _ in versions}) != len(versions):
        raise MedXAIError("a comparison needs at least two versions with distinct names")
    out = Path(out_dir)
    rows, evaluated = [], set()
    for name, model in versions:
        chosen = version_methods(model, methods)
        result = build_localisation_report(
            references, out / name, model, chosen, cache_dir=cache_dir if cache_dir is not None else out / "maps",
            fallback_target=fallback_target, fixed_fractions=fixed_fractions,
            progress=sub_progress(progress, name), cancelled=cancelled,
            title=f"Localisation report: {name}")
        evaluated.add(result.settings["images"])
        recommended = version_methods(model, ["recommended"])[0]
        for row in result.summary:
            rows.append({"version": name, "proposes": "yes" if row["method"] == recommended else "",
                         "overall_iou": sum(row[f"acc_iou_{t}"] for t in IOU_THRESHOLDS) / len(IOU_THRESHOLDS),
                         "images": result.settings["images"], **row})
    if len(evaluated) != 1:
        raise MedXAIError(f"the versions were evaluated on different numbers of images ({sorted(evaluated)}): "
                          "see each version's skipped.csv")
    comparison = VersionComparison(rows, evaluated.pop())
    comparison.files = _write(comparison, out, versions)
    return comparison


def _write(comparison: VersionComparison, out: Path, versions) -> dict[str, Path]:
    table = [{k: row.get(k) for k in COLUMNS} for row in comparison.rows]
    report = HtmlReport("Model versions compared", f"{comparison.images} images with reference boxes, the same "
                                                   "for every version")
    report.add_paragraph("overall_iou: mean accuracy over T(IoU) 0.1-0.7 (an image counts when one of its "
                         "proposals overlaps its reference box by at least T). 'proposes': the version's "
                         "recommended proposal method, what the app and explain --boxes default propose.")
    report.add_table(table, caption="Each version's methods at their own tuned box rules")
    for name, model in versions:
        report.add_paragraph(f"{name}: {model.card.path} (card sha256 {model.card.card_hash[:12]}); "
                             f"details in {name}/report.html")
    return {"csv": write_csv(out / "comparison.csv", table, COLUMNS),
            "json": write_json(out / "comparison.json", {"images": comparison.images, "rows": comparison.rows}),
            "html": report.write(out / "comparison.html")}
