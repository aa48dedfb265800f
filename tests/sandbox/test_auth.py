"""Authentication, scopes and site isolation."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Sandbox

OTHER_SITE = "66a0b6a5c1f1b2a3d4e5fa01"
OTHER_COLLECTION = "66a0b6a5c1f1b2a3d4e5fb01"
OTHER_TOKEN = "wf-sandbox-other-0123456789abcdef"  # the default seed's token of the second site


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_unknown_token_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = httpx.get(f"{sandbox.api_base_url}/sites/{sandbox.site_id}", headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authorized",
        "message": "Request not authorized",
        "externalReference": None,
        "details": [],
    }
    assert "X-RateLimit-Limit" in response.headers


def test_read_only_token_reads_but_cannot_write(sandbox: Sandbox) -> None:
    posts = sandbox.collections["posts"]
    with sandbox.api(sandbox.read_only_token) as client:
        read = client.get(f"/collections/{posts}/items")
        write = client.post(
            f"/collections/{posts}/items", json={"fieldData": {"name": "N", "slug": "n"}}
        )

    assert read.status_code == 200
    assert (write.status_code, write.json()["code"]) == (403, "missing_scopes")


def test_token_cannot_see_another_site(api: httpx.Client) -> None:
    site = api.get(f"/sites/{OTHER_SITE}")
    collection = api.get(f"/collections/{OTHER_COLLECTION}/items")

    assert (site.status_code, site.json()["code"]) == (403, "forbidden")
    assert (collection.status_code, collection.json()["code"]) == (403, "forbidden")


def test_other_sites_token_cannot_see_ours(sandbox: Sandbox) -> None:
    with sandbox.api(OTHER_TOKEN) as client:
        own = client.get(f"/sites/{OTHER_SITE}")
        ours = client.get(f"/collections/{sandbox.collections['posts']}")

    assert own.status_code == 200
    assert ours.status_code == 403


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    site = api.get(f"/sites/{'1' * 24}")
    collection = api.get(f"/collections/{'1' * 24}")

    assert (site.status_code, site.json()["code"]) == (404, "resource_not_found")
    assert (collection.status_code, collection.json()["code"]) == (404, "collection_not_found")


def test_site_lists_primary_and_secondary_locales(api: httpx.Client, sandbox: Sandbox) -> None:
    site = api.get(f"/sites/{sandbox.site_id}").json()

    assert site["locales"]["primary"]["cmsLocaleId"] == sandbox.locales["primary"]["cmsLocaleId"]
    assert len(site["locales"]["secondary"]) == 2
    assert all(loc["id"] != loc["cmsLocaleId"] for loc in site["locales"]["secondary"])


def test_collections_and_schema(api: httpx.Client, sandbox: Sandbox) -> None:
    listed = api.get(f"/sites/{sandbox.site_id}/collections").json()["collections"]
    schema = api.get(f"/collections/{sandbox.collections['posts']}").json()

    assert sorted(c["slug"] for c in listed) == [
        "authors",
        "gallery",
        "posts",
        "submissions",
        "tags",
    ]
    fields = {f["slug"]: f for f in schema["fields"]}
    assert fields["summary"]["validations"]["maxLength"] == 256
    assert [o["name"] for o in fields["category"]["validations"]["options"]] == [
        "News",
        "Guides",
        "Releases",
    ]
    assert set(fields["name"]) >= {"id", "slug", "displayName", "type", "isRequired", "isEditable"}
    # Posts refer to Authors and Tags, as real content does.
    assert fields["author"]["validations"]["collectionId"] == sandbox.collections["authors"]
    assert fields["tags"]["type"] == "MultiReference"


def test_unknown_api_route_is_404_with_rate_limit_headers(api: httpx.Client) -> None:
    response = api.get("/no/such/route")

    assert (response.status_code, response.json()["code"]) == (404, "resource_not_found")
    assert "X-RateLimit-Remaining" in response.headers


def test_wrong_method_on_a_known_path_is_405(api: httpx.Client, sandbox: Sandbox) -> None:
    assert api.put(f"/sites/{sandbox.site_id}", json={}).status_code == 405
