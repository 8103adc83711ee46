"""Is this installation working? ``medxai self-test`` and ``medxai-desktop --self-test``, and
``medxai-desktop --smoke-gui`` for the window.

The self-test runs the whole pipeline offline on what the application ships: it loads the
demo model (resources/models), reads the sample study (resources/sample_study), runs the five
CAMs the overview paper compares and CrossEAI on every image, checks every map and box, scores
the first image's Grad-CAM++ map with ROAD, and writes an HTML report. It prints one line per step; exit 0 when everything worked, 1 with the
step and the reason otherwise. The GUI smoke starts the desktop app (offscreen when there is
no display), opens the sample study and quits once the first image and its prediction show.
"""
from __future__ import annotations

import csv
import math
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

REPORT_NAME = "self-test.html"
SUMMARY_NAME = "self-test.json"


class SelfTestFailure(Exception):
    def __init__(self, step: str, reason: str):
        self.step, self.reason = step, reason
        super().__init__(f"{step}: {reason}")


@dataclass
class SelfTestResult:
    out_dir: Path
    report: Path | None = None
    steps: list[dict] = field(default_factory=list)    # name, seconds, detail
    images: list[dict] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def matching_labels(self) -> str:
        labelled = [row for row in self.images if row["label"]]
        return f"{sum(row['label'] == row['predicted'] for row in labelled)}/{len(labelled)}"


class _Steps:
    """Runs named steps, timing each and turning any exception into a SelfTestFailure."""

    def __init__(self, result: SelfTestResult, echo: Callable[[str], None]):
        self.result, self.echo = result, echo

    def run(self, name: str, fn: Callable[[], tuple[object, str]]):
        start = time.perf_counter()
        try:
            value, detail = fn()
        except SelfTestFailure:
            raise
        except Exception as exc:
            if os.environ.get("MEDXAI_DEBUG"):
                traceback.print_exc()
            raise SelfTestFailure(name, f"{type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - start
        self.result.steps.append({"step": name, "seconds": seconds, "detail": detail})
        self.echo(f"  ok  {name:<28} {seconds:7.2f} s  {detail}")
        return value


def environment(device) -> dict:
    import torch
    import torchvision

    from medxai_desktop.core.explain.provenance import library_versions
    from medxai_desktop.core.models import describe_device
    from medxai_desktop.core.plugins import plugin_folders, plugins
    from medxai_desktop.core.resources import resources_dir

    found = plugins()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "frozen bundle": bool(getattr(sys, "frozen", False)),
        "medxai-desktop": library_versions().get("medxai-desktop", "?"),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torchvision C++ ops": _torchvision_ops(),
        "CUDA build": torch.version.cuda or "none (CPU build)",
        "CUDA available": torch.cuda.is_available(),
        "device": describe_device(device),
        "resources": str(resources_dir()),
        "plugin folders": ", ".join(str(p) for p in plugin_folders()),
        "plugins found": ", ".join(f"{p.kind}:{p.name}" for p in found if not p.error) or "none",
    }


def _torchvision_ops() -> str:
    """'yes' when torchvision's compiled operators load (nms runs): a frozen bundle that missed
    torchvision's _C_stable.so fails here, not later."""
    import torch
    import torchvision.ops

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    if kept.tolist() != [0, 2]:
        raise SelfTestFailure("torchvision operators", f"nms returned {kept.tolist()}, expected [0, 2]")
    return "yes"


def _expert_boxes(study: Path) -> dict[str, object]:
    from medxai_desktop.core.boxes import Box

    path = study / "boxes.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        return {row["image"]: Box.from_xywh(*(float(row[k]) for k in "xywh")) for row in csv.DictReader(handle)}


def _labels(study: Path) -> dict[str, str]:
    path = study / "labels.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        return {row["image"]: row["label"] for row in csv.DictReader(handle)}


def _thumbnail(display, longest: int = 320):
    """The image shrunk for the report's gallery (maps are resized onto it)."""
    import cv2

    scale = longest / max(display.shape[:2])
    if scale >= 1:
        return display
    size = (round(display.shape[1] * scale), round(display.shape[0] * scale))
    return cv2.resize(display, size, interpolation=cv2.INTER_AREA)


def _load_demo_model(steps, device):
    from medxai_desktop.core.models import load_model
    from medxai_desktop.core.resources import demo_model_card

    def load():
        card = demo_model_card()
        if card is None:
            raise SelfTestFailure("load demo model", "no model card in the resources' models folder")
        model = load_model(card, device=device)
        return model, f"{card.name}: {model.card.arch}, {len(model.classes)} classes on {model.device}"

    return steps.run("load demo model", load)


def _scan_study(steps, study: Path):
    from medxai_desktop.core.imaging import discover

    def scan():
        found = discover(study)
        refs = [ref for s in found.studies for series in s.series for ref in series.images]
        if not refs:
            raise SelfTestFailure("read sample study", f"no readable image in {study}")
        if found.failures:
            raise SelfTestFailure("read sample study", f"unreadable: {found.failures[0]}")
        return refs, f"{len(refs)} images in {study}"

    return steps.run("read sample study", scan)


def _explain_checked(model, engine, methods, params, ref, name: str):
    """(image, explanation, CrossEAI boxes, fused map), each checked; SelfTestFailure if not."""
    import numpy as np

    from medxai_desktop.core.explain.crosseai import crosseai_boxes, crosseai_map
    from medxai_desktop.core.imaging import read_image

    image = read_image(ref.path, frame=ref.frame)
    explained = engine.explain(model.preprocess(image), methods, target="predicted")
    probabilities = np.array(list(explained.prediction.probabilities.values()))
    if not np.isfinite(probabilities).all() or abs(probabilities.sum() - 1) > 1e-3:
        raise SelfTestFailure(f"explain {name}", f"class probabilities {probabilities} do not sum to 1")
    size = tuple(model.card.input_size)
    for method in methods:
        heatmap = explained[method].map
        if heatmap.shape != size or not np.isfinite(heatmap).all():
            raise SelfTestFailure(f"explain {name}", f"{method} map has shape {heatmap.shape} "
                                                    f"or non-finite values (expected {size})")
        if heatmap.min() < 0 or heatmap.max() > 1 or heatmap.max() == 0:
            raise SelfTestFailure(f"explain {name}", f"{method} map is empty or outside [0, 1]")
    boxes = crosseai_boxes(explained, params, image_size=image.shape)
    fused = crosseai_map(explained, params)
    for proposal in boxes:
        b = proposal.box
        if not (0 <= b.x0 < b.x1 <= image.shape[1] and 0 <= b.y0 < b.y1 <= image.shape[0]):
            raise SelfTestFailure(f"explain {name}", f"CrossEAI box {b} is outside the image")
    predicted = explained.prediction.class_name
    return (image, explained, boxes, fused), (
        f"predicted {predicted} ({explained.prediction.probabilities[predicted]:.2f}), "
        f"{len(boxes)} CrossEAI box(es)")


def _road_checked(model, explained, name: str):
    from medxai_desktop.core.evaluation.road import road_scores_for

    start = time.perf_counter()
    scores = road_scores_for(model, explained, ["gradcam++"])["gradcam++"]
    values = scores.morf + scores.lerf
    if not all(math.isfinite(v) and -1 <= v <= 1 for v in values):
        raise SelfTestFailure(f"ROAD {name}", f"scores {values} are not probability changes")
    return (scores, time.perf_counter() - start), f"GradCAM++ ROADCombined {scores.combined:+.3f}"


def _report_image(report, row: dict, image, explained, methods, boxes, fused) -> None:
    from medxai_desktop.core.overlay import draw_boxes, overlay_heatmap

    display = _thumbnail(image.display())
    report.add_heading(f"{row['image']} - label {row['label'] or '?'}, predicted {row['predicted']} "
                       f"({row['probability']:.2f})")
    for method in methods:
        report.add_image(overlay_heatmap(display, explained[method].map), explained[method].label)
    sx, sy = display.shape[1] / image.shape[1], display.shape[0] / image.shape[0]
    shown = [replace(p, box=p.box.scaled(sx, sy)) for p in boxes]
    report.add_image(draw_boxes(overlay_heatmap(display, fused), shown), "CrossEAI fused map and boxes")


def _image_row(name, labels, expert, explained, boxes, methods) -> dict:
    truth = expert.get(name)
    best_iou = max((p.box.iou(truth) for p in boxes), default=0.0) if truth is not None else None
    row = {"image": name, "label": labels.get(name, ""), "predicted": explained.prediction.class_name,
           "probability": explained.prediction.probabilities[explained.prediction.class_name],
           "crosseai_boxes": len(boxes), "best_iou_with_expert_box": best_iou,
           "shared_pass_ms": explained.shared_pass_seconds * 1000}
    row.update({f"{m}_ms": explained[m].seconds * 1000 for m in methods})
    return row


def _write_report(steps, report, result, out: Path):
    def write():
        report.add_heading("Predictions and timings")
        report.add_table(result.images, digits=3)
        report.add_heading("Environment")
        report.add_table([{"item": k, "value": v} for k, v in result.environment.items()])
        report.add_heading("Steps")
        report.add_table(result.steps, digits=3)
        path = report.write(out / REPORT_NAME)
        if path.stat().st_size < 10_000:
            raise SelfTestFailure("write report", f"{path} is only {path.stat().st_size} bytes")
        return path, str(path)

    return steps.run("write report", write)


def run_self_test(out_dir: str | Path | None = None, device: str = "auto",
                  echo: Callable[[str], None] = print) -> SelfTestResult:
    """The whole self-test; raises SelfTestFailure (step, reason) on the first failure."""
    from medxai_desktop.core.explain import PAPER_METHODS, ExplanationEngine
    from medxai_desktop.core.explain.crosseai import CROSSEAI_METHODS, CrossEAIParams
    from medxai_desktop.core.reports import HtmlReport, write_json
    from medxai_desktop.core.resources import sample_study_dir

    started = time.perf_counter()
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="medxai-self-test-"))
    result = SelfTestResult(out)
    steps = _Steps(result, echo)
    model = _load_demo_model(steps, device)
    result.environment = steps.run("environment", lambda: (environment(model.device), "versions recorded"))
    study = sample_study_dir()
    refs = _scan_study(steps, study)
    labels, expert = _labels(study), _expert_boxes(study)
    engine = ExplanationEngine(model)
    methods = list(PAPER_METHODS) + [m for m in CROSSEAI_METHODS if m not in PAPER_METHODS]
    if model.box_head is not None:   # the card's learned box head, loaded from beside the card
        methods.append("boxhead")
    params = CrossEAIParams.from_dict(model.card.metadata.get("crosseai"))
    report = HtmlReport("MedXAI Desktop self-test",
                        f"{model.card.arch} demo model on the bundled sample study, {model.device}")
    for ref in refs:
        name = Path(ref.path).name
        image, explained, boxes, fused = steps.run(
            f"explain {name}", lambda ref=ref, name=name: _explain_checked(model, engine, methods, params, ref, name))
        row = _image_row(name, labels, expert, explained, boxes, methods)
        if ref is refs[0]:
            scores, seconds = steps.run(f"ROAD {name}", lambda e=explained, n=name: _road_checked(model, e, n))
            row.update({"road_gradcam++": scores.combined, "road_ms": seconds * 1000})
        result.images.append(row)
        _report_image(report, row, image, explained, methods, boxes, fused)
    result.report = _write_report(steps, report, result, out)
    result.seconds = time.perf_counter() - started
    write_json(out / SUMMARY_NAME, {"passed": True, "seconds": result.seconds, "steps": result.steps,
                                    "images": result.images, "environment": result.environment,
                                    "predictions_matching_labels": result.matching_labels,
                                    "report": str(result.report)})
    return result


def main(out_dir: str | Path | None = None, device: str = "auto") -> int:
    """Print the self-test's progress and summary; 0 when it passed, 1 otherwise."""
    if os.environ.get("MEDXAI_FORBID_NETWORK") == "1":
        forbid_network()
    print("MedXAI Desktop self-test (offline: demo model, sample study, five CAMs + CrossEAI, report)",
          flush=True)
    try:
        result = run_self_test(out_dir, device, echo=lambda line: print(line, flush=True))
    except SelfTestFailure as failure:
        print(f"medxai self-test: FAILED at step '{failure.step}': {failure.reason}", file=sys.stderr)
        return 1
    print(f"self-test PASSED in {result.seconds:.1f} s on {result.environment.get('device')}: "
          f"{len(result.images)} images explained ({result.matching_labels} predictions match the "
          f"sample labels); report {result.report}")
    return 0


# -- the GUI smoke ------------------------------------------------------------------------------

def process_age() -> float:
    """Seconds since this process started (Linux: from /proc, so the interpreter's and the
    frozen bootloader's own start-up count too; elsewhere: since this module was imported)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def forbid_network() -> None:
    """Make any Internet connection or name lookup from Python code raise (``MEDXAI_FORBID_NETWORK=1``;
    used by packaging/smoke where ``unshare -n`` is not available). Local (AF_UNIX) sockets
    stay allowed: the display server and D-Bus use them."""
    import ipaddress
    import socket

    def is_name(host) -> bool:
        if host in (None, "localhost"):
            return False
        try:
            ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
            return False   # an address, not a name: no lookup happens
        except ValueError:
            return True

    def hook(event: str, args: tuple) -> None:
        if event == "socket.connect" and getattr(args[0], "family", None) in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network use forbidden by MEDXAI_FORBID_NETWORK: connect to {args[1]!r}")
        if event == "socket.getaddrinfo" and is_name(args[0]):
            raise OSError(f"network use forbidden by MEDXAI_FORBID_NETWORK: lookup of {args[0]!r}")

    sys.addaudithook(hook)
