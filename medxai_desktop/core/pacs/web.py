"""DICOMweb with dicomweb-client: QIDO-RS (verify, find), STOW-RS (send); WADO-RS (retrieve)
read by us from the HTTP stream (:mod:`.multipart`), each part written to a temporary file in
the cache as its bytes arrive, within the limits of :mod:`.limits`.

HTTP failures become one line: 401/403 as :class:`PacsAuthError`, 404 as
:class:`PacsNotFound`, a refused connection or no answer within the node's timeout as
:class:`PacsConnectionError`.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

from medxai_desktop.core.jobs import CancelFn, Cancelled, ProgressFn, check_cancelled, report

from .cache import InstanceCache
from .credentials import PromptFn, find_password
from .errors import PacsAuthError, PacsConnectionError, PacsError, PacsNotFound
from .limits import breach, limits_for
from .multipart import DATA, END, START, MultipartError, boundary_of, events
from .nodes import Node
from .query import Match, Query, match_from_dataset

ACCEPT_AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'   # as stored
PAGE = 500
CHUNK = 256 * 1024


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


def session(node: Node, prompt: PromptFn | None = None):
    """A requests session with the node's credentials."""
    from dicomweb_client.session_utils import create_session

    http = create_session()
    adapter = _adapter()
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    password = find_password(node, prompt)
    if node.auth == "basic":
        http.auth = (node.username, password)
    elif node.auth == "bearer":
        http.headers["Authorization"] = f"Bearer {password}"
    return http


def client(node: Node, prompt: PromptFn | None = None):
    from dicomweb_client.api import DICOMwebClient

    web = DICOMwebClient(node.url, session=session(node, prompt), timeout=node.timeout)
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


def paged(node: Node, search, page: int = PAGE, limit: str = "max_matches") -> list:
    """Every result of a QIDO-RS search, ``page`` at a time; more than the node's ``limit``
    (max_matches, or max_instances for a study's instance list) is a PacsError. Stops when a
    server ignores ``offset`` (the same page again), where dicomweb-client's get_remaining
    would loop for ever."""
    most = getattr(limits_for(node), limit)
    results: list = []
    with http_errors(node, "QIDO-RS"):
        while True:
            asked = min(page, most + 1 - len(results))
            batch = search(limit=asked, offset=len(results))
            if not batch or (results and batch[0] == results[0]):
                break
            results.extend(batch)
            if len(results) > most:
                raise breach(node.name, limit, f"QIDO-RS: more than {most} matches")
            if len(batch) < asked:
                break
    return results


def instance_uids(node: Node, study_uid: str, series_uid: str | None = None,
                  prompt: PromptFn | None = None) -> dict[str, str]:
    """SOP Instance UID -> Series Instance UID of every instance of the study (or series)."""
    web = client(node, prompt)
    found = paged(node, functools.partial(web.search_for_instances, study_instance_uid=study_uid,
                                          series_instance_uid=series_uid, fields=["SeriesInstanceUID"]),
                  limit="max_instances")
    return {str(ds.SOPInstanceUID): str(ds.get("SeriesInstanceUID", "")) for ds in _datasets(found)}


def wado(node: Node, study_uid: str, series_uid: str | None, missing: dict[str, str] | None,
         cache: InstanceCache, receiver, prompt: PromptFn | None = None) -> None:
    """WADO-RS of the study or series (``missing`` None), or of the instances in ``missing``
    (SOP Instance UID -> Series Instance UID), each written to the cache as it arrives."""
    http = session(node, prompt)
    what = f"WADO-RS of series {series_uid}" if series_uid else f"WADO-RS of study {study_uid}"
    study_url = f"{node.url}/studies/{study_uid}"
    if missing is None:
        urls = [f"{study_url}/series/{series_uid}" if series_uid else study_url]
    else:
        urls = [f"{study_url}/series/{series}/instances/{sop}" for sop, series in missing.items()]
    numbers = itertools.count(1)
    with http_errors(node, what):
        for url in urls:
            with contextlib.closing(http.get(url, headers={"Accept": ACCEPT_AS_STORED}, stream=True,
                                             timeout=node.timeout)) as response:
                response.raise_for_status()
                _store_parts(node, response, receiver, what, numbers)


def _store_parts(node: Node, response, receiver, what: str, numbers) -> None:
    """Each part of the answer into a temporary file of the cache as it arrives, then to the
    receiver, which keeps it or not."""
    content_type = response.headers.get("Content-Type", "")
    chunks = _chunks(node, response, receiver, what)
    if content_type.lower().startswith("application/dicom"):   # one part, not encapsulated (some servers)
        stream = itertools.chain([(START, b"")], ((DATA, c) for c in chunks), [(END, b"")])
    else:
        boundary = boundary_of(content_type)
        if boundary is None:
            raise PacsError(node.name, f"{what}: the answer is {content_type or 'untyped'}, not multipart/related")
        stream = events(chunks, boundary)
    part, number = None, 0
    try:
        for kind, data in stream:
            if kind == START:
                if receiver.stop_requested():
                    raise Cancelled("WADO-RS cancelled")
                part, number = receiver.open_part(), next(numbers)
            elif kind == DATA:
                part.write(data, number)
            else:
                part.close()
                done, part = part, None
                receiver.store_part(done.path, number)
    except MultipartError as exc:
        raise PacsError(node.name, f"{what}: not a valid multipart answer ({exc})") from None
    finally:
        if part is not None:
            part.discard()


def _chunks(node: Node, response, receiver, what: str) -> Iterator[bytes]:
    """The body as it comes (each read returns what has arrived, within the node's timeout);
    PacsError when the stall timeout passes without progress, Cancelled when asked to stop."""
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    receiver.clock.progressed()
    while True:
        try:
            data = response.raw.read1(CHUNK, decode_content=True)
        except ReadTimeoutError:
            raise PacsConnectionError(node.name, f"{what}: no answer from {node.url} within "
                                                 f"{node.timeout:g} s") from None
        except HTTPError as exc:
            raise PacsConnectionError(node.name, f"{what}: the connection broke ({type(exc).__name__})") from None
        if receiver.clock.stalled():
            raise receiver.clock.error(node.name, what)
        if receiver.stop_requested():
            raise Cancelled("WADO-RS cancelled")
        if not data:
            return
        yield data


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
