"""End to end: `python -m devstack run` as real processes, the demo scenario, and a clean stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.demo import make_png
from devstack.layout import StackLayout
from tests.devstack.stackproc import STARTUP_BOUND, StackProcess, alive, run_devstack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_stack_comes_up_runs_the_demo_and_stops_without_leftovers(tmp_path: Path) -> None:
    stack = StackProcess.start(tmp_path / "local")
    try:
        assert stack.state["startupSeconds"] < STARTUP_BOUND
        assert len(stack.child_pids) == 8  # sandbox, gcs and six functions-framework servers

        demo = run_devstack("demo", stack.data_dir, timeout=300)

        assert demo.returncode == 0, (
            f"{demo.stdout}\n{demo.stderr}\n--- stack log ---\n{stack.output()[-8000:]}"
        )
        assert "demo finished: 5 of 5 steps passed" in demo.stdout
        scheduler_log = stack.data_dir / "logs" / "scheduler.log"
        _wait("scheduled publish-live run", lambda: "run 1: HTTP 200" in scheduler_log.read_text())

        exit_code = stack.stop()

        assert exit_code == 0, stack.output()[-4000:]
        assert stack.leftovers() == []
        assert not StackLayout(data_dir=stack.data_dir).state_path.exists()
        assert (stack.data_dir / "logs" / "create-items.log").stat().st_size > 0
        assert not Path(stack.state["runDir"]).exists()
        assert "[ERROR]" not in stack.output()  # e.g. gunicorn's control sockets colliding
    finally:
        stack.kill()


def _wait(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None or found is False:
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f}s"
        time.sleep(0.5)
    return found


def test_a_restart_keeps_the_data_replaces_the_webhook_and_redelivers_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "local"
    first = StackProcess.start(data_dir, publish_interval=3600)
    try:
        state = first.state
        sandbox = state["sandbox"]
        api = httpx.Client(
            base_url=sandbox["apiBaseUrl"],
            headers={"Authorization": f"Bearer {sandbox['tokens']['full']}"},
            timeout=30.0,
        )
        gallery = sandbox["collections"]["gallery"]
        upload = httpx.post(
            f"{state['services']['gcs']['url']}/upload/storage/v1/b/{state['bucket']}/o",
            params={"uploadType": "media", "name": f"{state['galleryPrefix']}before-restart.png"},
            content=make_png(40, 30, "restart"),
            headers={"Content-Type": "image/png"},
        )
        upload.raise_for_status()
        _wait(
            "gallery item", lambda: api.get(f"/collections/{gallery}/items").json()["items"] or None
        )

        stopped = run_devstack("stop", data_dir)
        first.process.wait(timeout=30)

        assert stopped.returncode == 0, stopped.stderr
        assert first.leftovers() == []

        second = StackProcess.start(data_dir, publish_interval=3600, base_port=first.base_port)
        try:
            items = api.get(f"/collections/{gallery}/items").json()["items"]
            webhooks = api.get(f"/sites/{sandbox['siteId']}/webhooks").json()["webhooks"]
            time.sleep(3)  # a few bridge polls

            assert len(items) == 1
            assert len(webhooks) == 1
            assert webhooks[0]["id"] == second.state["webhook"]["id"]
            eventarc_log = (data_dir / "logs" / "eventarc.log").read_text()
            first_run, second_run = eventarc_log.split(f"watching gs://{state['bucket']} on")[1:]
            assert "before-restart.png#" in first_run
            assert "delivered" not in second_run
        finally:
            second.stop()
            second.kill()
        assert second.leftovers() == []
        api.close()
    finally:
        first.kill()


def test_stop_cleans_up_the_services_of_a_stack_that_was_killed(tmp_path: Path) -> None:
    stack = StackProcess.start(tmp_path / "local", publish_interval=3600)
    try:
        stack.process.send_signal(signal.SIGKILL)  # no chance to clean up: its children live on
        stack.process.wait(timeout=10)
        assert any(alive(pid) for pid in stack.child_pids)

        stopped = run_devstack("stop", stack.data_dir)

        assert stopped.returncode == 0, stopped.stderr
        assert "is gone" in stopped.stdout
        assert stack.leftovers() == []
        assert not Path(stack.state["runDir"]).exists()
    finally:
        stack.kill()
