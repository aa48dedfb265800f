"""Ports of the stack: fixed defaults, a base port to move them, and a clear message when one is taken."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from devstack.layout import (
    PORT_OFFSETS,
    PortInUseError,
    StackLayout,
    check_ports,
    read_state,
    write_state,
)
from tests.support import free_port


def test_default_ports() -> None:
    layout = StackLayout()

    assert layout.port("sandbox") == 8700
    assert [
        layout.port(name)
        for name in ("create-items", "update-items", "publish-live", "upload-asset")
    ] == [
        8701,
        8702,
        8703,
        8704,
    ]
    assert layout.port("gcs") == 8705
    assert layout.port("demo-site") == 8710


def test_a_taken_port_names_the_service_and_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        layout = StackLayout(base_port=taken - PORT_OFFSETS["create-items"], data_dir=tmp_path)

        with pytest.raises(PortInUseError) as raised:
            check_ports(layout)

    message = str(raised.value)
    assert f"{taken} (create-items)" in message
    assert f"--base-port {layout.base_port + 100}" in message
    assert "DEVSTACK_BASE_PORT" in message


def test_a_running_stack_is_named_when_it_holds_the_ports(tmp_path: Path) -> None:
    base = free_port()
    layout = StackLayout(base_port=base, data_dir=tmp_path)
    write_state(layout.state_path, {"pid": os.getpid(), "startedAt": "earlier"})
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", base))
        listener.listen()

        with pytest.raises(PortInUseError, match="python -m devstack stop"):
            check_ports(layout)


def test_state_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"

    write_state(path, {"apiKey": "k"})

    assert read_state(path) == {"apiKey": "k"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_state(tmp_path / "missing.json") is None
