"""The soak's audit: every submission the callers were answered for is in the CMS once, in the
failed set with a reason, or in the quarantine; nothing lost, nothing twice."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import httpx

from bench import _procs  # noqa: F401  (puts the repository root on sys.path)
from bench.soak_callers import Ledger

__all__ = ["audit", "list_all"]


def list_all(client: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        body = (
            client.get(path, params={"limit": 100, "offset": len(found)}).raise_for_status().json()
        )
        page = body.get(key, [])
        found += page
        if not page or len(found) >= body.get("pagination", {}).get("total", 0):
            return found


def audit(ledger: Ledger, info: dict[str, Any]) -> dict[str, Any]:
    """Compare what was sent (``ledger``) with what the sandbox the stack's ``info`` names holds."""
    site_id = info["site"]["id"]
    collections = info["collections"]
    reader = httpx.Client(
        base_url=info["apiBaseUrl"],
        headers={"Authorization": f"Bearer {info['tokens']['readOnly']}"},
        timeout=30,
    )
    try:
        submissions = list_all(reader, f"/collections/{collections['submissions']}/items", "items")
        gallery = list_all(reader, f"/collections/{collections['gallery']}/items", "items")
        assets = list_all(reader, f"/sites/{site_id}/assets", "assets")
        asset_md5: dict[str, str] = {}
        for asset in assets:
            content = httpx.get(asset["hostedUrl"], timeout=30)
            if content.status_code == 200:
                asset_md5[asset["id"]] = hashlib.md5(content.content).hexdigest()
    finally:
        reader.close()

    prefix = f"Soak {ledger.run} "
    by_name = Counter(
        item["fieldData"].get("name")
        for item in submissions
        if str(item["fieldData"].get("name", "")).startswith(prefix)
    )
    items_by_name: dict[str, dict[str, Any]] = {}
    for item in submissions:
        items_by_name.setdefault(item["fieldData"].get("name"), item)
    expected = set(ledger.names)
    lost = sorted(name for name in expected if by_name[name] == 0)
    lost_after_acceptance = [
        name for name in lost if name in ledger.accepted or ledger.names[name] == "webhook"
    ]
    duplicated = sorted(name for name, n in by_name.items() if n > 1)
    unexpected = sorted(name for name in by_name if name not in expected)

    # Assets: one per image sent, whatever path it took.
    assets_per_md5 = Counter(asset_md5.values())
    ours = set(ledger.image_md5)
    duplicated_assets = sorted(md5 for md5 in ours if assets_per_md5[md5] > 1)
    images_without_asset = sorted(ledger.image_md5[md5] for md5 in ours if assets_per_md5[md5] == 0)
    md5_by_asset = {asset_id: md5 for asset_id, md5 in asset_md5.items() if md5 in ours}

    # Attachments: each image's asset sits in the field of the item it was meant for.
    unattached: list[str] = []
    gallery_by_asset = Counter(
        (item["fieldData"].get("image") or {}).get("fileId") for item in gallery
    )
    for md5, source in ledger.image_md5.items():
        asset_ids = [asset_id for asset_id, m in md5_by_asset.items() if m == md5]
        if not asset_ids:
            continue  # already counted as an image without an asset
        if source.startswith("form:") or ledger.objects[source]["kind"] == "path":
            # A form file input or a file named after an item: its item's attachment field.
            item_name = (
                source.removeprefix("form:")
                if source.startswith("form:")
                else ledger.objects[source]["item"]
            )
            target = items_by_name.get(item_name) or {}
            field_value = target.get("fieldData", {}).get("attachment") or {}
            if field_value.get("fileId") not in asset_ids:
                unattached.append(source)
        elif not any(gallery_by_asset[asset_id] for asset_id in asset_ids):
            unattached.append(source)
    gallery_duplicates = sorted(
        asset_id for asset_id in md5_by_asset if gallery_by_asset[asset_id] > 1
    )

    return {
        "submissionsSent": len(expected),
        "byKind": dict(Counter(ledger.names.values())),
        "itemsFound": sum(by_name[name] for name in expected),
        "lost": len(lost),
        "lostNames": lost[:20],
        "lostAfterAcceptance": len(lost_after_acceptance),
        "refusedAfterRetries": len(ledger.refused),
        "refusedSample": dict(list(ledger.refused.items())[:5]),
        "duplicatedItems": len(duplicated) + len(gallery_duplicates),
        "duplicatedNames": duplicated[:20],
        "duplicatedGalleryItems": len(gallery_duplicates),
        "unexpectedItems": len(unexpected),
        "imagesSent": len(ours),
        "assetsForOurImages": sum(assets_per_md5[md5] for md5 in ours),
        "duplicatedAssets": len(duplicated_assets),
        "imagesWithoutAsset": len(images_without_asset),
        "imagesWithoutAssetSample": images_without_asset[:10],
        "unattachedImages": len(unattached),
        "unattachedSample": unattached[:10],
    }
