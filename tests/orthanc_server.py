"""A real Orthanc for the PACS tests: Debian's ``orthanc`` and ``orthanc-dicomweb`` (scripts/test
installs them), started in a temporary folder on free loopback ports with HTTP authentication
on and our AE title in ``DicomModalities``; stopped (and its folder removed) afterwards.
Orthanc 1.10 has no bind-address option: the ports are ones the OS just handed out as free."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

USER, PASSWORD = "medxai", "s3cret-for-tests"
ORTHANC_AET, OUR_AET = "ORTHANC", "MEDXAI"
PLUGINS = Path("/usr/share/orthanc/plugins")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
                                            if os.access(p, os.X_OK)), None)


def missing_reason() -> str:
    """'' when Orthanc and its DICOMweb plugin are installed, else what is missing."""
    if orthanc_binary() is None:
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb; scripts/test does it)"
    if not any(PLUGINS.glob("*DicomWeb*")):
        return f"the Orthanc DICOMweb plugin is not in {PLUGINS} (apt-get install orthanc-dicomweb)"
    return ""


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the test process dies, even killed
    without running its fixtures' finalisers (a timeout, Ctrl+C twice)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class OrthancServer:
    def __init__(self, **extra):
        """``extra``: more configuration (e.g. DICOM TLS), over the defaults below."""
        self.root = Path(tempfile.mkdtemp(prefix="medxai-orthanc-"))
        self.http_port, self.dicom_port, self.store_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.config = self.root / "orthanc.json"
        self.config.write_text(json.dumps({
            "Name": "medxai-test", "StorageDirectory": str(self.root / "db"),
            "IndexDirectory": str(self.root / "db"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": ORTHANC_AET, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
            # Only AE titles in DicomModalities may associate (so an unknown one is rejected).
            "DicomAlwaysAllowEcho": False, "DicomAlwaysAllowStore": False,
            "DicomModalities": {"medxai": [OUR_AET, "127.0.0.1", self.store_port]},
            "Plugins": [str(PLUGINS) + "/"], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StableAge": 1, "HttpCompressionEnabled": False, "ConcurrentJobs": 2, **extra,
        }))
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.root / "orthanc.log", "ab")
        # TCP_NODELAY=1: DCMTK (inside Orthanc) turns Nagle's algorithm off; else each DIMSE
        # answer waits ~40 ms for our delayed ACK.
        self.process = subprocess.Popen([orthanc_binary(), str(self.config)], stdout=log, stderr=log,
                                        env=dict(os.environ, TCP_NODELAY="1"), cwd=self.root,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited {self.process.returncode}: {self.log_tail()}")
            try:
                self.rest("/system")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"Orthanc did not answer within {timeout:g} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled cable would end it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()   # its data is thrown away: no need to wait for a clean shutdown
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        path = self.root / "orthanc.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def rest(self, path: str, data: bytes | None = None, method: str | None = None, raw: bool = False):
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", "Basic " + b64encode(f"{USER}:{PASSWORD}".encode()).decode())
        if data is not None:
            request.add_header("Content-Type", "application/dicom")
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return body if raw else json.loads(body) if body else None

    def upload(self, path: str | Path) -> dict:
        return self.rest("/instances", Path(path).read_bytes())


def synthetic_study(out_dir: Path, count: int, series: int = 2, source: str = "CT_small.dcm",
                    patient: str = "Synthetic^Study", accession: str = "ACC-SYN") -> tuple[str, list[Path]]:
    """``count`` instances of one new study (copies of a pydicom test file with new UIDs, spread
    over ``series`` series): (study UID, files)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    template = pydicom.dcmread(get_testdata_file(source))
    study_uid = generate_uid()
    series_uids = [generate_uid() for _ in range(series)]
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(count):
        template.StudyInstanceUID = study_uid
        template.SeriesInstanceUID = series_uids[n % series]
        template.SeriesNumber = n % series + 1
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        template.InstanceNumber = n + 1
        template.PatientName, template.PatientID = patient, "SYN-1"
        template.AccessionNumber = accession
        template.StudyDescription = "synthetic study" if accession == "ACC-SYN" else "another study"
        path = out_dir / f"{n:04d}.dcm"
        template.save_as(path, enforce_file_format=True)
        files.append(path)
    return study_uid, files


# CR (JPEG 2000, pydicom-data), CT, MR, multi-frame MR (pydicom-data), JPEG baseline colour.
SAMPLES = ("RG3_J2KR.dcm", "CT_small.dcm", "MR_small.dcm", "emri_small.dcm", "SC_rgb_jpeg_dcmtk.dcm")


def sample_files() -> dict[str, str]:
    from pydicom.data import get_testdata_file

    found = {}
    for name in SAMPLES:
        try:
            path = get_testdata_file(name)
        except Exception:  # noqa: BLE001 (pydicom-data absent and no download)
            path = None
        if path:
            found[name] = path
    return found


def running_orthanc(tmp_path_factory):
    """For a module fixture: Orthanc with the samples (``.samples``: name -> header) and a
    synthetic study of 6 instances in 2 series (``.study_uid``, ``.study_files``); SKIPPED,
    loudly, only when Orthanc is not installed."""
    import sys

    import pydicom
    import pytest

    problem = missing_reason()
    if problem:
        message = f"!!! PACS tests SKIPPED: {problem}"
        print(f"\n{message}", file=sys.stderr)
        pytest.skip(message)
    server = OrthancServer()
    try:
        server.start()
        server.samples = {}
        for name, path in sample_files().items():
            server.upload(path)
            server.samples[name] = pydicom.dcmread(path, stop_before_pixels=True)
        server.study_uid, server.study_files = synthetic_study(tmp_path_factory.mktemp("syn"), 6)
        for path in server.study_files:
            server.upload(path)
        yield server
    finally:
        server.stop()
