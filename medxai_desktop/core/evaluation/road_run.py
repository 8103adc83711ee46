"""ROAD over a set of images: one ``road.json`` per image (resumable), and the summary.

Inputs are an image file, a folder (every readable image under it) or a CSV (image,label).
Each image is explained once (all methods from the shared pass), scored by ``road_scores_for``,
and its result written to ``OUT/images/<key>/road.json`` with the parameters that produced
it; a rerun skips an image whose road.json holds the same parameters and the same image
content (so an interrupted run resumes where it stopped). The maps are kept beside it
(``maps.npz``, 8-bit) for the report's examples.

The summary gives, per method, the mean ROADCombined (with SD, median and a 95% t interval),
the mean MoRF and LeRF at each percentile (the ROAD curves), the same per class (the image's
label where known, else the explained class), and paired t-tests between methods with Holm's
correction, overall and within each class.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from medxai_desktop.core.atomic_files import atomic_write_text
from medxai_desktop.core.errors import InputFileError, MedXAIError
from medxai_desktop.core.jobs import ProgressFn, report

from .paired_tests import paired_t_tests
from .road import DEFAULT_PERCENTILES, RoadScores, road_scores_for
from .road_imputation import DEFAULT_NOISE

RECORD_NAME = "road.json"
MAPS_NAME = "maps.npz"
TARGET_MODES = ("predicted", "label")
# progress: core.jobs.Progress with stage "ROAD", the image key as message, info key and status
# ("computed", "reused" or "skipped").


class RoadRunError(MedXAIError):
    pass


@dataclass
class RoadInput:
    path: Path
    label: str | None = None
    frame: int | None = None
    key: str = ""


@dataclass
class RoadRun:
    records: list[dict]
    computed: int = 0
    reused: int = 0
    skipped: list[str] = field(default_factory=list)


# --- inputs -----------------------------------------------------------------------------------

def _read_label_csv(path: Path) -> list[tuple[Path, str | None]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {c.lower().strip(): c for c in reader.fieldnames or []}
        image_col = columns.get("image") or columns.get("path") or columns.get("file")
        label_col = columns.get("label") or columns.get("class")
        if not image_col:
            raise InputFileError(path, f"CSV needs an 'image' column (and 'label'); found {reader.fieldnames}")
        rows = []
        for line, row in enumerate(reader, start=2):
            image = (row.get(image_col) or "").strip()
            if not image:
                raise InputFileError(path, f"line {line}: empty image path")
            label = (row.get(label_col) or "").strip() if label_col else ""
            rows.append((Path(image), label or None))
    return rows


def _common_root(paths: Sequence[Path]) -> Path:
    if len(paths) == 1:
        return paths[0].parent
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def _assign_keys(inputs: list[RoadInput]) -> None:
    root = _common_root([i.path for i in inputs])
    seen: set[str] = set()
    for item in inputs:
        try:
            relative = item.path.relative_to(root)
        except ValueError:
            relative = Path(item.path.name)
        name = str(relative.with_suffix("")) if relative.suffix else str(relative)
        name = name.replace(os.sep, "/").replace("..", "_")
        if item.frame is not None:
            name += f"_frame{item.frame}"
        key, copy = name, 1
        while key in seen:
            copy += 1
            key = f"{name}#{copy}"
        seen.add(key)
        item.key = key


def road_inputs(source: str | Path, labels: str | Path | None = None,
                only_labels: Sequence[str] | None = None, per_class: int | None = None
                ) -> tuple[list[RoadInput], list[str]]:
    """The images to score, and the files skipped (with the reason).

    ``source``: an image file, a folder (searched recursively) or a CSV with columns image
    [,label] (paths relative to the CSV's folder). ``labels``: a CSV (image,label) giving the
    labels of a folder's images, matched by path, else by file name. ``only_labels`` keeps
    images with one of these labels; ``per_class`` keeps the first N images of each label.
    """
    from medxai_desktop.core.imaging import discover

    source = Path(source)
    skipped: list[str] = []
    if source.is_file() and source.suffix.lower() == ".csv":
        inputs = [RoadInput((source.parent / p).resolve(), label)
                  for p, label in _read_label_csv(source)]
    elif source.exists():
        found = discover(source)
        skipped += [str(f) for f in found.failures]
        inputs = [RoadInput(ref.path.resolve(), None, ref.frame if ref.n_frames > 1 else None)
                  for ref in found.images]
    else:
        raise InputFileError(source, "not found (expected an image, a folder of images or a CSV)")
    if labels is not None:
        labels = Path(labels)
        rows = _read_label_csv(labels)
        by_path = {(labels.parent / p).resolve(): label for p, label in rows}
        by_name: dict[str, str | None] = {}
        for p, label in rows:
            by_name[p.name] = label if p.name not in by_name or by_name[p.name] == label else None
        for item in inputs:
            item.label = by_path.get(item.path, by_name.get(item.path.name, item.label))
    if only_labels:
        wanted = set(only_labels)
        inputs = [i for i in inputs if i.label in wanted]
    if per_class is not None:
        counts: dict[str | None, int] = {}
        kept = []
        for item in inputs:
            counts[item.label] = counts.get(item.label, 0) + 1
            if counts[item.label] <= per_class:
                kept.append(item)
        inputs = kept
    if not inputs:
        if skipped and not only_labels:
            raise InputFileError(source, f"no readable image ({skipped[0]})")
        raise InputFileError(source, "no images to score" + (" with the requested labels" if only_labels else ""))
    _assign_keys(inputs)
    return inputs, skipped


# --- the run ----------------------------------------------------------------------------------

def run_parameters(model, methods: Sequence[str], percentiles: Sequence[float], seed: int,
                   noise: float, target: str) -> dict:
    """What a road.json depends on (besides the image): a rerun with these reuses it."""
    return {"methods": list(methods), "percentiles": [float(p) for p in percentiles], "seed": int(seed),
            "noise": float(noise), "target": target,
            "model": {"arch": model.card.arch, "classes": list(model.classes),
                      "card_sha256": model.card.card_hash, "checkpoint_sha256": model.checkpoint_sha256,
                      "target_layer": model.target_layer, "input_size": list(model.card.input_size)}}


def _reusable(path: Path, parameters: dict, content_sha256: str) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("parameters") != parameters or record.get("content_sha256") != content_sha256:
        return None
    return record


def run_road(model, inputs: Sequence[RoadInput], out_dir: str | Path, methods: Sequence[str],
             percentiles: Sequence[float] = DEFAULT_PERCENTILES, target: str = "predicted",
             seed: int = 0, noise: float = DEFAULT_NOISE, batch_size: int = 32,
             progress: ProgressFn | None = None, resume: bool = True) -> RoadRun:
    """Score every input (see the module docstring); returns the records, in input order."""
    from medxai_desktop.core.explain import ExplanationEngine, canonical_name
    from medxai_desktop.core.explain.provenance import now_iso
    from medxai_desktop.core.imaging import read_image

    if target not in TARGET_MODES:
        raise ValueError(f"unknown target mode {target!r}; expected one of {', '.join(TARGET_MODES)}")
    methods = [canonical_name(m) for m in methods]
    if not methods:
        raise ValueError("no explanation method requested")
    out_dir = Path(out_dir)
    parameters = run_parameters(model, methods, percentiles, seed, noise, target)
    engine = ExplanationEngine(model)
    run = RoadRun([])
    for done, item in enumerate(inputs, start=1):
        folder = out_dir / "images" / item.key
        try:
            image = read_image(item.path, frame=item.frame)
        except InputFileError as exc:
            run.skipped.append(str(exc))
            report(progress, done, len(inputs), "ROAD", item.key, key=item.key, status="skipped")
            continue
        record = _reusable(folder / RECORD_NAME, parameters, image.content_hash) if resume else None
        if record is not None:
            run.records.append(record)
            run.reused += 1
            report(progress, done, len(inputs), "ROAD", item.key, key=item.key, status="reused")
            continue
        if target == "label":
            if item.label is None or item.label not in model.classes:
                run.skipped.append(f"{item.path}: --target label needs a label that is one of the model's "
                                   f"classes ({', '.join(model.classes)}); got {item.label!r}")
                report(progress, done, len(inputs), "ROAD", item.key, key=item.key, status="skipped")
                continue
            wanted: str | int = model.class_index(item.label)
        else:
            wanted = "predicted"
        start = time.perf_counter()
        tensor = model.preprocess(image)
        explained = engine.explain(tensor, methods, target=wanted)
        explain_seconds = time.perf_counter() - start
        maps = {name: e.map for name, e in explained.explanations.items()}
        start = time.perf_counter()
        scores = road_scores_for(model, explained, None, percentiles, seed, noise=noise, batch_size=batch_size)
        road_seconds = time.perf_counter() - start
        record = {
            "image": str(item.path), "frame": item.frame, "key": item.key, "label": item.label,
            "content_sha256": image.content_hash, "parameters": parameters,
            "prediction": {"class": explained.prediction.class_name,
                           "probabilities": explained.prediction.probabilities},
            "target": {"index": explained.target_index, "name": explained.target_name},
            "scores": {name: s.to_dict() for name, s in scores.items()},
            "seconds": {"explain": explain_seconds, "road": road_seconds},
            "created": now_iso(), "device": str(model.device),
        }
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / MAPS_NAME, **{name: np.uint8(np.clip(m, 0, 1) * 255 + 0.5)
                                                    for name, m in maps.items()})
        atomic_write_text(folder / RECORD_NAME, json.dumps(record, indent=1) + "\n")
        run.records.append(record)
        run.computed += 1
        report(progress, done, len(inputs), "ROAD", item.key, key=item.key, status="computed")
    return run


def load_records(run_dir: str | Path) -> list[dict]:
    """Every road.json under ``run_dir`` (sorted by image key)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputFileError(run_dir, "not a folder of ROAD results (run `medxai road ... --out DIR` first)")
    records = []
    for path in sorted(run_dir.rglob(RECORD_NAME)):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"unreadable ROAD result: {exc}") from None
        if not isinstance(record, dict) or "scores" not in record or "parameters" not in record:
            raise InputFileError(path, "not a ROAD result (no scores/parameters)")
        record["_path"] = str(path)
        records.append(record)
    if not records:
        raise InputFileError(run_dir, f"no {RECORD_NAME} found under it")
    return sorted(records, key=lambda r: r.get("key", ""))


# --- the summary ------------------------------------------------------------------------------

def record_class(record: Mapping) -> str:
    """The class an image is grouped under: its label where known, else the explained class."""
    return record.get("label") or record["target"]["name"]


def _describe(values: np.ndarray) -> dict:
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "sd": math.nan, "median": math.nan,
                "ci_low": math.nan, "ci_high": math.nan}
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        low = high = math.nan
    return {"n": n, "mean": mean, "sd": sd, "median": float(np.median(values)), "ci_low": low, "ci_high": high}


def _method_rows(records: Sequence[Mapping], methods: Sequence[str], group: str) -> list[dict]:
    rows = []
    for method in methods:
        present = [r["scores"][method] for r in records if method in r.get("scores", {})]
        if not present:
            continue
        scores = [RoadScores.from_dict(s) for s in present]
        percentiles = scores[0].percentiles
        combined = np.array([s.combined for s in scores])
        row = {"class": group, "method": method, **_describe(combined),
               "morf_mean": float(np.mean([s.morf_mean for s in scores])),
               "lerf_mean": float(np.mean([s.lerf_mean for s in scores])),
               "whole_image_replaced": int(sum(bool(s.whole_image_replaced) for s in scores))}
        for i, p in enumerate(percentiles):
            row[f"morf_{p:g}"] = float(np.mean([s.morf[i] for s in scores]))
        for i, p in enumerate(percentiles):
            row[f"lerf_{p:g}"] = float(np.mean([s.lerf[i] for s in scores]))
        rows.append(row)
    return rows


def combined_matrix(records: Sequence[Mapping], methods: Sequence[str]) -> dict[str, list[float]]:
    """method -> ROADCombined per image (NaN where the image lacks the method), images aligned."""
    return {m: [RoadScores.from_dict(r["scores"][m]).combined if m in r.get("scores", {}) else math.nan
                for r in records] for m in methods}


def _tests(records: Sequence[Mapping], methods: Sequence[str], group: str) -> list[dict]:
    if len(methods) < 2:
        return []
    return [{"class": group, **t.to_dict()} for t in paired_t_tests(combined_matrix(records, methods))]


def summarise_road(records: Sequence[Mapping], methods: Sequence[str] | None = None) -> dict:
    """Per method (overall and per class) and paired t-tests; see the module docstring."""
    if not records:
        raise RoadRunError("no ROAD results to summarise")
    if methods is None:
        methods = []
        for record in records:
            methods.extend(m for m in record["scores"] if m not in methods)
    classes = sorted({record_class(r) for r in records})
    parameter_sets = {json.dumps(r["parameters"], sort_keys=True) for r in records}
    per_class = []
    tests_per_class = []
    for name in classes:
        subset = [r for r in records if record_class(r) == name]
        per_class += _method_rows(subset, methods, name)
        tests_per_class += _tests(subset, methods, name)
    return {
        "n_images": len(records),
        "methods": list(methods),
        "classes": {name: sum(1 for r in records if record_class(r) == name) for name in classes},
        "grouped_by": "label" if all(r.get("label") for r in records) else "label where known, else explained class",
        "parameters": json.loads(next(iter(parameter_sets))) if len(parameter_sets) == 1 else None,
        "mixed_parameters": len(parameter_sets) > 1,
        "per_method": _method_rows(records, methods, "all"),
        "per_class": per_class,
        "paired_tests": _tests(records, methods, "all"),
        "paired_tests_per_class": tests_per_class,
    }


def score_rows(records: Sequence[Mapping]) -> list[dict]:
    """One row per (image, method): every per-image number."""
    rows = []
    for record in records:
        for method, data in record["scores"].items():
            s = RoadScores.from_dict(data)
            row = {"image": record["image"], "key": record.get("key"), "label": record.get("label"),
                   "class": record_class(record), "target": record["target"]["name"],
                   "predicted": record["prediction"]["class"], "method": method,
                   "original_probability": s.original_probability, "combined": s.combined,
                   "morf_mean": s.morf_mean, "lerf_mean": s.lerf_mean}
            row.update({f"morf_{p:g}": v for p, v in zip(s.percentiles, s.morf)})
            row.update({f"lerf_{p:g}": v for p, v in zip(s.percentiles, s.lerf)})
            row["whole_image_replaced"] = " ".join(s.whole_image_replaced)
            rows.append(row)
    return rows


def write_summary(out_dir: str | Path, records: Sequence[Mapping], methods: Sequence[str] | None = None,
                  skipped: Sequence[str] = ()) -> dict:
    """summary.json (aggregates and tests), summary.csv (per method and per class) and
    scores.csv (per image and method) in ``out_dir``."""
    from medxai_desktop.core.reports import write_csv, write_json

    summary = summarise_road(records, methods)
    summary["skipped"] = list(skipped)
    out_dir = Path(out_dir)
    write_json(out_dir / "summary.json", summary)
    write_csv(out_dir / "summary.csv", summary["per_method"] + summary["per_class"])
    write_csv(out_dir / "scores.csv", score_rows(records))
    return summary


def assign_keys(inputs: list[RoadInput]) -> None:
    """Give each input a unique record key (public name of the key assignment that
    :func:`road_inputs` does), for callers that build their own RoadInput list."""
    _assign_keys(inputs)
