"""The multipart/form-data body of the presigned S3 upload, and S3's XML errors.

httpx encodes multipart bodies itself, but it learns a file's length only by seeking it: a
Cloud Storage download stream, whose size is known from the object's metadata and not by
seeking, goes out chunked, without the Content-Length S3 requires (a test shows it). This
encoder takes the size from the caller, puts the fields first and the file last, and streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from shared.webflow.errors import (
    WebflowAPIError,
    error_for_status,
)
from shared.webflow.retry import (
    retry_after_from_headers,
)
from shared.webflow.transport import (
    _MAX_ERROR_TEXT,
    UPLOAD_CHUNK_SIZE,
)


def _escape_header_value(value: str) -> str:
    """Quote a multipart parameter the way browsers do (no raw quotes or line breaks)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass
class _MultipartBody:
    """A multipart/form-data body streamed from a file: exact length, constant memory."""

    preamble: bytes
    epilogue: bytes
    stream: BinaryIO
    size: int
    boundary: str
    chunk_size: int = UPLOAD_CHUNK_SIZE

    @property
    def content_length(self) -> int:
        """Exact number of bytes the body will yield."""
        return len(self.preamble) + self.size + len(self.epilogue)

    @property
    def content_type(self) -> str:
        """The Content-Type header value with the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        yield self.preamble
        left = self.size
        while left > 0:
            chunk = self.stream.read(min(self.chunk_size, left))
            if not chunk:
                raise ValueError(f"stream ended {left} bytes before the declared size {self.size}")
            left -= len(chunk)
            yield chunk
        yield self.epilogue


def multipart_body(
    fields: Mapping[str, str],
    file_name: str,
    stream: BinaryIO,
    size: int,
    content_type: str,
    *,
    boundary: str | None = None,
    chunk_size: int = UPLOAD_CHUNK_SIZE,
) -> _MultipartBody:
    """Build a multipart body: ``fields`` in their order, then the ``file`` part streamed from ``stream``."""
    if size < 0:
        raise ValueError("size must be non-negative")
    boundary = boundary or f"----webflow-{os.urandom(16).hex()}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{_escape_header_value(name)}"\r\n\r\n'.encode()
            + str(value).encode()
            + b"\r\n"
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_escape_header_value(file_name)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    return _MultipartBody(b"".join(parts), epilogue, stream, size, boundary, chunk_size)


def _s3_error(response: httpx.Response) -> WebflowAPIError:
    """Convert an S3-style XML error answer into a WebflowAPIError."""
    from xml.etree import ElementTree  # only upload errors need it

    code = message = None
    text = response.text[:_MAX_ERROR_TEXT]
    try:
        root = ElementTree.fromstring(response.content[:65536])
        code = root.findtext("Code")
        message = root.findtext("Message")
    except ElementTree.ParseError:
        message = text or None
    return error_for_status(
        response.status_code,
        code or f"upload_failed_{response.status_code}",
        message or f"Upload answered {response.status_code}",
        [],
        response.headers.get("x-amz-request-id") or response.headers.get("x-request-id"),
        retry_after_from_headers(response.headers),
        body=text,
    )
