"""Small steps several sandbox tests take."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx


def upload_asset(
    client: httpx.Client, site_id: str, file_name: str, data: bytes, content_type: str = "image/png"
) -> dict[str, Any]:
    """Both asset steps: create (Data API), then the presigned upload; returns step 1's answer."""
    upload = client.post(
        f"/sites/{site_id}/assets",
        json={"fileName": file_name, "fileHash": hashlib.md5(data).hexdigest()},
    ).json()
    httpx.post(
        upload["uploadUrl"],
        data=upload["uploadDetails"],
        files={"file": (file_name, data, content_type)},
    ).raise_for_status()
    return upload
