"""Plugins: discovery without importing, enabled state, registration into the built-in
registries (so the CLI uses them like built-ins), broken plugins reported by name, the three
example plugins (occlusion explainer, compact_cnn architecture, gsps exporter), the dialog."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file

from medxai_desktop import cli
from medxai_desktop.core import plugins
from medxai_desktop.core.boxes import Box
from medxai_desktop.core.errors import InputFileError, MedXAIError
from medxai_desktop.core.exchange import (
    AnnotationSet,
    BoxRecord,
    ImageRecord,
    get_format,
)
from medxai_desktop.core.explain import (
    ExplanationEngine,
    explainer_names,
    get_explainer,
)
from medxai_desktop.core.models import (
    architecture_names,
    get_architecture,
    random_model,
)
from medxai_desktop.core.plugins import PluginError

from .helpers import REPO, shared_data

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the dialog test; set before pytest-qt's QApplication
SAMPLE = REPO / "resources" / "sample_study"
CLASSES = ["glioma", "meningioma", "no_tumor", "pituitary"]
EXAMPLES = {"occlusion": ("explainer", "1.0.0"), "compact_cnn": ("architecture", "1.0.0"),
            "gsps": ("exporter", "1.1.0")}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Plugin state, user folder and extra plugin folder in tmp_path; nothing loaded before
    or after the test."""
    extra = tmp_path / "extra_plugins"
    extra.mkdir()
    monkeypatch.setenv("MEDXAI_PLUGIN_STATE", str(tmp_path / "state" / "plugins.json"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg_data"))
    monkeypatch.setenv("MEDXAI_PLUGIN_PATH", str(extra))
    plugins.reset()
    yield extra
    plugins.reset()


def write_plugin(folder: Path, filename: str, source: str) -> Path:
    path = folder / filename
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    plugins.plugins(refresh=True)
    return path


def status_of(name: str):
    return next(s for s in plugins.statuses() if s.info.name == name)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- discovery, declarations, state ---------------------------------------------------------------

def test_discovery_reads_declarations_without_importing_anything(isolated):
    marker = isolated / "imported.txt"
    write_plugin(isolated, "noisy.py", f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
        MEDXAI_PLUGIN = {{"kind": "explainer", "name": "noisy", "version": "0.1"}}
    """)
    found = {p.name: p for p in plugins.plugins()}
    for name, (kind, version) in EXAMPLES.items():
        assert (found[name].kind, found[name].version, found[name].error) == (kind, version, "")
        assert found[name].path.parent == REPO / "plugins"
    assert found["noisy"].kind == "explainer" and found["noisy"].source == str(isolated / "noisy.py")
    assert not marker.exists()
    assert not [m for m in sys.modules if m.startswith("medxai_plugin_")]
    assert {s.info.name: s.state for s in plugins.statuses()}["occlusion"] == "disabled"


def test_bad_declarations_are_listed_with_the_reason(isolated):
    write_plugin(isolated, "nodecl.py", "X = 1\n")
    write_plugin(isolated, "badkind.py", 'MEDXAI_PLUGIN = {"kind": "widget", "name": "badkind", "version": "1"}\n')
    write_plugin(isolated, "computed.py", 'MEDXAI_PLUGIN = dict(kind="explainer", name="computed", version="1")\n')
    write_plugin(isolated, "syntax.py", "MEDXAI_PLUGIN = {\n")
    write_plugin(isolated, "again.py", 'MEDXAI_PLUGIN = {"kind": "explainer", "name": "occlusion", "version": "9"}\n')
    errors = {s.info.source: s.error for s in plugins.statuses() if s.error}
    assert "no module-level MEDXAI_PLUGIN" in errors[str(isolated / "nodecl.py")]
    assert "kind must be one of architecture, explainer, exporter" in errors[str(isolated / "badkind.py")]
    assert "must be a literal dict" in errors[str(isolated / "computed.py")]
    assert "SyntaxError" in errors[str(isolated / "syntax.py")]
    assert "already used by" in errors[str(isolated / "again.py")]
    # the first 'occlusion' (the bundled one) stays usable
    assert status_of("occlusion").error == ""


def test_enabled_state_is_persisted_and_a_broken_state_file_is_reported(isolated, tmp_path):
    state = tmp_path / "state" / "plugins.json"
    assert plugins.state_path() == state
    plugins.enable("occlusion")
    assert json.loads(state.read_text()) == {"enabled": ["occlusion"]}
    assert status_of("occlusion").state == "loaded"
    assert "occlusion" in explainer_names()
    plugins.disable("occlusion")
    assert json.loads(state.read_text()) == {"enabled": []}
    assert status_of("occlusion").state == "disabled"
    assert "occlusion" not in explainer_names()

    state.write_text("{not json")
    with pytest.raises(InputFileError, match="plugins.json: plugin settings are not valid JSON"):
        plugins.enabled_names()
    assert plugins.load_enabled()  # the application goes on without plugins
    with pytest.raises(MedXAIError, match="no plugin named 'nope'"):
        plugins.enable("nope")


def test_entry_point_plugins_are_found_by_group_and_loaded_when_enabled(isolated, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "ep_dist-2.3.4.dist-info").mkdir(parents=True)
    (site / "ep_dist-2.3.4.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ep-dist\nVersion: 2.3.4\nSummary: an installed explainer\n")
    (site / "ep_dist-2.3.4.dist-info" / "entry_points.txt").write_text(
        "[medxai_desktop.plugins]\nexplainer.centre = ep_module:CentreMap\n")
    (site / "ep_module.py").write_text(textwrap.dedent("""
        import torch
        from medxai_desktop.core.explain.base import Explainer

        class CentreMap(Explainer):
            name, label = "centre", "Centre"
            needs_gradients = False

            def compute(self, ctx):
                h, w = ctx.activations.shape[-2:]
                return torch.ones(h, w)
    """))
    monkeypatch.syspath_prepend(str(site))
    info = next(p for p in plugins.plugins(refresh=True) if p.name == "centre")
    assert (info.kind, info.version, info.origin, info.description) == ("explainer", "2.3.4", "entry point",
                                                                         "an installed explainer")
    assert "ep_module" not in sys.modules
    assert "ep-dist 2.3.4" in info.source
    plugins.enable("centre")
    assert "centre" in explainer_names() and "ep_module" in sys.modules


# -- broken plugins -------------------------------------------------------------------------------

BROKEN_ON_IMPORT = """
    MEDXAI_PLUGIN = {"kind": "explainer", "name": "crashy", "version": "0.1"}
    raise RuntimeError("boom at import")
"""

BROKEN_ON_USE = """
    from medxai_desktop.core.explain.base import Explainer

    MEDXAI_PLUGIN = {"kind": "explainer", "name": "failing", "version": "0.2", "object": "Failing"}

    class Failing(Explainer):
        name, label = "failing", "Always fails"
        needs_gradients = False

        def compute(self, ctx):
            raise ZeroDivisionError("boom in use")
"""


def test_a_plugin_that_raises_on_import_is_reported_and_the_rest_works(isolated, capsys):
    write_plugin(isolated, "crashy.py", BROKEN_ON_IMPORT)
    status = plugins.enable("crashy")
    assert status.enabled and status.state == "error"
    assert "RuntimeError: boom at import" in status.error
    plugins.enable("occlusion")
    assert "occlusion" in explainer_names() and "crashy" not in explainer_names()
    with pytest.raises(ValueError, match="plugin 'crashy' .* cannot be used: while loading: RuntimeError"):
        get_explainer("crashy")

    code, out, _ = run_cli(capsys, "plugins", "list")
    assert code == 0
    line = next(line for line in out.splitlines() if " crashy " in line)
    assert "yes" in line and "error" in line
    assert "error: while loading: RuntimeError: boom at import" in out
    rows = {r["name"]: r for r in json.loads(run_cli(capsys, "plugins", "list", "--json")[1])}
    assert rows["occlusion"]["state"] == "loaded" and rows["crashy"]["state"] == "error"

    code, _, err = run_cli(capsys, "plugins", "enable", "crashy")
    assert code == 2 and "cannot be used" in err and "boom at import" in err


def test_a_plugin_that_raises_in_use_is_named_and_the_next_call_works(isolated, capsys, tmp_path):
    write_plugin(isolated, "failing.py", BROKEN_ON_USE)
    plugins.enable("failing")
    model = random_model("resnet18", CLASSES, input_size=(64, 64), device="cpu")
    engine = ExplanationEngine(model)
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(PluginError, match=r"plugin 'failing' \(explainer, .*failing.py\) failed while "
                                          r"explaining: ZeroDivisionError: boom in use"):
        engine.explain(x, ["gradcam", "failing"])
    failed = status_of("failing")
    assert (failed.state, failed.error) == ("loaded", "while explaining: ZeroDivisionError: boom in use")
    assert engine.explain(x, ["gradcam"])["gradcam"].map.shape == (64, 64)

    code, _, err = run_cli(capsys, "explain", str(SAMPLE / "glioma_1842.jpg"), "--arch", "resnet18",
                           "--random-init", "--methods", "failing", "--device", "cpu",
                           "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.count("\n") == 1 and "plugin 'failing'" in err and "boom in use" in err


def test_a_disabled_plugin_is_named_in_the_unknown_name_error(isolated):
    with pytest.raises(ValueError, match=r"unknown architecture 'compact_cnn'.*is not enabled: "
                                         r"`medxai plugins enable compact_cnn`"):
        get_architecture("compact_cnn")
    with pytest.raises(ValueError, match="unknown format 'gsps'.*medxai plugins enable gsps"):
        get_format("gsps")
    assert "compact_cnn" not in architecture_names()


# -- the example explainer: occlusion sensitivity --------------------------------------------------

def _occlusion_reference(model, x, target, patch, stride, fill):
    """One forward per patch position, no batching: what the plugin must equal."""
    height, width = x.shape[-2:]

    def starts(n: int) -> list[int]:
        return sorted(set(range(0, n - patch + 1, stride)) | {n - patch})

    with torch.no_grad():
        reference = torch.softmax(model.module(x)[0], 0)[target]
        drop, count = torch.zeros(height, width, dtype=torch.float64), torch.zeros(height, width, dtype=torch.float64)
        for y in starts(height):
            for xx in starts(width):
                occluded = x.clone()
                occluded[..., y:y + patch, xx:xx + patch] = fill[..., y:y + patch, xx:xx + patch]
                score = torch.softmax(model.module(occluded)[0], 0)[target]
                drop[y:y + patch, xx:xx + patch] += float(reference - score)
                count[y:y + patch, xx:xx + patch] += 1
    return (drop / count).numpy()


def test_occlusion_is_batched_deterministic_and_equals_a_plain_loop(isolated):
    plugins.enable("occlusion")
    plugins.enable("compact_cnn")   # a small network keeps the one-forward-per-patch reference quick
    model = random_model("compact_cnn", CLASSES, seed=3, input_size=(64, 64), device="cpu")
    engine = ExplanationEngine(model)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    batched = get_explainer("occlusion", patch=16, stride=8, batch_size=20)
    first = engine.explain(x, [batched], target=1)["occlusion"]
    again = engine.explain(x, [get_explainer("occlusion", patch=16, stride=8, batch_size=20)], target=1)
    assert np.array_equal(first.raw, again["occlusion"].raw)
    expected = _occlusion_reference(model, x, 1, 16, 8, batched.baseline_image(x))
    np.testing.assert_allclose(first.raw, expected, atol=1e-5)
    assert first.map.shape == (64, 64) and 0 <= first.map.min() <= first.map.max() <= 1
    assert first.raw.shape == (64, 64) and np.ptp(first.raw) > 0
    assert first.provenance["parameters"] == {"patch": 16, "stride": 8, "baseline": "blur", "batch_size": 20,
                                              "plugin_version": "1.0.0"}
    mean_fill = get_explainer("occlusion", patch=32, stride=16, baseline="mean", batch_size=4)
    np.testing.assert_allclose(engine.explain(x, [mean_fill], target=1)["occlusion"].raw,
                               _occlusion_reference(model, x, 1, 32, 16, torch.zeros_like(x)), atol=1e-5)
    with pytest.raises(PluginError, match="baseline must be 'blur', 'mean' or a number"):
        get_explainer("occlusion", baseline="noise")


def test_occlusion_through_the_cli_like_a_built_in(isolated, capsys, tmp_path):
    plugins.enable("occlusion")
    plugins.enable("compact_cnn")
    code, out, _ = run_cli(capsys, "explain", str(SAMPLE / "pituitary_1000.jpg"), "--arch", "compact_cnn",
                           "--random-init", "--methods", "occlusion,gradcam++", "--device", "cpu",
                           "--out", str(tmp_path / "out"))
    assert code == 0 and "occlusion" in out
    summary = json.loads((tmp_path / "out" / "explanations.json").read_text())
    assert summary["methods"]["occlusion"]["label"] == "Occlusion sensitivity"
    assert np.load(tmp_path / "out" / "occlusion.npy").shape == (224, 224)


# -- the example architecture: compact_cnn -------------------------------------------------------

def test_compact_cnn_trains_with_medxai_train_and_its_card_explains(isolated, capsys, tmp_path):
    data = shared_data("brain_mri")
    rows = ["image,label"]
    for label in ("glioma", "no_tumor"):
        rows += [f"{p.relative_to(data)},{label}" for p in sorted((data / "images" / label).glob("*.jpg"))[:6]]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    plugins.enable("compact_cnn")
    arch = get_architecture("compact_cnn")
    assert arch.default_target_layer == "features"
    assert sum(p.numel() for p in arch.build(4).parameters()) < 500_000

    code, out, err = run_cli(capsys, "train", str(tmp_path / "train.csv"), "--root", str(data), "--arch",
                             "compact_cnn", "--epochs", "1", "--size", "64", "--batch", "4",
                             "--val-fraction", "0.34", "--device", "cpu", "--out", str(tmp_path / "model"))
    assert "epoch   1" in out
    assert code == 0, err
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert (card["arch"], card["target_layer"], card["classes"]) == ("compact_cnn", "features", ["glioma", "no_tumor"])

    code, _, err = run_cli(capsys, "explain", str(SAMPLE / "glioma_1842.jpg"), "--model",
                           str(tmp_path / "model" / "model.json"), "--methods", "gradcam++,ablationcam",
                           "--boxes", "crosseai", "--device", "cpu", "--out", str(tmp_path / "explained"))
    assert code == 0, err
    raw = json.loads((tmp_path / "explained" / "explanations.json").read_text())
    assert raw["methods"]["gradcam++"]["provenance"]["target_layer"] == "features"
    assert (tmp_path / "explained" / "boxes.json").is_file()
    assert np.load(tmp_path / "explained" / "gradcam++.npy").shape == (64, 64)

    plugins.disable("compact_cnn")
    code, _, err = run_cli(capsys, "explain", str(SAMPLE / "glioma_1842.jpg"), "--model",
                           str(tmp_path / "model" / "model.json"), "--out", str(tmp_path / "again"))
    assert code == 2 and "medxai plugins enable compact_cnn" in err


# -- the example exporter: DICOM GSPS -----------------------------------------------------------

def _dicom_annotations() -> AnnotationSet:
    ct_path, mr_path = Path(get_testdata_file("CT_small.dcm", download=False)), Path(
        get_testdata_file("MR_small.dcm", download=False))
    images = [ImageRecord("CT_small.dcm", 128, 128, path=ct_path), ImageRecord("MR_small.dcm", 64, 64, path=mr_path)]
    boxes = [BoxRecord("CT_small.dcm", "Mass", Box(10.25, 20.5, 30.0, 40.0), reviewer="Doe^Jane", state="edited"),
             BoxRecord("CT_small.dcm", "Mass", Box(11, 21, 31, 41), kind="proposal", score=0.8125, method="crosseai"),
             BoxRecord("MR_small.dcm", "glioma", Box(1.5, 2, 63.75, 64), reviewer="alice", state="accepted")]
    return AnnotationSet(images, boxes)


def _graphics(ds) -> dict[str, list[tuple[tuple[float, ...], str]]]:
    by_layer: dict[str, list] = {}
    for annotation in ds.GraphicAnnotationSequence:
        texts = [t.UnformattedTextValue for t in annotation.TextObjectSequence]
        corners = [tuple(float(v) for v in g.GraphicData) for g in annotation.GraphicObjectSequence]
        assert all(g.GraphicType == "POLYLINE" and g.GraphicAnnotationUnits == "PIXEL"
                   for g in annotation.GraphicObjectSequence)
        by_layer.setdefault(annotation.GraphicLayer, []).extend(zip(corners, texts))
    return by_layer


def test_gsps_export_writes_the_boxes_as_graphic_annotations(isolated, tmp_path):
    plugins.enable("gsps")
    _, write = get_format("gsps")
    written = write(_dicom_annotations(), tmp_path / "gsps", which="both")
    assert len(written) == 2
    states = {pydicom.dcmread(p).ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID:
              pydicom.dcmread(p) for p in written}
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    state = states[ct.SOPInstanceUID]
    assert state.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1" and state.Modality == "PR"
    assert (state.PatientID, state.StudyInstanceUID) == (ct.PatientID, ct.StudyInstanceUID)
    assert state.file_meta.MediaStorageSOPClassUID == state.SOPClassUID
    graphics = _graphics(state)
    assert graphics["REVIEWED"] == [((10.25, 20.5, 30.0, 20.5, 30.0, 40.0, 10.25, 40.0, 10.25, 20.5), "Mass")]
    assert graphics["PROPOSALS"] == [((11.0, 21.0, 31.0, 21.0, 31.0, 41.0, 11.0, 41.0, 11.0, 21.0), "Mass 0.81")]
    assert [layer.GraphicLayer for layer in state.GraphicLayerSequence] == ["REVIEWED", "PROPOSALS"]
    reviewed_only = write(_dicom_annotations(), tmp_path / "reviewed", which="reviewed")
    assert all("PROPOSALS" not in _graphics(pydicom.dcmread(p)) for p in reviewed_only)


def test_gsps_refuses_non_dicom_sources_naming_them_and_the_plugin(isolated, tmp_path):
    plugins.enable("gsps")
    _, write = get_format("gsps")
    jpeg = AnnotationSet([ImageRecord("glioma_1842.jpg", 512, 512, path=SAMPLE / "glioma_1842.jpg")],
                         [BoxRecord("glioma_1842.jpg", "glioma", Box(1, 2, 30, 40))])
    with pytest.raises(PluginError, match=r"plugin 'gsps' .* not a DICOM file .*glioma_1842.jpg"):
        write(jpeg, tmp_path / "out", which="reviewed")
    assert not (tmp_path / "out").exists()


def test_gsps_export_from_the_review_database_with_the_cli(isolated, capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    ct = Path(get_testdata_file("CT_small.dcm", download=False))
    (tmp_path / "boxes.csv").write_text("image,label,x0,y0,x1,y1\nCT_small.dcm,Mass,10,20,30,40\n")
    code, _, err = run_cli(capsys, "--db", db, "import", "csv", str(tmp_path / "boxes.csv"), "--images", str(ct.parent))
    assert code == 0, err
    with pytest.raises(SystemExit):  # not enabled: not a choice
        cli.main(["--db", db, "export", "gsps", "--out", str(tmp_path / "gsps")])
    capsys.readouterr()
    plugins.enable("gsps")
    code, out, err = run_cli(capsys, "--db", db, "export", "gsps", "--out", str(tmp_path / "gsps"))
    assert code == 0, err
    assert "1 file(s)" in out
    (written,) = (tmp_path / "gsps").glob("*.dcm")
    assert _graphics(pydicom.dcmread(written))["REVIEWED"][0] == ((10.0, 20.0, 30.0, 20.0, 30.0, 40.0, 10.0, 40.0,
                                                                    10.0, 20.0), "Mass")


# -- the desktop app's dialog -------------------------------------------------------------------

def test_plugins_dialog_lists_errors_and_enables_with_a_checkbox(isolated, qtbot):
    from PySide6.QtCore import Qt

    from medxai_desktop.app.plugins_dialog import COLUMNS, PluginsDialog

    write_plugin(isolated, "crashy.py", BROKEN_ON_IMPORT)
    plugins.enable("crashy")
    logged = []
    dialog = PluginsDialog(log=lambda message, level="info": logged.append((level, message)))
    qtbot.addWidget(dialog)
    rows = {dialog.table.item(r, COLUMNS.index("Name")).text(): r for r in range(dialog.table.rowCount())}
    assert set(EXAMPLES) | {"crashy"} <= set(rows)
    status = dialog.table.item(rows["crashy"], COLUMNS.index("Status")).text()
    assert status.startswith("error: while loading: RuntimeError: boom at import")
    assert dialog.table.item(rows["occlusion"], COLUMNS.index("Status")).text() == "disabled"

    dialog.table.item(rows["occlusion"], 0).setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: plugins.enabled_names() == {"crashy", "occlusion"}, timeout=5000)
    qtbot.waitUntil(lambda: any("occlusion enabled and loaded" in m for _, m in logged), timeout=5000)
    rows = {dialog.table.item(r, COLUMNS.index("Name")).text(): r for r in range(dialog.table.rowCount())}
    assert dialog.table.item(rows["occlusion"], COLUMNS.index("Status")).text() == "loaded"
    assert "occlusion" in explainer_names()
    dialog.table.item(rows["occlusion"], 0).setCheckState(Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: plugins.enabled_names() == {"crashy"}, timeout=5000)
    assert "occlusion" not in explainer_names()


def test_a_plugin_file_that_breaks_the_declaration_reader_marks_only_itself_broken(isolated, capsys):
    """Issue 14 defect 2: 500,000 terms made ast.parse raise RecursionError, which stopped every
    command (plugins are listed before each) and the app."""
    write_plugin(isolated, "deep.py", "x = 0" + " + 1" * 500_000 + "\n")
    write_plugin(isolated, "nested.py", "MEDXAI_PLUGIN = " + "[" * 200_000 + "]" * 200_000 + "\n")
    errors = {s.info.source: s.error for s in plugins.statuses() if s.error}
    assert "RecursionError" in errors[str(isolated / "deep.py")] or "MemoryError" in errors[str(isolated / "deep.py")]
    assert "cannot read the declaration" in errors[str(isolated / "nested.py")]
    assert status_of("occlusion").error == ""
    code, out, err = run_cli(capsys, "plugins", "list")
    assert code == 0 and "deep" in out and "Traceback" not in err


# -- plugins imported first in a child process; names of built-ins refused (issue 23 defect 8) ------

def test_the_built_in_names_plugins_may_not_take_are_the_registries_names():
    from medxai_desktop.core.exchange import _BUILT_IN as formats
    from medxai_desktop.core.explain.registry import _ALIASES, _BUILT_IN as explainers
    from medxai_desktop.core.models.architectures import _BUILT_IN as architectures
    from medxai_desktop.core.plugins import builtin_names

    assert builtin_names.EXPLAINERS == explainers and builtin_names.EXPLAINER_ALIASES == set(_ALIASES)
    assert builtin_names.EXPORTERS == formats and builtin_names.ARCHITECTURES == architectures


def test_a_plugin_named_like_a_built_in_is_refused_before_anything_is_imported(isolated, capsys):
    marker = isolated / "imported.txt"
    for filename, kind, name in [("mycsv.py", "exporter", "csv"), ("camplus.py", "explainer", "gradcam++"),
                                 ("spelled.py", "explainer", "grad-cam"), ("net.py", "architecture", "resnet18")]:
        write_plugin(isolated, filename, f"""
            from pathlib import Path
            Path({str(marker)!r}).write_text("imported")
            MEDXAI_PLUGIN = {{"kind": {kind!r}, "name": {name!r}, "version": "1"}}
        """)
        with pytest.raises(MedXAIError, match=rf"plugin '{re.escape(name)}' \(.*{filename}\) cannot be enabled: "
                                              rf"name '{re.escape(name)}' is the built-in {kind}"):
            plugins.enable(name)
        code, _, err = run_cli(capsys, "plugins", "enable", name)
        assert code == 2 and err.count("\n") == 1 and "a plugin cannot replace a built-in" in err
    assert not marker.exists() and not [m for m in sys.modules if m.startswith("medxai_plugin_")]
    assert plugins.enabled_names() == set()
    code, out, _ = run_cli(capsys, "plugins", "list")
    assert code == 0 and out.count("a plugin cannot replace a built-in") == 4
    assert "csv" in get_format("csv")[1].__module__ and get_explainer("gradcam++").name == "gradcam++"


LOOPS_AT_IMPORT = """
    MEDXAI_PLUGIN = {"kind": "explainer", "name": "looper", "version": "0.1"}
    while True:
        pass
"""

KILLS_AT_IMPORT = """
    import os, signal
    MEDXAI_PLUGIN = {"kind": "explainer", "name": "killer", "version": "0.1"}
    os.kill(os.getpid(), signal.SIGKILL)
"""

FLOODS_AT_IMPORT = """
    import sys
    import torch
    from medxai_desktop.core.explain.base import Explainer

    MEDXAI_PLUGIN = {"kind": "explainer", "name": "flood", "version": "0.1", "object": "Flood"}
    for _ in range(50):
        print("x" * 100_000)
        sys.stderr.write("y" * 100_000 + "\\n")

    class Flood(Explainer):
        name, label = "flood", "Prints a lot"
        needs_gradients = False

        def compute(self, ctx):
            return torch.ones(ctx.activations.shape[-2:])
"""


def _cli_subprocess(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medxai_desktop.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})


@pytest.mark.skipif(os.name != "posix", reason="kills the child with a POSIX signal")
def test_a_plugin_that_loops_or_dies_at_import_is_broken_and_the_program_goes_on(isolated, capsys, monkeypatch):
    monkeypatch.setenv("MEDXAI_PLUGIN_CHECK_SECONDS", "4")
    write_plugin(isolated, "looper.py", LOOPS_AT_IMPORT)
    write_plugin(isolated, "killer.py", KILLS_AT_IMPORT)
    code, _, err = run_cli(capsys, "plugins", "enable", "looper")
    assert code == 2 and err.count("\n") == 1
    assert "plugin 'looper'" in err and "its import did not finish within 4 s" in err
    status = plugins.enable("killer")
    assert status.state == "error" and status.error == "while loading: its import was killed by signal 9 (SIGKILL)"
    assert "medxai_plugin_looper" not in sys.modules and "medxai_plugin_killer" not in sys.modules
    plugins.enable("occlusion")
    assert "occlusion" in explainer_names() and "looper" not in explainer_names()

    # a later command, in a process of its own, lists them with the recorded reasons at once
    listed = _cli_subprocess("plugins", "list", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "error: while loading: its import did not finish within 4 s" in listed.stdout
    assert "error: while loading: its import was killed by signal 9 (SIGKILL)" in listed.stdout
    # and one that uses explainers goes on without them, naming them when asked for one
    with pytest.raises(ValueError, match="plugin 'looper' .* cannot be used: while loading: its import did not"):
        plugins.reset()
        get_explainer("looper")


def test_a_plugin_that_prints_megabytes_at_import_floods_no_output(isolated, capfd):
    write_plugin(isolated, "flood.py", FLOODS_AT_IMPORT)
    assert cli.main(["plugins", "enable", "flood"]) == 0
    assert "flood" in explainer_names()
    plugins.reset()
    assert cli.main(["plugins", "list"]) == 0
    assert "flood" in explainer_names()   # imported again, in this process, without printing
    out, err = capfd.readouterr()
    assert "enabled explainer plugin flood 0.1" in out and " flood " in out
    assert len(out) + len(err) < 10_000


def test_the_child_reports_a_plugin_that_ends_its_process_or_fails_to_register(isolated):
    write_plugin(isolated, "quitter.py", """
        import os
        MEDXAI_PLUGIN = {"kind": "exporter", "name": "quitter", "version": "1"}
        print("leaving now")
        os._exit(0)
    """)
    write_plugin(isolated, "wrongtype.py", """
        MEDXAI_PLUGIN = {"kind": "exporter", "name": "wrongtype", "version": "1"}
        plugin = 42
    """)
    assert plugins.enable("quitter").error == ("while loading: its import ended the process (exit code 0); "
                                               "last output: leaving now")
    assert plugins.enable("wrongtype").error == ("while loading: TypeError: an exporter plugin must give an "
                                                 "ExportFormat, not 42")


# -- a plugin failing in each of its methods is named and isolated (issue 24 item 4) -------------

BROKEN_METHODS = """
    import torch
    from medxai_desktop.core.explain.base import Explainer
    from medxai_desktop.core.exchange import read_flat_csv, write_flat_csv
    from medxai_desktop.core.models.architectures import Architecture
    from medxai_desktop.core.plugins import ExportFormat

    MEDXAI_PLUGIN = {{"kind": {kind!r}, "name": {name!r}, "version": "0.3", "object": {obj!r}}}

    class BadMap(Explainer):
        name, label = "badmap", "Fails making its map"
        needs_gradients = False

        def compute(self, ctx):
            return torch.ones(ctx.activations.shape[-2:])

        def to_map(self, raw, size):
            raise IndexError("boom in to_map")

    class BadInit(Explainer):
        name, label = "badinit", "Fails being set up"
        needs_gradients = False

        def __init__(self, **options):
            raise KeyError("boom in __init__")

        def compute(self, ctx):
            return torch.ones(ctx.activations.shape[-2:])

    def _build(num_classes):
        raise MemoryError("boom in build")

    BAD_NET = Architecture("badnet", _build, "features")

    def _read(path, images_dir=None):
        raise UnicodeError("boom in read")

    BAD_READER = ExportFormat("badread", write_flat_csv, read=_read)
"""


def _broken(folder: Path, kind: str, name: str, obj: str) -> None:
    write_plugin(folder, f"{name}.py", BROKEN_METHODS.format(kind=kind, name=name, obj=obj))
    assert plugins.enable(name).state == "loaded"


def test_an_explainer_failing_in_to_map_or_init_is_named_and_the_others_work(isolated, capsys, tmp_path):
    _broken(isolated, "explainer", "badmap", "BadMap")
    _broken(isolated, "explainer", "badinit", "BadInit")
    engine = ExplanationEngine(random_model("resnet18", CLASSES, input_size=(64, 64), device="cpu"))
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(PluginError, match=r"^plugin 'badmap' \(explainer, .*badmap.py\) failed while making its "
                                          r"map: IndexError: boom in to_map$"):
        engine.explain(x, ["gradcam", "badmap"])
    with pytest.raises(PluginError, match=r"^plugin 'badinit' \(explainer, .*badinit.py\) failed while being set "
                                          r"up: KeyError: 'boom in __init__'$"):
        get_explainer("badinit")
    assert status_of("badmap").error == "while making its map: IndexError: boom in to_map"
    assert status_of("badinit").error == "while being set up: KeyError: 'boom in __init__'"
    assert engine.explain(x, ["gradcam", "layercam"])["layercam"].map.shape == (64, 64)

    for method, named in (("badmap", "boom in to_map"), ("badinit", "boom in __init__")):
        code, _, err = run_cli(capsys, "explain", str(SAMPLE / "glioma_1842.jpg"), "--arch", "resnet18",
                               "--random-init", "--methods", f"gradcam,{method}", "--device", "cpu",
                               "--out", str(tmp_path / method))
        assert code == 2 and err.count("\n") == 1 and f"plugin '{method}'" in err and named in err
    code, _, err = run_cli(capsys, "explain", str(SAMPLE / "glioma_1842.jpg"), "--arch", "resnet18", "--random-init",
                           "--methods", "gradcam", "--device", "cpu", "--out", str(tmp_path / "fine"))
    assert code == 0, err


def test_an_architecture_failing_to_build_is_named_and_the_others_build(isolated, capsys, tmp_path):
    _broken(isolated, "architecture", "badnet", "BAD_NET")
    with pytest.raises(PluginError, match=r"^plugin 'badnet' \(architecture, .*badnet.py\) failed while building "
                                          r"the network: MemoryError: boom in build$"):
        random_model("badnet", CLASSES, input_size=(64, 64), device="cpu")
    assert status_of("badnet").error == "while building the network: MemoryError: boom in build"
    assert random_model("resnet18", CLASSES, input_size=(64, 64), device="cpu").classes == CLASSES
    code, _, err = run_cli(capsys, "explain", str(SAMPLE / "glioma_1842.jpg"), "--arch", "badnet", "--random-init",
                           "--classes", ",".join(CLASSES), "--device", "cpu", "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "plugin 'badnet'" in err and "boom in build" in err
    assert get_architecture("resnet18").build(4) is not None


def test_an_exporter_failing_to_read_is_named_and_the_other_formats_read(isolated, tmp_path):
    _broken(isolated, "exporter", "badread", "BAD_READER")
    (tmp_path / "boxes.csv").write_text("image,label,x0,y0,x1,y1\na.png,Mass,10,20,30,40\n")
    read, write = get_format("badread")
    with pytest.raises(PluginError, match=r"^plugin 'badread' \(exporter, .*badread.py\) failed while importing: "
                                          r"UnicodeError: boom in read$"):
        read(tmp_path / "boxes.csv")
    assert status_of("badread").error == "while importing: UnicodeError: boom in read"
    assert [b.label for b in get_format("csv")[0](tmp_path / "boxes.csv").boxes] == ["Mass"]
    written = write(get_format("csv")[0](tmp_path / "boxes.csv"), tmp_path / "out", which="reviewed")
    assert Path(written if isinstance(written, (str, Path)) else written[0]).is_file()


def test_the_plugins_dialog_lists_without_importing_or_checking_any_plugin(isolated, qtbot, tmp_path, monkeypatch):
    from medxai_desktop.app.plugins_dialog import COLUMNS, PluginsDialog

    monkeypatch.setenv("MEDXAI_PLUGIN_CHECK_SECONDS", "4")
    write_plugin(isolated, "looper.py", LOOPS_AT_IMPORT)
    state = tmp_path / "state" / "plugins.json"
    state.parent.mkdir()
    state.write_text('{"enabled": ["looper", "occlusion"]}\n')   # enabled elsewhere, never checked here
    dialog = PluginsDialog(log=lambda message, level="info": None)
    qtbot.addWidget(dialog)
    rows = {dialog.table.item(r, COLUMNS.index("Name")).text(): r for r in range(dialog.table.rowCount())}
    assert dialog.table.item(rows["looper"], COLUMNS.index("Status")).text() == "enabled"
    assert state.read_text() == '{"enabled": ["looper", "occlusion"]}\n'   # no child was run
    assert not [m for m in sys.modules if m.startswith("medxai_plugin_")]
