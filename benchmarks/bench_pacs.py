"""Benchmark: retrieving a study from a real Orthanc, ours against the field's own clients.

A temporary Orthanc (``tests/orthanc_server.py``: Debian's orthanc and orthanc-dicomweb, loopback
ports, authentication on) holds one study of N instances (``--instances``, default 200; copies
of a pydicom test file, ``--source``, default CT_small.dcm, with new UIDs, in 2 series). Timed,
each into a new empty folder, so nothing is skipped:

  (a) ours, C-GET: ``core.pacs.retrieve(node, study, via="get")``, as ``medxai pacs retrieve``
      runs it (a C-FIND of the study's SOP classes, one association, each instance written to
      the cache atomically: temporary file, fsync, rename);
  (b) pynetdicom's own ``getscu`` application (``pynetdicom.apps.getscu.getscu.main``, run in
      this process, so no interpreter start-up is counted): study root, ``-od DIR``;
  (c) ours, WADO-RS: ``core.pacs.retrieve(web_node, study, via="wado")``;
  (d) a plain dicomweb-client loop: ``for ds in client.iter_study(study, media_types=...):
      ds.save_as(DIR / f"{ds.SOPInstanceUID}.dcm")``.

Every callable runs once as warm-up, then R interleaved rounds (``--repeats``, default 3);
every call, timed or not, must bring all N instances (else the benchmark stops and says so);
medians in seconds and instances per second, ratios also from the fastest rounds. Targets,
printed as PASS/FAIL: (a) <= 1.2 x (b), (c) <= 1.2 x (d). Exit 0 even when a target fails,
unless ``--strict``; ``--json`` prints only a JSON object.

    .venv/bin/python benchmarks/bench_pacs.py [--instances N] [--source FILE] [--repeats R] [--json] [--strict]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from medxai_desktop.core import pacs  # noqa: E402
from medxai_desktop.core.pacs import InstanceCache, Node  # noqa: E402
from tests import orthanc_server as orth  # noqa: E402

TARGET = 1.2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--source", default="CT_small.dcm", help="a pydicom test file to copy")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true")
    return parser.parse_args(argv)


def callables(server, study_uid: str, scratch: Path) -> dict:
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session
    from pynetdicom.apps.getscu import getscu

    os.environ["MEDXAI_PACS_PASSWORD_BENCH_WEB"] = orth.PASSWORD
    node = Node("bench", ae_title=orth.ORTHANC_AET, host="127.0.0.1", port=server.dicom_port,
                calling_ae=orth.OUR_AET, timeout=30)
    web_node = Node("bench-web", url=f"{server.url}/dicom-web", auth="basic", username=orth.USER, timeout=30)
    session = create_session()
    session.auth = (orth.USER, orth.PASSWORD)
    plain_client = DICOMwebClient(f"{server.url}/dicom-web", session=session)

    def fresh() -> Path:
        return Path(tempfile.mkdtemp(dir=scratch))

    def ours_get():
        return len(pacs.retrieve(node, study_uid, via="get", cache=InstanceCache(fresh())).fetched)

    def getscu_app():
        out = fresh()
        getscu.main(["127.0.0.1", str(server.dicom_port), "-q", "-S", "-k", "QueryRetrieveLevel=STUDY",
                     "-k", f"StudyInstanceUID={study_uid}", "-aet", orth.OUR_AET, "-aec", orth.ORTHANC_AET,
                     "-od", str(out)])
        return len(list(out.iterdir()))

    def ours_wado():
        return len(pacs.retrieve(web_node, study_uid, via="wado", cache=InstanceCache(fresh())).fetched)

    def plain_wado():
        out = fresh()
        for ds in plain_client.iter_study(study_uid, media_types=(("application/dicom", "*"),)):
            ds.save_as(out / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        return len(list(out.iterdir()))

    return {"a_ours_cget": ours_get, "b_getscu": getscu_app, "c_ours_wado": ours_wado,
            "d_plain_dicomweb_client": plain_wado}


def _check_count(name: str, got: int, expected: int, when: str) -> None:
    if got != expected:
        raise SystemExit(f"{name} retrieved {got} of {expected} instances in the {when}")


def timed(functions: dict, repeats: int, expected: int) -> dict[str, list[float]]:
    """Seconds per round of each callable; every call, warm-up and timed rounds alike, must
    bring every instance (a round that brought fewer would be timed for less work)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for name, fn in functions.items():
        _check_count(name, fn(), expected, "warm-up")
    for round_ in range(repeats):
        names = list(functions)
        names = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in names:
            started = time.perf_counter()
            got = functions[name]()
            times[name].append(time.perf_counter() - started)
            _check_count(name, got, expected, f"timed round {round_ + 1}")
    return times


def run(args) -> dict:
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    problem = orth.missing_reason()
    if problem:
        raise SystemExit(f"bench_pacs: {problem}")
    scratch = Path(tempfile.mkdtemp(prefix="medxai-bench-pacs-"))
    server = orth.OrthancServer()
    try:
        server.start()
        study_uid, files = orth.synthetic_study(scratch / "study", args.instances, source=args.source)
        for path in files:
            server.upload(path)
        size = files[0].stat().st_size
        load = os.getloadavg()
        times = timed(callables(server, study_uid, scratch), args.repeats, args.instances)
        load_end = os.getloadavg()
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    ratios = {"cget_vs_getscu": median["a_ours_cget"] / median["b_getscu"],
              "wado_vs_dicomweb_client": median["c_ours_wado"] / median["d_plain_dicomweb_client"]}
    return {"instances": args.instances, "source": args.source, "repeats": args.repeats,
            "bytes_per_instance": size,
            "seconds_median": median, "seconds_best": best,
            "instances_per_second": {k: args.instances / v for k, v in median.items()},
            "ratios_median": ratios,
            "ratios_best": {"cget_vs_getscu": best["a_ours_cget"] / best["b_getscu"],
                            "wado_vs_dicomweb_client": best["c_ours_wado"] / best["d_plain_dicomweb_client"]},
            "pass": {k: v <= TARGET for k, v in ratios.items()},
            "load_average": [load[0], load_end[0]], "cpus": os.cpu_count()}


def print_report(report: dict) -> None:
    print(f"{report['instances']} instances of {report['source']} ({report['bytes_per_instance']} bytes each), "
          f"{report['repeats']} rounds, load average {report['load_average'][0]:.1f} -> "
          f"{report['load_average'][1]:.1f} on {report['cpus']} CPUs")
    for name, seconds in report["seconds_median"].items():
        print(f"  {name:26s} {seconds:7.3f} s  {report['instances_per_second'][name]:7.0f} instances/s "
              f"(best {report['seconds_best'][name]:.3f} s)")
    for name, ratio in report["ratios_median"].items():
        verdict = "PASS" if report["pass"][name] else "FAIL"
        print(f"  {name:26s} {ratio:5.2f}x (best rounds {report['ratios_best'][name]:.2f}x), "
              f"target <= {TARGET}x: {verdict}")


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if args.strict and not all(report["pass"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
