"""What the command-line tool fetches for a file column: public hosts only, every redirect checked,
at most three of them, and paths inside the data file's folder."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from webflow_cli.fetch import check_public, confined_path, download

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]  # a small fake resolver
    def resolve(_host: str, _port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/a.png", "loopback"),
        ("http://[::1]/a.png", "loopback"),
        ("http://[::ffff:127.0.0.1]/a.png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/a.png", "link-local"),
        ("http://10.1.2.3/a.png", "private"),
        ("http://192.168.0.10/a.png", "private"),
        ("http://224.0.0.1/a.png", "multicast"),
        ("http://0.0.0.0/a.png", "unspecified"),
    ],
)
def test_an_address_that_is_not_public_is_refused_naming_its_kind(url: str, kind: str) -> None:
    with pytest.raises(ValueError, match=kind):
        check_public(url)


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    check_public("https://cdn.example.com/a.png", resolve=resolving_to("93.184.215.14"))
    with pytest.raises(ValueError, match="private"):
        check_public(
            "https://cdn.example.com/a.png", resolve=resolving_to("93.184.215.14", "10.0.0.7")
        )


def test_a_host_the_user_allows_is_exempt_and_other_schemes_are_refused() -> None:
    check_public("http://127.0.0.1:8080/a.png", allowed_hosts={"127.0.0.1"})
    with pytest.raises(ValueError, match="http"):
        check_public("file:///etc/passwd")


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    """A small file server on a free loopback port, stopped when the test ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Handler.routes = {
        "/photo.png": (200, {"Content-Type": "image/png"}, PNG),
        "/moved": (302, {"Location": "/photo.png"}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-localhost": (302, {"Location": f"http://localhost:{server.server_address[1]}/"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {}, b"x" * 4096),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def test_a_download_follows_a_redirect_of_an_allowed_host(origin: str) -> None:
    assert download(f"{origin}/moved", max_bytes=1024, allowed_hosts={"127.0.0.1"}) == PNG


def test_every_redirect_is_checked_before_it_is_followed(origin: str) -> None:
    with pytest.raises(ValueError, match="link-local"):
        download(f"{origin}/to-metadata", max_bytes=1024, allowed_hosts={"127.0.0.1"})
    with pytest.raises(ValueError, match="loopback"):
        download(f"{origin}/to-localhost", max_bytes=1024, allowed_hosts={"127.0.0.1"})


def test_at_most_three_redirects_and_a_size_bound(origin: str) -> None:
    with pytest.raises(ValueError, match="more than 3"):
        download(f"{origin}/loop", max_bytes=1024, allowed_hosts={"127.0.0.1"})
    with pytest.raises(ValueError, match="larger than 1024"):
        download(f"{origin}/big", max_bytes=1024, allowed_hosts={"127.0.0.1"})


def test_a_loopback_url_is_refused_without_the_users_leave(origin: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        download(f"{origin}/photo.png", max_bytes=1024)


def test_paths_stay_inside_the_data_files_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    (data / "link.png").symlink_to(tmp_path / "secret.png")
    assert confined_path(data, "in.png") == (data / "in.png").resolve()
    for escape in ("../secret.png", str(tmp_path / "secret.png"), "link.png"):
        with pytest.raises(ValueError, match="outside"):
            confined_path(data, escape)
    with pytest.raises(ValueError, match="no file"):
        confined_path(data, "missing.png")
