"""Fuzzing every HTTP function: whatever arrives, the answer is never a 5xx (other than a 503 with
Retry-After for upstream trouble) and every error is a JSON body with a message."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench._procs import API_KEY, FUNCTIONS
from tests.items_support import function_app

pytestmark = pytest.mark.timeout(600)

FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "60")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# --- strategies -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
weird_strings = st.sampled_from(
    [
        "",
        " ",
        "a" * 300,
        "ünïcødé ✓",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "null",
        "0",
        "-1",
        "\x00",
        "javascript:alert(1)",
        "🤖" * 20,
        "a,b,c",
        "%00",
        "5f0c8c9e1c9d440000e8d8c3",
    ]
) | st.text(max_size=60)

# Values that once cost an instance seconds of CPU or a 500: huge exponents, long digit strings,
# deep nesting. Each is drawn among the ordinary values of the fields they target.
HOSTILE_NUMBERS = [
    "1e999999",
    "1e300000",
    "1e1000000",
    "1e5000",
    "-1e309",
    "1e-999999",
    "1" * 5000,
    "9" * 120,
    "0." + "0" * 400 + "1",
]
HOSTILE_HTML = [
    "<div>" * 5000 + "x",
    "<blockquote>" * 3000 + "x" + "</blockquote>" * 3000,
    "<ul><li>" * 2000,
    "<p>" + "x" * 250_000,
]
hostile_values = st.sampled_from(HOSTILE_NUMBERS + HOSTILE_HTML)

POST_FIELDS = [
    "name",
    "slug",
    "summary",
    "body",
    "hero",
    "featured",
    "published-on",
    "category",
    "rating",
]
field_values = st.one_of(
    weird_strings,
    json_values,
    st.fixed_dictionaries({"fileId": weird_strings, "url": weird_strings, "alt": weird_strings}),
)
field_data = st.dictionaries(
    st.sampled_from(POST_FIELDS) | st.text(max_size=10), field_values, max_size=5
)
maybe = {"collectionId": weird_strings | json_values, "live": json_values}

# Values of the right JSON type for each field of the posts collection, odd in content.
typed_field_values: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(min_size=1, max_size=80) | weird_strings,
    "slug": st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True) | weird_strings,
    "summary": st.text(max_size=300),
    "body": st.sampled_from(
        [
            "<p>ok</p>",
            "<script>x()</script><b onclick=x()>b</b>",
            "<a href='javascript:x'>l</a>",
            "<img src=x onerror=y>",
            "<p>unclosed",
        ]
    )
    | st.text(max_size=100)
    | st.sampled_from(HOSTILE_HTML),
    "hero": st.fixed_dictionaries(
        {"url": st.sampled_from(["https://example.com/a.png", "not a url", ""])},
        optional={"fileId": weird_strings, "alt": st.text(max_size=20)},
    )
    | weird_strings,
    "featured": st.booleans()
    | st.sampled_from(["on", "true", "false", "off", "yes", "1", "maybe"]),
    "published-on": st.sampled_from(
        [
            "2024-02-29T12:00:00Z",
            "2024-13-01",
            "yesterday",
            "1970-01-01",
            "2024-01-01T00:00:00+05:00",
        ]
    )
    | st.datetimes().map(lambda d: d.isoformat()),
    "category": st.sampled_from(["News", "news", "Guides", "Nope", ""]) | weird_strings,
    "rating": st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(["4", "4.5", "four", "1e309", "NaN"])
    | st.sampled_from(HOSTILE_NUMBERS),
}
typed_field_data = st.fixed_dictionaries(
    {"name": typed_field_values["name"]},
    optional={key: value for key, value in typed_field_values.items() if key != "name"},
)


def batch_body(
    ids: dict[str, Any], typed_item: st.SearchStrategy[Any], item: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """A create-items or update-items body: well-typed items (drawn twice as often), near-valid
    ones, or any JSON value."""
    typed = st.fixed_dictionaries(
        {"items": st.lists(typed_item, min_size=1, max_size=3)},
        optional={
            "live": st.booleans(),
            "collectionId": st.sampled_from(ids["collections"]) | weird_strings,
        },
    )
    near_valid = st.fixed_dictionaries(
        {"items": st.lists(item, max_size=3) | json_values}, optional=maybe
    )
    return typed | typed | near_valid | json_values


def create_body(ids: dict[str, Any]) -> st.SearchStrategy[Any]:
    typed_item = st.fixed_dictionaries(
        {"fieldData": typed_field_data},
        optional={
            "isDraft": st.booleans(),
            "cmsLocaleIds": st.lists(
                st.sampled_from(ids["locales"]) | weird_strings, min_size=1, max_size=3
            ),
        },
    )
    item = st.fixed_dictionaries(
        {"fieldData": field_data | json_values},
        optional={
            "isDraft": json_values,
            "cmsLocaleIds": st.lists(weird_strings, max_size=3) | json_values,
            "isArchived": json_values,
        },
    )
    return batch_body(ids, typed_item, item)


def update_body(ids: dict[str, Any]) -> st.SearchStrategy[Any]:
    address = st.one_of(
        st.fixed_dictionaries({"id": st.sampled_from(ids["items"]) | weird_strings}),
        st.fixed_dictionaries({"slug": st.sampled_from(ids["slugs"]) | weird_strings}),
    )
    some_fields = st.sampled_from(sorted(typed_field_values)).flatmap(
        lambda key: st.fixed_dictionaries(
            {key: typed_field_values[key]},
            optional={other: value for other, value in typed_field_values.items() if other != key},
        )
    )
    patch = st.fixed_dictionaries(
        {"fieldData": some_fields},
        optional={
            "isDraft": st.booleans(),
            "isArchived": st.booleans(),
            "cmsLocaleId": st.sampled_from(ids["locales"]) | weird_strings,
        },
    )
    typed_item = st.tuples(address, patch).map(lambda pair: {**pair[0], **pair[1]})
    item = st.fixed_dictionaries(
        {},
        optional={
            "id": weird_strings | json_values,
            "slug": weird_strings | json_values,
            "fieldData": field_data | json_values,
            "cmsLocaleId": weird_strings | json_values,
            "isDraft": json_values,
            "isArchived": json_values,
        },
    )
    return batch_body(ids, typed_item, item)


def publish_body(ids: dict[str, Any]) -> st.SearchStrategy[Any]:
    typed = st.one_of(
        st.fixed_dictionaries(
            {
                "itemIds": st.lists(
                    st.sampled_from(ids["items"]) | weird_strings, min_size=1, max_size=4
                )
            },
            optional={
                "cmsLocaleIds": st.lists(
                    st.sampled_from(ids["locales"]) | weird_strings, min_size=1, max_size=3
                ),
                "collectionId": st.sampled_from(ids["collections"]) | weird_strings,
                "dryRun": st.booleans(),
            },
        ),
        st.fixed_dictionaries(
            {"pending": st.booleans()},
            optional={"dryRun": st.booleans(), "collectionId": st.sampled_from(ids["collections"])},
        ),
        st.fixed_dictionaries({"site": st.booleans()}, optional={"dryRun": st.booleans()}),
    )
    near_valid = st.fixed_dictionaries(
        {},
        optional={
            "itemIds": st.lists(weird_strings, max_size=4) | json_values,
            "pending": json_values,
            "dryRun": json_values,
            "cmsLocaleIds": st.lists(weird_strings, max_size=3) | json_values,
        },
    )
    return typed | typed | near_valid | json_values


def upload_body(ids: dict[str, Any]) -> st.SearchStrategy[Any]:
    typed = st.fixed_dictionaries(
        {
            "bucket": st.sampled_from(ids["buckets"]),
            "name": st.sampled_from(ids["objects"]) | weird_strings,
        },
        optional={
            "generation": st.integers(min_value=-1, max_value=2**63)
            | st.sampled_from(ids["generations"])
        },
    )
    near_valid = st.fixed_dictionaries(
        {"bucket": weird_strings | json_values, "name": weird_strings | json_values}
    )
    return typed | typed | near_valid | json_values


BODIES: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Any]]] = {
    "create-items": create_body,
    "update-items": update_body,
    "publish-live": publish_body,
    "upload-asset": upload_body,
}

header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)

content_types = (
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=fuzz",
            "multipart/form-data",
            "text/plain",
            "",
            "application/xml",
            "application/cloudevents+json",
            "application/merge-patch+json",
            "text/html; charset=latin-1",
        ]
    )
    | header_text
)

authorizations = (
    st.sampled_from(
        [
            f"Bearer {API_KEY}",
            f"Bearer {API_KEY}",
            f"Bearer {API_KEY}",
            "",
            "Bearer",
            "Bearer wrong",
            f"bearer {API_KEY}",
            f"Basic {API_KEY}",
            f"Bearer {API_KEY} extra",
        ]
    )
    | header_text
)

extra_headers = st.dictionaries(
    st.sampled_from(
        [
            "Accept",
            "Origin",
            "X-Cloud-Trace-Context",
            "Function-Execution-Id",
            "X-Request-Id",
            "x-webflow-signature",
            "x-webflow-timestamp",
            "Content-Encoding",
            "Transfer-Encoding",
        ]
    ),
    st.sampled_from(
        [
            "application/json",
            "text/html",
            "*/*",
            "https://example.com",
            "null",
            "0",
            "abc/1;o=1",
            "gzip",
        ]
    )
    | header_text,
    max_size=3,
)


WEBHOOK_SECRET = "fuzz-secret"


def webhook_payload() -> st.SearchStrategy[Any]:
    """form_submission deliveries: the documented shape with arbitrary data, or anything at all."""
    data = st.dictionaries(
        st.sampled_from(POST_FIELDS) | st.text(max_size=10),
        field_values | hostile_values,
        max_size=5,
    )
    payload = st.fixed_dictionaries(
        {
            "name": weird_strings,
            "siteId": weird_strings,
            "data": data | json_values,
            "id": weird_strings,
        },
        optional={
            "submittedAt": weird_strings | json_values,
            "formId": weird_strings,
            "schema": json_values,
        },
    )
    trigger = (
        st.sampled_from(["form_submission", "form_submission", "site_publish"]) | weird_strings
    )
    return (
        st.fixed_dictionaries({"triggerType": trigger, "payload": payload | json_values})
        | json_values
    )


@st.composite
def signed_webhooks(draw: st.DrawFn) -> dict[str, Any]:
    """A webhook signed with the function's secret, so that its payload reaches the parser."""
    data = json.dumps(draw(webhook_payload())).encode()
    timestamp = str(int(time.time() * 1000) - draw(st.sampled_from([0, 0, 0, 10 * 60 * 1000])))
    signature = hmac.new(
        WEBHOOK_SECRET.encode(), timestamp.encode() + b":" + data, hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "x-webflow-timestamp": timestamp,
        "x-webflow-signature": signature,
    }
    return {"method": "POST", "headers": headers, "data": data}


@st.composite
def well_formed(draw: st.DrawFn, function: str, ids: dict[str, Any]) -> dict[str, Any]:
    """A POST with the right key and content type: the body is what varies."""
    data = json.dumps(draw(BODIES[function](ids))).encode()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    return {"method": "POST", "headers": headers, "data": data}


@st.composite
def form_posts(draw: st.DrawFn) -> dict[str, Any]:
    """A browser form post to create-items, answered as JSON or as a redirect."""
    fields = draw(
        st.dictionaries(
            st.sampled_from(POST_FIELDS + ["_redirect", "_gotcha", "email"]) | st.text(max_size=8),
            weird_strings | hostile_values,
            max_size=5,
        )
    )
    # Many parts: around the field limit, and far past it.
    count = draw(st.sampled_from([0, 0, 0, 99, 101, 3000]))
    fields.update({f"extra{n}": "1" for n in range(count)})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": draw(st.sampled_from(["application/json", "text/html", "*/*"])),
        "Origin": draw(st.sampled_from(["https://example.com", "https://evil.example", "null"])),
        "X-Forwarded-For": draw(st.ip_addresses(v=4).map(str)),
    }
    return {"method": "POST", "headers": headers, "data": urllib.parse.urlencode(fields).encode()}


def multipart_body(
    fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]
) -> bytes:
    """A multipart/form-data body with boundary "fuzz" (names and file names are not escaped)."""
    parts = [
        b'--fuzz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value.encode())
        for name, value in fields
    ]
    parts += [
        b'--fuzz\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: %s\r\n\r\n%s\r\n'
        % (name.encode(), filename.encode(), content_type.encode(), data)
        for name, filename, content_type, data in files
    ]
    return b"".join(parts) + b"--fuzz--\r\n"


@st.composite
def form_posts_with_files(draw: st.DrawFn) -> dict[str, Any]:
    """A browser form post with file inputs: valid submissions fields, odd files."""
    printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
    fields = [
        ("name", draw(printable | printable | weird_strings)),
        ("email", draw(st.sampled_from(["ada@example.com"] * 4 + ["not-an-email", ""]))),
        ("message", draw(printable | printable | st.text(max_size=50))),
    ]
    files = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["attachment", "attachment", "name", "unknown", "source"])
                | header_text,
                st.sampled_from(
                    [
                        "photo.png",
                        "PHOTO.JPEG",
                        "../../etc/passwd",
                        "a" * 200 + ".png",
                        ".png",
                        "noext",
                        "doc.pdf",
                        "x.exe",
                        "ünï.webp",
                        "a b;c.gif",
                    ]
                )
                | header_text,
                st.sampled_from(
                    [
                        "image/png",
                        "image/jpeg",
                        "application/pdf",
                        "application/octet-stream",
                        "text/html",
                        "",
                    ]
                ),
                st.sampled_from([PNG, b"", b"GIF89a", b"%PDF-1.7"]) | st.binary(max_size=300),
            ),
            max_size=3,
        )
    )
    headers = {
        "Content-Type": "multipart/form-data; boundary=fuzz",
        "Accept": draw(st.sampled_from(["application/json", "application/json", "text/html"])),
    }
    return {"method": "POST", "headers": headers, "data": multipart_body(fields, files)}


def requests(function: str, ids: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed calls with odd bodies most of the time, and anything at all otherwise."""
    kinds = [well_formed(function, ids), well_formed(function, ids), chaotic(function, ids)]
    if function == "create-items":
        kinds += [signed_webhooks(), form_posts()]
    return st.one_of(*kinds)


@st.composite
def chaotic(draw: st.DrawFn, function: str, ids: dict[str, Any]) -> dict[str, Any]:
    """A request: a method, headers and a body encoded one of several ways."""
    body = draw(BODIES[function](ids))
    encoding = draw(st.sampled_from(["json", "json", "json", "form", "raw", "empty", "multipart"]))
    if encoding == "json":
        data = json.dumps(body).encode()
        content_type = draw(
            st.sampled_from(["application/json", "application/json"]) | content_types
        )
    elif encoding == "form":
        pairs = body.items() if isinstance(body, dict) else [("value", body)]
        data = urllib.parse.urlencode(
            [(str(k), json.dumps(v) if not isinstance(v, str) else v) for k, v in pairs]
        ).encode()
        content_type = draw(st.just("application/x-www-form-urlencoded") | content_types)
    elif encoding == "multipart":
        fields = draw(
            st.dictionaries(
                st.sampled_from(POST_FIELDS + ["_redirect", "file", "image"]),
                weird_strings,
                max_size=4,
            )
        )
        data = b"".join(
            b'--fuzz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
            % (k.encode(), v.encode())
            for k, v in fields.items()
        ) + (b"--fuzz--\r\n" if draw(st.booleans()) else b"")
        content_type = draw(st.just("multipart/form-data; boundary=fuzz") | content_types)
    elif encoding == "raw":
        data = draw(st.binary(max_size=200))
        content_type = draw(content_types)
    else:
        data = b""
        content_type = draw(content_types)
    headers = {"Authorization": draw(authorizations), **draw(extra_headers)}
    if content_type:
        headers["Content-Type"] = content_type
    method = draw(st.sampled_from(["POST"] * 8 + ["GET", "PUT", "OPTIONS", "DELETE", "PATCH"]))
    return {"method": method, "headers": headers, "data": data}


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)

# --- the property -----------------------------------------------------------------------------


def check_answer(function: str, request: dict[str, Any], response: Any) -> None:
    status = response.status_code
    shown = f"{function} {request['method']} {request['headers']} {request['data'][:300]!r} -> {status} {response.get_data()[:300]!r}"
    assert status < 500 or (status == 503 and response.headers.get("Retry-After")), shown
    if status >= 400 and request["method"] != "HEAD":
        assert response.mimetype == "application/json", shown
        body = json.loads(response.get_data())
        assert isinstance(body, dict), shown
        assert isinstance(body.get("message"), str), shown
        assert body["message"], shown


def fuzz_app(
    function: str, env: dict[str, str], *, target: str | None = None, signature: str | None = None
) -> Any:
    """A functions-framework test client of one function (an entry point other than the HTTP
    one by ``target`` and ``signature``), its instance reset."""
    spec = FUNCTIONS[function]
    return function_app(spec.name, target or spec.target, signature or spec.signature_type, **env)


def function_env(sandbox: Any) -> dict[str, str]:
    return {
        "WEBFLOW_API_TOKEN": sandbox.token,
        "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
        "WEBFLOW_SITE_ID": sandbox.site_id,
        "WEBFLOW_COLLECTION_ID": sandbox.collections["posts"],
        "WEBFLOW_RATE_LIMIT_PER_MINUTE": "100000",
        "WEBFLOW_MAX_RETRY_SECONDS": "2",
        "CREATE_ITEMS_API_KEYS": API_KEY,
        "PUBLISH_COLLECTION_IDS": sandbox.collections["posts"],
        "ALLOWED_ORIGINS": "https://example.com",
        "WEBFLOW_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FORM_SUCCESS_URL": "https://example.com/thanks",
        "FORM_ERROR_URL": "https://example.com/sorry",
        # Every field of the posts and submissions collections but slug, so that odd values reach
        # each field's checks.
        "FORM_FIELDS": ",".join(
            [f for f in POST_FIELDS if f != "slug"] + ["email", "message", "attachment", "source"]
        ),
        "LOG_LEVEL": "CRITICAL",
        # Every check runs on both paths; the synchronous one goes on to Webflow.
        "FORM_INTAKE": "sync",
    }


def known_ids(
    sandbox: Any,
    buckets: Sequence[str] = (),
    objects: Sequence[str] = (),
    generations: Sequence[int] = (),
) -> dict[str, Any]:
    """Ids that exist in the sandbox (two staged items, one published), so that typed bodies reach Webflow."""
    collection_id = sandbox.collections["posts"]
    with sandbox.api() as api:
        created = (
            api.post(
                f"/collections/{collection_id}/items",
                json={
                    "items": [
                        {"isDraft": False, "fieldData": {"name": f"Fuzz {n}", "slug": f"fuzz-{n}"}}
                        for n in range(2)
                    ]
                },
            )
            .raise_for_status()
            .json()["items"]
        )
        api.post(
            f"/collections/{collection_id}/items/publish", json={"itemIds": [created[0]["id"]]}
        ).raise_for_status()
    locales = [sandbox.locales["primary"]["cmsLocaleId"]] + [
        l["cmsLocaleId"] for l in sandbox.locales.get("secondary", [])
    ]
    return {
        "items": [item["id"] for item in created],
        "slugs": [item["fieldData"]["slug"] for item in created],
        "locales": locales,
        "collections": list(sandbox.collections.values()),
        "site": sandbox.site_id,
        "buckets": list(buckets) or ["no-bucket"],
        "objects": list(objects) or ["none"],
        "generations": list(generations) or [1],
    }


def hostile_requests() -> list[dict[str, Any]]:
    """create-items inputs that once cost seconds of CPU or answered 500, sent on every run."""
    json_headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    form_headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    raw_int = b'{"items": [{"fieldData": {"name": "n", "rating": ' + b"9" * 5000 + b"}}]}"
    forms = [{"name": "n", "rating": value} for value in HOSTILE_NUMBERS]
    forms += [{"name": "n", "body": value} for value in HOSTILE_HTML]
    many = "&".join(f"f{n}=1" for n in range(50_000)).encode()
    parts = [("name", "n")] + [(f"f{n}", "1") for n in range(3000)]
    return [
        {"method": "POST", "headers": json_headers, "data": raw_int},
        {"method": "POST", "headers": form_headers, "data": many},
        {
            "method": "POST",
            "headers": {**form_headers, "Content-Type": "multipart/form-data; boundary=fuzz"},
            "data": multipart_body(parts, []),
        },
        *(
            {"method": "POST", "headers": form_headers, "data": urllib.parse.urlencode(f).encode()}
            for f in forms
        ),
    ]


def regressions(function: str, ids: dict[str, Any]) -> list[dict[str, Any]]:
    """Inputs that once broke a function, checked on every run before the random ones."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    bodies: dict[str, list[Any]] = {
        "create-items": [
            {"items": [{"fieldData": {"name": "0"}}], "collectionId": "\u001f"},
            {
                "items": [{"fieldData": {"name": "0"}}],
                "collectionId": f"x/../../sites/{ids['site']}",
            },
        ],
        "update-items": [
            {"items": [{"id": ids["items"][0], "isDraft": False}], "collectionId": "\u0000"}
        ],
        "publish-live": [{"itemIds": [ids["items"][0]], "collectionId": "\u0000"}],
        "upload-asset": [{"bucket": ids["buckets"][0], "name": name} for name in ids["objects"]],
    }
    return [
        {"method": "POST", "headers": headers, "data": json.dumps(body).encode()}
        for body in bodies[function]
    ] + (hostile_requests() if function == "create-items" else [])


def run_fuzz(function: str, client: Any, ids: dict[str, Any]) -> None:
    for request in regressions(function, ids):
        response = client.open(
            "/", method=request["method"], headers=request["headers"], data=request["data"]
        )
        check_answer(function, request, response)

    @FUZZ_SETTINGS
    @given(request=requests(function, ids))
    def fuzz(request: dict[str, Any]) -> None:
        response = client.open(
            "/", method=request["method"], headers=request["headers"], data=request["data"]
        )
        check_answer(function, request, response)

    fuzz()


@pytest.mark.parametrize("function", ["create-items", "update-items", "publish-live"])
def test_http_function_answers_every_input_without_a_5xx(function: str, sandbox: Any) -> None:
    client = fuzz_app(function, function_env(sandbox))

    run_fuzz(function, client, known_ids(sandbox))


def test_create_items_form_posts_with_files_never_answer_a_5xx(sandbox: Any, gcs: Any) -> None:
    env = function_env(sandbox) | {
        "UPLOAD_BUCKET": gcs.bucket_name,
        "STORAGE_EMULATOR_HOST": gcs.host,
        "WEBFLOW_COLLECTION_ID": sandbox.collections["submissions"],
        "FORM_RATE_LIMIT_PER_MINUTE": "0",
    }
    client = fuzz_app("create-items", env)

    @FUZZ_SETTINGS
    @given(request=form_posts_with_files())
    def fuzz(request: dict[str, Any]) -> None:
        response = client.open(
            "/", method=request["method"], headers=request["headers"], data=request["data"]
        )
        check_answer("create-items", request, response)

    fuzz()


def test_upload_asset_http_answers_every_input_without_a_5xx(sandbox: Any, gcs: Any) -> None:
    objects = {
        "uploads/photo.png": (PNG, "image/png"),
        "uploads/notes.txt": (b"plain text", "text/plain"),
        "uploads/fake.png": (b"not a png at all", "image/png"),
        "uploads/big.png": (PNG + bytes(4 * 1024 * 1024), "image/png"),
        "elsewhere/photo.png": (PNG, "image/png"),
        "uploads/posts/fuzz-0/hero.png": (PNG, "image/png"),
    }
    generations = []
    for name, (data, content_type) in objects.items():
        blob = gcs.bucket.blob(name)
        blob.upload_from_string(data, content_type=content_type)
        generations.append(blob.generation)
    env = function_env(sandbox) | {
        "UPLOAD_BUCKET": gcs.bucket_name,
        "UPLOAD_PREFIX": "uploads/",
        "STORAGE_EMULATOR_HOST": gcs.host,
        "STORAGE_RETRY_SECONDS": "1",
    }
    client = fuzz_app("upload-asset", env)

    run_fuzz(
        "upload-asset", client, known_ids(sandbox, [gcs.bucket_name], list(objects), generations)
    )


def test_upload_asset_acknowledges_every_malformed_storage_event(sandbox: Any, gcs: Any) -> None:
    """A poison event is acknowledged (2xx), never a 500 that would make Eventarc redeliver it."""
    import datetime as dt
    import uuid

    from cloudevents.conversion import to_binary, to_structured
    from cloudevents.http import CloudEvent

    names = ["uploads/a.png", "uploads/b.txt", "uploads/gallery/c.png", "other/d.png"]
    generations = []
    for name in names:
        blob = gcs.bucket.blob(name)
        is_png = name.endswith(".png")
        blob.upload_from_string(
            PNG if is_png else b"text", content_type="image/png" if is_png else "text/plain"
        )
        generations.append(str(blob.generation))
    env = function_env(sandbox) | {
        "UPLOAD_BUCKET": gcs.bucket_name,
        "UPLOAD_PREFIX": "uploads/",
        "STORAGE_EMULATOR_HOST": gcs.host,
        "STORAGE_RETRY_SECONDS": "1",
        "INGEST_COLLECTION_ID": sandbox.collections["gallery"],
    }
    client = fuzz_app("upload-asset", env, target="upload_asset", signature="cloudevent")
    event_data = st.fixed_dictionaries(
        {
            "bucket": st.just(gcs.bucket_name) | weird_strings,
            "name": st.sampled_from(names) | weird_strings,
        },
        optional={
            "generation": st.sampled_from(generations) | st.integers() | weird_strings,
            "timeCreated": st.sampled_from(
                ["2020-01-01T00:00:00Z", dt.datetime.now(dt.UTC).isoformat()]
            )
            | weird_strings,
            "componentCount": st.integers() | weird_strings,
            "md5Hash": weird_strings,
            "size": weird_strings | st.integers(),
            "contentType": weird_strings,
            "metadata": json_values,
        },
    )

    @FUZZ_SETTINGS
    @given(
        data=event_data | json_values,
        event_type=st.sampled_from(
            ["google.cloud.storage.object.v1.finalized"] * 3 + ["google.cloud.audit.log.v1.written"]
        ),
        structured=st.booleans(),
        event_time=st.sampled_from([None, "2001-01-01T00:00:00Z", "garbage"]),
    )
    def fuzz(data: Any, event_type: str, structured: bool, event_time: str | None) -> None:
        attributes = {
            "type": event_type,
            "source": f"//storage.googleapis.com/projects/_/buckets/{gcs.bucket_name}",
            "id": uuid.uuid4().hex,
            "subject": "objects/x",
        }
        if event_time:
            attributes["time"] = event_time
        headers, body = (to_structured if structured else to_binary)(CloudEvent(attributes, data))
        response = client.post("/", headers=dict(headers), data=body)
        assert response.status_code < 300, (
            data,
            event_type,
            event_time,
            response.status_code,
            response.get_data()[:300],
        )

    fuzz()
