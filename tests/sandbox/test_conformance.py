"""Every answer of the sandbox, errors included, validated against Webflow's OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox
from tests.sandbox.helpers import upload_asset
from tests.sandbox.images import png
from tests.sandbox.openapi import SpecValidator

OTHER_SITE = "66a0b6a5c1f1b2a3d4e5fa01"
MISSING = "0123456789abcdef01234567"


class Recorder:
    """An httpx client on /v2 that keeps every answer for validation."""

    def __init__(self, sandbox: Sandbox, token: str | None = None) -> None:
        self.answers: list[tuple[str, str, int, Any]] = []
        prefix = httpx.URL(sandbox.api_base_url).path

        def record(response: httpx.Response) -> None:
            response.read()
            body = response.json() if response.content else None
            path = response.request.url.path.removeprefix(prefix)
            self.answers.append((response.request.method, path, response.status_code, body))

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(
            base_url=sandbox.api_base_url, headers=headers, event_hooks={"response": [record]}
        )

    def statuses(self) -> list[int]:
        return [status for _, _, status, _ in self.answers]


@pytest.fixture
def recorder(sandbox: Sandbox) -> Iterator[Recorder]:
    recorder = Recorder(sandbox, sandbox.token)
    with recorder.client:
        yield recorder


def sites_and_collections(api: httpx.Client, sandbox: Sandbox) -> None:
    api.get(f"/sites/{sandbox.site_id}")
    api.get(f"/sites/{OTHER_SITE}")
    api.get(f"/sites/{MISSING}")
    api.get(f"/sites/{sandbox.site_id}/collections")
    api.post(
        f"/sites/{sandbox.site_id}/publish",
        json={"customDomains": [], "publishToWebflowSubdomain": True},
    )
    api.post(f"/sites/{sandbox.site_id}/publish", json={"publishToWebflowSubdomain": True})
    api.post(f"/sites/{sandbox.site_id}/publish", json={"customDomains": ["nope"]})
    api.get(f"/collections/{sandbox.collections['posts']}")
    api.get(f"/collections/{MISSING}")


def item_lifecycle(api: httpx.Client, sandbox: Sandbox) -> None:
    posts = f"/collections/{sandbox.collections['posts']}/items"
    one = api.post(
        posts,
        json={"isDraft": False, "fieldData": {"name": "One", "slug": "one", "featured": True}},
    ).json()
    api.post(
        posts,
        json={
            "items": [
                {"fieldData": {"name": "Two", "slug": "two"}},
                {"fieldData": {"name": "Three", "slug": "three"}},
            ]
        },
    )
    api.post(posts, json={"fieldData": {"name": "Dup", "slug": "one"}})
    api.post(posts, json={"fieldData": {"name": "X", "slug": "x", "nope": 1}})
    api.post(
        posts,
        json={"items": [{"fieldData": {"name": f"P{i}", "slug": f"p{i}"}} for i in range(101)]},
    )
    api.get(posts, params={"limit": 2, "offset": 1, "sortBy": "name", "sortOrder": "desc"})
    api.get(posts, params={"limit": 0})
    api.get(posts, params={"slug": "one"})
    api.get(f"{posts}/{one['id']}")
    api.get(f"{posts}/{MISSING}")
    api.get(f"{posts}/{one['id']}/live")
    api.patch(f"{posts}/{one['id']}/live", json={"fieldData": {"name": "Live"}})
    api.patch(f"{posts}/live", json={"items": [{"id": one["id"], "fieldData": {"name": "Live"}}]})
    api.patch(f"{posts}/{one['id']}", json={"isDraft": False, "fieldData": {"summary": "s"}})
    api.patch(posts, json={"items": [{"id": one["id"], "fieldData": {"summary": "t"}}]})
    api.post(f"{posts}/publish", json={"itemIds": [one["id"], MISSING]})
    api.post(
        f"{posts}/publish",
        json={
            "items": [
                {"id": one["id"], "cmsLocaleIds": [sandbox.locales["primary"]["cmsLocaleId"]]}
            ]
        },
    )
    api.get(f"{posts}/live")
    api.get(f"{posts}/{one['id']}/live")
    api.patch(f"{posts}/{one['id']}/live", json={"fieldData": {"name": "Live"}})
    api.patch(
        f"{posts}/live", json={"items": [{"id": one["id"], "fieldData": {"name": "Live again"}}]}
    )
    api.request("DELETE", f"{posts}/live", json={"items": [{"id": one["id"]}]})
    api.delete(f"{posts}/{one['id']}/live")
    api.delete(f"{posts}/{one['id']}")
    api.request("DELETE", posts, json={"items": [{"id": MISSING}]})


def bulk_and_locales(api: httpx.Client, sandbox: Sandbox) -> None:
    posts = f"/collections/{sandbox.collections['posts']}/items"
    locales = [
        sandbox.locales["primary"]["cmsLocaleId"],
        *(loc["cmsLocaleId"] for loc in sandbox.locales["secondary"]),
    ]
    created = api.post(
        f"{posts}/bulk",
        json={"cmsLocaleIds": locales, "isDraft": False, "fieldData": {"name": "B", "slug": "b"}},
    ).json()
    api.post(
        f"{posts}/bulk",
        json={"cmsLocaleIds": locales[:1], "fieldData": [{"name": "B", "slug": "b"}]},
    )
    api.get(posts, params={"cmsLocaleId": locales[1]})
    api.get(f"{posts}/{created['items'][0]['id']}", params={"cmsLocaleId": locales[2]})
    api.request(
        "DELETE",
        posts,
        json={"items": [{"id": created["items"][0]["id"], "cmsLocaleIds": locales[1:]}]},
    )


def assets(api: httpx.Client, sandbox: Sandbox) -> None:
    upload = upload_asset(api, sandbox.site_id, "a.png", png(900, 300))
    api.post(f"/sites/{sandbox.site_id}/assets", json={"fileName": "a.exe", "fileHash": "x"})
    api.get(f"/sites/{sandbox.site_id}/assets")
    api.get(f"/assets/{upload['id']}")
    api.patch(f"/assets/{upload['id']}", json={"displayName": "A", "altText": "alt"})
    api.delete(f"/assets/{upload['id']}")
    api.get(f"/assets/{upload['id']}")


def webhooks(api: httpx.Client, sandbox: Sandbox) -> None:
    created = api.post(
        f"/sites/{sandbox.site_id}/webhooks",
        json={"triggerType": "form_submission", "url": "http://127.0.0.1:9/h"},
    ).json()
    api.post(
        f"/sites/{sandbox.site_id}/webhooks", json={"triggerType": "form_submission", "url": "nope"}
    )
    api.get(f"/sites/{sandbox.site_id}/webhooks")
    api.get(f"/webhooks/{created['id']}")
    api.delete(f"/webhooks/{created['id']}")
    api.get(f"/webhooks/{created['id']}")


SCENARIOS: dict[str, Callable[[httpx.Client, Sandbox], None]] = {
    "sites_and_collections": sites_and_collections,
    "item_lifecycle": item_lifecycle,
    "bulk_and_locales": bulk_and_locales,
    "assets": assets,
    "webhooks": webhooks,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_answers_conform_to_the_spec(
    name: str, sandbox: Sandbox, recorder: Recorder, spec_validator: SpecValidator
) -> None:
    SCENARIOS[name](recorder.client, sandbox)

    problems = [p for answer in recorder.answers for p in spec_validator.errors(*answer)]

    assert recorder.answers, "the scenario made no calls"
    assert problems == [], "\n".join(problems)


def test_auth_and_rate_limit_errors_conform(
    sandbox: Sandbox, spec_validator: SpecValidator
) -> None:
    sandbox.configure(rateLimitPerMinute=1)
    anonymous, reader, full = (
        Recorder(sandbox),
        Recorder(sandbox, sandbox.read_only_token),
        Recorder(sandbox, sandbox.token),
    )
    posts = f"/collections/{sandbox.collections['posts']}/items"

    anonymous.client.get(posts)
    reader.client.post(posts, json={"fieldData": {"name": "N", "slug": "n"}})
    full.client.get(posts)
    full.client.get(posts)

    answers = anonymous.answers + reader.answers + full.answers
    assert [a[2] for a in answers] == [401, 403, 200, 429]
    assert [p for answer in answers for p in spec_validator.errors(*answer)] == []


def test_a_wrong_answer_is_caught(spec_validator: SpecValidator) -> None:
    wrong = {"items": [{"id": 5, "fieldData": {}}], "pagination": {"total": "many"}}

    assert spec_validator.errors("GET", "/collections/abc/items", 200, wrong)
