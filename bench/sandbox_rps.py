"""Simple GETs per second that the sandbox serves over one keep-alive connection.

Starts ``python -m sandbox`` on a free loopback port (rate limiting off), pins it to one CPU
where the platform allows it, drives ``GET /v2/sites/{site_id}`` from one client thread for a
few seconds and prints the figure. Usage: ``python bench/sandbox_rps.py [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repository is not
    sys.path.insert(0, str(REPO_ROOT))

from bench.report import machine
from tests.support import start_sandbox

TARGET_RPS = 500


def measure(host: str, port: int, path: str, token: str, seconds: float) -> tuple[int, float]:
    """Send GETs back to back on one keep-alive connection; return (count, elapsed)."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(50):  # warm up
        connection.request("GET", path, headers=headers)
        connection.getresponse().read()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"unexpected status {response.status}")
        count += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return count, elapsed


def main() -> int:
    """Run the measurement and print the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    server, ready = start_sandbox(extra=["--log-level", "WARNING"])
    try:
        pinned = False
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(server.pid, {0})  # the server gets one core
            os.sched_setaffinity(0, {1})  # the client another
            pinned = True
        root = ready["apiBaseUrl"].rsplit("/v2", 1)[0]
        host, port = root.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/_sandbox/info")
        info = json.loads(connection.getresponse().read())
        connection.close()
        path = f"/v2/sites/{info['site']['id']}"
        count, elapsed = measure(host, int(port), path, info["tokens"]["full"], args.seconds)
    finally:
        server.stop()
    rps = count / elapsed
    host_machine = machine()
    print(
        json.dumps(
            {
                "requestsPerSecond": round(rps, 1),
                "requests": count,
                "seconds": round(elapsed, 2),
                "serverPinnedToOneCore": pinned,
                "nproc": host_machine["nproc"],
                "cpu": host_machine["cpuModel"],
                "python": host_machine["python"],
                "target": TARGET_RPS,
            }
        )
    )
    print(
        f"{rps:.0f} GET/s on one keep-alive connection ({'meets' if rps >= TARGET_RPS else 'BELOW'} the {TARGET_RPS}/s target)"
    )
    return 0 if rps >= TARGET_RPS else 1


if __name__ == "__main__":
    sys.exit(main())
