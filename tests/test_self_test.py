"""The installation self-test (`medxai self-test`, `medxai-desktop --self-test`), its failure
messages, the GUI smoke (`medxai-desktop --smoke-gui`) and the network guard of packaging/smoke."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from medxai_desktop import self_test
from medxai_desktop.app import main as app_main
from medxai_desktop.cli import main as cli_main

from .helpers import REPO

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt's QApplication


@pytest.mark.slow
def test_self_test_explains_the_sample_study_and_writes_the_report(tmp_path, capsys):
    assert self_test.main(tmp_path / "report", "cpu") == 0
    out = capsys.readouterr().out
    assert "self-test PASSED" in out and "4 images explained" in out
    summary = json.loads((tmp_path / "report" / "self-test.json").read_text())
    assert summary["passed"] is True
    assert [s["step"] for s in summary["steps"]][:3] == ["load demo model", "environment", "read sample study"]
    assert summary["steps"][-1]["step"] == "write report"
    assert sorted(row["image"] for row in summary["images"]) == sorted(
        p.name for p in (REPO / "resources" / "sample_study").glob("*.jpg"))
    for row in summary["images"]:
        for method in ("gradcam++", "xgradcam", "eigengradcam", "layercam", "ablationcam", "guided"):
            assert row[f"{method}_ms"] >= 0
    assert summary["environment"]["torchvision C++ ops"] == "yes"
    html = (tmp_path / "report" / "self-test.html").read_text()
    # 6 maps (+ the box head's when the demo card has one) + the CrossEAI image per image
    assert html.count("data:image/png;base64,") == 4 * (7 + ("boxhead_ms" in summary["images"][0]))
    for label in ("CrossEAI fused map and boxes", "Predictions and timings", "Environment"):
        assert label in html


def _resources_without(tmp_path, *, model: str) -> None:
    """A resources folder with the real sample study and a broken (or no) demo model."""
    resources = tmp_path / "resources"
    (resources / "models").mkdir(parents=True)
    (resources / "sample_study").symlink_to(REPO / "resources" / "sample_study")
    if model == "corrupt":
        shutil.copy(REPO / "resources" / "models" / "brain_mri_resnet18.json", resources / "models")
        (resources / "models" / "brain_mri_resnet18.pt").write_bytes(b"not a checkpoint")
    return resources


@pytest.mark.parametrize("model, reason", [
    ("missing", "FAILED at step 'load demo model': no model card in the resources' models folder"),
    ("corrupt", "FAILED at step 'load demo model': CheckpointError: "),
])
def test_self_test_fails_naming_the_step_and_the_reason(tmp_path, capsys, monkeypatch, model, reason):
    monkeypatch.setenv("MEDXAI_RESOURCES", str(_resources_without(tmp_path, model=model)))
    assert self_test.main(tmp_path / "report", "cpu") == 1
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1
    if model == "corrupt":
        assert "brain_mri_resnet18.pt" in err and "does not match the model card" in err


def test_both_front_ends_run_the_self_test(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(self_test, "main", lambda out, device: calls.append((str(out), device)) or 7)
    assert cli_main(["self-test", "--out", str(tmp_path / "a"), "--device", "cpu"]) == 7
    assert app_main.main(["--self-test", "--report-dir", str(tmp_path / "b")]) == 7
    assert calls == [(str(tmp_path / "a"), "cpu"), (str(tmp_path / "b"), "auto")]


SMOKE = """import sys
from medxai_desktop.app import main as app_main
from medxai_desktop.app.smoke import smoke_gui
sys.exit(smoke_gui(app_main.build_parser().parse_args(sys.argv[2:]), timeout=float(sys.argv[1])))
"""


def _smoke(tmp_path, timeout: float, *args: str) -> subprocess.CompletedProcess:
    """smoke_gui in a process of its own, as packaging/smoke runs it: its app.exec() and quit()
    would otherwise leave the test process's QApplication unable to activate later windows."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run([sys.executable, "-c", SMOKE, str(timeout), *args], env=env, capture_output=True,
                          text=True, timeout=timeout + 120)


@pytest.mark.slow
def test_smoke_gui_opens_the_sample_study_and_quits(tmp_path):
    done = _smoke(tmp_path, 120, "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "first image shown after" in done.stdout and "GUI smoke PASSED" in done.stdout
    assert not (tmp_path / "config").exists()   # settings went to a temporary file


def test_smoke_gui_fails_when_nothing_can_be_opened(tmp_path):
    (tmp_path / "empty").mkdir()
    done = _smoke(tmp_path, 3, str(tmp_path / "empty"), "--device", "cpu")
    assert done.returncode == 1
    assert "FAILED: no first image after 3 s" in done.stderr


def test_forbid_network_blocks_internet_but_not_local_sockets():
    code = (
        "import socket\n"
        "from medxai_desktop.self_test import forbid_network\n"
        "forbid_network()\n"
        "a, b = socket.socketpair(); a.sendall(b'x'); assert b.recv(1) == b'x'\n"
        "for call in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),\n"
        "             lambda: socket.getaddrinfo('example.org', 443)):\n"
        "    try:\n"
        "        call()\n"
        "    except OSError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["network use forbidden by MEDXAI_FORBID_NETWORK: connect to ('192.0.2.1', 80)",
                     "network use forbidden by MEDXAI_FORBID_NETWORK: lookup of 'example.org'"]


def test_process_age_counts_from_the_process_start():
    age = self_test.process_age()
    assert 0 < age < 24 * 3600
