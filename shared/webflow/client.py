"""The Webflow Data API v2 client: sites, collections, items, publishing, assets and webhooks,
and the process-wide client per token (get_client)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import httpx
from pydantic import BaseModel, ConfigDict

from shared.webflow.creates import (
    ItemCreates,
)
from shared.webflow.models import (
    Asset,
    AssetUpload,
    Collection,
    ItemPublish,
    PublishResult,
    Site,
)
from shared.webflow.multipart import (
    _s3_error,
    multipart_body,
)
from shared.webflow.retry import (
    RETRYABLE_STATUSES,
)
from shared.webflow.secrets import announce
from shared.webflow.settings import WebflowSettings
from shared.webflow.transport import (
    MAX_ITEMS_PER_REQUEST,
    _AmbiguousWrite,
    _chunks,
    _json_object,
    _parse,
    _transport_error,
    api_path,
    logger,
)
from shared.webflow.updates import (
    ItemUpdates,
)


class _CollectionList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    collections: list[Collection] = []


class _AssetList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    assets: list[Asset] = []


class WebflowClient(ItemCreates, ItemUpdates):
    """Synchronous client of the Webflow Data API v2 (one per instance; thread-safe)."""

    # ------------------------------------------------------------------ sites and collections
    def get_site(self, site_id: str) -> Site:
        """GET /sites/{site_id}: the site with its locales."""
        response = self._get(api_path("sites/{}", site=site_id))
        return _parse(Site, _json_object(response), response)

    def list_collections(self, site_id: str) -> list[Collection]:
        """GET /sites/{site_id}/collections (without field schemas)."""
        response = self._get(api_path("sites/{}/collections", site=site_id))
        return _parse(_CollectionList, _json_object(response), response).collections

    def publish_items(
        self,
        collection_id: str,
        item_ids: Sequence[str | ItemPublish],
        *,
        cms_locale_ids: Sequence[str] | None = None,
    ) -> PublishResult:
        """Publish items in requests of at most 100; answers merged.

        An item is an id, published in ``cms_locale_ids`` (else the primary locale), or an
        ItemPublish with locales of its own: items with locales share requests whatever their
        sets (``{"items": [{id, cmsLocaleIds}]}``), items without go as ``{"itemIds": [...]}``.
        """
        default_locales = list(cms_locale_ids) if cms_locale_ids else None
        targets = [
            target
            if isinstance(target, ItemPublish)
            else ItemPublish(id=target, cms_locale_ids=default_locales)
            for target in item_ids
        ]
        plain = [target.id for target in targets if not target.cms_locale_ids]
        localized = [target for target in targets if target.cms_locale_ids]
        bodies: list[dict[str, Any]] = [{"itemIds": list(chunk)} for chunk in _chunks(plain)]
        bodies += [
            {"items": [target.model_dump(by_alias=True) for target in chunk]}
            for chunk in _chunks(localized)
        ]
        merged = PublishResult()
        for body in bodies:
            path = api_path("collections/{}/items/publish", collection=collection_id)
            response = self._request("POST", path, json=body)
            answer = _parse(PublishResult, _json_object(response), response)
            merged.published_item_ids.extend(answer.published_item_ids)
            merged.errors.extend(answer.errors)
        return merged

    def unpublish_items(
        self,
        collection_id: str,
        item_ids: Sequence[str],
        *,
        cms_locale_ids: Sequence[str] | None = None,
    ) -> None:
        """DELETE .../items/live: take items off the live site (chunked)."""
        self._delete_targets(
            api_path("collections/{}/items/live", collection=collection_id),
            item_ids,
            cms_locale_ids,
        )

    def delete_items(
        self,
        collection_id: str,
        item_ids: Sequence[str],
        *,
        live: bool = False,
        cms_locale_ids: Sequence[str] | None = None,
    ) -> None:
        """DELETE .../items (chunked); with ``live`` the items are unpublished first."""
        if live:
            self.unpublish_items(collection_id, item_ids, cms_locale_ids=cms_locale_ids)
        self._delete_targets(
            api_path("collections/{}/items", collection=collection_id), item_ids, cms_locale_ids
        )

    def _delete_targets(
        self, path: str, item_ids: Sequence[str], cms_locale_ids: Sequence[str] | None
    ) -> None:
        for chunk in _chunks(list(item_ids)):
            targets: list[dict[str, Any]] = []
            for item_id in chunk:
                target: dict[str, Any] = {"id": item_id}
                if cms_locale_ids:
                    target["cmsLocaleIds"] = list(cms_locale_ids)
                targets.append(target)
            self._request("DELETE", path, json={"items": targets}, gone_after_retry_ok=True)

    def publish_site(
        self,
        site_id: str,
        *,
        custom_domains: Sequence[str] | None = None,
        publish_to_webflow_subdomain: bool = True,
    ) -> dict[str, Any]:
        """POST /sites/{site_id}/publish (Webflow allows one per minute)."""
        body: dict[str, Any] = {"publishToWebflowSubdomain": publish_to_webflow_subdomain}
        if custom_domains:
            body["customDomains"] = list(custom_domains)
        response = self._request("POST", api_path("sites/{}/publish", site=site_id), json=body)
        return _json_object(response)

    # ------------------------------------------------------------------ assets
    def create_asset(
        self,
        site_id: str,
        file_name: str,
        file_hash_md5_hex: str,
        *,
        parent_folder: str | None = None,
    ) -> AssetUpload:
        """Step 1 of an upload: register the asset and get the presigned upload target."""
        body: dict[str, Any] = {"fileName": file_name, "fileHash": file_hash_md5_hex}
        if parent_folder:
            body["parentFolder"] = parent_folder
        response = self._request("POST", api_path("sites/{}/assets", site=site_id), json=body)
        return _parse(AssetUpload, _json_object(response), response)

    def upload_to_presigned(
        self, upload: AssetUpload, stream: BinaryIO, size: int, content_type: str
    ) -> None:
        """Step 2: multipart POST of the bytes to ``upload.upload_url`` (no credentials sent).

        The fields go in the order given, the file last, streamed in 64 KiB pieces with an exact
        Content-Length. A seekable stream is rewound and sent again after a transient failure.
        """
        file_name = upload.file_name or upload.upload_details.get("key", "file").rsplit("/", 1)[-1]
        start = stream.tell() if _seekable(stream) else None
        budget = self._budget()
        while True:
            body = multipart_body(upload.upload_details, file_name, stream, size, content_type)
            try:
                response = self.upload_http.post(
                    upload.upload_url,
                    content=iter(body),
                    headers={
                        "Content-Type": body.content_type,
                        "Content-Length": str(body.content_length),
                    },
                )
            except httpx.TransportError as exc:
                failure = _transport_error("Upload", exc)
                cause: Exception = exc
            else:
                if response.is_success:
                    return
                failure = _s3_error(response)
                cause = failure
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
            delay = budget.next_delay(getattr(failure, "retry_after", None))
            if delay is None or start is None:
                if cause is failure:
                    raise failure
                raise failure from cause
            logger.warning(
                "retrying asset upload", extra={"failure": str(failure), "retry": budget.retries}
            )
            self._sleep(delay)
            stream.seek(start)

    def upload_asset(
        self,
        site_id: str,
        file_name: str,
        stream: BinaryIO,
        size: int,
        md5_hex: str,
        content_type: str,
        *,
        parent_folder: str | None = None,
    ) -> Asset:
        """Create the asset, upload its bytes and return it as Webflow now describes it."""
        upload = self.create_asset(site_id, file_name, md5_hex, parent_folder=parent_folder)
        self.upload_to_presigned(upload, stream, size, content_type)
        return self.get_asset(upload.id)

    def get_asset(self, asset_id: str) -> Asset:
        """GET /assets/{asset_id}."""
        response = self._get(api_path("assets/{}", asset=asset_id))
        return _parse(Asset, _json_object(response), response)

    def list_assets(self, site_id: str) -> list[Asset]:
        """Every asset of the site (all pages)."""
        assets: list[Asset] = []
        offset = 0
        while True:
            response = self._get(
                api_path("sites/{}/assets", site=site_id),
                {"offset": offset, "limit": MAX_ITEMS_PER_REQUEST},
            )
            offset += MAX_ITEMS_PER_REQUEST
            body = _json_object(response)
            page = _parse(_AssetList, body, response).assets
            assets.extend(page)
            total = (body.get("pagination") or {}).get("total")
            if len(page) < MAX_ITEMS_PER_REQUEST or (total is not None and len(assets) >= total):
                return assets

    def update_asset(self, asset_id: str, **fields: Any) -> Asset:
        """PATCH /assets/{asset_id} (snake_case keywords become camelCase, e.g. alt_text)."""
        body = {_camel(key): value for key, value in fields.items()}
        response = self._request("PATCH", api_path("assets/{}", asset=asset_id), json=body)
        return _parse(Asset, _json_object(response), response)

    def delete_asset(self, asset_id: str) -> None:
        """DELETE /assets/{asset_id}."""
        self._request("DELETE", api_path("assets/{}", asset=asset_id), gone_after_retry_ok=True)

    # ------------------------------------------------------------------ webhooks
    def list_webhooks(self, site_id: str) -> list[dict[str, Any]]:
        """GET /sites/{site_id}/webhooks."""
        response = self._get(api_path("sites/{}/webhooks", site=site_id))
        hooks = _json_object(response).get("webhooks") or []
        return [hook for hook in hooks if isinstance(hook, dict)]

    def create_webhook(
        self, site_id: str, trigger_type: str, url: str, filter: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST /sites/{site_id}/webhooks; the answer holds the webhook's secretKey."""
        body: dict[str, Any] = {"triggerType": trigger_type, "url": url}
        if filter:
            body["filter"] = dict(filter)
        budget = self._budget()
        while True:
            try:
                response = self._request(
                    "POST",
                    api_path("sites/{}/webhooks", site=site_id),
                    json=body,
                    idempotent=False,
                    budget=budget,
                )
                break
            except _AmbiguousWrite as exc:
                # A second webhook would deliver every event twice: look before sending again.
                for hook in self.list_webhooks(site_id):
                    if hook.get("triggerType") == trigger_type and hook.get("url") == url:
                        return hook
                delay = budget.next_delay()
                if delay is None:
                    raise exc.cause from exc
                self._sleep(delay)
        answer = _json_object(response)
        if isinstance(answer.get("secretKey"), str):
            announce(answer["secretKey"])
        return answer


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _ClientCache:
    """One client per token, base URL and options in the process; ``get_client`` is its instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, tuple[tuple[str, Any], ...]], WebflowClient] = {}

    def __call__(self, settings: WebflowSettings, **options: Any) -> WebflowClient:
        """The process-wide client for the settings' token, base URL and ``options`` (created once).

        ``options`` are WebflowClient keywords (e.g. a shorter retry budget); clients of one token
        share its limiter whatever their options.
        """
        token = settings.webflow_api_token.get_secret_value()
        key = (
            hashlib.sha256(token.encode()).hexdigest(),
            settings.webflow_api_base_url,
            tuple(sorted(options.items())),
        )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = WebflowClient.from_settings(settings, **options)
            return client

    def cache_clear(self) -> None:
        """Close and forget every cached client (tests, configuration changes)."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


get_client = _ClientCache()
