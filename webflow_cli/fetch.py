"""What the command-line tool may read for a file column: a path inside the data file's folder,
or a URL of a public host.

A URL is resolved before each request and refused when any of its addresses is loopback,
private, link-local (169.254.169.254, the metadata server, included), multicast, reserved or
unspecified; so is every redirect's target, and at most three redirects are followed. One
deadline bounds a whole download (redirects and every read), not each read. Hosts the user names
(``--allow-host``) are exempt from the address check, for a server of their own network.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_REDIRECTS", "check_public", "confined_path", "download"]

MAX_REDIRECTS = 3
DOWNLOAD_SECONDS = 60.0

Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _refused_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None


def check_public(
    url: str, allowed_hosts: Collection[str] = (), *, resolve: Resolver = _resolve
) -> None:
    """Refuse a URL that is not http(s), or whose host is not public.

    Raises:
        ValueError: naming the URL and why.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url} is not an http(s) URL")
    host = parts.hostname
    if host.lower() in {allowed.lower() for allowed in allowed_hosts}:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
        except OSError as exc:
            raise ValueError(f"{url}: {host} could not be resolved ({exc})") from None
    for address in addresses:
        kind = _refused_kind(address)
        if kind is not None:
            raise ValueError(
                f"{url}: {host} is a {kind} address ({address}); only public hosts are fetched "
                "(--allow-host names a host of your own)"
            )


def download(
    url: str,
    *,
    max_bytes: int,
    allowed_hosts: Collection[str] = (),
    seconds: float = DOWNLOAD_SECONDS,
    resolve: Resolver = _resolve,
) -> bytes:
    """A URL's content within one deadline, each hop checked by :func:`check_public`.

    Raises:
        ValueError: refused, answered with an error, too large, too many redirects, too slow, or
            not reachable; the message names the URL.
    """
    import httpx

    deadline = time.monotonic() + seconds
    current = url
    with httpx.Client(follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            check_public(current, allowed_hosts, resolve=resolve)
            try:
                with client.stream("GET", current, timeout=_left(deadline, url)) as response:
                    if response.is_redirect:
                        current = urljoin(current, response.headers.get("location", ""))
                        continue
                    if response.status_code >= 400:
                        raise ValueError(f"{url} answered {response.status_code}")
                    return _read(response, url, max_bytes, deadline)
            except httpx.HTTPError as exc:
                raise ValueError(f"{url} could not be fetched ({type(exc).__name__})") from None
    raise ValueError(f"{url} redirects more than {MAX_REDIRECTS} times")


def _left(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ValueError(f"{url} took longer than {DOWNLOAD_SECONDS:g} s")
    return left


def _read(response: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"{url} is larger than {max_bytes} bytes")
        chunks.append(chunk)
        _left(deadline, url)
    return b"".join(chunks)


def confined_path(base_dir: Path, source: str) -> Path:
    """``source`` (relative to the data file's folder) as a file inside that folder.

    Raises:
        ValueError: the path leaves the folder (absolute, ``../``, a link out) or is no file.
    """
    base = base_dir.resolve()
    path = (base / source).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"{source} is outside the data file's folder")
    if not path.is_file():
        raise ValueError(f"no file {source}")
    return path
