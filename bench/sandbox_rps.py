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
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_RPS = 500


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def start_sandbox() -> tuple[subprocess.Popen[bytes], dict]:
    """Start the sandbox and return the process and its ready line."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--rate-limit",
            "0",
            "--log-level",
            "WARNING",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise SystemExit("the sandbox did not start")
    return process, json.loads(line)


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
    process, ready = start_sandbox()
    try:
        pinned = False
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(process.pid, {0})  # the server gets one core
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
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    rps = count / elapsed
    print(
        json.dumps(
            {
                "requestsPerSecond": round(rps, 1),
                "requests": count,
                "seconds": round(elapsed, 2),
                "serverPinnedToOneCore": pinned,
                "nproc": os.cpu_count(),
                "cpu": cpu_model(),
                "python": platform.python_version(),
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
