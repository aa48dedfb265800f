"""Property tests: whatever faults happen, create_items reports exactly what exists."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.webflow import WebflowClient
from shared.webflow.errors import WebflowError
from shared.webflow.models import NewItem
from shared.webflow.pacing import SlidingWindowLimiter
from tests.shared.webflow_fake import FakeWebflow

FAULTS = st.sampled_from(
    ["500", "503", "502-after-write", "drop", "timeout", "429", "connect", "ok"]
)
COLLECTION = "c0" * 12  # ids are 24 hex digits: the client refuses others
SITE = "5e" * 12


def _client(fake: FakeWebflow, max_retries: int) -> WebflowClient:
    return WebflowClient(
        "property-token-0123456789",
        base_url="http://webflow.test/v2",
        transport=fake.transport(),
        sleep=lambda seconds: None,
        rand=lambda: 0.5,
        max_retries=max_retries,
        limiter=SlidingWindowLimiter(100_000),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=230),
    taken=st.sets(st.integers(min_value=0, max_value=229), max_size=5),
    faults=st.lists(FAULTS, max_size=10),
)
def test_every_item_is_reported_as_it_exists(
    count: int, taken: set[int], faults: list[str]
) -> None:
    fake = FakeWebflow()
    for n in taken:
        fake.add(f"someone else {n}", f"item-{n}")
    fake.faults.extend(fault for fault in faults if fault != "ok")
    items = [NewItem(field_data={"name": f"item {n}", "slug": f"item-{n}"}) for n in range(count)]

    results = _client(fake, max_retries=20).create_items(COLLECTION, items)

    assert [r.index for r in results] == list(range(count))
    for n, result in enumerate(results):
        stored = fake.items[f"item-{n}"]
        if n in taken:
            assert result.status == "failed"
            assert result.error is not None
            assert result.error.code == "duplicate_slug"
            assert stored["fieldData"]["name"] == f"someone else {n}"
        else:
            assert result.status == "created"
            assert result.item is not None
            assert result.item.id == stored["id"]
            assert stored["fieldData"]["name"] == f"item {n}"
    assert len(fake.items) == count + len([n for n in taken if n >= count])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=150), faults=st.lists(FAULTS, min_size=1, max_size=12)
)
def test_with_few_retries_no_failure_hides_a_created_item(count: int, faults: list[str]) -> None:
    fake = FakeWebflow()
    fake.faults.extend(fault for fault in faults if fault != "ok")
    items = [NewItem(field_data={"name": f"item {n}", "slug": f"item-{n}"}) for n in range(count)]

    try:
        results = _client(fake, max_retries=2).create_items(COLLECTION, items)
    except WebflowError as exc:
        # The call stopped as a whole: what it settled before is in partial_results, and an item
        # it wrote is never missing from them (the caller retries and meets its own slugs).
        results = exc.partial_results
    else:
        assert [r.index for r in results] == list(range(count))
    reported = {result.index: result for result in results}
    for n in range(count):
        result = reported.get(n)
        exists = f"item-{n}" in fake.items
        if result is not None and result.status == "created":
            assert result.item is not None
            assert exists
            assert fake.items[f"item-{n}"]["id"] == result.item.id
        elif exists:
            unknown = result is not None and result.error is not None
            assert unknown, f"item {n} exists but was reported {result}"
            assert result.error.code == "outcome_unknown", (  # type: ignore[union-attr]
                f"item {n} exists but was reported {result}"
            )
