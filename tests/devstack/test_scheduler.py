"""The local Cloud Scheduler: an empty authenticated POST to publish-live on every tick."""

from __future__ import annotations

import pytest

from devstack.procs import ServiceLog
from devstack.scheduler import Scheduler
from tests.devstack.receivers import receiver


def test_each_tick_posts_an_empty_body_with_the_api_key(service_log: ServiceLog) -> None:
    with receiver(200) as target:
        scheduler = Scheduler(target_url=target.url, api_key="k1", interval=0.05, log=service_log)
        scheduler.start()
        requests = target.wait_for(2)
        scheduler.stop()

    assert all(request.method == "POST" and request.body == b"" for request in requests)
    assert requests[0].headers["authorization"] == "Bearer k1"
    assert "published 1, failed 0, remaining 0" in service_log.path.read_text()


def test_an_unreachable_function_is_logged_and_the_schedule_goes_on(
    service_log: ServiceLog,
) -> None:
    with receiver(200) as target:
        closed = target.url
    scheduler = Scheduler(target_url=closed, api_key="k", interval=60, log=service_log)

    assert scheduler.tick() is None
    assert scheduler.tick() is None
    scheduler.stop()

    assert service_log.path.read_text().count("publish-live unreachable") == 2


def test_interval_must_be_positive(service_log: ServiceLog) -> None:
    with pytest.raises(ValueError, match="PUBLISH_INTERVAL"):
        Scheduler(target_url="http://127.0.0.1:9/", api_key="k", interval=0, log=service_log)
