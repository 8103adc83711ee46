"""DICOMweb with dicomweb-client: QIDO-RS (verify, find), WADO-RS (retrieve), STOW-RS (send).

HTTP failures become one line: 401/403 as :class:`PacsAuthError`, 404 as
:class:`PacsNotFound`, a refused connection or no answer within the node's timeout as
:class:`PacsConnectionError`.
"""
from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, Cancelled, ProgressFn, check_cancelled, report

from .cache import InstanceCache
from .credentials import PromptFn, find_password
from .errors import PacsAuthError, PacsConnectionError, PacsError, PacsNotFound
from .nodes import Node
from .query import Match, Query, match_from_dataset

ACCEPT_AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'   # as stored
PAGE, MAX_RESULTS = 500, 100_000


def _adapter():
    from requests.adapters import HTTPAdapter

    class QueryAdapter(HTTPAdapter):
        """Sends QIDO's wildcard ``*`` and the name separator ``^`` unescaped in the query
        string: some servers (Orthanc's DICOMweb plugin 1.7) do not decode %2A and %5E there."""

        def send(self, request, *args, **kwargs):
            if "?" in request.url:
                path, query = request.url.split("?", 1)
                request.url = path + "?" + query.replace("%2A", "*").replace("%5E", "^")
            return super().send(request, *args, **kwargs)

    return QueryAdapter()


def client(node: Node, prompt: PromptFn | None = None):
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session

    session = create_session()
    adapter = _adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    password = find_password(node, prompt)
    if node.auth == "basic":
        session.auth = (node.username, password)
    elif node.auth == "bearer":
        session.headers["Authorization"] = f"Bearer {password}"
    web = DICOMwebClient(node.url, session=session, timeout=node.timeout)
    # One attempt: dicomweb-client's default retries (5, exponential back-off) would turn the
    # node's timeout of a silent server into some 35 s.
    web.set_http_retry_params(retry=False)
    return web


@contextlib.contextmanager
def http_errors(node: Node, what: str) -> Iterator[None]:
    """HTTP and connection failures inside the block as PacsErrors naming the node."""
    import requests

    try:
        yield
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        if code in (401, 403):
            raise PacsAuthError(node.name, f"{what}: HTTP {code} "
                                           f"{'unauthorized: wrong or missing credentials' if code == 401 else 'forbidden'}"
                                           f" for {node.describe()}") from None
        if code == 404:
            raise PacsNotFound(node.name, f"{what}: not found (HTTP 404)") from None
        raise PacsError(node.name, f"{what}: HTTP {code} from {node.url}") from None
    except requests.exceptions.Timeout:
        raise PacsConnectionError(node.name, f"{what}: no answer from {node.url} within {node.timeout:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        reason = str(exc.args[0] if exc.args else exc).split("Caused by")[-1].strip(" ()")
        raise PacsConnectionError(node.name, f"{what}: cannot connect to {node.url}: {reason[:200]}") from None
    except requests.exceptions.RequestException as exc:
        raise PacsError(node.name, f"{what}: {exc}") from None


def _datasets(results):
    from pydicom.dataset import Dataset

    return [Dataset.from_json(item) for item in results]


def echo(node: Node, prompt: PromptFn | None = None) -> float:
    """A QIDO-RS search for one study: the round trip in seconds."""
    web = client(node, prompt)
    started = time.perf_counter()
    with http_errors(node, "QIDO-RS"):
        web.search_for_studies(limit=1, fields=["StudyInstanceUID"])
    return time.perf_counter() - started


def find(node: Node, query: Query, prompt: PromptFn | None = None) -> list[Match]:
    web = client(node, prompt)
    filters = query.filters()
    fields = list(query.return_keys())
    if query.level == "study":
        search = functools.partial(web.search_for_studies, fields=fields, search_filters=filters)
    else:
        study = filters.pop("StudyInstanceUID", None)
        search = functools.partial(web.search_for_series, study_instance_uid=study, fields=fields,
                                   search_filters=filters)
    return [match_from_dataset(ds, query.level) for ds in _datasets(paged(node, search))]


def paged(node: Node, search, page: int = PAGE) -> list:
    """Every result of a QIDO-RS search, ``page`` at a time, at most MAX_RESULTS; stops when a
    server ignores ``offset`` (the same page again), where dicomweb-client's get_remaining
    would loop for ever."""
    results: list = []
    with http_errors(node, "QIDO-RS"):
        while len(results) < MAX_RESULTS:
            batch = search(limit=page, offset=len(results))
            if not batch or (results and batch[0] == results[0]):
                break
            results.extend(batch)
            if len(batch) < page:
                break
    return results[:MAX_RESULTS]


def instance_uids(node: Node, study_uid: str, series_uid: str | None = None,
                  prompt: PromptFn | None = None) -> dict[str, str]:
    """SOP Instance UID -> Series Instance UID of every instance of the study (or series)."""
    web = client(node, prompt)
    found = paged(node, functools.partial(web.search_for_instances, study_instance_uid=study_uid,
                                          series_instance_uid=series_uid, fields=["SeriesInstanceUID"]))
    return {str(ds.SOPInstanceUID): str(ds.get("SeriesInstanceUID", "")) for ds in _datasets(found)}


def wado(node: Node, study_uid: str, series_uid: str | None, missing: dict[str, str] | None,
         cache: InstanceCache, receiver, prompt: PromptFn | None = None) -> None:
    """WADO-RS of the study or series (``missing`` None), or of the instances in ``missing``
    (SOP Instance UID -> Series Instance UID), each written to the cache as it arrives."""
    web = client(node, prompt)
    what = f"WADO-RS of series {series_uid}" if series_uid else f"WADO-RS of study {study_uid}"
    study_url = f"{node.url}/studies/{study_uid}"
    with http_errors(node, what):
        if missing is None:
            stream = raw_parts(web, f"{study_url}/series/{series_uid}" if series_uid else study_url)
        else:
            stream = (part for sop, series in missing.items()
                      for part in raw_parts(web, f"{study_url}/series/{series}/instances/{sop}"))
        for part in stream:
            if receiver.stop_requested():
                raise Cancelled("WADO-RS cancelled")
            receiver.store_bytes(part)


def raw_parts(web, url: str) -> Iterator[bytes]:
    """The parts of a WADO-RS answer as the server sent them (DICOM files, in their stored
    transfer syntax), streamed. dicomweb-client's public ``iter_study`` decodes each part into a
    pydicom Dataset, which we would only encode again to write it; its request and multipart
    reader do the work here."""
    response = web._http_get(url, headers={"Accept": ACCEPT_AS_STORED}, stream=True)
    if response.headers.get("Content-Type", "").startswith("application/dicom"):
        yield response.content    # one part, not encapsulated (some servers)
        return
    yield from web._decode_multipart_message(response, stream=True)


def stow(node: Node, paths: list[Path], progress: ProgressFn | None = None,
         cancelled: CancelFn | None = None, prompt: PromptFn | None = None) -> list[str]:
    """STOW-RS of the files, one request each (a failure names the file)."""
    import pydicom

    web = client(node, prompt)
    stored = []
    for n, path in enumerate(paths):
        check_cancelled(cancelled, "send")
        ds = pydicom.dcmread(path)
        with http_errors(node, f"STOW-RS of {path.name}"):
            answer = web.store_instances([ds])
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            reason = failed[0].get("FailureReason", "?")
            raise PacsError(node.name, f"STOW-RS of {path.name} refused (failure reason {reason})")
        stored.append(str(ds.SOPInstanceUID))
        report(progress, n + 1, len(paths), "send", f"sent {n + 1} of {len(paths)}")
    return stored
