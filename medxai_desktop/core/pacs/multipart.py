"""A streaming reader of ``multipart/related`` bodies (RFC 2046), as WADO-RS answers come: the
parts' bytes are handed on as they arrive, never held whole, so a part of any size costs the
memory of one chunk."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

MAX_HEADERS = 64 * 1024     # bytes of one part's headers
START, DATA, END = "start", "data", "end"


class MultipartError(ValueError):
    """The body is not the multipart message its Content-Type announced."""


def boundary_of(content_type: str) -> bytes | None:
    """The ``boundary`` parameter of a multipart Content-Type; None when there is none."""
    if not content_type.lower().startswith("multipart/"):
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    return None


def events(chunks: Iterable[bytes], boundary: bytes) -> Iterator[tuple[str, bytes]]:
    """(START, b""), then (DATA, bytes)... and (END, b"") for each part, in order."""
    delimiter, inner = b"--" + boundary, b"\r\n--" + boundary
    buf, state, headers = bytearray(), "preamble", 0
    for chunk in chunks:
        buf += chunk
        while True:
            if state == "preamble":
                at = buf.find(delimiter)
                if at < 0:
                    del buf[:max(0, len(buf) - len(delimiter))]
                    break
                del buf[:at + len(delimiter)]
                state = "after"
            elif state == "after":
                if len(buf) < 2:
                    break
                if buf[:2] == b"--":
                    return   # the closing delimiter: what follows is the epilogue
                at = buf.find(b"\r\n")
                if at < 0:
                    if len(buf) > MAX_HEADERS:
                        raise MultipartError("no line end after a boundary")
                    break
                del buf[:at + 2]
                state, headers = "headers", 0
            elif state == "headers":
                at = buf.find(b"\r\n")
                if at < 0:
                    if headers + len(buf) > MAX_HEADERS:
                        raise MultipartError(f"part headers longer than {MAX_HEADERS} bytes")
                    break
                headers += at + 2
                del buf[:at + 2]
                if headers > MAX_HEADERS:
                    raise MultipartError(f"part headers longer than {MAX_HEADERS} bytes")
                if at == 0:
                    state = "body"
                    yield START, b""
            else:   # body
                at = buf.find(inner)
                if at < 0:
                    keep = len(inner) - 1
                    if len(buf) > keep:
                        yield DATA, bytes(buf[:len(buf) - keep])
                        del buf[:len(buf) - keep]
                    break
                if at:
                    yield DATA, bytes(buf[:at])
                del buf[:at + len(inner)]
                state = "after"
                yield END, b""
    if state in ("headers", "body"):
        raise MultipartError("the answer ended inside a part")
