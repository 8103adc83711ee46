"""Retrieve a study or series into the instance cache by C-GET, C-MOVE or WADO-RS.

Instances already in the cache are not fetched again: when the study's folder holds some, the
node is asked for the study's instance list first and only the missing ones are retrieved (an
interrupted retrieve resumes where it stopped); when it holds none, the whole study or series
is asked for in one request. Instances that are not what was asked for are refused
(:mod:`.receiver`), and the limits of :mod:`.limits` hold throughout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, ProgressFn, check_cancelled, report

from . import dimse, web
from .cache import InstanceCache
from .credentials import PromptFn
from .dimse_retrieve import c_get, c_move
from .errors import NodeConfigError, PacsError, PacsNotFound
from .limits import limits_for
from .nodes import Node
from .query import check_uid
from .receiver import Asked, Receiver

VIAS = ("get", "move", "wado")


@dataclass(frozen=True)
class RetrieveResult:
    node: str
    study_uid: str
    series_uid: str | None
    folder: Path                 # the study's folder in the cache
    fetched: tuple[str, ...]     # SOP Instance UIDs written by this retrieve
    reused: int                  # instances that were in the cache already
    seconds: float
    refused: tuple[tuple[str, str], ...] = ()   # (SOP Instance UID, why) of instances not written

    def provenance(self) -> list[tuple[str, str | None, str, str]]:
        """(study, series, SOP Instance UID, path) of each instance written, for the store's
        ``pacs_log.record_retrieved``."""
        import pydicom

        rows = []
        for sop_uid in self.fetched:
            path = self.folder / f"{sop_uid}.dcm"
            header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
            rows.append((self.study_uid, str(header.get("SeriesInstanceUID", "")) or None, sop_uid, str(path)))
        return rows

    def summary(self) -> str:
        rate = len(self.fetched) / self.seconds if self.seconds > 0 and self.fetched else 0.0
        refused = (f"; REFUSED {len(self.refused)} instance(s) not of the study or series asked for"
                   if self.refused else "")
        return (f"retrieved {len(self.fetched)} instance(s) from {self.node} into {self.folder} "
                f"({self.reused} already cached; {self.seconds:.2f} s, {rate:.0f} instances/s){refused}")


def default_via(node: Node) -> str:
    return "get" if node.kind == "dimse" else "wado"


def check_via(node: Node, via: str) -> str:
    if via not in VIAS:
        raise ValueError(f"--via must be one of {', '.join(VIAS)}, not {via!r}")
    if (via == "wado") != (node.kind == "dicomweb"):
        raise NodeConfigError(f"PACS node {node.name!r} is a {node.kind} node: "
                              f"{'WADO-RS needs a DICOMweb URL' if via == 'wado' else 'C-GET/C-MOVE need a DIMSE node'}")
    return via


def retrieve(node: Node, study_uid: str, series_uid: str | None = None, *, via: str | None = None,
             cache: InstanceCache | None = None, progress: ProgressFn | None = None,
             cancelled: CancelFn | None = None, prompt: PromptFn | None = None) -> RetrieveResult:
    """Bring the study (or one series) into the cache; raises Cancelled when asked to stop,
    PacsNotFound for a study or series the node does not have."""
    via = check_via(node, via or default_via(node))
    study_uid = check_uid(study_uid, "study UID")
    series_uid = check_uid(series_uid, "series UID") if series_uid else None
    cache = cache or InstanceCache()
    started = time.perf_counter()
    cache.clean_partials(study_uid)
    have = cache.cached(study_uid)
    listing = _listing(node, via, study_uid, series_uid, prompt) if have else None
    if listing is not None and not listing:
        raise PacsNotFound(node.name, _what(study_uid, series_uid))
    missing = None if listing is None else {k: v for k, v in listing.items() if k not in have}
    reused = 0 if listing is None else len(listing) - len(missing)
    asked = Asked(study_uid, series_uid, None if missing is None else frozenset(missing))
    receiver = Receiver(node.name, cache, asked, set() if listing is None else set(listing) & have,
                        len(listing or ()), progress, cancelled, limits_for(node))
    report(progress, reused, len(listing or ()) or 1, "retrieve", f"asking {node.name} for {_what(study_uid, series_uid)}")
    check_cancelled(cancelled, "retrieve")
    if missing is None or missing:
        _fetch(node, via, study_uid, series_uid, missing, cache, receiver, prompt)
    if not receiver.written and not reused:
        if receiver.refused:
            raise PacsError(node.name, f"refused all {len(receiver.refused)} instance(s) sent for study "
                                       f"{study_uid}: {_refusals(receiver.refused)}")
        raise PacsNotFound(node.name, _what(study_uid, series_uid) + " (nothing was sent)")
    if receiver.failed:
        raise PacsError(node.name, f"{receiver.failed} instance(s) could not be written to {cache.root}; "
                                   "retrieve again to complete the study")
    return RetrieveResult(node.name, study_uid, series_uid, cache.study_dir(study_uid),
                          tuple(receiver.written), reused, time.perf_counter() - started,
                          tuple(receiver.refused))


def _refusals(refused: list[tuple[str, str]], shown: int = 3) -> str:
    text = "; ".join(f"{uid}: {why}" for uid, why in refused[:shown])
    return text + (f"; and {len(refused) - shown} more" if len(refused) > shown else "")


def _what(study_uid: str, series_uid: str | None) -> str:
    return f"no series {series_uid} in study {study_uid}" if series_uid else f"no study {study_uid}"


def _listing(node, via, study_uid, series_uid, prompt) -> dict[str, str]:
    if via == "wado":
        return web.instance_uids(node, study_uid, series_uid, prompt)
    return dimse.instance_uids(node, study_uid, series_uid)


def _fetch(node, via, study_uid, series_uid, missing, cache, receiver, prompt) -> None:
    if via == "wado":
        web.wado(node, study_uid, series_uid, missing, cache, receiver, prompt)
        return
    sop_classes = dimse.study_sop_classes(node, study_uid)    # PacsNotFound for an unknown study
    sop_uids = sorted(missing) if missing is not None else None
    if via == "get":
        c_get(node, study_uid, series_uid, sop_uids, sop_classes, receiver)
    else:
        c_move(node, study_uid, series_uid, sop_uids, receiver)
