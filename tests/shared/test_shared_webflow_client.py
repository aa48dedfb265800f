"""Unit tests of shared.webflow against an in-process fake (httpx.MockTransport)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from typing import Any, BinaryIO, cast

import httpx
import pytest

from shared.webflow import WebflowClient, deadline, multipart_body
from shared.webflow.errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    WebflowConnectionError,
    WebflowTimeoutError,
)
from shared.webflow.models import AssetUpload, ItemPublish, ItemUpdate, NewItem
from shared.webflow.pacing import SlidingWindowLimiter
from tests.shared.webflow_fake import FakeWebflow

TOKEN = "secret-token-0123456789abcdef"
COLLECTION = "c0" * 12  # ids are 24 hex digits: the client refuses others
SITE = "5e" * 12


def new_items(count: int, prefix: str = "item") -> list[NewItem]:
    return [
        NewItem(field_data={"name": f"{prefix} {n}", "slug": f"{prefix}-{n}"}) for n in range(count)
    ]


def make_client(
    transport: httpx.BaseTransport, **options: object
) -> tuple[WebflowClient, list[float]]:
    slept: list[float] = []
    client = WebflowClient(
        TOKEN,
        base_url="http://webflow.test/v2",
        transport=transport,
        sleep=slept.append,
        rand=lambda: 0.0,
        limiter=SlidingWindowLimiter(10_000),
        **options,  # type: ignore[arg-type]
    )
    return client, slept


@pytest.fixture
def fake() -> FakeWebflow:
    return FakeWebflow()


# ---------------------------------------------------------------- chunking
def test_250_items_are_sent_in_three_requests_in_input_order(fake: FakeWebflow) -> None:
    client, _ = make_client(fake.transport())

    results = client.create_items(COLLECTION, new_items(250))

    assert fake.routes() == [f"POST /v2/collections/{COLLECTION}/items"] * 3
    assert [len(json.loads(r.content)["items"]) for r in fake.requests] == [100, 100, 50]
    assert [r.index for r in results] == list(range(250))
    assert all(r.status == "created" for r in results)
    assert [r.item.slug for r in results] == [f"item-{n}" for n in range(250)]  # type: ignore[union-attr]


def test_items_sent_with_is_draft_explicit(fake: FakeWebflow) -> None:
    client, _ = make_client(fake.transport())

    client.create_items(COLLECTION, [NewItem(field_data={"name": "a", "slug": "a"}, is_draft=True)])

    assert json.loads(fake.requests[0].content)["items"][0]["isDraft"] is True


def test_live_create_goes_to_the_live_endpoint() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        body = json.loads(request.content)
        return httpx.Response(202, json={"items": [{"id": "x", **e} for e in body["items"]]})

    client, _ = make_client(httpx.MockTransport(handler))

    client.create_items(COLLECTION, new_items(1), live=True)

    assert seen == [f"/v2/collections/{COLLECTION}/items/live"]


# ---------------------------------------------------------------- per-item failures
def _refusing(
    bad_slugs: set[str], detail: dict[str, str]
) -> tuple[httpx.MockTransport, list[list[str]]]:
    """A server refusing any batch holding one of ``bad_slugs`` with ``detail`` (no index)."""
    sent: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        entries = json.loads(request.content)["items"]
        slugs = [e["fieldData"]["slug"] for e in entries]
        sent.append(slugs)
        if bad_slugs & set(slugs):
            body = {
                "code": "validation_error",
                "message": "Validation Error",
                "details": [detail] * len(bad_slugs & set(slugs)),
            }
            return httpx.Response(400, json=body)
        return httpx.Response(
            202, json={"items": [{"id": e["fieldData"]["slug"], **e} for e in entries]}
        )

    return httpx.MockTransport(handler), sent


def test_misleading_detail_still_converges_on_the_culprit() -> None:
    items = [
        NewItem(field_data={"name": f"n{n}", "slug": f"x-{n}", "summary": "s"}) for n in range(6)
    ]
    items[3] = NewItem(field_data={"name": "n3", "slug": "x-3"})
    transport, sent = _refusing({"x-3"}, {"param": "summary", "description": "Must be short"})
    client, _ = make_client(transport)

    results = client.create_items(COLLECTION, items)

    assert [r.status for r in results] == ["created"] * 3 + ["failed", "created", "created"]
    assert all(len(batch) <= 6 for batch in sent)


def test_unattributable_errors_are_found_by_halving() -> None:
    transport, sent = _refusing(
        {"item-2", "item-13"}, {"param": "items", "description": "Invalid item"}
    )
    client, _ = make_client(transport)

    results = client.create_items(COLLECTION, new_items(16))

    assert [r.index for r in results if r.status == "failed"] == [2, 13]
    assert sum(1 for r in results if r.status == "created") == 14
    assert len(sent) <= 2 * 2 * 4 + 1


def test_detail_naming_an_index_is_attributed_without_halving() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        entries = json.loads(request.content)["items"]
        calls.append(len(entries))
        if len(calls) == 1:
            details = [{"param": "items[2].fieldData.rating", "description": "Must be a number"}]
            return httpx.Response(
                400,
                json={
                    "code": "validation_error",
                    "message": "Validation Error",
                    "details": details,
                },
            )
        return httpx.Response(
            202, json={"items": [{"id": e["fieldData"]["slug"], **e} for e in entries]}
        )

    client, _ = make_client(httpx.MockTransport(handler))

    results = client.create_items(COLLECTION, new_items(4))

    assert calls == [4, 3]
    assert [r.status for r in results] == ["created", "created", "failed", "created"]


def test_slug_repeated_in_input_fails_without_a_request(fake: FakeWebflow) -> None:
    items = new_items(2) + [NewItem(field_data={"name": "again", "slug": "item-0"})]
    client, _ = make_client(fake.transport())

    results = client.create_items(COLLECTION, items)

    assert [r.status for r in results] == ["created", "created", "failed"]
    assert results[2].error.code == "duplicate_slug"  # type: ignore[union-attr]
    assert len(fake.requests) == 1


# ---------------------------------------------------------------- no duplicates after ambiguous failures
def test_dropped_connection_after_apply_reports_created_without_duplicates(
    fake: FakeWebflow,
) -> None:
    fake.faults.extend(["drop"])
    client, slept = make_client(fake.transport())

    results = client.create_items(COLLECTION, new_items(50))

    assert all(r.status == "created" for r in results)
    assert len(fake.items) == 50
    assert {r.item.slug for r in results} == {f"item-{n}" for n in range(50)}  # type: ignore[union-attr]
    # create (dropped), re-send (400 duplicates), one page of newest items.
    assert fake.routes() == [
        f"POST /v2/collections/{COLLECTION}/items",
        f"POST /v2/collections/{COLLECTION}/items",
        f"GET /v2/collections/{COLLECTION}/items",
    ]
    assert len(slept) == 1


def test_read_timeout_without_apply_is_resent_once(fake: FakeWebflow) -> None:
    fake.faults.extend(["timeout"])
    client, _ = make_client(fake.transport())

    results = client.create_items(COLLECTION, new_items(3))

    assert [r.status for r in results] == ["created"] * 3
    assert len(fake.requests) == 2


def test_after_ambiguous_send_preexisting_slug_with_other_name_stays_duplicate(
    fake: FakeWebflow,
) -> None:
    fake.add("someone else", "item-1")
    fake.faults.extend(["500"])
    client, _ = make_client(fake.transport())

    results = client.create_items(COLLECTION, new_items(3))

    assert [r.status for r in results] == ["created", "failed", "created"]
    assert results[1].error.code == "duplicate_slug"  # type: ignore[union-attr]
    assert fake.items["item-1"]["fieldData"]["name"] == "someone else"


@pytest.mark.parametrize(
    ("fault", "count"),
    [("503", 2), ("502-after-write", 4)],
    ids=["503-before-the-write", "502-after-the-write"],
)
def test_gateway_error_on_create_is_an_unknown_outcome_resolved_without_duplicates(
    fake: FakeWebflow, fault: str, count: int
) -> None:
    fake.faults.extend([fault])
    client, _ = make_client(fake.transport())

    results = client.create_items(COLLECTION, new_items(count))

    assert [r.status for r in results] == ["created"] * count
    assert len(fake.items) == count


def test_repeated_drops_never_duplicate(fake: FakeWebflow) -> None:
    fake.faults.extend(["drop", "drop", "500", "drop"])
    client, _ = make_client(fake.transport())

    results = client.create_items(COLLECTION, new_items(120))

    assert all(r.status == "created" for r in results)
    assert len(fake.items) == 120
    ids = [r.item.id for r in results]  # type: ignore[union-attr]
    assert len(set(ids)) == 120


def test_exhausted_retries_after_drop_still_report_what_exists(fake: FakeWebflow) -> None:
    fake.faults.extend(["drop", "timeout", "timeout"])
    client, _ = make_client(fake.transport(), max_retries=2)

    results = client.create_items(COLLECTION, new_items(3))

    assert [r.status for r in results] == ["created"] * 3
    assert len(fake.items) == 3


def test_exhausted_retries_without_apply_report_failure(fake: FakeWebflow) -> None:
    fake.faults.extend(["timeout", "timeout", "timeout"])
    client, _ = make_client(fake.transport(), max_retries=2)

    results = client.create_items(COLLECTION, new_items(2))

    assert [r.status for r in results] == ["failed", "failed"]
    assert results[0].error.code == "timeout"  # type: ignore[union-attr]
    assert fake.items == {}


# ---------------------------------------------------------------- retries and errors
def test_idempotent_get_retries_5xx_and_connect_errors(fake: FakeWebflow) -> None:
    fake.faults.extend(["500", "connect", "timeout"])
    client, slept = make_client(fake.transport())

    page = client.list_items(COLLECTION)

    assert page.items == []
    assert slept == [0.5, 1.0, 2.0]


def test_429_waits_retry_after(fake: FakeWebflow) -> None:
    fake.faults.extend(["429"])
    client, slept = make_client(fake.transport())

    client.list_items(COLLECTION)

    assert slept == [2.0]


def test_429_beyond_the_budget_raises_with_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"code": "too_many_requests", "message": "Too Many Requests"},
            headers={"retry-after": "60"},
        )

    client, slept = make_client(httpx.MockTransport(handler), max_retry_seconds=10)

    with pytest.raises(RateLimitError) as info:
        client.list_items(COLLECTION)

    assert info.value.retry_after == 60
    assert slept == []


def test_retries_stop_at_max_retries_and_raise_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    client, slept = make_client(httpx.MockTransport(handler), max_retries=3)

    with pytest.raises(InternalServerError) as info:
        client.get_site(SITE)

    assert info.value.status_code == 502
    assert len(slept) == 3


def test_timeouts_raise_timeout_error(fake: FakeWebflow) -> None:
    fake.faults.extend(["timeout"] * 3)
    client, _ = make_client(fake.transport(), max_retries=2)

    with pytest.raises(WebflowTimeoutError):
        client.list_items(COLLECTION)


def test_connection_error_is_typed(fake: FakeWebflow) -> None:
    fake.faults.extend(["connect"] * 3)
    client, _ = make_client(fake.transport(), max_retries=2)

    with pytest.raises(WebflowConnectionError):
        client.list_items(COLLECTION)


def test_error_body_reaches_caller_intact_and_token_never_in_it() -> None:
    details = [{"param": "fieldData.rating", "description": "Must be a number"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "code": "validation_error",
                "message": "Validation Error",
                "externalReference": None,
                "details": details,
            },
            headers={"x-request-id": "req-42"},
        )

    client, _ = make_client(httpx.MockTransport(handler))

    with pytest.raises(BadRequestError) as info:
        client.get_item(COLLECTION, "1e" * 12)

    err = info.value
    assert (err.status_code, err.code, err.details, err.request_id) == (
        400,
        "validation_error",
        details,
        "req-42",
    )
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err)


def test_401_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            401, json={"code": "not_authorized", "message": "Request not authorized"}
        )

    client, _ = make_client(httpx.MockTransport(handler))

    with pytest.raises(AuthenticationError):
        client.create_items(COLLECTION, new_items(2))

    assert len(calls) == 1


def test_repr_and_logs_hide_the_token(
    fake: FakeWebflow, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.faults.extend(["500"])
    client, _ = make_client(fake.transport())

    client.list_items(COLLECTION)
    logging.getLogger("webflow").warning("header was Authorization: Bearer %s", TOKEN)

    assert TOKEN not in repr(client)
    out = capsys.readouterr().out
    assert "retrying Webflow request" in out
    assert TOKEN not in out


def test_schema_cached_with_ttl() -> None:
    calls = []
    now = [0.0]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"id": COLLECTION, "displayName": "Posts", "fields": []})

    client = WebflowClient(
        TOKEN,
        base_url="http://webflow.test/v2",
        transport=httpx.MockTransport(handler),
        clock=lambda: now[0],
        schema_cache_ttl=300,
        limiter=SlidingWindowLimiter(100),
    )

    client.get_collection(COLLECTION)
    client.get_collection(COLLECTION)
    now[0] = 301
    client.get_collection(COLLECTION)
    client.get_collection(COLLECTION, refresh=True)

    assert len(calls) == 3


def test_threads_of_a_cold_instance_share_one_schema_fetch() -> None:
    calls = []
    arrived = threading.Barrier(8)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        time.sleep(0.2)  # the other threads ask while this answer is on its way
        return httpx.Response(200, json={"id": COLLECTION, "displayName": "Posts", "fields": []})

    client, _ = make_client(httpx.MockTransport(handler))
    schemas = []

    def ask() -> None:
        arrived.wait()
        schemas.append(client.get_collection(COLLECTION))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert len(schemas) == 8
    assert all(schema is schemas[0] for schema in schemas)


def test_iter_items_walks_every_page(fake: FakeWebflow) -> None:
    for n in range(230):
        fake.add(f"n{n}", f"s{n}")
    client, _ = make_client(fake.transport())

    slugs = [item.slug for item in client.iter_items(COLLECTION)]

    assert len(slugs) == 230
    assert len(set(slugs)) == 230
    assert len(fake.requests) == 3


# ---------------------------------------------------------------- multipart upload
@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 200_000])
def test_multipart_length_is_exact(size: int) -> None:
    fields = {"acl": "public-read", "key": "a/b.png", "Policy": "p=="}

    body = multipart_body(fields, "b.png", io.BytesIO(b"x" * size), size, "image/png")

    assert len(b"".join(body)) == body.content_length


class _ForwardOnly(io.RawIOBase):
    """A download stream: readable once, not seekable (its size is known from elsewhere)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_httpx_own_multipart_cannot_give_s3_a_length_for_a_stream_of_known_size() -> None:
    # Why the client keeps its own encoder: S3 refuses a chunked POST.
    files: dict[str, Any] = {"file": ("a.png", _ForwardOnly(b"x" * 100), "image/png")}
    request = httpx.Request("POST", "https://s3.test/", data={"key": "k"}, files=files)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    stream = cast(BinaryIO, _ForwardOnly(b"x" * 100))  # reads only, as a network stream does
    ours = multipart_body({"key": "k"}, "a.png", stream, 100, "image/png")
    assert ours.content_length == len(b"".join(ours))


def test_multipart_is_parsed_back_in_order_with_file_last() -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    fields = {
        "acl": "public-read",
        "bucket": "b",
        "X-Amz-Date": "20260101T000000Z",
        "key": "k/x.png",
    }
    data = bytes(range(256)) * 300
    body = multipart_body(fields, "x.png", io.BytesIO(data), len(data), "image/png")

    raw = f"Content-Type: {body.content_type}\r\n\r\n".encode() + b"".join(body)
    message = BytesParser(policy=HTTP).parsebytes(raw)
    parts = list(message.iter_parts())

    assert [p.get_param("name", header="content-disposition") for p in parts] == [*fields, "file"]
    assert parts[-1].get_content() == data
    assert parts[-1].get_filename() == "x.png"


def test_multipart_reads_in_64k_pieces_and_never_past_size() -> None:
    class Recording(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.reads: list[int] = []

        def read(self, n: int = -1) -> bytes:  # type: ignore[override]
            self.reads.append(n)
            return super().read(n)

    stream = Recording(b"y" * 150_000 + b"TRAILING")
    body = multipart_body({}, "f.bin", stream, 150_000, "application/octet-stream")

    list(body)

    assert max(stream.reads) == 65536
    assert -1 not in stream.reads
    assert stream.tell() == 150_000


def test_short_stream_raises() -> None:
    body = multipart_body({}, "f.bin", io.BytesIO(b"abc"), 10, "application/octet-stream")

    with pytest.raises(ValueError, match="7 bytes before"):
        list(body)


def _upload(url: str = "http://127.0.0.1:9/_s3/bucket") -> AssetUpload:
    return AssetUpload(
        id="asset1",
        upload_url=url,
        upload_details={
            "acl": "public-read",
            "key": "site/abc.png",
            "success_action_status": "201",
        },
        file_name="abc.png",
    )


def test_upload_sends_content_length_without_auth_or_chunking() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(201, text="<PostResponse><Key>site/abc.png</Key></PostResponse>")

    client, _ = make_client(httpx.MockTransport(handler))
    data = b"\x89PNG" + b"z" * 100_000

    client.upload_to_presigned(_upload(), io.BytesIO(data), len(data), "image/png")

    (request,) = seen
    assert str(request.url) == "http://127.0.0.1:9/_s3/bucket"
    assert "authorization" not in request.headers
    assert "transfer-encoding" not in request.headers
    assert int(request.headers["content-length"]) == len(request.content)
    assert request.content.endswith(b"--\r\n")
    assert data in request.content


def test_upload_s3_error_becomes_api_error_with_code_and_message() -> None:
    xml = "<?xml version='1.0'?><Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match</Message></Error>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=xml, headers={"content-type": "application/xml"})

    client, _ = make_client(httpx.MockTransport(handler))

    with pytest.raises(BadRequestError) as info:
        client.upload_to_presigned(_upload(), io.BytesIO(b"abc"), 3, "image/png")

    assert info.value.code == "BadDigest"
    assert info.value.message == "The Content-MD5 you specified did not match"


def test_upload_retries_seekable_stream_from_its_start() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        if len(bodies) == 1:
            return httpx.Response(
                503, text="<Error><Code>SlowDown</Code><Message>x</Message></Error>"
            )
        return httpx.Response(201, text="<PostResponse/>")

    client, slept = make_client(httpx.MockTransport(handler))
    data = hashlib.sha256(b"seed").digest() * 5000

    client.upload_to_presigned(_upload(), io.BytesIO(data), len(data), "image/png")

    assert len(bodies) == 2
    assert data in bodies[1]
    assert len(slept) == 1


# ---------------------------------------------------------------- construction
def test_get_client_caches_per_token_and_base_url() -> None:
    from shared.core.config import WebflowSettings, load_settings
    from shared.webflow import get_client

    get_client.cache_clear()
    first = load_settings(
        WebflowSettings, webflow_api_token=TOKEN, webflow_api_base_url="http://a.test/v2"
    )
    same = load_settings(
        WebflowSettings, webflow_api_token=TOKEN, webflow_api_base_url="http://a.test/v2"
    )
    other = load_settings(
        WebflowSettings, webflow_api_token=TOKEN, webflow_api_base_url="http://b.test/v2"
    )

    try:
        assert get_client(first) is get_client(same)
        assert get_client(first) is not get_client(other)
        assert get_client(first).base_url == "http://a.test/v2"
    finally:
        get_client.cache_clear()


def test_get_client_with_options_is_another_client_sharing_the_token_limiter() -> None:
    from shared.core.config import WebflowSettings, load_settings
    from shared.webflow import get_client

    get_client.cache_clear()
    settings = load_settings(
        WebflowSettings, webflow_api_token=TOKEN, webflow_api_base_url="http://a.test/v2"
    )

    try:
        short = get_client(settings, max_retries=2, max_retry_seconds=5.0)
        assert short is get_client(settings, max_retry_seconds=5.0, max_retries=2)
        assert short is not get_client(settings)
        assert (short.policy.max_retries, short.policy.max_retry_seconds) == (2, 5.0)
        assert short.limiter is get_client(settings).limiter
    finally:
        get_client.cache_clear()


def test_from_settings_applies_settings() -> None:
    from shared.core.config import WebflowSettings, load_settings

    settings = load_settings(
        WebflowSettings,
        webflow_api_token=TOKEN,
        webflow_timeout_seconds=12,
        webflow_connect_timeout_seconds=3,
        webflow_max_retry_seconds=9,
    )

    client = WebflowClient.from_settings(settings)

    assert (client.timeout.read, client.timeout.connect) == (12, 3)
    assert client.policy.max_retry_seconds == 9
    assert TOKEN not in repr(client)


def test_blank_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token is required"):
        WebflowClient("  ")


def test_pacing_wait_beyond_the_budget_raises_rate_limit_without_sending(fake: FakeWebflow) -> None:
    now = [0.0]
    fake.headers = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "58"}
    limiter = SlidingWindowLimiter(2, clock=lambda: now[0], sleep=lambda s: None)
    client = WebflowClient(
        TOKEN,
        base_url="http://webflow.test/v2",
        transport=fake.transport(),
        limiter=limiter,
        clock=lambda: now[0],
        max_retry_seconds=30,
    )
    client.list_items(COLLECTION)
    client.list_items(COLLECTION)

    with pytest.raises(RateLimitError) as info:
        client.list_items(COLLECTION)

    assert info.value.retry_after == 60
    assert len(fake.requests) == 2


def _paced_client(fake: FakeWebflow, **options: object) -> tuple[WebflowClient, list[float]]:
    """A client whose limiter allows one request a minute, on a clock its sleeps advance."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = SlidingWindowLimiter(1, clock=lambda: now[0], sleep=sleep)
    client = WebflowClient(
        TOKEN,
        base_url="http://webflow.test/v2",
        transport=fake.transport(),
        limiter=limiter,
        clock=lambda: now[0],
        max_retry_seconds=1,
        **options,  # type: ignore[arg-type]
    )
    return client, slept


def test_max_pacing_wait_lets_a_short_retry_budget_wait_for_a_slot(fake: FakeWebflow) -> None:
    client, slept = _paced_client(fake, max_pacing_wait=120)
    client.list_items(COLLECTION)

    client.list_items(COLLECTION)

    assert len(fake.requests) == 2
    assert slept == [pytest.approx(60)]


def test_deadline_bounds_the_pacing_wait(fake: FakeWebflow) -> None:
    client, slept = _paced_client(fake, max_pacing_wait=120)
    client.list_items(COLLECTION)

    with deadline(5), pytest.raises(RateLimitError) as info:
        client.list_items(COLLECTION)

    assert (info.value.retry_after, slept, len(fake.requests)) == (60, [], 1)


def test_deadline_bounds_the_retries(fake: FakeWebflow) -> None:
    fake.faults.extend(["500", "500"])
    client, slept = make_client(fake.transport(), max_retry_seconds=30)

    with deadline(0.75), pytest.raises(InternalServerError):
        client.list_items(COLLECTION)

    assert slept == [0.5]


def test_webhook_create_with_unknown_outcome_is_looked_up_not_duplicated() -> None:
    hooks: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            hooks.append({"id": f"h{len(hooks)}", "secretKey": "webhook-secret-1", **body})
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(200, json={"webhooks": hooks})

    client, _ = make_client(httpx.MockTransport(handler))

    hook = client.create_webhook(SITE, "form_submission", "https://example.test/hook")

    assert len(hooks) == 1
    assert hook["id"] == "h0"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>captive portal</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"displayName": "a site without id"}),
    ],
)
def test_unintelligible_success_answer_is_a_typed_error(answer: httpx.Response) -> None:
    client, _ = make_client(httpx.MockTransport(lambda request: answer))

    with pytest.raises(InternalServerError) as info:
        client.get_site(SITE)

    assert info.value.status_code == 502
    assert info.value.code == "invalid_response"


def test_delete_retried_after_unknown_outcome_accepts_404_as_done() -> None:
    answers = iter(["drop", "404"])

    def handler(request: httpx.Request) -> httpx.Response:
        if next(answers) == "drop":
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(404, json={"code": "item_not_found", "message": "Item not found"})

    client, _ = make_client(httpx.MockTransport(handler))

    client.delete_items(COLLECTION, ["a" * 24])


def test_delete_of_unknown_item_without_retry_is_not_found() -> None:
    from shared.webflow.errors import NotFoundError

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"code": "item_not_found", "message": "Item not found"})

    client, _ = make_client(httpx.MockTransport(handler))

    with pytest.raises(NotFoundError):
        client.delete_items(COLLECTION, ["a" * 24])


# ---------------------------------------------------------------- updates
def _live_patch_server(
    never_published: set[str], *, name_it: bool, by_position: bool = False
) -> tuple[httpx.MockTransport, list[list[str]]]:
    """A server applying live PATCHes all or nothing: 409 when one item was never published,
    naming it in the message (``name_it``) or in a detail by its position (``by_position``)."""
    sent: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        entries = json.loads(request.content)["items"]
        ids = [entry["id"] for entry in entries]
        sent.append(ids)
        refused = [item_id for item_id in ids if item_id in never_published]
        if refused:
            message = f"Item {refused[0]} has never been published" if name_it else "Conflict"
            details = [
                {"param": f"items[{ids.index(item_id)}]", "description": "Never published"}
                for item_id in refused
                if by_position
            ]
            body = {"code": "conflict", "message": message, "details": details}
            return httpx.Response(409, json=body)
        return httpx.Response(
            200, json={"items": [{"id": e["id"], "fieldData": e["fieldData"]} for e in entries]}
        )

    return httpx.MockTransport(handler), sent


def _updates(count: int) -> list[ItemUpdate]:
    return [ItemUpdate(id=f"id-{n}", field_data={"rating": 2}) for n in range(count)]


def test_live_update_409_without_a_name_fails_only_the_never_published_items() -> None:
    transport, sent = _live_patch_server({"id-2", "id-13"}, name_it=False)
    client, _ = make_client(transport)

    results = client.update_items(COLLECTION, _updates(16), live=True)

    assert [(r.index, r.error.code) for r in results if r.error] == [
        (2, "conflict"),
        (13, "conflict"),
    ]
    assert [r.status for r in results].count("updated") == 14
    assert {item_id for batch in sent[1:] for item_id in batch} == {f"id-{n}" for n in range(16)}
    assert len(sent) <= 1 + 2 * 2 * 4


def test_live_update_409_naming_its_item_by_position_is_pinned_without_halving() -> None:
    transport, sent = _live_patch_server({"id-5"}, name_it=False, by_position=True)
    client, _ = make_client(transport)

    results = client.update_items(COLLECTION, _updates(8), live=True)

    assert [len(batch) for batch in sent] == [8, 7]
    assert [r.status for r in results] == ["updated"] * 5 + ["failed"] + ["updated"] * 2
    assert results[5].error.status_code == 409  # type: ignore[union-attr]


def test_a_message_naming_the_item_is_not_read_the_item_is_found_by_halving() -> None:
    # Message text is not part of Webflow's contract: only codes and details are.
    transport, sent = _live_patch_server({"id-5"}, name_it=True)
    client, _ = make_client(transport)

    results = client.update_items(COLLECTION, _updates(8), live=True)

    assert sorted(len(batch) for batch in sent) == [1, 1, 2, 2, 4, 4, 8]
    assert [r.status for r in results] == ["updated"] * 5 + ["failed"] + ["updated"] * 2


def _failing_from(request_number: int, answer: httpx.Response) -> httpx.MockTransport:
    """A server that applies writes until the request_number-th, which it answers with ``answer``."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) >= request_number:
            return answer
        entries = json.loads(request.content)["items"]
        if request.method == "PATCH":
            return httpx.Response(200, json={"items": entries})
        return httpx.Response(
            202, json={"items": [{"id": e["fieldData"]["slug"], **e} for e in entries]}
        )

    return httpx.MockTransport(handler)


RATE_LIMITED = httpx.Response(
    429,
    json={"code": "too_many_requests", "message": "Too Many Requests"},
    headers={"retry-after": "60"},
)


def test_create_failing_mid_call_raises_with_the_items_created_before_it() -> None:
    client, _ = make_client(_failing_from(2, RATE_LIMITED), max_retry_seconds=10)

    with pytest.raises(RateLimitError) as info:
        client.create_items(COLLECTION, new_items(150))

    created = info.value.partial_results
    assert [(r.index, r.status) for r in created] == [(n, "created") for n in range(100)]


def test_update_failing_mid_call_raises_with_the_items_updated_before_it() -> None:
    client, _ = make_client(_failing_from(2, RATE_LIMITED), max_retry_seconds=10)

    with pytest.raises(RateLimitError) as info:
        client.update_items(COLLECTION, _updates(150))

    assert [(r.index, r.status) for r in info.value.partial_results] == [
        (n, "updated") for n in range(100)
    ]


# ---------------------------------------------------------------- publish
def _publish_server() -> tuple[httpx.MockTransport, list[dict[str, object]]]:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        ids = body.get("itemIds") or [entry["id"] for entry in body["items"]]
        return httpx.Response(202, json={"publishedItemIds": ids, "errors": []})

    return httpx.MockTransport(handler), bodies


def test_items_with_different_locales_are_published_in_one_request() -> None:
    transport, bodies = _publish_server()
    client, _ = make_client(transport)
    targets = [
        ItemPublish(id="a", cms_locale_ids=["fr"]),
        ItemPublish(id="b", cms_locale_ids=["de", "fr"]),
    ]

    result = client.publish_items(COLLECTION, targets)

    assert bodies == [
        {"items": [{"id": "a", "cmsLocaleIds": ["fr"]}, {"id": "b", "cmsLocaleIds": ["de", "fr"]}]}
    ]
    assert result.published_item_ids == ["a", "b"]


def test_plain_ids_take_the_shared_locales_or_go_as_item_ids() -> None:
    transport, bodies = _publish_server()
    client, _ = make_client(transport)

    client.publish_items(COLLECTION, ["a", "b"], cms_locale_ids=["fr"])
    client.publish_items(COLLECTION, ["c", ItemPublish(id="d", cms_locale_ids=["de"])])

    assert bodies == [
        {"items": [{"id": "a", "cmsLocaleIds": ["fr"]}, {"id": "b", "cmsLocaleIds": ["fr"]}]},
        {"itemIds": ["c"]},
        {"items": [{"id": "d", "cmsLocaleIds": ["de"]}]},
    ]


def test_create_whose_answer_and_look_up_both_fail_reports_the_items_as_outcome_unknown(
    fake: FakeWebflow,
) -> None:
    fake.faults.extend(["drop", "429", "429"])
    client, _ = make_client(fake.transport(), max_retry_seconds=1)

    with pytest.raises(RateLimitError) as info:
        client.create_items(COLLECTION, new_items(3))

    assert [(r.status, r.error.code) for r in info.value.partial_results] == [  # type: ignore[union-attr]
        ("failed", "outcome_unknown")
    ] * 3
    assert len(fake.items) == 3
