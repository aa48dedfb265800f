"""Assets: the two-step upload (Data API call, then an S3-style presigned POST) and hosting.

Step 1, ``POST /v2/sites/{site_id}/assets``, hands out ``uploadUrl`` (this server's
``/_s3/{bucket}``) and ``uploadDetails``: form fields signed by a policy. Step 2 posts those
fields, unaltered and in any order, then ``file`` last, as multipart/form-data. The S3 side
answers like S3: 201 with an XML body, or an XML error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from .errors import not_found, validation_error
from .ids import new_id, now_iso
from .imaging import image_size
from .routing import Request, Response, Route
from .server import App
from .store import Doc

BUCKET = "webflow-prod-assets"
IMAGE_MAX_BYTES = 4 * 1024 * 1024
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
FILE_NAME_MAX = 100
POLICY_LIFETIME = timedelta(hours=1)
VARIANT_WIDTHS = (500, 800, 1080, 1600, 2000)
CACHE_CONTROL = "max-age=31536000, must-revalidate"

IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "svg": "image/svg+xml",
    "webp": "image/webp",
    "avif": "image/avif",
}
DOCUMENT_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "txt": "text/plain",
    "csv": "text/csv",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
ASSET_FIELDS = (
    "id", "contentType", "size", "siteId", "hostedUrl", "originalFileName", "displayName",
    "lastUpdated", "createdOn", "variants", "altText", "folderId",
)  # fmt: skip


class S3Error(Exception):
    """An S3-style XML error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        """Render as S3 does."""
        request_id = os.urandom(8).hex().upper()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()
        return Response(self.status, body, {"x-amz-request-id": request_id}, "application/xml")


def file_kind(file_name: str) -> tuple[str, str, int] | None:
    """Return ``(extension, content type, size limit)`` for an allowed file name, else None."""
    extension = PurePosixPath(file_name).suffix.lower().lstrip(".")
    if extension in IMAGE_TYPES:
        return extension, IMAGE_TYPES[extension], IMAGE_MAX_BYTES
    if extension in DOCUMENT_TYPES:
        return extension, DOCUMENT_TYPES[extension], DOCUMENT_MAX_BYTES
    return None


_PARAM_RE = re.compile(r';\s*([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _header_params(value: str) -> dict[str, str]:
    """Parameters of a header value (``boundary``, ``name``, ``filename``), unquoted."""
    params = {}
    for key, raw in _PARAM_RE.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"'):
            raw = raw[1:-1].replace('\\"', '"')
        params[key.lower()] = raw
    return params


def parse_multipart(
    content_type: str, body: bytes
) -> list[tuple[str, str | None, str | None, bytes]]:
    """Split a multipart/form-data body into ``(name, filename, content type, data)``, in order."""
    malformed = S3Error(
        400,
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )
    boundary = _header_params(content_type).get("boundary")
    if not boundary:
        raise malformed
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise malformed
    parts = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise malformed
        head, separator, data = chunk[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise malformed
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        params = _header_params(headers.get("content-disposition", ""))
        if "name" not in params:
            raise malformed
        parts.append((params["name"], params.get("filename"), headers.get("content-type"), data))
    return parts


class AssetsApi:
    """The Data API asset endpoints, the S3-style upload target and the hosted files."""

    def __init__(self, app: App) -> None:
        self.app = app
        app.cms.asset_url = self.asset_url

    def asset_url(self, site_id: str, asset_id: str) -> str | None:
        """The hosted URL of a site's asset (uploaded or not yet), None if there is none."""
        asset = self.app.store.state.assets.get(asset_id)
        if asset is None or asset["siteId"] != site_id:
            return None
        return self._hosted_url(site_id, asset["storedName"])

    def routes(self) -> list[Route]:
        """Every asset-related route."""
        return [
            Route("GET", "/v2/sites/{site_id}/assets", self.list_assets, scope="assets:read"),
            Route("POST", "/v2/sites/{site_id}/assets", self.create_asset, scope="assets:write"),
            Route("GET", "/v2/assets/{asset_id}", self.get_asset, scope="assets:read"),
            Route("PATCH", "/v2/assets/{asset_id}", self.update_asset, scope="assets:write"),
            Route("DELETE", "/v2/assets/{asset_id}", self.delete_asset, scope="assets:write"),
            Route("POST", "/_s3/{bucket}", self.s3_upload, kind="s3"),
            Route("GET", "/_assets/{site_id}/{file_name}", self.hosted_file, kind="hosted"),
        ]

    # ------------------------------------------------------------------ helpers
    def _hosted_url(self, site_id: str, file_name: str) -> str:
        return f"{self.app.root_url}/_assets/{site_id}/{quote(file_name)}"

    def _asset(self, request: Request, asset_id: str) -> Doc:
        asset = self.app.store.state.assets.get(asset_id)
        if asset is None or not asset["uploaded"]:
            raise not_found(what="Asset")
        self.app.site_for(request, asset["siteId"])
        return asset

    def render(self, asset: Doc) -> Doc:
        """An asset as the API answers it (URLs follow the server's current address)."""
        doc = {key: asset.get(key) for key in ASSET_FIELDS}
        doc["hostedUrl"] = self._hosted_url(asset["siteId"], asset["storedName"])
        doc["variants"] = [
            {key: value for key, value in variant.items() if key != "storedName"}
            | {"hostedUrl": self._hosted_url(asset["siteId"], variant["storedName"])}
            for variant in asset.get("variants", [])
        ]
        return doc

    # ------------------------------------------------------------------ step 1
    def create_asset(self, request: Request, site_id: str) -> Response:
        """POST /sites/{site_id}/assets: register the file, answer the presigned POST."""
        self.app.site_for(request, site_id)
        body = request.json()
        if not isinstance(body, dict):
            raise validation_error([{"param": "body", "description": "Must be an object"}])
        file_name = body.get("fileName")
        file_hash = body.get("fileHash")
        problems = []
        kind = None
        if not isinstance(file_name, str) or not file_name.strip() or "/" in file_name:
            problems.append(
                {"param": "fileName", "description": "Must be a file name with its extension"}
            )
        elif len(file_name) >= FILE_NAME_MAX:
            problems.append(
                {"param": "fileName", "description": f"Must be under {FILE_NAME_MAX} characters"}
            )
        elif (kind := file_kind(file_name)) is None:
            problems.append({"param": "fileName", "description": "File type is not supported"})
        if not isinstance(file_hash, str) or not MD5_RE.match(file_hash):
            problems.append(
                {"param": "fileHash", "description": "Must be the MD5 hex digest of the file"}
            )
        parent = body.get("parentFolder")
        if parent is not None and not isinstance(parent, str):
            problems.append({"param": "parentFolder", "description": "Must be a folder id"})
        if problems:
            raise validation_error(problems)
        assert isinstance(file_name, str)
        assert isinstance(file_hash, str)
        assert kind is not None
        _, content_type, max_bytes = kind
        asset_id = new_id()
        stored_name = f"{asset_id}_{file_name}"
        key = f"{site_id}/{stored_name}"
        stamp = now_iso()
        secret = os.urandom(16).hex()
        details = self._upload_details(key, content_type, max_bytes, secret)
        asset: Doc = {
            "id": asset_id,
            "siteId": site_id,
            "contentType": content_type,
            "size": 0,
            "originalFileName": file_name,
            "displayName": file_name,
            "storedName": stored_name,
            "altText": None,
            "folderId": parent,
            "createdOn": stamp,
            "lastUpdated": stamp,
            "variants": [],
            "uploaded": False,
            "upload": {
                "key": key,
                "fileHash": file_hash.lower(),
                "fields": details,
                "secret": secret,
                "maxBytes": max_bytes,
            },
        }
        with self.app.store.lock, self.app.store.transaction():
            self.app.store.put_asset(asset)
        hosted = self._hosted_url(site_id, stored_name)
        return Response.json(
            200,
            {
                "uploadDetails": details,
                "contentType": content_type,
                "id": asset_id,
                "parentFolder": parent,
                "uploadUrl": f"{self.app.root_url}/_s3/{BUCKET}",
                "assetUrl": hosted,
                "hostedUrl": hosted,
                "originalFileName": file_name,
                "createdOn": stamp,
                "lastUpdated": stamp,
            },
        )

    @staticmethod
    def _upload_details(key: str, content_type: str, max_bytes: int, secret: str) -> dict[str, str]:
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        credential = f"SANDBOXACCESSKEY/{now:%Y%m%d}/us-east-1/s3/aws4_request"
        # every field but Policy and its signature is a condition of the policy
        head = {
            "acl": "public-read",
            "bucket": BUCKET,
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": credential,
            "X-Amz-Date": amz_date,
            "key": key,
        }
        tail = {
            "success_action_status": "201",
            "content-type": content_type,
            "Cache-Control": CACHE_CONTROL,
        }
        policy = {
            "expiration": (now + POLICY_LIFETIME).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [
                *({name: value} for name, value in (head | tail).items()),
                ["content-length-range", 0, max_bytes],
            ],
        }
        encoded = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
        signature = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).hexdigest()
        return {**head, "Policy": encoded, "X-Amz-Signature": signature, **tail}

    # ------------------------------------------------------------------ step 2
    def s3_upload(self, request: Request, bucket: str) -> Response:
        """POST /_s3/{bucket}: the presigned multipart upload, answered as S3 answers."""
        try:
            return self._s3_upload(request, bucket)
        except S3Error as exc:
            return exc.response()

    def _s3_upload(self, request: Request, bucket: str) -> Response:
        if request.headers.get("Content-Length") is None:
            raise S3Error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        content_type = request.headers.get("Content-Type") or ""
        if not content_type.lower().startswith("multipart/form-data"):
            raise S3Error(
                412,
                "PreconditionFailed",
                "Bucket POST must be of the enclosure-type multipart/form-data",
            )
        parts = parse_multipart(content_type, request.body)
        # S3 matches POST form field names without regard to case (Webflow's JS SDK sends
        # "policy" and "Content-Type" where uploadDetails says "Policy" and "content-type").
        names = [name.lower() for name, *_ in parts]
        if "file" not in names:
            raise S3Error(
                400, "InvalidArgument", "POST requires exactly one file upload per request."
            )
        if names[-1] != "file" or names.count("file") != 1:
            raise S3Error(400, "InvalidArgument", "The file must be the last field of the form.")
        fields: dict[str, str] = {}
        for name, _, _, value in parts[:-1]:
            if name.lower() in fields:
                raise S3Error(
                    400, "InvalidArgument", f"POST form field {name} appears more than once."
                )
            fields[name.lower()] = value.decode("utf-8", "replace")
        data = parts[-1][3]
        with self.app.store.lock:
            asset = self._pending_asset(bucket, fields.get("key"))
            upload = asset["upload"]
            self._check_policy(upload, fields)
            if len(data) > upload["maxBytes"]:
                raise S3Error(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            digest = hashlib.md5(data).hexdigest()
            if digest != upload["fileHash"]:
                raise S3Error(
                    400,
                    "BadDigest",
                    "The Content-MD5 you specified did not match what we received.",
                )
            finished = self._finish(asset, data)
            with self.app.store.transaction():
                self.app.store.put_asset(finished, data)
        location = self._hosted_url(asset["siteId"], asset["storedName"])
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<PostResponse><Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
            f'<Key>{escape(upload["key"])}</Key><ETag>"{digest}"</ETag></PostResponse>'
        ).encode()
        return Response(201, xml, {"ETag": f'"{digest}"', "Location": location}, "application/xml")

    def _pending_asset(self, bucket: str, key: str | None) -> Doc:
        if bucket != BUCKET:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist")
        if not key:
            raise S3Error(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
        stored_name = key.partition("/")[2]
        asset = self.app.store.state.assets.get(stored_name[:24])
        if asset is None or asset["upload"] is None or asset["upload"]["key"] != key:
            raise S3Error(
                403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: key"
            )
        return asset

    @staticmethod
    def _check_policy(upload: Doc, fields: dict[str, str]) -> None:
        """Check the form's fields (names lower-cased) against the issued ones; values exactly."""
        issued: dict[str, str] = upload["fields"]
        expected = hmac.new(
            upload["secret"].encode(), fields.get("policy", "").encode(), hashlib.sha256
        ).hexdigest()
        if fields.get("policy") != issued["Policy"] or not hmac.compare_digest(
            expected, fields.get("x-amz-signature", "")
        ):
            raise S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        for name, value in issued.items():
            if name.lower() not in fields:
                raise S3Error(
                    403,
                    "AccessDenied",
                    f"Invalid according to Policy: Policy Condition failed: missing {name}",
                )
            if fields[name.lower()] != value:
                raise S3Error(
                    403,
                    "AccessDenied",
                    f"Invalid according to Policy: Policy Condition failed: {name}",
                )
        extra = set(fields) - {name.lower() for name in issued}
        if extra:
            raise S3Error(
                403,
                "AccessDenied",
                f"Invalid according to Policy: Extra input fields: {', '.join(sorted(extra))}",
            )
        policy = json.loads(base64.b64decode(issued["Policy"]))
        expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%S.000Z").replace(
            tzinfo=UTC
        )
        if datetime.now(UTC) > expires:
            raise S3Error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")

    def _finish(self, asset: Doc, data: bytes) -> Doc:
        finished = dict(asset, size=len(data), uploaded=True, upload=None, lastUpdated=now_iso())
        dims = image_size(data) if asset["contentType"].startswith("image/") else None
        variants = []
        if dims is not None:
            width, height = dims
            stem, dot, extension = asset["originalFileName"].rpartition(".")
            fmt = extension.lower() if dot else "png"
            for target in VARIANT_WIDTHS:
                if target >= width:
                    break
                name = f"{stem}-p-{target}.{extension}" if dot else f"{extension}-p-{target}"
                variants.append(
                    {
                        "storedName": f"{asset['id']}_{name}",
                        "originalFileName": name,
                        "displayName": name,
                        "format": fmt,
                        "width": target,
                        "height": max(1, round(height * target / width)),
                        "quality": 100,
                    }
                )
        finished["variants"] = variants
        return finished

    # ------------------------------------------------------------------ hosting
    def hosted_file(self, request: Request, site_id: str, file_name: str) -> Response:
        """GET /_assets/{site_id}/{file}: the uploaded bytes (variants serve the original)."""
        asset_id = unquote(file_name)[:24]
        asset = self.app.store.state.assets.get(asset_id)
        data = self.app.store.state.blobs.get(asset_id)
        if asset is None or data is None or asset["siteId"] != site_id:
            return S3Error(404, "NoSuchKey", "The specified key does not exist.").response()
        return Response(
            200,
            data,
            {"Cache-Control": CACHE_CONTROL, "ETag": f'"{hashlib.md5(data).hexdigest()}"'},
            asset["contentType"],
        )

    # ------------------------------------------------------------------ the rest of the API
    def list_assets(self, request: Request, site_id: str) -> Response:
        """GET /sites/{site_id}/assets."""
        self.app.site_for(request, site_id)
        limit = request.int_arg("limit", 100, minimum=1, maximum=100)
        offset = request.int_arg("offset", 0, minimum=0)
        with self.app.store.lock:
            assets = [
                self.render(a)
                for a in self.app.store.state.assets.values()
                if a["siteId"] == site_id and a["uploaded"]
            ]
        return Response.json(
            200,
            {
                "assets": assets[offset : offset + limit],
                "pagination": {"limit": limit, "offset": offset, "total": len(assets)},
            },
        )

    def get_asset(self, request: Request, asset_id: str) -> Response:
        """GET /assets/{asset_id}."""
        return Response.json(200, self.render(self._asset(request, asset_id)))

    def update_asset(self, request: Request, asset_id: str) -> Response:
        """PATCH /assets/{asset_id}: displayName and altText."""
        body = request.json()
        if not isinstance(body, dict):
            raise validation_error([{"param": "body", "description": "Must be an object"}])
        changes: dict[str, Any] = {}
        for key in ("displayName", "altText"):
            if key in body:
                if body[key] is not None and not isinstance(body[key], str):
                    raise validation_error([{"param": key, "description": "Must be a string"}])
                changes[key] = body[key]
        with self.app.store.lock, self.app.store.transaction():
            asset = dict(self._asset(request, asset_id), **changes, lastUpdated=now_iso())
            self.app.store.put_asset(asset)
        return Response.json(200, self.render(asset))

    def delete_asset(self, request: Request, asset_id: str) -> Response:
        """DELETE /assets/{asset_id}."""
        with self.app.store.lock, self.app.store.transaction():
            self._asset(request, asset_id)
            self.app.store.delete_asset(asset_id)
        return Response.empty(204)
