"""Fuzzing every HTTP function: whatever arrives, the answer is never a 5xx (other than a 503 with
Retry-After for upstream trouble) and every error is a JSON body with a message."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench._procs import API_KEY, FUNCTIONS

pytestmark = pytest.mark.timeout(600)

FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "60")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
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
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
weird_strings = st.sampled_from(
    ["", " ", "a" * 300, "ünïcødé ✓", "<script>alert(1)</script>", "../../etc/passwd", "null", "0", "-1",
     "\x00", "javascript:alert(1)", "🤖" * 20, "a,b,c", "%00", "5f0c8c9e1c9d440000e8d8c3"]
) | st.text(max_size=60)

POST_FIELDS = ["name", "slug", "summary", "body", "hero", "featured", "published-on", "category", "rating"]
field_values = st.one_of(
    weird_strings,
    json_values,
    st.fixed_dictionaries({"fileId": weird_strings, "url": weird_strings, "alt": weird_strings}),
)
field_data = st.dictionaries(st.sampled_from(POST_FIELDS) | st.text(max_size=10), field_values, max_size=5)
maybe = {"collectionId": weird_strings | json_values, "live": json_values}


def create_body() -> st.SearchStrategy[Any]:
    item = st.fixed_dictionaries(
        {"fieldData": field_data | json_values},
        optional={"isDraft": json_values, "cmsLocaleIds": st.lists(weird_strings, max_size=3) | json_values,
                  "isArchived": json_values},
    )
    near_valid = st.fixed_dictionaries({"items": st.lists(item, max_size=3) | json_values}, optional=maybe)
    return near_valid | json_values


def update_body() -> st.SearchStrategy[Any]:
    item = st.fixed_dictionaries(
        {},
        optional={"id": weird_strings | json_values, "slug": weird_strings | json_values,
                  "fieldData": field_data | json_values, "cmsLocaleId": weird_strings | json_values,
                  "isDraft": json_values, "isArchived": json_values},
    )
    near_valid = st.fixed_dictionaries({"items": st.lists(item, max_size=3) | json_values}, optional=maybe)
    return near_valid | json_values


def publish_body() -> st.SearchStrategy[Any]:
    near_valid = st.fixed_dictionaries(
        {},
        optional={"itemIds": st.lists(weird_strings, max_size=4) | json_values, "pending": json_values,
                  "dryRun": json_values, "cmsLocaleIds": st.lists(weird_strings, max_size=3) | json_values},
    )
    return near_valid | json_values


def upload_body() -> st.SearchStrategy[Any]:
    near_valid = st.fixed_dictionaries({"bucket": weird_strings | json_values, "name": weird_strings | json_values})
    return near_valid | json_values


BODIES: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "create-items": create_body,
    "update-items": update_body,
    "publish-live": publish_body,
    "upload-asset": upload_body,
}

content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=fuzz", "multipart/form-data", "text/plain", "", "application/xml",
     "application/cloudevents+json", "application/merge-patch+json", "text/html; charset=latin-1"]
) | st.text(max_size=30)

authorizations = st.sampled_from(
    [f"Bearer {API_KEY}", f"Bearer {API_KEY}", f"Bearer {API_KEY}", "", "Bearer", "Bearer wrong",
     f"bearer {API_KEY}", f"Basic {API_KEY}", f"Bearer {API_KEY} extra"]
) | st.text(max_size=30)

extra_headers = st.dictionaries(
    st.sampled_from(["Accept", "Origin", "X-Cloud-Trace-Context", "Function-Execution-Id", "X-Request-Id",
                     "x-webflow-signature", "x-webflow-timestamp", "Content-Encoding", "Transfer-Encoding"]),
    st.sampled_from(["application/json", "text/html", "*/*", "https://example.com", "null", "0",
                     "abc/1;o=1", "gzip"]) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    max_size=3,
)


@st.composite
def requests(draw: st.DrawFn, function: str) -> dict[str, Any]:
    """A request: a method, headers and a body encoded one of several ways."""
    body = draw(BODIES[function]())
    encoding = draw(st.sampled_from(["json", "json", "json", "form", "raw", "empty", "multipart"]))
    if encoding == "json":
        data = json.dumps(body).encode()
        content_type = draw(st.sampled_from(["application/json", "application/json"]) | content_types)
    elif encoding == "form":
        pairs = body.items() if isinstance(body, dict) else [("value", body)]
        data = urllib.parse.urlencode([(str(k), json.dumps(v) if not isinstance(v, str) else v) for k, v in pairs]).encode()
        content_type = draw(st.just("application/x-www-form-urlencoded") | content_types)
    elif encoding == "multipart":
        fields = draw(st.dictionaries(st.sampled_from(POST_FIELDS + ["_redirect", "file", "image"]), weird_strings, max_size=4))
        data = b"".join(
            b"--fuzz\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (k.encode(), v.encode())
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


# --- the property -----------------------------------------------------------------------------


def check_answer(function: str, request: dict[str, Any], response: Any) -> None:
    status = response.status_code
    shown = f"{function} {request['method']} {request['headers']} {request['data'][:300]!r} -> {status} {response.get_data()[:300]!r}"
    assert status < 500 or (status == 503 and response.headers.get("Retry-After")), shown
    if status >= 400 and request["method"] != "HEAD":
        assert response.mimetype == "application/json", shown
        body = json.loads(response.get_data())
        assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], shown


def fuzz_app(function: str, env: dict[str, str]) -> Any:
    """A functions-framework test client of one function, its caches cleared."""
    import functions_framework

    spec = FUNCTIONS[function]
    if not spec.source.exists():
        pytest.skip(f"{spec.source} has not landed")
    os.environ.update(env)
    app = functions_framework.create_app(spec.target, str(spec.source), spec.signature_type)
    module = __import__("sys").modules.get("main")
    reset = getattr(module, "reset_state", None)
    if callable(reset):
        reset()
    return app.test_client()


def function_env(sandbox: Any) -> dict[str, str]:
    return {
        "WEBFLOW_API_TOKEN": sandbox.token,
        "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
        "WEBFLOW_SITE_ID": sandbox.site_id,
        "WEBFLOW_COLLECTION_ID": sandbox.collections["posts"],
        "WEBFLOW_RATE_LIMIT_PER_MINUTE": "100000",
        "WEBFLOW_MAX_RETRY_SECONDS": "2",
        "CREATE_ITEMS_API_KEYS": API_KEY,
        "API_KEYS": API_KEY,
        "PUBLISH_COLLECTION_IDS": sandbox.collections["posts"],
        "ALLOWED_ORIGINS": "https://example.com",
        "WEBFLOW_WEBHOOK_SECRET": "fuzz-secret",
        "LOG_LEVEL": "CRITICAL",
    }


@pytest.mark.parametrize("function", ["create-items", "update-items", "publish-live"])
def test_http_function_answers_every_input_without_a_5xx(function: str, sandbox: Any) -> None:
    client = fuzz_app(function, function_env(sandbox))

    @FUZZ_SETTINGS
    @given(request=requests(function))
    def run(request: dict[str, Any]) -> None:
        response = client.open("/", method=request["method"], headers=request["headers"], data=request["data"])
        check_answer(function, request, response)

    run()


def test_upload_asset_http_answers_every_input_without_a_5xx(sandbox: Any, gcs: Any) -> None:
    env = function_env(sandbox) | {"UPLOAD_BUCKET": gcs.bucket_name}
    client = fuzz_app("upload-asset", env)

    @FUZZ_SETTINGS
    @given(request=requests("upload-asset"))
    def run(request: dict[str, Any]) -> None:
        response = client.open("/", method=request["method"], headers=request["headers"], data=request["data"])
        check_answer("upload-asset", request, response)

    run()
