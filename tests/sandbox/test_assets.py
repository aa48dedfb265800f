"""Assets: create, presigned S3-style upload, hosting, variants, limits."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox
from tests.sandbox.images import png


def _create(
    api: httpx.Client, sandbox: Sandbox, file_name: str, data: bytes, md5: str | None = None
) -> dict[str, Any]:
    response = api.post(
        f"/sites/{sandbox.site_id}/assets",
        json={"fileName": file_name, "fileHash": md5 or hashlib.md5(data).hexdigest()},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _upload(
    upload: dict[str, Any],
    data: bytes,
    fields: dict[str, str] | None = None,
    content_type: str = "image/png",
) -> httpx.Response:
    form = upload["uploadDetails"] if fields is None else fields
    return httpx.post(upload["uploadUrl"], data=form, files={"file": ("f", data, content_type)})


def _s3_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/xml")
    found = re.search(r"<Code>(\w+)</Code>", response.text)
    assert found, response.text
    return found.group(1)


def test_create_answers_upload_details_in_order(api: httpx.Client, sandbox: Sandbox) -> None:
    upload = _create(api, sandbox, "hero.png", b"x")

    assert list(upload["uploadDetails"]) == [
        "acl",
        "bucket",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "key",
        "Policy",
        "X-Amz-Signature",
        "success_action_status",
        "content-type",
        "Cache-Control",
    ]
    assert upload["uploadUrl"].startswith(f"{sandbox.root_url}/_s3/")
    assert upload["uploadDetails"]["content-type"] == "image/png"


def test_upload_then_get_reports_size_type_hosted_bytes_and_variants(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    data = png(1200, 600)
    upload = _create(api, sandbox, "hero.png", data)

    stored = _upload(upload, data)

    assert stored.status_code == 201
    assert "<PostResponse>" in stored.text
    assert hashlib.md5(data).hexdigest() in stored.text
    asset = api.get(f"/assets/{upload['id']}").json()
    assert (asset["size"], asset["contentType"]) == (len(data), "image/png")
    assert httpx.get(asset["hostedUrl"]).content == data
    assert [(v["width"], v["height"]) for v in asset["variants"]] == [
        (500, 250),
        (800, 400),
        (1080, 540),
    ]
    assert api.get(f"/sites/{sandbox.site_id}/assets").json()["pagination"]["total"] == 1


def test_document_upload_has_no_variants(api: httpx.Client, sandbox: Sandbox) -> None:
    data = b"%PDF-1.7 tiny"
    upload = _create(api, sandbox, "terms.pdf", data)

    assert _upload(upload, data, content_type="application/pdf").status_code == 201
    asset = api.get(f"/assets/{upload['id']}").json()
    assert (asset["contentType"], asset["variants"]) == ("application/pdf", [])


def test_hash_mismatch_is_bad_digest_and_nothing_is_stored(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data, md5="0" * 32)

    response = _upload(upload, data)

    assert response.status_code == 400
    assert _s3_code(response) == "BadDigest"
    assert api.get(f"/assets/{upload['id']}").status_code == 404


def test_oversized_image_is_entity_too_large(api: httpx.Client, sandbox: Sandbox) -> None:
    data = b"\x89PNG" + b"\x00" * (4 * 1024 * 1024)
    upload = _create(api, sandbox, "big.png", data)

    response = _upload(upload, data)

    assert response.status_code == 400
    assert _s3_code(response) == "EntityTooLarge"


@pytest.mark.parametrize("field", ["key", "Policy", "content-type", "X-Amz-Signature", "acl"])
def test_altered_or_missing_fields_are_refused(
    api: httpx.Client, sandbox: Sandbox, field: str
) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    altered = dict(upload["uploadDetails"], **{field: upload["uploadDetails"][field] + "x"})
    missing = {k: v for k, v in upload["uploadDetails"].items() if k != field}

    assert _upload(upload, data, fields=altered).status_code == 403
    # Without a key S3 cannot tell which upload is meant (400); anything else missing is 403.
    assert _upload(upload, data, fields=missing).status_code == (400 if field == "key" else 403)


# As Webflow's own JS SDK (createAndUpload) names the fields.
SDK_NAMES = {
    "Policy": "policy",
    "content-type": "Content-Type",
    "X-Amz-Signature": "x-amz-signature",
}


def test_field_names_match_without_regard_to_case_as_s3_matches_them(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    renamed = {SDK_NAMES.get(name, name): value for name, value in upload["uploadDetails"].items()}

    response = _upload(upload, data, fields=renamed)

    assert response.status_code == 201, response.text
    asset = api.get(f"/assets/{upload['id']}").json()
    assert asset["size"] == len(data)


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("Policy", "SignatureDoesNotMatch"),
        ("X-Amz-Signature", "SignatureDoesNotMatch"),
        ("content-type", "AccessDenied"),
    ],
)
def test_a_value_under_another_case_is_checked_as_strictly(
    api: httpx.Client, sandbox: Sandbox, field: str, code: str
) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    renamed = {SDK_NAMES.get(name, name): value for name, value in upload["uploadDetails"].items()}
    renamed[SDK_NAMES[field]] += "x"

    response = _upload(upload, data, fields=renamed)

    assert response.status_code == 403
    assert _s3_code(response) == code


def test_a_field_given_twice_in_two_cases_is_refused(api: httpx.Client, sandbox: Sandbox) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    doubled = {**upload["uploadDetails"], "ACL": upload["uploadDetails"]["acl"]}

    response = _upload(upload, data, fields=doubled)

    assert response.status_code == 400
    assert _s3_code(response) == "InvalidArgument"


def test_file_must_come_last(api: httpx.Client, sandbox: Sandbox) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    boundary = "b0undary"
    parts = [("file", data)] + [(k, v.encode()) for k, v in upload["uploadDetails"].items()]
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
            for name, value in parts
        )
        + f"--{boundary}--\r\n".encode()
    )

    response = httpx.post(
        upload["uploadUrl"],
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 400
    assert _s3_code(response) == "InvalidArgument"


@pytest.mark.parametrize(
    ("file_name", "file_hash"),
    [
        ("noextension", "0" * 32),
        ("virus.exe", "0" * 32),
        ("a.png", "abc"),
        ("x" * 100 + ".png", "0" * 32),
    ],
)
def test_create_validates_name_and_hash(
    api: httpx.Client, sandbox: Sandbox, file_name: str, file_hash: str
) -> None:
    response = api.post(
        f"/sites/{sandbox.site_id}/assets", json={"fileName": file_name, "fileHash": file_hash}
    )

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


def test_patch_and_delete_asset(api: httpx.Client, sandbox: Sandbox) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    _upload(upload, data)

    patched = api.patch(f"/assets/{upload['id']}", json={"altText": "A dot"})
    deleted = api.delete(f"/assets/{upload['id']}")

    assert patched.json()["altText"] == "A dot"
    assert deleted.status_code == 204
    assert api.get(f"/assets/{upload['id']}").status_code == 404


def test_image_field_by_file_id_gets_the_asset_url(api: httpx.Client, sandbox: Sandbox) -> None:
    data = png(10, 10)
    upload = _create(api, sandbox, "a.png", data)
    _upload(upload, data)
    gallery = sandbox.collections["gallery"]
    body = {"fieldData": {"name": "G", "slug": "g", "image": {"fileId": upload["id"], "alt": "A"}}}

    item = api.post(f"/collections/{gallery}/items", json=body).json()

    assert item["fieldData"]["image"] == {
        "fileId": upload["id"],
        "url": upload["hostedUrl"],
        "alt": "A",
    }


def test_image_field_with_an_unknown_file_id_is_an_invalid_file(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    posts = sandbox.collections["posts"]
    body = {"fieldData": {"name": "P", "slug": "p", "hero": {"fileId": "f" * 24}}}

    skipped = api.post(f"/collections/{posts}/items", json=body)
    refused = api.post(
        f"/collections/{posts}/items", params={"skipInvalidFiles": "false"}, json=body
    )

    assert skipped.status_code == 202
    assert "hero" not in skipped.json()["fieldData"]
    assert refused.status_code == 400
